package feature

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// ev builds an event at t0+off whose content hash derives from its ID.
func ev(id, typ string, off time.Duration, fields ...Field) Event {
	return Event{ID: id, Type: typ, Time: t0.Add(off), Hash: xxhash.Sum64String(id), Fields: fields}
}

func fld(name string, v Value) Field { return Field{Name: name, Value: v} }

const aggSpec = `features:
  - {name: n, event: payment, agg: count, window: 1h}
  - {name: n_amount, event: payment, field: amount, agg: count, window: 1h}
  - {name: sum, event: payment, field: amount, agg: sum, window: 1h}
  - {name: mean, event: payment, field: amount, agg: mean, window: 1h}
  - {name: min, event: payment, field: amount, agg: min, window: 1h}
  - {name: max, event: payment, field: amount, agg: max, window: 1h}
  - {name: first, event: payment, field: merchant, agg: first, window: 1h}
  - {name: last, event: payment, field: merchant, agg: last, window: 1h}
  - {name: distinct, event: payment, field: merchant, agg: count_distinct, window: 1h}
  - {name: total, event: payment, field: amount, agg: sum}
`

func aggEvents() []Event {
	pay := func(id string, off time.Duration, amount, merchant Value) Event {
		return ev(id, "payment", off, fld("amount", amount), fld("merchant", merchant))
	}
	return []Event{
		pay("e1", -90*time.Minute, Number(100), String("a")),
		pay("e2", -60*time.Minute, Number(5), String("b")),
		pay("e3", -30*time.Minute, Number(2.5), String("c")),
		pay("e4", -10*time.Minute, String("oops"), String("a")),
		pay("e5", 0, Number(-1), Value{}),
		pay("e6", time.Nanosecond, Number(1000), String("z")),
		ev("x1", "login", -5*time.Minute, fld("amount", Number(7))),
	}
}

// TestAggregations checks every aggregation by hand at a few instants. The
// window is (T-1h, T]: at t0 the event at exactly t0-1h is out, the one at
// t0 is in, the one at t0+1ns is out.
func TestAggregations(t *testing.T) {
	spec := mustParse(t, aggSpec)
	null := Value{}
	tests := []struct {
		name    string
		at      time.Time
		want    []Value
		skipped []int
		count   int
	}{
		{"at t0: e3 e4 e5", t0,
			[]Value{Number(3), Number(3), Number(1.5), Number(0.75), Number(-1), Number(2.5),
				String("c"), String("a"), Number(2), Number(106.5)},
			[]int{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, 5},
		{"1ns before t0: e2 e3 e4", t0.Add(-time.Nanosecond),
			[]Value{Number(3), Number(3), Number(7.5), Number(3.75), Number(2.5), Number(5),
				String("b"), String("a"), Number(3), Number(107.5)},
			[]int{0, 0, 1, 1, 1, 1, 0, 0, 0, 1}, 4},
		{"1ns after t0: e3 e4 e5 e6", t0.Add(time.Nanosecond),
			[]Value{Number(4), Number(4), Number(1001.5), Number(1001.5 / 3), Number(-1),
				Number(1000), String("c"), String("z"), Number(3), Number(1106.5)},
			[]int{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}, 6},
		{"only e1 is in the window", t0.Add(-61 * time.Minute),
			[]Value{Number(1), Number(1), Number(100), Number(100), Number(100), Number(100),
				String("a"), String("a"), Number(1), Number(100)},
			[]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 1},
		{"before every event: empty", t0.Add(-3 * time.Hour),
			[]Value{Number(0), Number(0), null, null, null, null, null, null, Number(0), null},
			[]int{0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 0},
	}
	st := NewState(spec)
	for _, e := range aggEvents() {
		st.Apply(e)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := Vector{Values: tt.want, Skipped: tt.skipped, Count: tt.count}
			for _, e := range naiveHeld(spec, aggEvents()) {
				if inWindow(e.Time, tt.at, 0) {
					want.Digest += e.Hash
				}
			}
			for name, got := range map[string]Vector{
				"State.Vector": st.Vector(tt.at),
				"Compute":      Compute(spec, aggEvents(), tt.at),
			} {
				if d := diffVectors(spec, got, want); d != "" {
					t.Errorf("%s: %s", name, d)
				}
			}
		})
	}
}

