package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ingest"
	"github.com/asofdev/asof/ledger"
)

func init() {
	register(&command{
		name:    "publish",
		summary: "publish events, one JSON object per line, to JetStream",
		usage:   "[--nats URL | --data DIR] [--subject events.TYPE] [--max-payload SIZE] FILE|-",
		run:     runPublish,
	})
}

// publishConfig is what the publish flags say.
type publishConfig struct {
	data       string
	subject    string
	maxPayload byteSize
	nats       natsFlags
}

// publishWindow is the most publications awaiting their acknowledgement.
const publishWindow = 4096

func runPublish(e *env) int {
	c := commands["publish"]
	fs := newFlags(e, c)
	cfg := publishConfig{maxPayload: 1 << 20}
	fs.StringVar(&cfg.data, "data", "", "data `directory` of the asof serve whose NATS to use")
	fs.StringVar(&cfg.subject, "subject", "", "subject for every event (default events.<type>)")
	fs.Var(&cfg.maxPayload, "max-payload", "largest event accepted, such as 512KiB (default 1MiB)")
	cfg.nats.register(fs)
	if code := parseFlags(e, fs, true); code >= 0 {
		return code
	}
	if fs.NArg() != 1 {
		return fail(e, fs, usagef("give one FILE, or - for standard input"))
	}
	name := fs.Arg(0)
	in := e.stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return fail(e, nil, err)
		}
		defer f.Close()
		in = f
	}

	url, err := cfg.natsURL()
	if err != nil {
		return fail(e, nil, err)
	}
	nc, err := ingest.Connect(cfg.nats.options(url, hclog.NewNullLogger()))
	if err != nil {
		return fail(e, nil, err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(publishWindow),
		jetstream.WithPublishAsyncTimeout(30*time.Second))
	if err != nil {
		return fail(e, nil, err)
	}

	label := name
	if name == "-" {
		label = "stdin"
	}
	p := &publisher{cfg: cfg, js: js, file: label, stderr: e.stderr}
	if err := p.run(in); err != nil {
		return fail(e, nil, err)
	}
	fmt.Fprintf(e.stdout, "published %d, duplicates %d, bad %d", p.published, p.duplicates, p.bad)
	if p.failed > 0 {
		fmt.Fprintf(e.stdout, ", failed %d", p.failed)
	}
	fmt.Fprintln(e.stdout)
	switch {
	case p.failed > 0:
		return exitUsage
	case p.bad > 0:
		return exitFindings
	}
	return exitOK
}

// natsURL picks the server: --nats, else the serve.json of --data, else
// $NATS_URL, else the default local URL.
func (c *publishConfig) natsURL() (string, error) {
	switch {
	case c.nats.url != "":
		return c.nats.url, nil
	case c.data != "":
		info, err := readServeInfo(c.data)
		if err != nil {
			return "", err
		}
		return info.NATS, nil
	case os.Getenv("NATS_URL") != "":
		return os.Getenv("NATS_URL"), nil
	}
	return nats.DefaultURL, nil
}

// publisher publishes the lines of one file and keeps the counts.
type publisher struct {
	cfg    publishConfig
	js     jetstream.JetStream
	file   string
	stderr io.Writer

	inflight []pending // awaiting acknowledgement, oldest first

	published, duplicates, bad, failed int
}

// pending is one publication awaiting its acknowledgement.
type pending struct {
	line int
	f    jetstream.PubAckFuture
}

// run publishes every line of r, then waits for every acknowledgement.
func (p *publisher) run(r io.Reader) error {
	br := bufio.NewReaderSize(r, 64<<10)
	for line := 1; ; line++ {
		text, err := br.ReadBytes('\n')
		if len(text) > 0 {
			p.publishLine(line, text)
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read %s: %w", p.file, err)
		}
	}
	for len(p.inflight) > 0 {
		p.settleOldest()
	}
	return nil
}

// publishLine checks one line and publishes it. Blank lines are skipped.
func (p *publisher) publishLine(line int, text []byte) {
	text = bytes.TrimRight(text, "\r\n")
	if len(bytes.TrimSpace(text)) == 0 {
		return
	}
	subject := p.cfg.subject
	ev, err := ledger.DecodeEvent(subject, text, int(p.cfg.maxPayload))
	if err != nil {
		p.badLine(line, err)
		return
	}
	if subject == "" {
		subject = "events.unknown"
		if ev.Type != "" {
			subject = "events." + ev.Type
		}
	}
	if !validSubject(subject) {
		p.badLine(line, fmt.Errorf("%q is not a subject to publish on (check the type)", subject))
		return
	}
	id := ev.ID
	if id == "" {
		id = fmt.Sprintf("%016x", xxhash.Sum64(text))
	}
	f, err := p.js.PublishAsync(subject, text, jetstream.WithMsgID(id),
		jetstream.WithStallWait(time.Minute))
	if err != nil {
		p.failLine(line, err)
		return
	}
	p.inflight = append(p.inflight, pending{line: line, f: f})
	if len(p.inflight) >= publishWindow {
		p.settleOldest()
	}
}

// settleOldest waits for the oldest publication's acknowledgement.
func (p *publisher) settleOldest() {
	pd := p.inflight[0]
	p.inflight = p.inflight[1:]
	select {
	case ack := <-pd.f.Ok():
		if ack.Duplicate {
			p.duplicates++
		} else {
			p.published++
		}
	case err := <-pd.f.Err():
		p.failLine(pd.line, err)
	case <-time.After(time.Minute):
		p.failLine(pd.line, context.DeadlineExceeded)
	}
}

func (p *publisher) badLine(line int, err error) {
	p.bad++
	var we *ledger.WireError
	if errors.As(err, &we) {
		err = fmt.Errorf("%s: %s", we.Reason, we.Msg)
	}
	fmt.Fprintf(p.stderr, "%s:%d: %v\n", p.file, line, err)
}

func (p *publisher) failLine(line int, err error) {
	p.failed++
	fmt.Fprintf(p.stderr, "%s:%d: publish: %v\n", p.file, line, err)
}

// validSubject reports whether s can be published on: dot-separated
// non-empty tokens without white space or wildcards.
func validSubject(s string) bool {
	for _, tok := range strings.Split(s, ".") {
		if tok == "" || strings.ContainsAny(tok, " \t\r\n*>") {
			return false
		}
	}
	return true
}
