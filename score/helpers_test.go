package score

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ingest"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
	"github.com/asofdev/asof/replay"
)

var (
	specPath  = filepath.Join("..", "testdata", "specs", "payments.yaml")
	modelPath = filepath.Join("..", "testdata", "models", "fraud.yaml")
)

func testLogger(t testing.TB) hclog.Logger {
	if !testing.Verbose() {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug})
}

// fixture is a NATS server with asof's streams, a ledger fed by the
// ingester, and the spec and model of the demo.
type fixture struct {
	t     testing.TB
	ns    *server.Server // the server, when the fixture started it itself
	url   string         // the server's client URL
	nc    *nats.Conn
	js    jetstream.JetStream
	l     *ledger.Ledger
	spec  *feature.Spec
	model *model.Model
}

func newFixture(t testing.TB, withIngest bool) *fixture {
	t.Helper()
	srv, err := ingest.StartServer(ingest.ServerOptions{StoreDir: t.TempDir(),
		Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	f := &fixture{t: t, url: srv.ClientURL()}
	f.nc, f.js = connect(t, f.url)
	f.setup(withIngest)
	return f
}

// setup creates the streams, opens the ledger, loads the spec and model
// and starts the ingester if asked.
func (f *fixture) setup(withIngest bool) {
	t := f.t
	t.Helper()
	if err := ingest.EnsureStreams(context.Background(), f.js, ingest.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	var err error
	f.l, err = ledger.Open(t.TempDir(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.l.Close() })
	if f.spec, err = feature.LoadSpec(specPath); err != nil {
		t.Fatal(err)
	}
	if f.model, err = model.Load(modelPath); err != nil {
		t.Fatal(err)
	}
	if withIngest {
		in, err := ingest.New(f.js, f.l, ingest.Options{Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		runBackground(t, "ingest", in.Run)
	}
}

func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := ingest.Connect(ingest.ConnectOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// runBackground runs fn until the returned stop is called or the test
// ends, and fails the test if fn returns an error.
func runBackground(t testing.TB, name string, fn func(context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(20 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	}
	t.Cleanup(stop)
	return stop
}

// startOnline starts an online pipeline and waits until it is ready.
func (f *fixture) startOnline(opts OnlineOptions) (*Online, func()) {
	f.t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(f.t)
	}
	o, err := NewOnline(f.js, f.l, f.spec, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	stop := runBackground(f.t, "online", o.Run)
	select {
	case <-o.Ready():
	case <-time.After(20 * time.Second):
		f.t.Fatal("online pipeline not ready")
	}
	return o, stop
}

// startService starts a scoring service of the demo model over o.
func (f *fixture) startService(o *Online, opts ServiceOptions) (*Service, func()) {
	f.t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(f.t)
	}
	s, err := NewService(f.nc, o, []*model.Model{f.model}, opts)
	if err != nil {
		f.t.Fatal(err)
	}
	stop := runBackground(f.t, "service", s.Run)
	// The subscription is made by Run; a bad request answered shows it.
	subject := s.opts.SubjectPrefix + "." + f.model.Name
	waitFor(f.t, 5*time.Second, "scoring subscription", func() bool {
		_, err := f.nc.Request(subject, []byte(`{}`), time.Second)
		return err == nil
	})
	return s, stop
}

// event is one test event.
type event struct {
	id, entity, typ string
	at              time.Time
	fields          map[string]any
}

func (e event) payload() []byte {
	m := map[string]any{"entity": e.entity, "type": e.typ,
		"time": e.at.UTC().Format(time.RFC3339Nano), "fields": e.fields}
	if e.id != "" {
		m["id"] = e.id
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return b
}

// payment returns a payment event of entity, age before now.
func payment(id, entity string, age time.Duration, amount float64, merchant string) event {
	return event{id: id, entity: entity, typ: "payment", at: time.Now().Add(-age),
		fields: map[string]any{"amount": amount, "merchant": merchant}}
}

// login returns a login event of entity, age before now.
func login(id, entity string, age time.Duration, device, country string) event {
	return event{id: id, entity: entity, typ: "login", at: time.Now().Add(-age),
		fields: map[string]any{"device": device, "country": country}}
}

// publish publishes payloads on events.<type> and returns the stream
// sequence of the last one.
func (f *fixture) publish(events ...event) uint64 {
	f.t.Helper()
	var last uint64
	for _, e := range events {
		ack, err := f.js.Publish(context.Background(), "events."+e.typ, e.payload())
		if err != nil {
			f.t.Fatal(err)
		}
		last = ack.Sequence
	}
	return last
}

// publishRaw publishes one raw payload.
func (f *fixture) publishRaw(subject string, payload []byte) uint64 {
	f.t.Helper()
	ack, err := f.js.Publish(context.Background(), subject, payload)
	if err != nil {
		f.t.Fatal(err)
	}
	return ack.Sequence
}

// waitSettled waits until the online pipeline and, when it runs, the
// ledger have both reached sequence seq.
func (f *fixture) waitSettled(o *Online, seq uint64, ledgerToo bool) {
	f.t.Helper()
	waitFor(f.t, 20*time.Second, fmt.Sprintf("watermark %d", seq), func() bool {
		if o.Watermark() < seq {
			return false
		}
		if !ledgerToo {
			return true
		}
		cp, err := f.l.Checkpoint("EVENTS")
		return err == nil && cp >= seq
	})
}

// waitLedger waits until the ledger's checkpoint of EVENTS reaches seq.
func (f *fixture) waitLedger(seq uint64) {
	f.t.Helper()
	waitFor(f.t, 20*time.Second, fmt.Sprintf("ledger checkpoint %d", seq), func() bool {
		cp, err := f.l.Checkpoint("EVENTS")
		return err == nil && cp >= seq
	})
}

// value reads a counter or gauge.
func value(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		t.Fatal(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// request sends one scoring request over NATS and decodes the reply.
func request(t testing.TB, nc *nats.Conn, modelName string, payload []byte) Reply {
	t.Helper()
	return requestOn(t, nc, "score."+modelName, payload)
}

// requestOn sends one scoring request on subject and decodes the reply.
func requestOn(t testing.TB, nc *nats.Conn, subject string, payload []byte) Reply {
	t.Helper()
	m, err := nc.Request(subject, payload, 10*time.Second)
	if err != nil {
		t.Fatalf("request %s: %v", payload, err)
	}
	var r Reply
	if err := json.Unmarshal(m.Data, &r); err != nil {
		t.Fatalf("reply %s: %v", m.Data, err)
	}
	return r
}

// scoreEntity scores entity and fails the test on an error reply.
func scoreEntity(t testing.TB, nc *nats.Conn, entity, requestID string) Reply {
	t.Helper()
	b, _ := json.Marshal(Request{Entity: entity, RequestID: requestID})
	r := request(t, nc, "fraud", b)
	if r.Error != nil {
		t.Fatalf("score %s: %v", entity, r.Error)
	}
	return r
}

// waitSnapshot waits until the ledger holds the snapshot with id.
func waitSnapshot(t testing.TB, l *ledger.Ledger, id string) ledger.Snapshot {
	t.Helper()
	var s ledger.Snapshot
	waitFor(t, 20*time.Second, "snapshot "+id+" in the ledger", func() bool {
		is, err := l.Snapshot(id)
		s = is.Record
		return err == nil
	})
	return s
}

// replayAt replays entity on view as of at with watermark w.
func replayAt(t testing.TB, l *ledger.Ledger, spec *feature.Spec, entity string, at time.Time,
	view replay.View, w uint64) feature.Vector {
	t.Helper()
	v, err := replay.New(l, spec).Vector(replay.Query{Entity: entity, At: at, View: view,
		Watermark: w})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// checkSnapshot checks that the snapshot s holds the vector v of spec.
func checkSnapshot(t testing.TB, what string, s ledger.Snapshot, spec *feature.Spec,
	v feature.Vector) {
	t.Helper()
	if s.InputCount != uint64(v.Count) || s.InputDigest != v.Digest {
		t.Errorf("%s: snapshot count %d digest %016x, replay %d %016x", what,
			s.InputCount, s.InputDigest, v.Count, v.Digest)
	}
	if s.VectorHash != v.Hash(spec) {
		t.Errorf("%s: snapshot vector hash %016x, replay %016x", what, s.VectorHash, v.Hash(spec))
	}
	if len(s.Vector) != len(v.Values) {
		t.Fatalf("%s: snapshot has %d features, replay %d", what, len(s.Vector), len(v.Values))
	}
	for i, fld := range s.Vector {
		want := replay.LedgerValue(v.Values[i])
		if fld.Name != spec.Features[i].Name || fld.Value != want {
			t.Errorf("%s: feature %d: snapshot %s=%+v, replay %s=%+v", what, i, fld.Name,
				fld.Value, spec.Features[i].Name, want)
		}
	}
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
