package replay

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"pgregory.net/rapid"
)

// TestBackfillEqualsReplay is backfill's promise: every row it produces
// equals a point replay at the row's instant on the same view, whatever the
// number of workers, and every row comes back exactly once.
func TestBackfillEqualsReplay(t *testing.T) {
	spec := mustSpec(t, testSpec)
	for _, view := range []View{Truth, Knowable} {
		t.Run(view.String(), func(t *testing.T) {
			rapid.Check(t, func(t *rapid.T) {
				es := genEvents(t)
				n := rapid.IntRange(1, 30).Draw(t, "rows")
				points := make([]Point, n)
				for i := range points {
					points[i] = Point{
						Entity: rapid.SampledFrom([]string{"u1", "u2", "u3", "u10",
							"nobody"}).Draw(t, "entity"),
						At: t0.Add(time.Duration(rapid.IntRange(-10, 320).Draw(t,
							"T")) * time.Minute),
						Ref: i,
					}
				}
				workers := rapid.IntRange(1, 4).Draw(t, "workers")
				read := rapid.SampledFrom([]int{readScan, readSeek}).Draw(t, "read")
				withLedger(t, es, func(l *ledger.Ledger) {
					r := New(l, spec)
					seen := make([]bool, n)
					var order []Point
					err := r.Backfill(slices.Clone(points), BackfillOptions{View: view,
						Workers: workers, read: read},
						func(p Point, got feature.Vector) error {
							if seen[p.Ref] {
								t.Fatalf("row %d twice", p.Ref)
							}
							seen[p.Ref] = true
							order = append(order, p)
							want, err := r.Vector(Query{Entity: p.Entity, At: p.At, View: view})
							if err != nil {
								t.Fatal(err)
							}
							if !sameVector(got, want) {
								t.Fatalf("row %d (%s at %s): backfill %v (n=%d), "+
									"replay %v (n=%d)", p.Ref, p.Entity, p.At,
									got.Map(spec), got.Count, want.Map(spec), want.Count)
							}
							return nil
						})
					if err != nil {
						t.Fatal(err)
					}
					if slices.Contains(seen, false) {
						t.Fatalf("rows missing: %v", seen)
					}
					if !slices.IsSortedFunc(order, comparePoints) {
						t.Fatalf("rows out of index order: %v", order)
					}
				})
			})
		})
	}
}

func comparePoints(a, b Point) int {
	ps := []Point{a, b}
	sortIndexOrder(ps)
	if ps[0] == a && a != b {
		return -1
	}
	if a == b {
		return 0
	}
	return 1
}

func TestBackfillStops(t *testing.T) {
	spec := mustSpec(t, testSpec)
	l := openLedger(t, t.TempDir())
	defer l.Close()
	r := New(l, spec)
	points := make([]Point, 500)
	for i := range points {
		points[i] = Point{Entity: string(rune('a' + i%26)),
			At: t0.Add(time.Duration(i) * time.Second)}
	}

	if err := r.Backfill(points, BackfillOptions{View: Watermark}, nil); !errors.Is(err,
		ErrBackfillView) {
		t.Fatalf("watermark view: %v", err)
	}

	// An error from fn stops the sweep and comes back as is.
	boom := errors.New("boom")
	calls := 0
	err := r.Backfill(points, BackfillOptions{Workers: 2}, func(Point, feature.Vector) error {
		calls++
		if calls == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls != 10 {
		t.Fatalf("err %v after %d calls", err, calls)
	}

	// No points: nothing to do.
	if err := r.Backfill(nil, BackfillOptions{}, nil); err != nil {
		t.Fatal(err)
	}

	// Progress counts every row, ending at the total.
	var last int
	err = r.Backfill(points, BackfillOptions{Progress: func(n int) { last = n }},
		func(Point, feature.Vector) error { return nil })
	if err != nil || last != len(points) {
		t.Fatalf("err %v, progress ended at %d", err, last)
	}
}

const labelSpec = testSpec + `
labels:
  - name: payments_next_1h
    event: payment
    agg: count
    horizon: 1h
  - name: amount_next_30m
    event: payment
    field: amount
    agg: sum
    horizon: 30m
`

func TestLabels(t *testing.T) {
	spec := mustSpec(t, labelSpec)
	l := openLedger(t, t.TempDir())
	defer l.Close()
	m := time.Minute
	_, err := l.Append(&ledger.Batch{Events: []ledger.Event{
		event("u", "a", "payment", 0, 1*m, 1, 10, "m1"),
		event("u", "b", "payment", 30*m, 31*m, 2, 20, "m2"),
		event("u", "late", "payment", 40*m, 300*m, 3, 40, "m3"), // late, counts all the same
		event("u", "c", "payment", 60*m, 61*m, 4, 5, "m4"),
		event("v", "d", "payment", 10*m, 11*m, 5, 1, "m5"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := New(l, spec)
	cutoff := t0.Add(90 * m)
	points := []Point{
		{Entity: "u", At: t0, Ref: 0},             // (0, 60m]: b, late, c; 30m: b
		{Entity: "u", At: t0.Add(30 * m), Ref: 1}, // (30m, 90m]: late, c; 30m: late, c
		{Entity: "u", At: t0.Add(45 * m), Ref: 2}, // 1h ends at 105m > cutoff
		{Entity: "v", At: t0, Ref: 3},             // d
		{Entity: "w", At: t0, Ref: 4},             // no events
	}
	want := map[int][]feature.Value{
		0: {feature.Number(3), feature.Number(20)},
		1: {feature.Number(2), feature.Number(45)},
		2: {{}, feature.Number(5)},
		3: {feature.Number(1), feature.Number(1)},
		4: {feature.Number(0), {}},
	}
	for _, read := range []int{readScan, readSeek} {
		got := map[int][]feature.Value{}
		err = r.Labels(slices.Clone(points), cutoff, BackfillOptions{read: read},
			func(p Point, vs []feature.Value, complete bool) error {
				got[p.Ref] = vs
				if complete != (p.Ref != 2) {
					t.Errorf("row %d complete %v", p.Ref, complete)
				}
				return nil
			})
		if err != nil {
			t.Fatal(err)
		}
		for ref, w := range want {
			if !slices.EqualFunc(got[ref], w, func(a, b feature.Value) bool {
				return a.Equal(b,
					0)
			}) {
				t.Errorf("read %d, row %d: labels %v, want %v", read, ref, got[ref], w)
			}
		}
	}
}
