// Command pit runs the point-in-time join of package pit on DuckDB and on
// asof's backfill, checks that they agree on every row and prints both
// times and their ratio.
//
//	go run ./cmd/pit                 # 2 M events, 100 k entities, 500 k labels
//	go run ./cmd/pit -events 10000000 -cpuprofile cpu.out -memprofile mem.out
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"syscall"
	"time"

	"github.com/asofdev/asof/bench/pit"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
)

func main() {
	var c pit.Config
	flag.IntVar(&c.Events, "events", 2_000_000, "events")
	flag.IntVar(&c.Entities, "entities", 100_000, "entities")
	flag.IntVar(&c.Labels, "labels", 500_000, "label rows")
	flag.DurationVar(&c.Window, "window", time.Hour, "feature window")
	runs := flag.Int("runs", 3, "timed runs of each side; the fastest counts")
	dir := flag.String("dir", "", "directory for the ledger (default: a temporary one)")
	cache := flag.Int64("cache", 1<<30, "the ledger's block cache in bytes; DuckDB holds its "+
		"tables in memory, and the default holds the ledger's entity index likewise")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of asof's runs")
	memprofile := flag.String("memprofile", "",
		"write an allocation profile, asof's runs sampled finely")
	flag.Parse()
	if err := run(c, *runs, *dir, *cache, *cpuprofile, *memprofile); err != nil {
		fmt.Fprintln(os.Stderr, "pit:", err)
		os.Exit(1)
	}
}

func run(c pit.Config, runs int, dir string, cache int64, cpuprofile, memprofile string) error {
	ctx := context.Background()
	d := pit.Generate(c)
	fmt.Printf("%d events over %d entities, %d labels, window %s\n", len(d.Events),
		d.Config.Entities, len(d.Labels), d.Config.Window)

	start := time.Now()
	db, err := pit.LoadDuckDB(ctx, d)
	if err != nil {
		return fmt.Errorf("load duckdb: %w", err)
	}
	defer db.Close()
	fmt.Printf("duckdb load (not timed): %s\n", time.Since(start).Round(time.Millisecond))

	// DuckDB: every formulation, keeping the fastest.
	duck := make([]pit.Result, len(d.Labels))
	best, bestName := time.Duration(1<<62), ""
	for _, name := range []string{"range_join", "asof_window"} {
		for range runs {
			out := make([]pit.Result, len(d.Labels))
			el, err := db.Run(ctx, name, d.Config.Window, out)
			if err != nil {
				return fmt.Errorf("duckdb %s: %w", name, err)
			}
			fmt.Printf("duckdb %-12s %s\n", name, el.Round(time.Millisecond))
			if el < best {
				best, bestName, duck = el, name, out
			}
		}
	}

	if dir == "" {
		if dir, err = os.MkdirTemp("", "asof-pit"); err != nil {
			return err
		}
	}
	start = time.Now()
	l, err := pit.LoadLedger(d, dir, ledger.Options{CacheSize: cache})
	if err != nil {
		return fmt.Errorf("load ledger: %w", err)
	}
	defer l.Close()
	fmt.Printf("ledger load (not timed): %s; block cache %d MiB\n",
		time.Since(start).Round(time.Millisecond), cache>>20)

	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		_ = pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	if memprofile != "" {
		// Sample the runs' allocations more finely. The profile is
		// cumulative: it also holds what generating the data and loading
		// the ledger allocated, sampled at the default rate.
		runtime.MemProfileRate = 64 << 10
		defer writeHeapProfile(memprofile)
	}
	points := d.Points()
	asofBest := time.Duration(1 << 62)
	var asof []pit.Result
	var peak, grew uint64 // the heap's peak, and its growth over the run
	for range runs {
		out := make([]pit.Result, len(d.Labels))
		ps := slices.Clone(points)
		stop := pit.PeakHeap()
		cpu0 := cpuTime()
		el, err := l.Run(ps, replay.Truth, out)
		cpu := cpuTime() - cpu0
		p, before := stop()
		peak, grew = max(peak, p), max(grew, p-before) // the peak is never below the start
		if err != nil {
			return fmt.Errorf("asof backfill: %w", err)
		}
		fmt.Printf("asof backfill      %s (cpu %s)\n", el.Round(time.Millisecond),
			cpu.Round(time.Millisecond))
		if el < asofBest {
			asofBest, asof = el, out
		}
	}

	if bad, first := pit.Compare(duck, asof); bad > 0 {
		return fmt.Errorf("%d of %d rows differ; first: %s", bad, len(duck), first)
	}
	ru := rusage()
	fmt.Printf("agree on all %d rows\n", len(duck))
	fmt.Printf("duckdb (%s): %s   asof: %s   asof/duckdb: %.2f\n", bestName,
		best.Round(time.Millisecond), asofBest.Round(time.Millisecond),
		float64(asofBest)/float64(best))
	fmt.Printf("asof peak Go heap objects during backfill: %d MiB, %d MiB above what the "+
		"process held before (the generated data, DuckDB's answer); "+
		"process max RSS (both sides): %d MiB\n", peak>>20, grew>>20, ru.Maxrss>>10)
	return nil
}

// writeHeapProfile writes the allocation profile to path: its alloc_space
// and alloc_objects samples hold the runs' allocations and those before.
func writeHeapProfile(path string) {
	f, err := os.Create(path)
	if err == nil {
		err = pprof.Lookup("allocs").WriteTo(f, 0)
		err = errors.Join(err, f.Close())
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "pit: memory profile:", err)
	}
}

// cpuTime returns the CPU time, user and system, the process has used.
func cpuTime() time.Duration {
	ru := rusage()
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rusage returns the process's resource usage so far.
func rusage() syscall.Rusage {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru
}
