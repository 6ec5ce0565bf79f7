package score

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
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
// and with 8 clients at once. A floor responder (see startFloor) shows
// what the hops and bytes of a scoring request cost, snapshot durability
// included, without its work. The three take turns within each
// sub-benchmark (see benchRequests), which reports for each its p50 and
// p99 latency, requests per second and CPU per request, and the p99 ratios
// to the echo's. The ledger's ingester does not run: the snapshot's
// durability in the reply path is JetStream's acknowledgement.
func BenchmarkScore(b *testing.B) {
	for _, conn := range []string{"tcp", "inproc"} {
		b.Run("conn="+conn, func(b *testing.B) { benchScore(b, conn == "inproc", true) })
	}
}

// BenchmarkScoreNoStore is BenchmarkScore in process with the snapshots
// stream replaced by a bare responder that acknowledges each snapshot, the
// service's and the floor's, without storing it, on a connection of its
// own: what is left of a scoring call's cost without JetStream's store.
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
		var seq atomic.Uint64
		benchSubscribe(b, f.connectLike(b, inproc), "unstored.>", func(m *nats.Msg) {
			_ = m.Respond(fmt.Appendf(nil, `{"stream":"SNAPSHOTS","seq":%d}`, seq.Add(1)))
		})
	}
	f.startService(o, opts)
	f.waitSettled(o, last, false)

	// The echo responder shares the service's connection.
	benchSubscribe(b, f.nc, "bench.echo", func(m *nats.Msg) { _ = m.Respond(m.Data) })
	client, _ := connect(b, f.url)
	prefix := cmp.Or(opts.SnapshotPrefix, "snapshots")
	record, reply := sampleExchange(b, f.nc, client, prefix)
	startFloor(b, f, inproc, prefix+".floor", record, reply)

	payloads := make([][]byte, entities)
	for i := range payloads {
		payloads[i] = fmt.Appendf(nil, `{"entity":"user:%d","request_id":"bench"}`, i)
	}
	targets := []benchTarget{{name: "echo", subject: "bench.echo"},
		{name: "floor", subject: "bench.floor"}, {name: "score", subject: "score.fraud"}}
	for _, clients := range []int{1, 8} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			benchRequests(b, client, targets, payloads, clients)
		})
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

// benchTarget is one responder that benchRequests compares.
type benchTarget struct {
	name, subject string
}

// benchBlock is how many requests go to one target before the next takes
// its turn.
const benchBlock = 400

// benchRequests sends requests from clients goroutines until b.Loop ends,
// to each target in turn, a block of requests at a time, so that every
// target meets the same moods of a shared machine; one op is one request.
// It reports each target's p50 and p99 latency, requests per second and
// CPU per request of the whole process (see processCPU), and the p99 of
// each target after the first as a ratio to the first's.
func benchRequests(b *testing.B, nc *nats.Conn, targets []benchTarget, payloads [][]byte,
	clients int) {
	type request struct {
		target  int
		payload []byte
	}
	b.ReportAllocs()
	work := make(chan request)
	lat := make([][][]time.Duration, clients) // by client and target
	var wg sync.WaitGroup
	for c := range clients {
		lat[c] = make([][]time.Duration, len(targets))
		wg.Go(func() {
			for r := range work {
				start := time.Now()
				m, err := nc.RequestWithContext(context.Background(), targets[r.target].subject,
					r.payload)
				if err != nil || bytes.Contains(m.Data, []byte(`"error":{`)) {
					b.Errorf("request to %s: %v %s", targets[r.target].name, err, m.Data)
					continue
				}
				lat[c][r.target] = append(lat[c][r.target], time.Since(start))
			}
		})
	}

	// Each block's wall and CPU time go to its target. At a change of
	// target, requests of both are in flight for a moment.
	wall := make([]time.Duration, len(targets))
	cpu := make([]time.Duration, len(targets))
	blockStart, blockCPU := time.Now(), processCPU(b)
	endBlock := func(t int) {
		now, used := time.Now(), processCPU(b)
		wall[t] += now.Sub(blockStart)
		cpu[t] += used - blockCPU
		blockStart, blockCPU = now, used
	}
	i := 0
	for b.Loop() {
		t := i / benchBlock % len(targets)
		work <- request{t, payloads[i%len(payloads)]}
		i++
		if i%benchBlock == 0 {
			endBlock(t)
		}
	}
	close(work)
	wg.Wait()
	if i%benchBlock != 0 {
		endBlock((i - 1) / benchBlock % len(targets))
	}

	p99 := make([]float64, len(targets))
	for t, target := range targets {
		var all []time.Duration
		for c := range clients {
			all = append(all, lat[c][t]...)
		}
		if len(all) == 0 {
			continue
		}
		slices.Sort(all)
		pct := func(p float64) float64 {
			return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) / 1e3
		}
		p99[t] = pct(0.99)
		b.ReportMetric(pct(0.50), target.name+"-p50-µs")
		b.ReportMetric(p99[t], target.name+"-p99-µs")
		b.ReportMetric(float64(len(all))/wall[t].Seconds(), target.name+"-req/s")
		if cpu[t] > 0 {
			b.ReportMetric(float64(cpu[t].Nanoseconds())/1e3/float64(len(all)),
				target.name+"-cpu-µs/req")
		}
	}
	for t := 1; t < len(targets); t++ {
		if p99[0] > 0 && p99[t] > 0 {
			b.ReportMetric(p99[t]/p99[0], targets[t].name+"/"+targets[0].name+"-p99")
		}
	}
}

