package ingest

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ledger"
)

// TestDeadLetters sends one message of each class of bad input, among good
// ones, and finds each in the dead stream with its reason and its original
// bytes, while the ledger accounts for every sequence.
func TestDeadLetters(t *testing.T) {
	const tm = `"time":"2026-12-02T10:00:00Z"`
	bad := []struct{ stream, name, payload, reason string }{
		{"EVENTS", "not-json", `amount=12`, ledger.ReasonNotJSON},
		{"EVENTS", "missing-entity", `{` + tm + `}`, ledger.ReasonMissingEntity},
		{"EVENTS", "bad-time", `{"entity":"u","time":"12/02/2026"}`, ledger.ReasonBadTime},
		{"EVENTS", "missing-time", `{"entity":"u"}`, ledger.ReasonMissingTime},
		{"EVENTS", "bad-fields", `{"entity":"u",` + tm + `,"fields":{"a":[1]}}`,
			ledger.ReasonBadFields},
		{"EVENTS", "too-large", `{"entity":"u",` + tm + `,"fields":{"note":"` +
			strings.Repeat("x", 600) + `"}}`, ledger.ReasonTooLarge},
		{"EVENTS", "bad-utf8", "{\"entity\":\"\xc3\x28\"," + tm + `}`, ledger.ReasonBadUTF8},
		{"SNAPSHOTS", "no-id", `{"model":"m","entity":"u",` + tm + `}`, ledger.ReasonMissingID},
	}
	f := newFixture(t)
	ctx := context.Background()
	r := start(t, f, Options{MaxPayload: 512}, nil)

	good := testEvent(1)
	if _, err := f.js.Publish(ctx, "events.good", good); err != nil {
		t.Fatal(err)
	}
	seqs := make([]uint64, len(bad))
	for i, b := range bad {
		subject := "events." + b.name
		if b.stream == "SNAPSHOTS" {
			subject = "snapshots." + b.name
		}
		ack, err := f.js.Publish(ctx, subject, []byte(b.payload))
		if err != nil {
			t.Fatal(err)
		}
		seqs[i] = ack.Sequence
	}
	if _, err := f.js.Publish(ctx, "events.good", testEvent(2)); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, f.l, 2)
	waitAcked(t, f.js)

	dead, err := f.js.Stream(ctx, "DEAD")
	if err != nil {
		t.Fatal(err)
	}
	for i, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			prefix := "asof.dead.events."
			if b.stream == "SNAPSHOTS" {
				prefix = "asof.dead.snapshots."
			}
			var m *jetstream.RawStreamMsg
			waitFor(t, 10*time.Second, "the dead letter", func() bool {
				m, err = dead.GetLastMsgForSubject(ctx, prefix+b.name)
				return err == nil
			})
			if !bytes.Equal(m.Data, []byte(b.payload)) {
				t.Errorf("dead letter holds %q, want the original %q", m.Data, b.payload)
			}
			want := map[string]string{
				HeaderDeadReason:   b.reason,
				HeaderSourceStream: b.stream,
				HeaderSourceSeq:    strconv.FormatUint(seqs[i], 10),
				"Nats-Msg-Id":      fmt.Sprintf("%s-%d", b.stream, seqs[i]),
			}
			for k, v := range want {
				if got := m.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if m.Header.Get(HeaderDeadError) == "" {
				t.Errorf("no %s header", HeaderDeadError)
			}
			got := value(r.in.m.dead.WithLabelValues(b.reason))
			if got < 1 {
				t.Errorf("dead letters metric for %s is %v", b.reason, got)
			}
		})
	}

	// The ledger holds the good events only, and accounts for every
	// sequence of both streams.
	if c := f.l.Counts(); c.Events != 2 || c.Snapshots != 0 {
		t.Errorf("ledger counts %+v, want 2 events", c)
	}
	for stream, last := range map[string]uint64{"EVENTS": uint64(len(bad) + 1),
		"SNAPSHOTS": 1} {
		cov, err := f.l.Coverage(stream)
		if err != nil {
			t.Fatal(err)
		}
		if len(cov) != 1 || cov[0].First != 1 || cov[0].Last != last {
			t.Errorf("coverage of %s is %v, want [1, %d]", stream, cov, last)
		}
	}
}

// TestIngestSnapshots stores a snapshot published the way the scoring
// service does, and drops its duplicate.
func TestIngestSnapshots(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	r := start(t, f, Options{}, nil)
	s := ledger.Snapshot{
		ID: "snap-1", RequestID: "req-1", Model: "fraud", ModelVersion: "m1",
		SpecVersion: "s1", Entity: "user:42", Time: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC),
		Vector: []ledger.Field{
			{Name: "payments_1h", Value: ledger.Value{Kind: ledger.KindNumber, Num: 3}},
			{Name: "last_merchant", Value: ledger.Value{Kind: ledger.KindString, Str: "m-7"}},
		},
		VectorHash: 0xfeed, InputCount: 3, InputDigest: 0xbeef, Watermark: 42, Score: 0.8,
		Decision: true,
	}
	payload, err := ledger.EncodeSnapshot(&s)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second copy is a duplicate for the ledger
		if _, err := f.js.Publish(ctx, "snapshots.fraud", payload); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "the duplicate snapshot", func() bool {
		return value(r.in.m.duplicates) == 1
	})
	got, err := f.l.Snapshot("snap-1")
	if err != nil {
		t.Fatal(err)
	}
	g := got.Record
	if g.Stream != "SNAPSHOTS" || g.BrokerSeq != 1 || g.Arrival.IsZero() ||
		g.Watermark != 42 || len(g.Vector) != 2 || g.Vector[0].Name != "payments_1h" ||
		!bytes.Equal(g.Payload, payload) {
		t.Errorf("stored snapshot %+v", g)
	}
	if c := f.l.Counts(); c.Snapshots != 1 || c.Duplicates != 1 {
		t.Errorf("counts %+v, want 1 snapshot and 1 duplicate", c)
	}
}
