package score

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
	"github.com/asofdev/asof/replay"
)

// demoEvents are a few entities' events: payments and logins in and out
// of the windows, an event without an id, and a duplicate id.
func demoEvents() []event {
	return []event{
		payment("p-1", "user:1", 10*time.Minute, 12.5, "m-7"),
		payment("p-2", "user:1", 2*time.Hour, 80, "m-3"),
		login("l-1", "user:1", 30*time.Minute, "d-1", "DE"),
		login("l-2", "user:1", 20*time.Minute, "d-2", "FR"),
		payment("p-3", "user:2", 5*time.Minute, 300, "m-1"),
		payment("", "user:2", 3*time.Minute, 7.25, "m-2"),            // no id
		payment("p-1", "user:2", 1*time.Minute, 999, "m-9"),          // duplicate id: dropped
		payment("p-4", "user:3", 48*time.Hour, 5, "m-7"),             // outside 24h, inside 7d
		{id: "r-1", entity: "user:3", typ: "refund", at: time.Now()}, // type no feature reads
	}
}

// TestScoreMatchesReplay scores entities end to end and checks that every
// snapshot that reached the ledger holds what replay computes as of its
// time, on the knowable view and on the watermark view.
func TestScoreMatchesReplay(t *testing.T) {
	f := newFixture(t, true)
	// The pipeline starts first, so that it reads the bad event from the
	// stream: started later, it may find the ledger past it already, and
	// rebuild without ever seeing it.
	o, _ := f.startOnline(OnlineOptions{})
	f.publish(demoEvents()...)
	last := f.publishRaw("events.payment", []byte(`{"entity": "user:1", "time": 5}`)) // bad
	var mu sync.Mutex
	var got []string
	f.startService(o, ServiceOptions{OnSnapshot: func(s ledger.Snapshot) {
		mu.Lock()
		got = append(got, s.ID)
		mu.Unlock()
	}})
	f.waitSettled(o, last, true)

	for i, entity := range []string{"user:1", "user:2", "user:3", "user:404"} {
		rid := fmt.Sprintf("r-%d", i)
		r := scoreEntity(t, f.nc, entity, rid)
		if r.RequestID != rid || r.Model != "fraud" || r.ModelVersion != f.model.Version ||
			r.SpecVersion != f.spec.Version || r.Watermark != last {
			t.Errorf("%s: reply %+v", entity, r)
		}
		s := waitSnapshot(t, f.l, r.SnapshotID)
		at, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil || !s.Time.Equal(at) {
			t.Fatalf("%s: reply time %q, snapshot time %v", entity, r.Time, s.Time)
		}
		know := replayAt(t, f.l, f.spec, entity, at, replay.Knowable, 0)
		checkSnapshot(t, entity+" knowable", s, f.spec, know)
		wm := replayAt(t, f.l, f.spec, entity, at, replay.Watermark, s.Watermark)
		checkSnapshot(t, entity+" watermark", s, f.spec, wm)

		score, decision := f.model.Score(f.spec, know)
		if s.Score != score || s.Decision != decision || r.Score != score {
			t.Errorf("%s: reply score %v, snapshot %v, replay %v", entity, r.Score, s.Score, score)
		}
		if want := know.Map(f.spec); fmt.Sprint(r.Features) != fmt.Sprint(want) {
			t.Errorf("%s: reply features %v, replay %v", entity, r.Features, want)
		}
		if r.Empty != (entity == "user:404") {
			t.Errorf("%s: empty %v", entity, r.Empty)
		}
	}
	mu.Lock()
	if len(got) != 4 {
		t.Errorf("OnSnapshot called %d times, want 4", len(got))
	}
	mu.Unlock()

	// The expected values, by hand, for one entity.
	r := scoreEntity(t, f.nc, "user:2", "")
	if r.Features["events_1h"] != 2.0 || r.Features["amount_sum_24h"] != 307.25 ||
		r.Features["last_merchant"] != "m-2" {
		t.Errorf("user:2 features %v", r.Features)
	}
	if v := value(t, o.m.skipped.WithLabelValues("bad_time")); v != 1 {
		t.Errorf("skipped bad_time %v, want 1", v)
	}
}

