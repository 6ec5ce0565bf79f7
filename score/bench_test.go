package score

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// BenchmarkScore measures scoring over NATS request/reply on loopback,
// snapshot acknowledgement included, against a bare echo responder on the
// same server and the same kind of connection in the same run, serially
// and with 8 clients at once. Each sub-benchmark reports p50 and p99
// latency and requests per second; the p99 ratios of score to echo are
// logged at the end (shown with -v). The ledger's ingester does not run: the snapshot's
// durability in the reply path is JetStream's acknowledgement.
func BenchmarkScore(b *testing.B) {
	for _, conn := range []string{"tcp", "inproc"} {
		b.Run("conn="+conn, func(b *testing.B) { benchScore(b, conn == "inproc", true) })
	}
}

// BenchmarkScoreNoStore is BenchmarkScore in process with the snapshots
// stream replaced by a bare responder that acknowledges each snapshot
// without storing it, on a connection of its own: what is left of a
// scoring call's cost without JetStream's store is its hops.
func BenchmarkScoreNoStore(b *testing.B) { benchScore(b, true, false) }

// benchScore runs the comparison with the service and the echo responder
// connected to the server over loopback TCP, or in process; with store
// false, snapshots are acknowledged without being stored.
func benchScore(b *testing.B, inproc, store bool) {
	f := newBenchFixture(b, inproc)
	const entities = 100
	last := benchEvents(b, f.js, entities, 20)
	o, _ := f.startOnline(OnlineOptions{})
	opts := ServiceOptions{SnapshotConn: f.connectLike(b, inproc)}
	if !store {
		opts.SnapshotPrefix = "unstored"
		acker := f.connectLike(b, inproc)
		var seq atomic.Uint64
		sub, err := acker.Subscribe("unstored.>", func(m *nats.Msg) {
			_ = m.Respond(fmt.Appendf(nil, `{"stream":"SNAPSHOTS","seq":%d}`, seq.Add(1)))
		})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = sub.Unsubscribe() })
	}
	f.startService(o, opts)
	f.waitSettled(o, last, false)

	// The echo responder shares the service's connection.
	sub, err := f.nc.QueueSubscribe("bench.echo", "echo", func(m *nats.Msg) {
		_ = m.Respond(m.Data)
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })
	client, _ := connect(b, f.url)

	payloads := make([][]byte, entities)
	for i := range payloads {
		payloads[i] = fmt.Appendf(nil, `{"entity":"user:%d","request_id":"bench"}`, i)
	}
	p99 := map[string]float64{}
	for _, clients := range []int{1, 8} {
		for _, target := range []string{"echo", "score"} {
			subject := "bench.echo"
			if target == "score" {
				subject = "score.fraud"
			}
			name := fmt.Sprintf("%s/clients=%d", target, clients)
			b.Run(name, func(b *testing.B) {
				p99[name] = benchRequests(b, client, subject, payloads, clients)
			})
		}
	}
	for _, c := range []int{1, 8} {
		e, s := p99[fmt.Sprintf("echo/clients=%d", c)], p99[fmt.Sprintf("score/clients=%d", c)]
		if e > 0 {
			b.Logf("clients=%d: p99 score %.0f µs, echo %.0f µs, ratio %.2f", c, s, e, s/e)
		}
	}
}

// newBenchFixture starts a NATS server with JetStream and connects the
// server side (service, echo) over TCP or in process; clients always
// connect over loopback TCP.
func newBenchFixture(b *testing.B, inproc bool) *fixture {
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT,
		JetStream: true, StoreDir: b.TempDir(), NoSigs: true})
	if err != nil {
		b.Fatal(err)
	}
	ns.Start()
	b.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	if !ns.ReadyForConnections(10 * time.Second) {
		b.Fatal("server not ready")
	}
	f := &fixture{t: b, ns: ns, url: ns.ClientURL()}
	f.nc = f.connectLike(b, inproc)
	if f.js, err = jetstream.New(f.nc); err != nil {
		b.Fatal(err)
	}
	f.setup(false)
	return f
}

// connectLike opens a server-side connection of the fixture's kind: over
// loopback TCP, or in process when inproc is set.
func (f *fixture) connectLike(b *testing.B, inproc bool) *nats.Conn {
	if !inproc {
		nc, _ := connect(b, f.url)
		return nc
	}
	nc, err := nats.Connect("", nats.InProcessServer(f.ns))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	return nc
}

// benchEvents publishes perEntity payments for each of n entities and
// returns the stream sequence of the last.
func benchEvents(b *testing.B, js jetstream.JetStream, n, perEntity int) uint64 {
	b.Helper()
	var futures []jetstream.PubAckFuture
	for i := range n * perEntity {
		e := payment(fmt.Sprintf("b-%d", i), fmt.Sprintf("user:%d", i%n),
			time.Duration(i%600)*time.Second, float64(i%97), fmt.Sprintf("m-%d", i%13))
		fut, err := js.PublishAsync("events.payment", e.payload())
		if err != nil {
			b.Fatal(err)
		}
		futures = append(futures, fut)
	}
	var last uint64
	for _, fut := range futures {
		select {
		case ack := <-fut.Ok():
			last = max(last, ack.Sequence)
		case err := <-fut.Err():
			b.Fatal(err)
		}
	}
	return last
}

// benchRequests sends requests on subject from clients goroutines until
// b.Loop ends, reports the latency percentiles and the rate, and returns
// the p99 in microseconds.
func benchRequests(b *testing.B, nc *nats.Conn, subject string, payloads [][]byte,
	clients int) float64 {
	b.ReportAllocs()
	work := make(chan []byte)
	lat := make([][]time.Duration, clients)
	var wg sync.WaitGroup
	for c := range clients {
		wg.Go(func() {
			for p := range work {
				start := time.Now()
				m, err := nc.RequestWithContext(context.Background(), subject, p)
				if err != nil || bytes.Contains(m.Data, []byte(`"error":{`)) {
					b.Errorf("request: %v %s", err, m.Data)
					continue
				}
				lat[c] = append(lat[c], time.Since(start))
			}
		})
	}
	start := time.Now()
	i := 0
	for b.Loop() {
		work <- payloads[i%len(payloads)]
		i++
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)

	all := slices.Concat(lat...)
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	pct := func(p float64) float64 {
		return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1e3
	}
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	return pct(0.99)
}