func TestWindowBoundary(t *testing.T) {
	spec := mustParse(t, `features:
  - {name: n_1h, event: p, agg: count, window: 1h}
  - {name: n_7d, event: p, agg: count, window: 7d}
  - {name: n_all, event: p, agg: count}
`)
	st := NewState(spec)
	st.Apply(ev("a", "p", 0))
	tests := []struct {
		at   time.Duration
		want [3]float64
	}{
		{-time.Nanosecond, [3]float64{0, 0, 0}},
		{0, [3]float64{1, 1, 1}}, // T included
		{time.Hour - time.Nanosecond, [3]float64{1, 1, 1}},
		{time.Hour, [3]float64{0, 1, 1}}, // T-w excluded
		{7*24*time.Hour - time.Nanosecond, [3]float64{0, 1, 1}},
		{7 * 24 * time.Hour, [3]float64{0, 0, 1}},
		{1000 * time.Hour, [3]float64{0, 0, 1}},
	}
	for _, tt := range tests {
		v := st.Vector(t0.Add(tt.at))
		for i, w := range tt.want {
			if v.Values[i] != Number(w) {
				t.Errorf("at t0%+v: %s = %v, want %v", tt.at, spec.Features[i].Name, v.Values[i], w)
			}
		}
	}
}

// TestSkipped checks that values of the wrong type, null, absent or
// non-finite are skipped and counted, never used.
func TestSkipped(t *testing.T) {
	spec := mustParse(t, `features:
  - {name: sum, event: p, field: x, agg: sum}
  - {name: n, event: p, field: x, agg: count}
  - {name: distinct, event: p, field: x, agg: count_distinct}
  - {name: last, event: p, field: x, agg: last}
  - {name: n_all, event: p, agg: count}
`)
	events := []Event{
		ev("str", "p", 1, fld("x", String("1"))),
		ev("bool", "p", 2, fld("x", Bool(true))),
		ev("null", "p", 3, fld("x", Value{})),
		ev("absent", "p", 4, fld("y", Number(1))),
		ev("nan", "p", 5, fld("x", Number(math.NaN()))),
		ev("inf", "p", 6, fld("x", Number(math.Inf(-1)))),
		ev("one", "p", 7, fld("x", Number(1))),
		ev("zero", "p", 8, fld("x", Number(0))),
		ev("negzero", "p", 9, fld("x", Number(math.Copysign(0, -1)))),
		ev("first-wins", "p", 10, fld("x", Number(2)), fld("x", String("ignored"))),
	}
	got := Compute(spec, events, t0.Add(time.Hour))
	want := Vector{
		// sum: 1+0-0+2; n: str bool one zero negzero first-wins; distinct:
		// "1", true, 1, 0 (= -0), 2; last: 2 (the first field named x).
		Values:  []Value{Number(3), Number(6), Number(5), Number(2), Number(10)},
		Skipped: []int{6, 4, 4, 4, 0},
		Count:   10,
	}
	for _, e := range events {
		want.Digest += e.Hash
	}
	if d := diffVectors(spec, got, want); d != "" {
		t.Error(d)
	}
}