// TestRestartKeepsVectors checks that an online pipeline started again,
// or whose consumer is deleted under it, holds the same state, and picks up
// what was published while it was away exactly once.
func TestRestartKeepsVectors(t *testing.T) {
	f := newFixture(t, true)
	last := f.publish(demoEvents()...)
	o, stopOnline := f.startOnline(OnlineOptions{})
	_, stopService := f.startService(o, ServiceOptions{})
	f.waitSettled(o, last, true)
	before := map[string]Reply{}
	for _, e := range []string{"user:1", "user:2", "user:3"} {
		before[e] = scoreEntity(t, f.nc, e, "")
	}
	stopService()
	stopOnline()

	// Published while the pipeline is down.
	last = f.publish(payment("p-10", "user:1", time.Minute, 1, "m-1"),
		login("l-10", "user:3", time.Minute, "d-9", "NL"))
	f.waitLedger(last)

	o, _ = f.startOnline(OnlineOptions{})
	f.startService(o, ServiceOptions{})
	f.waitSettled(o, last, false)
	r := scoreEntity(t, f.nc, "user:2", "")
	if fmt.Sprint(r.Features) != fmt.Sprint(before["user:2"].Features) {
		t.Errorf("user:2 after restart %v, before %v", r.Features, before["user:2"].Features)
	}
	check := func(what, entity string) {
		t.Helper()
		r := scoreEntity(t, f.nc, entity, "")
		s := waitSnapshot(t, f.l, r.SnapshotID)
		know := replayAt(t, f.l, f.spec, entity, s.Time, replay.Knowable, 0)
		checkSnapshot(t, what+" "+entity, s, f.spec, know)
	}
	for _, e := range []string{"user:1", "user:2", "user:3"} {
		check("restart", e)
	}
	if r := scoreEntity(t, f.nc, "user:1", ""); r.Features["events_1h"] != 4.0 {
		t.Errorf("user:1 events_1h %v, want 4", r.Features["events_1h"])
	}

	// The consumer deleted under a running pipeline is made again at the
	// watermark: nothing is skipped, nothing applied twice.
	if err := f.js.DeleteConsumer(t.Context(), "EVENTS", "asof-online"); err != nil {
		t.Fatal(err)
	}
	last = f.publish(payment("p-11", "user:1", time.Minute, 2, "m-2"))
	f.waitSettled(o, last, true)
	check("recreated consumer", "user:1")
}

