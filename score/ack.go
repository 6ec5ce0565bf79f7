package score

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// Publishing a snapshot is a NATS request to its subject, which the
// snapshots stream answers with an acknowledgement once it stored the
// message: {"stream": "SNAPSHOTS", "seq": 42}, or an error. The service
// reads that answer itself rather than through package jetstream, so that
// it can wait for it without a goroutine of its own per request.

// Why a snapshot's publication failed, besides an acknowledgement's own
// error.
var (
	// errNoStream: no stream took the message (NATS status 503, no
	// responders), so it was not stored. It is tried again.
	errNoStream = errors.New("no stream took the snapshot")

	// errBadAck: the answer is not an acknowledgement.
	errBadAck = errors.New("answer is not a JetStream acknowledgement")

	// errAckTimeout: no answer came within PublishTimeout.
	errAckTimeout = errors.New("no acknowledgement within the publish timeout")
)

// publishRetries is how many times a snapshot that no stream took is
// published again, publishRetryWait apart, as package jetstream does: a
// stream may be without a leader for a moment.
const (
	publishRetries   = 2
	publishRetryWait = 250 * time.Millisecond
)

// retryNoStream reports whether a snapshot whose publication failed with
// err, and which has been published again retries times, is to be
// published again publishRetryWait later, if its deadline allows: no
// stream took it and fewer than publishRetries retries were made. Both
// Service.publishWait and the pipeline apply it; they differ in what a
// near deadline does (see publishWait).
func retryNoStream(err error, retries int) bool {
	return errors.Is(err, errNoStream) && retries < publishRetries
}

// ack is an acknowledgement as the stream writes it.
type ack struct {
	Stream    string    `json:"stream"`
	Seq       uint64    `json:"seq"`
	Duplicate bool      `json:"duplicate"`
	Error     *ackError `json:"error"`
}

// ackError is the error of an acknowledgement that refuses the message.
type ackError struct {
	Code        int    `json:"code"`
	ErrCode     int    `json:"err_code"`
	Description string `json:"description"`
}

// checkAck reads the answer to a snapshot's publication and returns nil
// only when it acknowledges that a stream stored this very message. A
// duplicate is an error too: the service publishes each snapshot id once,
// so a stream that already holds the id holds another message under it.
func checkAck(m *nats.Msg) error {
	if len(m.Data) == 0 && m.Header != nil {
		switch status := m.Header.Get("Status"); {
		case status == "503":
			return errNoStream
		case status != "":
			return fmt.Errorf("%w: status %s %s", errBadAck, status,
				m.Header.Get("Description"))
		}
	}
	a, ok := parsePlainAck(m.Data)
	if !ok {
		return checkAnyAck(m.Data)
	}
	return a.check(m.Data)
}

// checkAnyAck is checkAck for an answer in any form JSON allows.
func checkAnyAck(data []byte) error {
	var a ack
	if err := json.Unmarshal(data, &a); err != nil {
		return fmt.Errorf("%w: %q", errBadAck, truncate(data, 200))
	}
	return a.check(data)
}

// check returns nil when a acknowledges a newly stored message; data is
// the answer it was read from.
func (a *ack) check(data []byte) error {
	switch {
	case a.Error != nil:
		return fmt.Errorf("stream refused the snapshot: %s (code %d, error code %d)",
			a.Error.Description, a.Error.Code, a.Error.ErrCode)
	case a.Stream == "" || a.Seq == 0:
		return fmt.Errorf("%w: %q", errBadAck, truncate(data, 200))
	case a.Duplicate:
		return fmt.Errorf("stream %s already holds a message with this snapshot id, "+
			"at sequence %d", a.Stream, a.Seq)
	}
	return nil
}

// parsePlainAck reads an acknowledgement in the forms the server writes:
// one object of the keys stream, domain, seq and duplicate, with plain
// strings, an unsigned integer and a bool. It reports false for anything
// else, an error among them, and leaves that to json.Unmarshal.
func parsePlainAck(p []byte) (ack, bool) {
	var a ack
	ok := plainObject(p, func(key []byte, i int) (int, bool) {
		switch string(key) {
		case "stream", "domain":
			val, j, ok := plainString(p, i)
			if ok && string(key) == "stream" {
				a.Stream = string(val)
			}
			return j, ok
		case "seq":
			j := i
			for j < len(p) && p[j] >= '0' && p[j] <= '9' {
				j++
			}
			var err error
			a.Seq, err = strconv.ParseUint(string(p[i:j]), 10, 64)
			return j, err == nil
		case "duplicate":
			switch {
			case len(p)-i >= 4 && string(p[i:i+4]) == "true":
				a.Duplicate = true
				return i + 4, true
			case len(p)-i >= 5 && string(p[i:i+5]) == "false":
				return i + 5, true
			}
		}
		return i, false
	})
	return a, ok
}

// truncate returns at most n bytes of b, for an error message.
func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