func TestApplyDedup(t *testing.T) {
	spec := mustParse(t, "features:\n  - {name: s, event: p, field: x, agg: sum}\n")
	early := ev("id1", "p", 0, fld("x", Number(1)))
	late := ev("id1", "p", time.Minute, fld("x", Number(10)))
	late.Hash = 42
	anon := Event{Type: "p", Time: t0, Hash: 0xabc, Fields: []Field{fld("x", Number(100))}}

	tests := []struct {
		name  string
		apply []Event
		want  []bool
		sum   float64
	}{
		{"same event twice", []Event{early, early}, []bool{true, false}, 1},
		{"content hash as key", []Event{anon, anon}, []bool{true, false}, 100},
		{"irrelevant type", []Event{ev("x", "q", 0)}, []bool{false}, 0},
		{"one key, later first", []Event{late, early}, []bool{true, false}, 1},
		{"one key, earlier first", []Event{early, late}, []bool{true, false}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := NewState(spec)
			for i, e := range tt.apply {
				if got := st.Apply(e); got != tt.want[i] {
					t.Errorf("Apply #%d = %v, want %v", i, got, tt.want[i])
				}
			}
			v := st.Vector(t0.Add(time.Hour))
			if tt.sum == 0 {
				if !v.Values[0].IsNull() || st.Len() != 0 {
					t.Errorf("sum %v, len %d; want null, 0", v.Values[0], st.Len())
				}
				return
			}
			if v.Values[0] != Number(tt.sum) || st.Len() != 1 || v.Count != 1 {
				t.Errorf("sum %v, len %d, count %d; want %v, 1, 1", v.Values[0], st.Len(),
					v.Count, tt.sum)
			}
		})
	}
	if got, want := anon.Key(), "h:0000000000000abc"; got != want {
		t.Errorf("Key() = %q, want %q", got, want)
	}
}

func TestPrune(t *testing.T) {
	spec := mustParse(t, `features:
  - {name: n, event: p, agg: count, window: 1h}
  - {name: s, event: p, field: x, agg: sum, window: 30m}
`)
	st := NewState(spec)
	var events []Event
	for i := range 180 {
		events = append(events, ev(string(rune('a'+i%26))+string(rune('a'+i/26)), "p",
			time.Duration(i)*time.Minute, fld("x", Number(float64(i)))))
	}
	// Right at the horizon's edge: at-1h is out of every window from at on,
	// at-1h+1ns is still in the widest one at at.
	edgeOut := ev("edge-out", "p", 90*time.Minute, fld("x", Number(0.5)))
	edgeIn := ev("edge-in", "p", 90*time.Minute+1, fld("x", Number(0.25)))
	st.ApplyAll(append(slices.Clone(events), edgeOut, edgeIn))
	at := t0.Add(150 * time.Minute)
	before := st.VectorsAt([]time.Time{at, at.Add(time.Minute), at.Add(time.Hour)})

	// Events at or before at-1h (minutes 0..90) can be in no window from at on.
	if n := st.Prune(at); n != 92 || st.Len() != 90 {
		t.Fatalf("Prune dropped %d, holds %d; want 92, 90", n, st.Len())
	}
	after := st.VectorsAt([]time.Time{at, at.Add(time.Minute), at.Add(time.Hour)})
	for i := range before {
		if d := diffVectors(spec, after[i], before[i]); d != "" {
			t.Errorf("vector %d changed by Prune: %s", i, d)
		}
	}
	// A pruned event's key is forgotten: a late copy is held again.
	if !st.Apply(events[0]) {
		t.Error("a late copy of a pruned event was refused")
	}

	unbounded := NewState(mustParse(t, "features:\n  - {name: n, event: p, agg: count}\n"))
	unbounded.ApplyAll(events)
	if n := unbounded.Prune(at); n != 0 || unbounded.Len() != len(events) {
		t.Errorf("Prune with an unbounded feature dropped %d", n)
	}
}

// TestCursor checks that a cursor stays right when used out of its fast
// path: instants going backwards, the state changing between calls.
func TestCursor(t *testing.T) {
	spec := mustParse(t, aggSpec)
	st := NewState(spec)
	events := aggEvents()
	st.ApplyAll(events[:3])
	c := st.Cursor()
	check := func(at time.Time, applied []Event) {
		t.Helper()
		if d := diffVectors(spec, c.At(at), naiveVector(spec, applied, at)); d != "" {
			t.Errorf("at t0%+v: %s", at.Sub(t0), d)
		}
	}
	check(t0, events[:3])
	check(t0.Add(-time.Hour), events[:3]) // backwards
	for i := 3; i < len(events); i++ {
		st.Apply(events[i]) // the state changes under the cursor
		check(t0, events[:i+1])
	}
	check(t0.Add(time.Hour), events)
	check(t0.Add(2*time.Hour), events)
	check(t0.Add(time.Minute), events)
}

