package replay

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/asofdev/asof/ledger"
	"pgregory.net/rapid"
)

// checkViewPoint compares a ViewPoint with point replays on every view, and
// its input sets with the vectors' counts and digests.
func checkViewPoint(r *Replayer, vp *ViewPoint) error {
	for _, view := range Views {
		want, err := r.Vector(Query{Entity: vp.Point.Entity, At: vp.Point.At, View: view,
			Watermark: vp.Point.Watermark})
		if err != nil {
			return err
		}
		got := vp.Vector(view)
		if !sameVector(got, want) {
			return fmt.Errorf("point %d %s view: sweep %v (n=%d), replay %v (n=%d)", vp.Point.Ref,
				view, got.Map(r.spec), got.Count, want.Map(r.spec), want.Count)
		}
		var digest uint64
		inputs := vp.Inputs(view)
		for _, ie := range inputs {
			digest += ie.Record.Hash
		}
		if len(inputs) != got.Count || digest != got.Digest {
			return fmt.Errorf("point %d %s view: inputs %d events digest %x, vector %d digest %x",
				vp.Point.Ref, view, len(inputs), digest, got.Count, got.Digest)
		}
	}
	return nil
}

type sweepFunc func([]Point, int, func(int, *ViewPoint) error) error

// sweeps returns SweepViews and both of its ways to read: a range read per
// entity, and one scan of the entity index.
func sweeps(r *Replayer) map[string]sweepFunc {
	return map[string]sweepFunc{
		"SweepViews": r.SweepViews,
		"reads": func(points []Point, workers int, fn func(int, *ViewPoint) error) error {
			ps, groups := entityGroups(points)
			return r.sweepReads(ps, groups, workers, fn)
		},
		"scan": func(points []Point, workers int, fn func(int, *ViewPoint) error) error {
			ps, groups := entityGroups(points)
			return r.sweepScan(ps, groups, workers, fn)
		},
	}
}

// TestSweepViewsEqualsPointReplay checks SweepViews against point replays on
// random ledgers, points and watermarks (some decreasing), with two workers.
func TestSweepViewsEqualsPointReplay(t *testing.T) {
	spec := mustSpec(t, testSpec)
	rapid.Check(t, func(t *rapid.T) {
		es := genEvents(t)
		withLedger(t, es, func(l *ledger.Ledger) {
			r := New(l, spec)
			var points []Point
			for i := range rapid.IntRange(1, 20).Draw(t, "points") {
				points = append(points, Point{
					Entity: rapid.SampledFrom([]string{"u1", "u2", "u3", "u4"}).Draw(t,
						"entity"),
					At: t0.Add(time.Duration(rapid.IntRange(0, 300).Draw(t,
						"T")) * time.Minute),
					Watermark: uint64(rapid.IntRange(0, len(es)+1).Draw(t, "W")),
					Ref:       i,
				})
			}
			for name, sweep := range sweeps(r) {
				var mu sync.Mutex
				seen := map[int]bool{}
				err := sweep(points, 2, func(worker int, vp *ViewPoint) error {
					mu.Lock()
					seen[vp.Point.Ref] = true
					mu.Unlock()
					return checkViewPoint(r, vp)
				})
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if len(seen) != len(points) {
					t.Fatalf("%s answered %d of %d points", name, len(seen), len(points))
				}
			}
		})
	})
}

func TestSweepViewsStopsOnError(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	spec := mustSpec(t, testSpec)
	var es []ledger.Event
	for i := range 50 {
		es = append(es, event(fmt.Sprint("u", i), fmt.Sprint("e", i), "payment",
			time.Duration(i)*time.Minute, time.Duration(i)*time.Minute, uint64(i+1), 1, "m"))
	}
	if _, err := l.Append(&ledger.Batch{Events: es}); err != nil {
		t.Fatal(err)
	}
	var points []Point
	for i := range 50 {
		points = append(points, Point{Entity: fmt.Sprint("u", i), At: t0.Add(time.Hour), Ref: i})
	}
	stop := errors.New("stop")
	for name, sweep := range sweeps(New(l, spec)) {
		var mu sync.Mutex
		calls := 0
		err := sweep(points, 2, func(int, *ViewPoint) error {
			mu.Lock()
			defer mu.Unlock()
			calls++
			return stop
		})
		if !errors.Is(err, stop) {
			t.Fatalf("%s returned %v, want the callback's error", name, err)
		}
		if calls > 2 {
			t.Fatalf("%s went on after an error: %d calls", name, calls)
		}
	}
	if err := New(l, spec).SweepViews(nil, 0, nil); err != nil {
		t.Fatalf("no points: %v", err)
	}
}
