package feature

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

// The benchmarks use one entity with 1,000 payments over 30 days and a spec
// of five features, one of them unbounded, so a vector reads a little of
// every window size and the whole history.
const benchSpec = `features:
  - {name: payments_1h, event: payment, agg: count, window: 1h}
  - {name: amount_sum_24h, event: payment, field: amount, agg: sum, window: 24h}
  - {name: amount_max_7d, event: payment, field: amount, agg: max, window: 7d}
  - {name: merchants_7d, event: payment, field: merchant, agg: count_distinct, window: 7d}
  - {name: last_merchant, event: payment, field: merchant, agg: last}
`

const (
	benchEvents = 1000
	benchSpan   = 30 * 24 * time.Hour
)

// benchData returns the spec and events in event-time order.
func benchData(b *testing.B) (*Spec, []Event) {
	spec := mustParse(b, benchSpec)
	rng := rand.New(rand.NewPCG(1, 2))
	events := make([]Event, benchEvents)
	for i := range events {
		id := fmt.Sprintf("pay-%d", i)
		events[i] = Event{
			ID:   id,
			Type: "payment",
			Time: t0.Add(time.Duration(rng.Int64N(int64(benchSpan)))),
			Hash: xxhash.Sum64String(id),
			Fields: []Field{
				{Name: "amount", Value: Number(float64(rng.IntN(100000)) / 100)},
				{Name: "merchant", Value: String(fmt.Sprintf("m%d", rng.IntN(50)))},
				{Name: "country", Value: String("NL")},
			},
		}
	}
	slices.SortFunc(events, func(a, b Event) int { return a.Time.Compare(b.Time) })
	return spec, events
}

// randomInstants returns n instants spread over the events' span.
func randomInstants(n int) []time.Time {
	rng := rand.New(rand.NewPCG(3, 4))
	ts := make([]time.Time, n)
	for i := range ts {
		ts[i] = t0.Add(time.Duration(rng.Int64N(int64(benchSpan))))
	}
	return ts
}

func BenchmarkStateApply(b *testing.B) {
	spec, sorted := benchData(b)
	shuffled := slices.Clone(sorted)
	rand.New(rand.NewPCG(5, 6)).Shuffle(len(shuffled), func(i, j int) {
		shuffled[i], shuffled[j] = shuffled[j], shuffled[i]
	})
	for _, bc := range []struct {
		name   string
		events []Event
	}{{"in-order", sorted}, {"shuffled", shuffled}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				st := NewState(spec)
				for _, e := range bc.events {
					st.Apply(e)
				}
			}
			reportPerEvent(b, benchEvents)
		})
	}
	b.Run("ApplyAll-shuffled", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			NewState(spec).ApplyAll(shuffled)
		}
		reportPerEvent(b, benchEvents)
	})
}

func reportPerEvent(b *testing.B, perOp int) {
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N) / float64(perOp)
	b.ReportMetric(ns, "ns/event")
	b.ReportMetric(1e9/ns, "events/s")
}

// BenchmarkVector asks one vector at a random instant of a State holding
// 1,000 events, and reports the median and p99 latency. The naive peer
// filters and aggregates the already sorted, deduplicated slice.
func BenchmarkVector(b *testing.B) {
	spec, events := benchData(b)
	st := NewState(spec)
	st.ApplyAll(events)
	held := naiveHeld(spec, events)
	ts := randomInstants(4096)
	for _, bc := range []struct {
		name string
		fn   func(at time.Time) Vector
	}{
		{"fold", st.Vector},
		{"naive", func(at time.Time) Vector { return naiveFromHeld(spec, held, at) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var lat []time.Duration
			i := 0
			for b.Loop() {
				start := time.Now()
				bc.fn(ts[i%len(ts)])
				lat = append(lat, time.Since(start))
				i++
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

// BenchmarkVectorsAt computes 1,000 vectors at sorted instants of one
// entity: one cursor sweep against one fresh Vector per instant.
func BenchmarkVectorsAt(b *testing.B) {
	spec, events := benchData(b)
	st := NewState(spec)
	st.ApplyAll(events)
	ts := randomInstants(1000)
	slices.SortFunc(ts, time.Time.Compare)
	b.Run("sweep", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			st.VectorsAt(ts)
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ts)), "ns/vector")
	})
	b.Run("vector-each", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			for _, at := range ts {
				st.Vector(at)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(ts)), "ns/vector")
	})
}

// BenchmarkCompute is the batch path: 1,000 shuffled events with 10%
// duplicates, one vector at a random instant.
func BenchmarkCompute(b *testing.B) {
	spec, events := benchData(b)
	rng := rand.New(rand.NewPCG(7, 8))
	for range benchEvents / 10 {
		events = append(events, events[rng.IntN(benchEvents)])
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	ts := randomInstants(4096)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Compute(spec, events, ts[i%len(ts)])
		i++
	}
	reportPerEvent(b, len(events))
}