func TestVectorsAtUnsorted(t *testing.T) {
	spec := mustParse(t, aggSpec)
	st := NewState(spec)
	st.ApplyAll(aggEvents())
	ts := []time.Time{t0, t0.Add(-time.Hour), t0.Add(time.Hour), t0, t0.Add(-90 * time.Minute)}
	got := st.VectorsAt(ts)
	for i, at := range ts {
		if !got[i].At.Equal(at) {
			t.Errorf("vector %d is at %v, want %v", i, got[i].At, at)
		}
		if d := diffVectors(spec, got[i], naiveVector(spec, aggEvents(), at)); d != "" {
			t.Errorf("vector %d: %s", i, d)
		}
	}
}

func TestUnixNanos(t *testing.T) {
	ts := []time.Time{
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1677, 9, 21, 0, 12, 43, 145224191, time.UTC),
		time.Unix(0, math.MinInt64),
		time.Date(1677, 9, 21, 0, 12, 44, 0, time.UTC),
		time.Unix(0, 0),
		time.Unix(0, math.MaxInt64),
		time.Date(2262, 4, 11, 23, 47, 17, 0, time.UTC),
		time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC),
	}
	var prev int64 = math.MinInt64
	for _, at := range ts {
		n := unixNanos(at)
		if n < prev {
			t.Errorf("unixNanos(%v) = %d goes below %d", at, n, prev)
		}
		if at.Year() > 1678 && at.Year() < 2262 && n != at.UnixNano() {
			t.Errorf("unixNanos(%v) = %d, want %d", at, n, at.UnixNano())
		}
		prev = n
	}
	if unixNanos(ts[0]) != math.MinInt64 || unixNanos(ts[len(ts)-1]) != math.MaxInt64 {
		t.Error("times beyond the int64 range are not clamped to its ends")
	}
	if minus(math.MinInt64+5, 10) != math.MinInt64 || minus(100, 10) != 90 {
		t.Error("minus does not saturate")
	}
}

func TestVectorHashEqualMap(t *testing.T) {
	a := mustParse(t, "features:\n  - {name: b, event: p, agg: count}\n"+
		"  - {name: a, event: p, field: m, agg: last}\n")
	b := mustParse(t, "features:\n  - {name: a, event: p, field: m, agg: last}\n"+
		"  - {name: b, event: p, agg: count}\n")
	va := Vector{Values: []Value{Number(2), String("x")}}
	vb := Vector{Values: []Value{String("x"), Number(2)}}

	// The encoding, spelled out byte by byte as doc.go and Hash describe it:
	// features by name, each name, kind byte and value.
	enc := []byte("asof.vector.v1\n")
	enc = append(enc, 1, 'a', byte(KindString), 1, 'x')
	enc = append(enc, 1, 'b', byte(KindNumber), 0x40, 0, 0, 0, 0, 0, 0, 0) // 2.0
	if got, want := va.Hash(a), xxhash.Sum64(enc); got != want {
		t.Errorf("Hash = %#x, want %#x (did the encoding change?)", got, want)
	}
	if a.Version != b.Version || va.Hash(a) != vb.Hash(b) {
		t.Error("reordering features changed the version or the vector hash")
	}
	changed := []Vector{
		{Values: []Value{Number(3), String("x")}},
		{Values: []Value{Number(2), String("y")}},
		{Values: []Value{String("2"), String("x")}},
		{Values: []Value{Number(2), Value{}}},
		{Values: []Value{Number(2), Bool(true)}},
		{Values: []Value{Number(2), Bool(false)}},
	}
	seen := map[uint64]int{va.Hash(a): -1}
	for i, v := range changed {
		h := v.Hash(a)
		if j, dup := seen[h]; dup {
			t.Errorf("vectors %d and %d hash alike", i, j)
		}
		seen[h] = i
	}

	near := Vector{Values: []Value{Number(2 + 1e-12), String("x")}}
	if d := va.Equal(near, DefaultTolerance); d != nil {
		t.Errorf("within tolerance, Equal = %v", d)
	}
	far := Vector{Values: []Value{Number(2.1), String("y"), Number(1)}}
	if d := va.Equal(far, DefaultTolerance); !slices.Equal(d, []int{0, 1, 2}) {
		t.Errorf("Equal = %v, want [0 1 2]", d)
	}
	m := va.Map(a)
	if len(m) != 2 || m["b"] != 2.0 || m["a"] != "x" {
		t.Errorf("Map = %v", m)
	}
}

