package ingest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/asofdev/asof/ledger"
)

// testLogger logs through t when -v is given, so that failures come with
// the ingester's story.
func testLogger(t testing.TB) hclog.Logger {
	if !testing.Verbose() {
		return hclog.NewNullLogger()
	}
	return hclog.New(&hclog.LoggerOptions{Name: t.Name(), Level: hclog.Debug})
}

// startServer starts an embedded server on a free port with its store in
// dir, stopped at the end of the test.
func startServer(t testing.TB, dir, listen string) *Server {
	t.Helper()
	s, err := StartServer(ServerOptions{StoreDir: dir, Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

func connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := Connect(ConnectOptions{URL: url, ReconnectWait: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

func openLedger(t testing.TB, dir string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// fixture is a server, a connection and a ledger for one test.
type fixture struct {
	srv *Server
	nc  *nats.Conn
	js  jetstream.JetStream
	l   *ledger.Ledger
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	srv := startServer(t, t.TempDir(), "127.0.0.1:0")
	nc, js := connect(t, srv.ClientURL())
	f := &fixture{srv: srv, nc: nc, js: js, l: openLedger(t, t.TempDir())}
	if err := EnsureStreams(context.Background(), js, StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return f
}

// running is an ingester running in the background.
type running struct {
	in     *Ingester
	cancel context.CancelFunc
	done   chan error
}

func start(t testing.TB, f *fixture, opts Options, prepare func(*Ingester)) *running {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = testLogger(t)
	}
	in, err := New(f.js, f.l, opts)
	if err != nil {
		t.Fatal(err)
	}
	if prepare != nil {
		prepare(in)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{in: in, cancel: cancel, done: make(chan error, 1)}
	go func() { r.done <- in.Run(ctx) }()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop cancels the ingester and returns what Run returned.
func (r *running) stop(t testing.TB) error {
	r.cancel()
	select {
	case err, ok := <-r.done:
		if ok {
			close(r.done)
		}
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("ingester did not stop")
		return nil
	}
}

// testEvent is the payload of event i.
func testEvent(i int) []byte {
	return fmt.Appendf(nil, `{"id":"evt-%d","entity":"user:%d","time":"2026-12-02T10:%02d:00Z",`+
		`"fields":{"amount":%d.5,"merchant":"m-%d"}}`, i, i%50, i%60, i, i%7)
}

// publish publishes events [from, to) with their ids as message ids and
// waits for every acknowledgement.
func publish(t testing.TB, js jetstream.JetStream, from, to int) {
	t.Helper()
	if err := publishErr(js, from, to); err != nil {
		t.Fatal(err)
	}
}

func publishErr(js jetstream.JetStream, from, to int) error {
	futures := make([]jetstream.PubAckFuture, 0, to-from)
	for i := from; i < to; i++ {
		f, err := js.PublishAsync("events.payment", testEvent(i),
			jetstream.WithMsgID("evt-"+strconv.Itoa(i)), jetstream.WithStallWait(10*time.Second))
		if err != nil {
			return fmt.Errorf("publish %d: %w", i, err)
		}
		futures = append(futures, f)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			return fmt.Errorf("publish %d: %w", from+i, err)
		case <-time.After(10 * time.Second):
			return fmt.Errorf("publish %d: no acknowledgement", from+i)
		}
	}
	return nil
}

// waitFor polls cond until it holds, failing the test after timeout.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func waitEvents(t testing.TB, l *ledger.Ledger, n uint64) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d events in the ledger", n), func() bool {
		return l.Counts().Events >= n
	})
}

// checkExactly checks that the ledger holds events evt-0 to evt-(n-1), each
// once, that it accounts for every sequence of the stream without a gap,
// and that Verify finds nothing.
func checkExactly(t testing.TB, l *ledger.Ledger, n int) {
	t.Helper()
	seen := make(map[string]int)
	for r, err := range l.Log(1) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Event != nil {
			seen[r.Event.ID]++
		}
	}
	if len(seen) != n {
		t.Errorf("ledger holds %d distinct events, want %d", len(seen), n)
	}
	for i := range n {
		if c := seen["evt-"+strconv.Itoa(i)]; c != 1 {
			t.Errorf("event evt-%d stored %d times", i, c)
		}
	}
	if c := l.Counts().Events; c != uint64(n) {
		t.Errorf("counts say %d events, want %d", c, n)
	}
	rep, err := l.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Errorf("verify: gaps %v, findings %v", rep.Gaps, rep.Findings)
	}
}

// waitAcked waits until the ledger's consumer on EVENTS has nothing pending
// and nothing unacknowledged.
func waitAcked(t testing.TB, js jetstream.JetStream) {
	t.Helper()
	waitFor(t, 30*time.Second, "every event acknowledged", func() bool {
		c, err := js.Consumer(context.Background(), "EVENTS", "asof-ledger-EVENTS")
		if err != nil {
			return false
		}
		info, err := c.Info(context.Background())
		return err == nil && info.NumPending == 0 && info.NumAckPending == 0
	})
}

// freePort returns a TCP port that nobody listens on right now.
func freePort(t testing.TB) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

var errTestLedger = errors.New("test: disk full")

// value reads a counter or gauge.
func value(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	if d.Counter != nil {
		return d.Counter.GetValue()
	}
	return d.Gauge.GetValue()
}

// publishPayloads publishes payloads on events.payment asynchronously and
// waits for every acknowledgement.
func publishPayloads(js jetstream.JetStream, payloads [][]byte) error {
	for _, p := range payloads {
		_, err := js.PublishAsync("events.payment", p, jetstream.WithStallWait(10*time.Second))
		if err != nil {
			return err
		}
	}
	select {
	case <-js.PublishAsyncComplete():
		return nil
	case <-time.After(60 * time.Second):
		return errors.New("publish: acknowledgements missing after 60 s")
	}
}
