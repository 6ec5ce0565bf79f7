package score

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// TestSnapshotNotStored checks that a request whose snapshot the stream
// refuses, that no stream takes, that nothing acknowledges, or that gets
// an answer that is no acknowledgement, is answered unavailable with the
// reason, over NATS and through Score, and that the service goes on.
func TestSnapshotNotStored(t *testing.T) {
	f := newFixture(t, false)
	o, _ := f.startOnline(OnlineOptions{})

	// A stream that holds one message and refuses the next.
	ctx := context.Background()
	_, err := f.js.CreateStream(ctx, jetstream.StreamConfig{Name: "FULL",
		Subjects: []string{"full.>"}, MaxMsgs: 1, Discard: jetstream.DiscardNew})
	if err != nil {
		t.Fatal(err)
	}
	// A subscriber that takes snapshots and never answers, and one that
	// answers with something else.
	silent, err := f.nc.SubscribeSync("silent.>")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Unsubscribe() })
	chatty, err := f.nc.Subscribe("chatty.>", func(m *nats.Msg) { _ = m.Respond([]byte("hi")) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chatty.Unsubscribe() })

	tests := []struct {
		prefix, want string
		okFirst      bool
	}{
		{"full", "maximum messages exceeded", true},
		{"nowhere", "no stream took the snapshot", false},
		{"silent", "no acknowledgement within the publish timeout", false},
		{"chatty", `answer is not a JetStream acknowledgement: "hi"`, false},
	}
	for _, tt := range tests {
		t.Run(tt.prefix, func(t *testing.T) {
			subject := "score_" + tt.prefix
			s, stop := f.startService(o, ServiceOptions{SubjectPrefix: subject,
				Queue: subject, SnapshotPrefix: tt.prefix, PublishTimeout: time.Second})
			defer stop()
			if tt.okFirst {
				r := requestOn(t, f.nc, subject+".fraud",
					[]byte(`{"entity": "user:1"}`))
				if r.Error != nil {
					t.Fatalf("first request: %+v", r.Error)
				}
			}
			start := time.Now()
			r := requestOn(t, f.nc, subject+".fraud",
				[]byte(`{"entity": "user:1", "request_id": "r-1"}`))
			if r.Error == nil || r.Error.Code != CodeUnavailable || r.RequestID != "r-1" ||
				!strings.Contains(r.Error.Message, tt.want) || r.SnapshotID != "" {
				t.Errorf("NATS reply %+v, want unavailable: %s", r, tt.want)
			}
			if tt.prefix == "nowhere" && time.Since(start) < 2*publishRetryWait {
				t.Errorf("answered after %v, before the %d retries", time.Since(start),
					publishRetries)
			}
			sr := s.Score(ctx, "fraud", []byte(`{"entity": "user:2"}`))
			if sr.Error == nil || sr.Error.Code != CodeUnavailable ||
				!strings.Contains(sr.Error.Message, tt.want) {
				t.Errorf("Score reply %+v, want unavailable: %s", sr, tt.want)
			}
		})
	}

	// The default service, on the real snapshots stream, still answers.
	f.startService(o, ServiceOptions{})
	scoreEntity(t, f.nc, "user:1", "after")
}

// TestInFlightBound checks that at most Concurrency NATS requests are in
// flight at once, that every request is answered, and that stopping the
// service waits for the requests in flight to be answered.
func TestInFlightBound(t *testing.T) {
	f := newFixture(t, false)
	o, _ := f.startOnline(OnlineOptions{})
	var held atomic.Int64
	silent, err := f.nc.Subscribe("silent.>", func(*nats.Msg) { held.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Unsubscribe() })
	const concurrency, requests = 3, 8
	_, stop := f.startService(o, ServiceOptions{SnapshotPrefix: "silent",
		Concurrency: concurrency, PublishTimeout: 700 * time.Millisecond})

	var wg sync.WaitGroup
	replies := make(chan Reply, requests)
	for i := range requests {
		wg.Go(func() {
			m, err := f.nc.Request("score.fraud", fmt.Appendf(nil, `{"entity": "user:%d"}`, i),
				10*time.Second)
			if err != nil {
				t.Error(err)
				return
			}
			var r Reply
			if err := json.Unmarshal(m.Data, &r); err != nil {
				t.Errorf("reply %s: %v", m.Data, err)
			}
			replies <- r
		})
	}
	waitFor(t, 5*time.Second, "snapshots in flight", func() bool {
		return held.Load() == concurrency
	})
	time.Sleep(200 * time.Millisecond)
	if n := held.Load(); n != concurrency {
		t.Fatalf("%d snapshots published before any answer, want %d", n, concurrency)
	}

	// Stop while requests are in flight: it returns once each is answered.
	stopped := make(chan struct{})
	go func() { stop(); close(stopped) }()
	wg.Wait()
	close(replies)
	n := 0
	for r := range replies {
		if r.Error == nil || r.Error.Code != CodeUnavailable {
			t.Errorf("reply %+v, want unavailable", r)
		}
		n++
	}
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the service did not stop")
	}
	if n != requests || held.Load() > requests {
		t.Errorf("%d replies and %d snapshots for %d requests", n, held.Load(), requests)
	}
}

// TestCheckAck reads the stream's real answers, and the forms the server
// writes, through checkAck: a first publication is stored, a second of
// the same message id is a duplicate and refused, and so is every answer
// that is not an acknowledgement.
func TestCheckAck(t *testing.T) {
	f := newFixture(t, false)
	msg := &nats.Msg{Subject: "snapshots.fraud", Data: []byte("{}"),
		Header: nats.Header{jetstream.MsgIDHeader: []string{"s-1"}}}
	for i, want := range []string{"", "already holds a message with this snapshot id"} {
		resp, err := f.nc.RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if err := checkAck(resp); want == "" && err != nil ||
			want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("publication %d, answer %s: %v, want %q", i, resp.Data, err, want)
		}
	}

	tests := []struct{ data, want string }{
		{`{"stream":"S","seq":1}`, ""},
		{`{"stream":"S","domain":"hub","seq":18446744073709551615}`, ""},
		{`{"stream":"S","seq":2,"duplicate":false}`, ""},
		{` { "stream" : "S" , "seq" : 3 } `, ""},
		{`{"stream":"S","seq":4,"val":"7"}`, ""},
		{`{"stream":"S\u0041","seq":5}`, ""},
		{`{"stream":"S","seq":4,"duplicate": true}`, "stream S already holds"},
		{`{"error":{"code":503,"err_code":10077,"description":"maximum messages exceeded"}}`,
			"maximum messages exceeded (code 503, error code 10077)"},
		{`{"stream":"S","seq":1,"error":{"code":400,"description":"bad"}}`, "refused"},
		{`{"stream":"S"}`, "not a JetStream acknowledgement"},
		{`{"seq":1}`, "not a JetStream acknowledgement"},
		{`{"stream":"S","seq":-1}`, "not a JetStream acknowledgement"},
		{`{"stream":"S","seq":1`, "not a JetStream acknowledgement"},
		{`[1]`, "not a JetStream acknowledgement"},
		{``, "not a JetStream acknowledgement"},
	}
	for _, tt := range tests {
		err := checkAck(&nats.Msg{Data: []byte(tt.data)})
		if tt.want == "" && err != nil ||
			tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("answer %s: %v, want %q", tt.data, err, tt.want)
		}
	}
	noStream := &nats.Msg{Header: nats.Header{"Status": []string{"503"}}}
	if err := checkAck(noStream); !errors.Is(err, errNoStream) {
		t.Errorf("status 503: %v", err)
	}
}
