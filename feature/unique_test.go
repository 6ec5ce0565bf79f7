package feature

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// TestApplyUniqueMatchesApplyAll checks that skipping the duplicate check
// for distinct events changes nothing, and that a later Apply still finds
// the keys ApplyUnique held.
func TestApplyUniqueMatchesApplyAll(t *testing.T) {
	spec, err := ParseSpec("u.yaml", []byte(`features:
  - {name: n, event: payment, agg: count, window: 1h}
  - {name: s, event: payment, field: amount, agg: sum}
  - {name: l, event: payment, field: merchant, agg: last}
`))
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(7, 7))
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	var events []Event
	for i := range 500 {
		events = append(events, Event{ID: fmt.Sprint("e", i), Type: "payment",
			Time: t0.Add(time.Duration(rng.IntN(7200)) * time.Second), Hash: rng.Uint64(),
			Fields: []Field{{"amount", Number(float64(rng.IntN(1000)) / 8)}, {"merchant",
				String(fmt.Sprint("m", i%9))}}})
	}
	a, b, c := NewState(spec), NewState(spec), NewState(spec)
	a.ApplyAll(events)
	b.ApplyUnique(events)
	// A Loader fed from one reused event, as a scan of the ledger feeds it.
	c.ApplyUnique(events[:100])
	ld := c.Loader()
	var scratch Event
	for _, e := range events[100:] {
		scratch = e
		scratch.Fields = append(scratch.Fields[:0:0], e.Fields...)
		ld.Add(&scratch)
		clear(scratch.Fields)
	}
	if n := ld.Done(); n != 400 {
		t.Fatalf("the loader added %d events, want 400", n)
	}
	for _, m := range []int{0, 30, 60, 119, 121} {
		at := t0.Add(time.Duration(m) * time.Minute)
		va, vb, vc := a.Vector(at), b.Vector(at), c.Vector(at)
		if len(va.Equal(vb, 0)) > 0 || va.Count != vb.Count || va.Digest != vb.Digest {
			t.Fatalf("at %v: ApplyAll %v, ApplyUnique %v", at, va.Map(spec), vb.Map(spec))
		}
		if len(va.Equal(vc, 0)) > 0 || va.Count != vc.Count || va.Digest != vc.Digest {
			t.Fatalf("at %v: ApplyAll %v, Loader %v", at, va.Map(spec), vc.Map(spec))
		}
	}
	if c.Apply(events[150]) {
		t.Fatal("Apply after a Loader accepted a key already held")
	}
	if b.Apply(events[3]) {
		t.Fatal("Apply after ApplyUnique accepted a key already held")
	}
	if got := ComputeUnique(spec, events,
		t0.Add(time.Hour)); got.Count != a.Vector(t0.Add(time.Hour)).Count {
		t.Fatal("ComputeUnique disagrees with ApplyAll")
	}
}

// TestResetReusesState checks that a reset State, and a cursor made before
// the reset, give what a new State gives.
func TestResetReusesState(t *testing.T) {
	spec, err := ParseSpec("r.yaml", []byte(`features:
  - {name: n, event: payment, agg: count, window: 1h}
  - {name: s, event: payment, field: amount, agg: sum}
`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	ev := func(id string, m int, amount float64) Event {
		return Event{ID: id, Type: "payment", Time: t0.Add(time.Duration(m) * time.Minute),
			Hash:   uint64(m + 1),
			Fields: []Field{{"amount", Number(amount)}}}
	}
	s := NewState(spec)
	c := s.Cursor()
	s.ApplyAll([]Event{ev("a", 1, 5), ev("b", 2, 7)})
	if v := c.At(t0.Add(time.Hour)); v.Count != 2 {
		t.Fatalf("before reset: %v", v.Map(spec))
	}
	s.Reset()
	if s.Len() != 0 || c.At(t0.Add(time.Hour)).Count != 0 {
		t.Fatal("reset left events behind")
	}
	s.ApplyUnique([]Event{ev("a", 10, 1)})
	if !s.Apply(ev("b", 20, 2)) || s.Apply(ev("a", 30, 3)) {
		t.Fatal("the key index after a reset is wrong")
	}
	got, want := c.At(t0.Add(time.Hour)), Compute(spec, []Event{ev("a", 10, 1), ev("b", 20, 2)},
		t0.Add(time.Hour))
	if len(got.Equal(want, 0)) > 0 || got.Count != want.Count || got.Digest != want.Digest {
		t.Fatalf("after reset %v, fresh %v", got.Map(spec), want.Map(spec))
	}
}