// TestBadRequests checks that every bad request gets an error reply, over
// NATS and over HTTP, and that the service goes on answering.
func TestBadRequests(t *testing.T) {
	f := newFixture(t, false)
	o, _ := f.startOnline(OnlineOptions{})
	s, _ := f.startService(o, ServiceOptions{MaxRequest: 1024})
	mux := http.NewServeMux()
	s.Register(mux)
	web := httptest.NewServer(mux)
	t.Cleanup(web.Close)

	huge := fmt.Sprintf(`{"entity": "user:1", "pad": %q}`, strings.Repeat("x", 2000))
	tests := []struct {
		name, model, body, code string
		status                  int
	}{
		{"not json", "fraud", `{"entity": `, CodeBadRequest, 400},
		{"array", "fraud", `[1, 2]`, CodeBadRequest, 400},
		{"entity not a string", "fraud", `{"entity": 42}`, CodeBadRequest, 400},
		{"missing entity", "fraud", `{"request_id": "r-1"}`, CodeBadRequest, 400},
		{"empty entity", "fraud", `{"entity": ""}`, CodeBadRequest, 400},
		{"oversized", "fraud", huge, CodeTooLarge, 413},
		{"unknown model", "nope", `{"entity": "user:1"}`, CodeUnknownModel, 404},
		{"model with a dot", "a.b", `{"entity": "user:1"}`, CodeUnknownModel, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := request(t, f.nc, tt.model, []byte(tt.body))
			if r.Error == nil || r.Error.Code != tt.code || r.Error.Message == "" {
				t.Errorf("NATS reply %+v, want code %s", r, tt.code)
			}
			resp, err := http.Post(web.URL+"/v1/score/"+tt.model, "application/json",
				strings.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var hr Reply
			if err := json.NewDecoder(resp.Body).Decode(&hr); err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status || hr.Error == nil || hr.Error.Code != tt.code {
				t.Errorf("HTTP %d %+v, want %d %s", resp.StatusCode, hr, tt.status, tt.code)
			}
		})
	}

	// The request id comes back with an error it can be read from.
	r := request(t, f.nc, "fraud", []byte(`{"request_id": "r-7"}`))
	if r.RequestID != "r-7" || r.Error == nil {
		t.Errorf("reply %+v", r)
	}
	// A good request over HTTP still works, and the error form has no
	// success fields.
	resp, err := http.Post(web.URL+"/v1/score/fraud", "application/json",
		strings.NewReader(`{"entity": "user:1", "request_id": "h-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	var ok Reply
	_ = json.NewDecoder(resp.Body).Decode(&ok)
	resp.Body.Close()
	if resp.StatusCode != 200 || ok.Error != nil || ok.SnapshotID == "" || !ok.Empty {
		t.Errorf("HTTP good request: %d %+v", resp.StatusCode, ok)
	}
	b, _ := failed("r", CodeBadRequest, "m").MarshalJSON()
	if !bytes.Equal(b, []byte(`{"request_id":"r","error":{"code":"bad_request","message":"m"}}`)) {
		t.Errorf("error form %s", b)
	}
}

// TestConcurrentClients sends many requests at once and checks that every
// reply's snapshot reached the ledger, with the reply's entity and request
// id, and that no two replies share a snapshot.
func TestConcurrentClients(t *testing.T) {
	for _, own := range []bool{false, true} {
		t.Run(fmt.Sprint("snapshot connection ", own), func(t *testing.T) {
			testConcurrentClients(t, own)
		})
	}
}

// testConcurrentClients runs TestConcurrentClients with snapshots on the
// service's connection, or on one of their own.
func testConcurrentClients(t *testing.T, ownSnapshotConn bool) {
	f := newFixture(t, true)
	last := f.publish(demoEvents()...)
	o, _ := f.startOnline(OnlineOptions{})
	var opts ServiceOptions
	if ownSnapshotConn {
		opts.SnapshotConn, _ = connect(t, f.url)
	}
	f.startService(o, opts)
	f.waitSettled(o, last, true)

	const clients, each = 16, 50
	var mu sync.Mutex
	replies := make(map[string]Reply)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for i := range each {
				entity := fmt.Sprintf("user:%d", (c+i)%5)
				b, _ := json.Marshal(Request{Entity: entity, RequestID: fmt.Sprintf("c%d-%d", c,
					i)})
				m, err := f.nc.Request("score.fraud", b, 10*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				var r Reply
				if err := json.Unmarshal(m.Data, &r); err != nil || r.Error != nil {
					t.Errorf("reply %s: %v", m.Data, err)
					return
				}
				mu.Lock()
				replies[r.SnapshotID] = r
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(replies) != clients*each {
		t.Fatalf("%d distinct snapshots, want %d", len(replies), clients*each)
	}
	waitFor(t, 30*time.Second, "every snapshot in the ledger", func() bool {
		return f.l.Counts().Snapshots >= clients*each
	})
	for id, r := range replies {
		is, err := f.l.Snapshot(id)
		if err != nil {
			t.Fatalf("snapshot %s: %v", id, err)
		}
		if s := is.Record; s.Entity != r.Entity || s.RequestID != r.RequestID ||
			s.Score != r.Score {
			t.Errorf("snapshot %s: %s %s %v, reply %s %s %v", id, s.Entity, s.RequestID, s.Score,
				r.Entity, r.RequestID, r.Score)
		}
	}
}

// TestModelsRefused checks that a model that does not fit the spec, and
// two models of one name, are refused with the file and the name.
func TestModelsRefused(t *testing.T) {
	f := newFixture(t, false)
	o, err := NewOnline(f.js, f.l, f.spec, OnlineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := model.Parse("bad.yaml",
		[]byte("name: fraud\nkind: logistic\nweights:\n  nope: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewService(f.nc, o, []*model.Model{bad}, ServiceOptions{})
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") ||
		!strings.Contains(err.Error(), "nope") {
		t.Errorf("misfit model: %v", err)
	}
	_, err = LoadModels([]string{modelPath, modelPath}, f.spec)
	if err == nil || !strings.Contains(err.Error(), "fraud") {
		t.Errorf("two models named fraud: %v", err)
	}
	if _, err := LoadModels([]string{"missing.yaml"}, f.spec); err == nil {
		t.Error("missing model file accepted")
	}
	if _, err := NewService(f.nc, o, nil, ServiceOptions{}); err == nil {
		t.Error("no models accepted")
	}
}

// TestSnapshotMessages checks that each snapshot is published on
// snapshots.<model> with its id as Nats-Msg-Id, the id the reply names,
// also when the service reuses its messages.
func TestSnapshotMessages(t *testing.T) {
	f := newFixture(t, false)
	o, _ := f.startOnline(OnlineOptions{})
	f.startService(o, ServiceOptions{})
	sub, err := f.nc.SubscribeSync("snapshots.>")
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		r := scoreEntity(t, f.nc, fmt.Sprintf("user:%d", i), fmt.Sprintf("r-%d", i))
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ledger.DecodeSnapshot(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if id := m.Header.Get(jetstream.MsgIDHeader); m.Subject != "snapshots.fraud" ||
			id != r.SnapshotID || s.ID != r.SnapshotID || s.RequestID != r.RequestID {
			t.Errorf("reply %s %s: message on %s, id %s, snapshot %s %s", r.SnapshotID,
				r.RequestID, m.Subject, id, s.ID, s.RequestID)
		}
	}
}
