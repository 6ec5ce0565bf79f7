package ingest

import (
	"context"
	"errors"
	"strconv"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ledger"
)

// Headers of a dead letter. The body is the original message, unchanged.
const (
	HeaderDeadReason   = "Asof-Dead-Reason"    // the WireError reason, such as not_json
	HeaderDeadError    = "Asof-Dead-Error"     // what is wrong, for a person
	HeaderSourceStream = "Asof-Source-Stream"  // the stream the message came from
	HeaderSourceSeq    = "Asof-Source-Seq"     // its sequence in that stream
	HeaderSourceSubj   = "Asof-Source-Subject" // the subject it was published on
)

// maxDeadError bounds the error header, so that a dead letter stays close to
// the size of the message it carries.
const maxDeadError = 512

// deadLetter is one refused message on its way to the dead stream.
type deadLetter struct {
	msg    jetstream.Msg
	seq    uint64
	reason string
	text   string
}

func (c *consumer) newDeadLetter(m jetstream.Msg, seq uint64, err error) deadLetter {
	d := deadLetter{msg: m, seq: seq, reason: "undecodable", text: err.Error()}
	var we *ledger.WireError
	if errors.As(err, &we) {
		d.reason, d.text = we.Reason, we.Msg
	}
	if len(d.text) > maxDeadError {
		d.text = d.text[:maxDeadError]
	}
	return d
}

// sendDead publishes w's dead letters and waits until the broker has stored
// them. Stored ones move to w.deadOK; the others are handed back to the
// source stream for another try.
func (c *consumer) sendDead(w *work) {
	if len(w.dead) == 0 {
		return
	}
	prefix := c.in.opts.Streams.DeadPrefix + "."
	futures := make([]jetstream.PubAckFuture, len(w.dead))
	for i, d := range w.dead {
		msg := nats.NewMsg(prefix + d.msg.Subject())
		msg.Data = d.msg.Data()
		msg.Header.Set(HeaderDeadReason, d.reason)
		msg.Header.Set(HeaderDeadError, d.text)
		msg.Header.Set(HeaderSourceStream, c.stream)
		msg.Header.Set(HeaderSourceSeq, strconv.FormatUint(d.seq, 10))
		msg.Header.Set(HeaderSourceSubj, d.msg.Subject())
		id := c.stream + "-" + strconv.FormatUint(d.seq, 10)
		f, err := c.in.js.PublishMsgAsync(msg, jetstream.WithMsgID(id))
		if err != nil {
			c.log.Warn("dead letter not sent", "seq", d.seq, "error", err)
			continue
		}
		futures[i] = f
	}

	ctx, cancel := context.WithTimeout(context.Background(), c.in.opts.DeadTimeout)
	defer cancel()
	for i, d := range w.dead {
		if futures[i] != nil && c.waitAck(ctx, futures[i], d) {
			w.deadOK = append(w.deadOK, d)
			c.in.m.dead.WithLabelValues(d.reason).Inc()
			c.log.Debug("dead letter", "seq", d.seq, "subject", d.msg.Subject(),
				"reason", d.reason)
			continue
		}
		w.retry = append(w.retry, d.msg)
	}
	w.dead = w.dead[:0]
}

// waitAck waits for the broker's answer to one dead letter.
func (c *consumer) waitAck(ctx context.Context, f jetstream.PubAckFuture, d deadLetter) bool {
	select {
	case <-f.Ok():
		return true
	case err := <-f.Err():
		c.log.Warn("dead letter not stored", "seq", d.seq, "error", err)
	case <-ctx.Done():
		c.log.Warn("dead letter not acknowledged in time", "seq", d.seq)
	}
	return false
}