// sampleExchange makes one scoring request with client and returns the
// snapshot the service published for it, as sub saw it on the snapshot
// subjects under prefix, and the reply.
func sampleExchange(b *testing.B, sub, client *nats.Conn, prefix string) (record, reply []byte) {
	snaps, err := sub.SubscribeSync(prefix + ".>")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = snaps.Unsubscribe() }()
	if err := sub.Flush(); err != nil {
		b.Fatal(err)
	}
	m, err := client.Request("score.fraud", []byte(`{"entity":"user:1","request_id":"bench"}`),
		5*time.Second)
	if err != nil {
		b.Fatal(err)
	}
	snap, err := snaps.NextMsg(5 * time.Second)
	if err != nil {
		b.Fatal(err)
	}
	return snap.Data, m.Data
}

// startFloor starts the floor responder on bench.floor. For each request
// it publishes record, under a message id of its own, to subject, which the
// snapshots stream stores (or, in BenchmarkScoreNoStore, the bare acker
// answers), and once that is acknowledged it answers with reply: the
// hops and bytes of a scoring request, snapshot durability included,
// without its work (no vector, score or encoding).
func startFloor(b *testing.B, f *fixture, inproc bool, subject string, record, reply []byte) {
	out := f.connectLike(b, inproc)
	var mu sync.Mutex
	waiting := map[uint64]string{} // reply subjects by publication number
	var n uint64
	prefix := out.NewInbox() + "."
	benchSubscribe(b, out, prefix+"*", func(m *nats.Msg) {
		k, _ := strconv.ParseUint(strings.TrimPrefix(m.Subject, prefix), 10, 64)
		mu.Lock()
		to := waiting[k]
		delete(waiting, k)
		mu.Unlock()
		if !bytes.Contains(m.Data, []byte(`"seq":`)) {
			b.Errorf("floor: not an acknowledgement: %s", m.Data)
		}
		_ = f.nc.Publish(to, reply)
	})
	benchSubscribe(b, f.nc, "bench.floor", func(m *nats.Msg) {
		mu.Lock()
		n++
		k := n
		waiting[k] = m.Reply
		mu.Unlock()
		id := "floor-" + strconv.FormatUint(k, 10)
		_ = out.PublishMsg(&nats.Msg{Subject: subject, Reply: prefix + strconv.FormatUint(k, 10),
			Data: record, Header: nats.Header{jetstream.MsgIDHeader: []string{id}}})
	})
}

// benchSubscribe subscribes h to subject on nc until the benchmark ends.
func benchSubscribe(b *testing.B, nc *nats.Conn, subject string, h nats.MsgHandler) {
	sub, err := nc.Subscribe(subject, h)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = sub.Unsubscribe() })
}
