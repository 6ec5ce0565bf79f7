package replay

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/cockroachdb/pebble/v2"
)

// benchLedger writes n events over entities entities, 1,000 per batch,
// event times one per (entities) milliseconds apart, arrivals a second
// later, and returns the ledger's directory, closed.
func benchLedger(b *testing.B, n, entities int) string {
	b.Helper()
	dir := b.TempDir()
	l := openLedger(b, dir)
	for start := 0; start < n; start += 1000 {
		es := make([]ledger.Event, 0, 1000)
		for i := start; i < min(start+1000, n); i++ {
			at := time.Duration(i) * 90 * time.Second / time.Duration(entities)
			typ := "payment"
			if i%5 == 0 {
				typ = "login"
			}
			es = append(es, event(fmt.Sprint("user:", i%entities), fmt.Sprint("e", i), typ,
				at, at+time.Second, uint64(i+1), float64(i%500)+0.25, fmt.Sprint("m", i%40)))
		}
		if _, err := l.Append(&ledger.Batch{Events: es}); err != nil {
			b.Fatal(err)
		}
	}
	// A long-lived ledger's index lies in compacted tables; so does this one.
	if err := l.Compact(context.Background()); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

// windowedSpec is five features whose widest window is seven days, as
// fraud features usually are.
const windowedSpec = `
features:
  - {name: payments_1h, event: payment, agg: count, window: 1h}
  - {name: amount_sum_24h, event: payment, field: amount, agg: sum, window: 24h}
  - {name: amount_max_7d, event: payment, field: amount, agg: max, window: 7d}
  - {name: last_merchant_7d, event: payment, field: merchant, agg: last, window: 7d}
  - {name: logins_1d, event: login, agg: count, window: 24h}
`

// BenchmarkReplayEntity replays one entity holding 1,000 events as of a
// random instant and reports p50 and p99 latency, with two five-feature
// specs: one with an unbounded feature over 25 hours of events (every
// vector reads all history up to T), and one whose widest window is seven
// days over 30 days of events.
func BenchmarkReplayEntity(b *testing.B) {
	cases := []struct {
		name, spec string
		span       time.Duration
	}{
		{"unbounded", testSpec, 25 * time.Hour},
		{"window-7d", windowedSpec, 30 * 24 * time.Hour},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			l := openLedger(b, entityLedger(b, 1000, tc.span))
			defer l.Close()
			r := New(l, mustSpec(b, tc.spec))
			rng := rand.New(rand.NewPCG(1, 2))
			var lat []time.Duration
			for b.Loop() {
				at := t0.Add(time.Duration(rng.Int64N(int64(tc.span))))
				start := time.Now()
				if _, err := r.Vector(Query{Entity: "user:0", At: at, View: Knowable}); err != nil {
					b.Fatal(err)
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}

// entityLedger writes n events of one entity spread evenly over span, and
// returns the ledger's directory, closed.
func entityLedger(b *testing.B, n int, span time.Duration) string {
	b.Helper()
	dir := b.TempDir()
	l := openLedger(b, dir)
	var es []ledger.Event
	for i := range n {
		at := time.Duration(i) * span / time.Duration(n)
		typ := "payment"
		if i%5 == 0 {
			typ = "login"
		}
		es = append(es, event("user:0", fmt.Sprint("e", i), typ, at, at+time.Second, uint64(i+1),
			float64(i%500)+0.25, fmt.Sprint("m", i%40)))
	}
	if _, err := l.Append(&ledger.Batch{Events: es}); err != nil {
		b.Fatal(err)
	}
	if err := l.Close(); err != nil {
		b.Fatal(err)
	}
	return dir
}

// BenchmarkReplayAll rebuilds the vector of every entity of a ledger of 1 M
// events over 10,000 entities, against a raw Pebble scan of the same entity
// index keys in the same run.
func BenchmarkReplayAll(b *testing.B) {
	n, entities := 1_000_000, 10_000
	if s := os.Getenv("ASOF_BENCH_EVENTS"); s != "" {
		n, _ = strconv.Atoi(s)
	}
	dir := benchLedger(b, n, entities)
	spec := mustSpec(b, testSpec)
	end := t0.Add(time.Duration(n) * 90 * time.Second / time.Duration(entities))

	b.Run("replay", func(b *testing.B) {
		l := openLedger(b, dir)
		defer l.Close()
		r := New(l, spec)
		got := 0
		for b.Loop() {
			got = 0
			if err := r.All(end, Truth, 0, func(string, feature.Vector) error {
				got++
				return nil
			}); err != nil {
				b.Fatal(err)
			}
		}
		if got != entities {
			b.Fatalf("%d vectors, want %d", got, entities)
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("pebble-raw", func(b *testing.B) {
		db, err := pebble.Open(dir, &pebble.Options{ReadOnly: true, Logger: quietLogger{}})
		if err != nil {
			b.Fatal(err)
		}
		defer db.Close()
		for b.Loop() {
			it, _ := db.NewIter(&pebble.IterOptions{LowerBound: []byte("e"),
				UpperBound: []byte("f")})
			keys := 0
			for ok := it.First(); ok; ok = it.Next() {
				_ = it.Value()
				keys++
			}
			_ = it.Close()
			if keys != n {
				b.Fatalf("%d keys", keys)
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}

// quietLogger drops Pebble's log lines, which would break up the
// benchmark's output.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf(format, args...))
}
