package pit

import (
	"context"
	"flag"
	"slices"
	"testing"

	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
)

var (
	events   = flag.Int("pit.events", 200_000, "events of BenchmarkPIT")
	entities = flag.Int("pit.entities", 10_000, "entities of BenchmarkPIT")
	labels   = flag.Int("pit.labels", 50_000, "label rows of BenchmarkPIT")
)

// BenchmarkPIT runs the join on DuckDB (its fastest formulation) and on
// asof's backfill in the same run, after checking that they agree. Sizes
// are flags: -pit.events 2000000 -pit.entities 100000 -pit.labels 500000
// for the figures of the report.
func BenchmarkPIT(b *testing.B) {
	ctx := context.Background()
	d := Generate(Config{Events: *events, Entities: *entities, Labels: *labels})
	db, err := LoadDuckDB(ctx, d)
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	l, err := LoadLedger(d, b.TempDir(), ledger.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()

	duck := make([]Result, len(d.Labels))
	if _, err := db.Run(ctx, "range_join", d.Config.Window, duck); err != nil {
		b.Fatal(err)
	}
	asof := make([]Result, len(d.Labels))
	if _, err := l.Run(d.Points(), replay.Truth, asof); err != nil {
		b.Fatal(err)
	}
	if bad, first := Compare(duck, asof); bad > 0 {
		b.Fatalf("%d rows differ; first: %s", bad, first)
	}

	var duckNs, asofNs float64
	b.Run("duckdb", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := db.Run(ctx, "range_join", d.Config.Window, duck); err != nil {
				b.Fatal(err)
			}
		}
		duckNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(len(d.Labels))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
	})
	b.Run("asof", func(b *testing.B) {
		b.ReportAllocs()
		points := d.Points()
		for b.Loop() {
			if _, err := l.Run(slices.Clone(points), replay.Truth, asof); err != nil {
				b.Fatal(err)
			}
		}
		asofNs = float64(b.Elapsed().Nanoseconds()) / float64(b.N)
		b.ReportMetric(float64(len(d.Labels))*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		if duckNs > 0 {
			b.ReportMetric(asofNs/duckNs, "x-duckdb")
		}
	})
}

// TestAgree checks on a small data set that both sides give the same rows,
// with either formulation.
func TestAgree(t *testing.T) {
	ctx := context.Background()
	d := Generate(Config{Events: 20_000, Entities: 500, Labels: 5_000})
	db, err := LoadDuckDB(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := LoadLedger(d, t.TempDir(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	asof := make([]Result, len(d.Labels))
	if _, err := l.Run(d.Points(), replay.Truth, asof); err != nil {
		t.Fatal(err)
	}
	for name := range Formulations {
		duck := make([]Result, len(d.Labels))
		if _, err := db.Run(ctx, name, d.Config.Window, duck); err != nil {
			t.Fatal(err)
		}
		if bad, first := Compare(duck, asof); bad > 0 {
			t.Fatalf("%s: %d rows differ; first: %s", name, bad, first)
		}
	}
}
