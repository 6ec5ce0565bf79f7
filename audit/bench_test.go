package audit

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"sort"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
	"github.com/asofdev/asof/replay"
	"github.com/cespare/xxhash/v2"
)

// The benchmark ledger: events over entities during one day, and one
// snapshot per entity, 1% of them computed with one event dropped.
const (
	benchEntities  = 100_000
	benchPerEntity = 10
	benchSnapshots = benchEntities
)

// benchLedger is built once per process and removed by TestMain.
var benchLedger struct {
	once sync.Once
	dir  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchLedger.dir != "" {
		_ = os.RemoveAll(benchLedger.dir)
	}
	os.Exit(code)
}

// benchFixture is the demo spec and model of testdata/.
func benchFixture(b testing.TB) (*feature.Spec, *model.Model) {
	spec, err := feature.LoadSpec(filepath.Join("..", "testdata", "specs", "payments.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	m, err := model.Load(filepath.Join("..", "testdata", "models", "fraud.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	return spec, m
}

// gen is one generated event, compact until it is written.
type gen struct {
	entity           int32
	login            bool
	t, arrival       int64
	amount           float64
	merchant, device uint8
}

// BenchmarkAudit audits 100 k snapshots over a ledger of 1 M events and
// 100 k entities, with the sweep on every core and on one, and, for
// comparison, point replays of the three views per snapshot (on a sample,
// since it is slow). It reports snapshots/s and the peak heap.
func BenchmarkAudit(b *testing.B) {
	spec, m := benchFixture(b)
	benchLedger.once.Do(func() {
		benchLedger.dir, benchLedger.err = os.MkdirTemp("", "asof-audit-bench")
		if benchLedger.err == nil {
			benchLedger.err = buildBenchLedger(benchLedger.dir, spec, m)
		}
	})
	if benchLedger.err != nil {
		b.Fatal(benchLedger.err)
	}
	l, err := ledger.Open(benchLedger.dir, ledger.Options{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	from, to := day, day.AddDate(0, 0, 1)

	for _, workers := range []int{runtime.GOMAXPROCS(0), 1} {
		b.Run(fmt.Sprintf("sweep/workers=%d", workers), func(b *testing.B) {
			b.ReportAllocs()
			var r *Report
			cpu0 := cpuTime()
			peak := watchHeap(b, func() {
				for b.Loop() {
					var err error
					r, err = Run(context.Background(), l, Options{Spec: spec, From: from, To: to,
						Models: []*model.Model{m}, Workers: workers})
					if err != nil {
						b.Fatal(err)
					}
				}
			})
			b.ReportMetric(float64(r.Snapshots)*float64(b.N)/b.Elapsed().Seconds(), "snapshots/s")
			b.ReportMetric(peak/(1<<20), "peak-heap-MB")
			// The machine is shared: CPU time tells the cost when the wall
			// clock is stretched by other processes.
			cpu := (cpuTime() - cpu0).Seconds()
			b.ReportMetric(float64(r.Snapshots)*float64(b.N)/cpu, "snapshots/cpu-s")
			b.ReportMetric(float64(r.Differing), "differing")
		})
	}
	b.Run("point-replay", func(b *testing.B) {
		var sample []ledger.Snapshot
		for ie, err := range l.Snapshots("", from, to) {
			if err != nil {
				b.Fatal(err)
			}
			if ie.Seq%50 == 0 { // one in 50: 2,000 snapshots
				sample = append(sample, ie.Record)
			}
		}
		r := replay.New(l, spec)
		for b.Loop() {
			for i := range sample {
				s := &sample[i]
				for _, v := range replay.Views {
					if _, err := r.Vector(replay.Query{Entity: s.Entity, At: s.Time, View: v,
						Watermark: s.Watermark}); err != nil {
						b.Fatal(err)
					}
				}
			}
		}
		b.ReportMetric(float64(len(sample))*float64(b.N)/b.Elapsed().Seconds(), "snapshots/s")
	})
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// watchHeap runs fn and returns the largest heap (live and unswept
// objects) seen while it ran, sampled every 2 ms.
func watchHeap(b *testing.B, fn func()) float64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	done := make(chan struct{})
	peak := make(chan float64)
	go func() {
		top := 0.0
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			metrics.Read(sample)
			top = max(top, float64(sample[0].Value.Uint64()))
			select {
			case <-done:
				peak <- top
				return
			case <-tick.C:
			}
		}
	}()
	runtime.GC()
	fn()
	close(done)
	return <-peak
}

// buildBenchLedger writes the benchmark's events and snapshots into dir.
func buildBenchLedger(dir string, spec *feature.Spec, m *model.Model) error {
	rng := rand.New(rand.NewPCG(1, 2))
	gens := make([]gen, 0, benchEntities*benchPerEntity)
	for e := range benchEntities {
		for range benchPerEntity {
			t := day.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
			arrival := t.Add(time.Duration(rng.Int64N(int64(2 * time.Second))))
			if rng.IntN(50) == 0 {
				arrival = arrival.Add(time.Duration(rng.Int64N(int64(2 * time.Hour))))
			}
			gens = append(gens, gen{entity: int32(e), login: rng.IntN(4) == 0, t: t.UnixNano(),
				arrival: arrival.UnixNano(), amount: float64(rng.IntN(50000)) / 100,
				merchant: uint8(rng.IntN(50)), device: uint8(rng.IntN(5))})
		}
	}
	// The broker numbers events in arrival order.
	slices.SortFunc(gens, func(a, b gen) int { return int(a.arrival - b.arrival) })
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		return err
	}
	defer l.Close()
	byEntity := make([][]int32, benchEntities)
	for start := 0; start < len(gens); start += 10_000 {
		batch := &ledger.Batch{}
		for i := start; i < min(start+10_000, len(gens)); i++ {
			batch.Events = append(batch.Events, benchEvent(&gens[i], uint64(i+1)))
			byEntity[gens[i].entity] = append(byEntity[gens[i].entity], int32(i))
		}
		batch.Covered = []ledger.SeqRange{{Stream: "EVENTS", First: uint64(start + 1),
			Last: uint64(start + len(batch.Events))}}
		if _, err := l.Append(batch); err != nil {
			return err
		}
	}
	return writeBenchSnapshots(l, rng, gens, byEntity, spec, m)
}

func benchEvent(g *gen, seq uint64) ledger.Event {
	e := ledger.Event{ID: fmt.Sprintf("ev-%d", seq), Entity: fmt.Sprintf("user:%d", g.entity),
		Type: "payment", Time: time.Unix(0, g.t).UTC(), Arrival: time.Unix(0, g.arrival).UTC(),
		Stream: "EVENTS", BrokerSeq: seq}
	num := func(x float64) ledger.Value { return ledger.Value{Kind: ledger.KindNumber, Num: x} }
	str := func(s string) ledger.Value { return ledger.Value{Kind: ledger.KindString, Str: s} }
	if g.login {
		e.Type = "login"
		e.Fields = []ledger.Field{{Name: "country", Value: str("c" + fmt.Sprint(g.merchant%7))},
			{Name: "device", Value: str("d" + fmt.Sprint(g.device))}}
	} else {
		e.Fields = []ledger.Field{{Name: "amount", Value: num(g.amount)},
			{Name: "merchant", Value: str("m" + fmt.Sprint(g.merchant))}}
	}
	e.Payload = fmt.Appendf(nil, `{"id":%q,"entity":%q,"type":%q,"t":%d,"a":%g,"m":%d,"d":%d}`,
		e.ID, e.Entity, e.Type, g.t, g.amount, g.merchant, g.device)
	e.Hash = xxhash.Sum64(e.Payload)
	return e
}

// writeBenchSnapshots scores one snapshot per entity at a random instant,
// from its watermark view: the events arrived by then, less a lag of up to
// 100 sequences for one snapshot in ten; one in a hundred drops an event.
func writeBenchSnapshots(l *ledger.Ledger, rng *rand.Rand, gens []gen, byEntity [][]int32,
	spec *feature.Spec, m *model.Model) error {
	arrivals := make([]int64, len(gens))
	for i := range gens {
		arrivals[i] = gens[i].arrival
	}
	batch := &ledger.Batch{}
	for e := range benchSnapshots {
		at := day.Add(time.Duration(rng.Int64N(int64(24 * time.Hour))))
		w := uint64(sort.Search(len(arrivals),
			func(i int) bool { return arrivals[i] > at.UnixNano() }))
		if rng.IntN(10) == 0 {
			w -= min(w, uint64(rng.IntN(100)))
		}
		var fes []feature.Event
		for _, i := range byEntity[e] {
			ev := benchEvent(&gens[i], uint64(i+1))
			if replay.Sees(&ev, replay.Watermark, at, w) {
				fes = append(fes, foldEvent(&ev))
			}
		}
		if len(fes) > 0 && rng.IntN(100) == 0 {
			fes = slices.Delete(fes, 0, 1)
		}
		batch.Snapshots = append(batch.Snapshots, benchSnapshot(e, at, w, fes, spec, m))
		if len(batch.Snapshots) == 10_000 {
			if _, err := l.Append(batch); err != nil {
				return err
			}
			batch = &ledger.Batch{}
		}
	}
	return nil
}

func benchSnapshot(e int, at time.Time, w uint64, fes []feature.Event, spec *feature.Spec,
	m *model.Model) ledger.Snapshot {
	v := feature.Compute(spec, fes, at)
	score, decision := m.Score(spec, v)
	s := ledger.Snapshot{ID: fmt.Sprintf("snap-%d", e), Model: m.Name, ModelVersion: m.Version,
		SpecVersion: spec.Version, Entity: fmt.Sprintf("user:%d", e), Time: at,
		VectorHash: v.Hash(spec), InputCount: uint64(v.Count), InputDigest: v.Digest, Watermark: w,
		Score: score, Decision: decision, Arrival: at, Stream: "SNAPSHOTS",
		Payload: fmt.Appendf(nil, `{"snapshot_id":"snap-%d"}`, e)}
	for i, f := range spec.Features {
		s.Vector = append(s.Vector, ledger.Field{Name: f.Name,
			Value: replay.LedgerValue(v.Values[i])})
	}
	return s
}

// foldEvent converts an event for the fold with exactly the fields it needs.
func foldEvent(e *ledger.Event) feature.Event {
	fe := feature.Event{ID: e.ID, Type: e.Type, Time: e.Time, Hash: e.Hash,
		Fields: make([]feature.Field, len(e.Fields))}
	for i, f := range e.Fields {
		fe.Fields[i] = feature.Field{Name: f.Name, Value: replay.FeatureValue(f.Value)}
	}
	return fe
}