func TestValueEqual(t *testing.T) {
	negZero := math.Copysign(0, -1)
	tests := []struct {
		a, b Value
		tol  float64
		want bool
	}{
		{Value{}, Value{}, 0, true},
		{Value{}, Number(0), 0, false},
		{Number(1), String("1"), 1, false},
		{Number(0), Number(negZero), 0, true},
		{Number(1), Number(1 + 1e-15), 0, false},
		{Number(1), Number(1 + 1e-15), DefaultTolerance, true},
		{Number(1e6), Number(1e6 + 0.01), DefaultTolerance, false},
		{Number(math.NaN()), Number(math.NaN()), 0, true},
		{Number(math.Inf(1)), Number(math.Inf(1)), DefaultTolerance, true},
		{Number(math.Inf(1)), Number(math.MaxFloat64), DefaultTolerance, false},
		{String("a"), String("a"), 0, true},
		{String("a"), String("b"), 0, false},
		{Bool(true), Bool(true), 0, true},
		{Bool(true), Bool(false), 0, false},
	}
	for _, tt := range tests {
		if got := tt.a.Equal(tt.b, tt.tol); got != tt.want {
			t.Errorf("%v.Equal(%v, %g) = %v, want %v", tt.a, tt.b, tt.tol, got, tt.want)
		}
	}
	anys := []struct {
		v    Value
		want any
	}{{Value{}, nil}, {Number(1.5), 1.5}, {String("s"), "s"}, {Bool(true), true}}
	for _, tt := range anys {
		if got := tt.v.Any(); got != tt.want {
			t.Errorf("%v.Any() = %#v, want %#v", tt.v, got, tt.want)
		}
	}
}

// TestSweepTies walks a cursor over equal minimums and maximums leaving the
// window one by one: the copy that leaves must not take a later copy with it.
func TestSweepTies(t *testing.T) {
	spec := mustParse(t, `features:
  - {name: min, event: p, field: x, agg: min, window: 10m}
  - {name: max, event: p, field: x, agg: max, window: 10m}
  - {name: first, event: p, field: x, agg: first, window: 10m}
  - {name: distinct, event: p, field: x, agg: count_distinct, window: 10m}
`)
	var events []Event
	for i, x := range []float64{1, 1, 2, 1, 3, 3, 0, 2, 2, 1} {
		events = append(events, ev(string(rune('a'+i)), "p", time.Duration(i)*time.Minute,
			fld("x", Number(x))))
	}
	st := NewState(spec)
	st.ApplyAll(events)
	c := st.Cursor()
	for m := range 25 {
		at := t0.Add(time.Duration(m) * time.Minute)
		if d := diffVectors(spec, c.At(at), naiveVector(spec, events, at)); d != "" {
			t.Errorf("at minute %d: %s", m, d)
		}
	}
}

// TestConcurrentVectors backs the claim that Vector and VectorsAt only read
// the State: run it with -race.
func TestConcurrentVectors(t *testing.T) {
	spec := mustParse(t, aggSpec)
	st := NewState(spec)
	st.ApplyAll(aggEvents())
	want := naiveVector(spec, aggEvents(), t0)
	errs := make(chan string, 8)
	for range 8 {
		go func() {
			d := diffVectors(spec, st.Vector(t0), want)
			if d == "" {
				d = diffVectors(spec, st.VectorsAt([]time.Time{t0})[0], want)
			}
			errs <- d
		}()
	}
	for range 8 {
		if d := <-errs; d != "" {
			t.Error(d)
		}
	}
}
