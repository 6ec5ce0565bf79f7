package feature

import (
	"cmp"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
)

// This file holds the trivial model the fold is tested against: keep one
// event per key, filter a slice by window, aggregate the survivors. It reads
// the Spec's exported fields only and shares no code with the fold.

// naiveHeld returns the events a State holds after seeing events: those of
// relevant types, one per key (the earliest by event time, then hash), in
// canonical order.
func naiveHeld(spec *Spec, events []Event) []Event {
	best := map[string]Event{}
	for _, e := range events {
		if !spec.Relevant(e.Type) {
			continue
		}
		k := e.Key()
		old, ok := best[k]
		if !ok || e.Time.Before(old.Time) || e.Time.Equal(old.Time) && e.Hash < old.Hash {
			best[k] = e
		}
	}
	held := make([]Event, 0, len(best))
	for _, e := range best {
		held = append(held, e)
	}
	slices.SortFunc(held, func(a, b Event) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Hash, b.Hash),
			strings.Compare(a.Key(), b.Key()))
	})
	return held
}

// inWindow reports whether event time t lies in (at-w, at], or at or before
// at when w is 0.
func inWindow(t, at time.Time, w time.Duration) bool {
	return !t.After(at) && (w == 0 || t.After(at.Add(-w)))
}

// naiveVector computes the vector as of at by filtering and aggregating.
func naiveVector(spec *Spec, events []Event, at time.Time) Vector {
	return naiveFromHeld(spec, naiveHeld(spec, events), at)
}

// naiveFromHeld filters and aggregates events already deduplicated and in
// canonical order (see naiveHeld).
func naiveFromHeld(spec *Spec, held []Event, at time.Time) Vector {
	v := Vector{At: at}
	for _, f := range spec.Features {
		var vals []Value
		skipped := 0
		for _, e := range held {
			if !slices.Contains(f.Events, e.Type) || !inWindow(e.Time, at, f.Window) {
				continue
			}
			if f.Field == "" {
				vals = append(vals, Value{})
				continue
			}
			x, _ := e.Get(f.Field)
			numeric := slices.Contains([]Agg{AggSum, AggMean, AggMin, AggMax}, f.Agg)
			bad := x.Kind == KindNull ||
				x.Kind == KindNumber && (math.IsNaN(x.Num) || math.IsInf(x.Num, 0)) ||
				x.Kind != KindNumber && numeric
			if bad {
				skipped++
				continue
			}
			vals = append(vals, x)
		}
		v.Values = append(v.Values, naiveAgg(f.Agg, vals))
		v.Skipped = append(v.Skipped, skipped)
	}
	horizon, unbounded := spec.Horizon()
	if unbounded {
		horizon = 0
	}
	for _, e := range held {
		if inWindow(e.Time, at, horizon) {
			v.Count++
			v.Digest += e.Hash
		}
	}
	return v
}

func naiveAgg(agg Agg, vals []Value) Value {
	n := len(vals)
	switch agg {
	case AggCount:
		return Number(float64(n))
	case AggCountDistinct:
		set := map[string]bool{}
		for _, x := range vals {
			s := x.String()
			if x.Kind == KindNumber {
				s = strconv.FormatFloat(x.Num+0, 'g', -1, 64) // -0 + 0 is +0
			}
			set[fmt.Sprint(x.Kind, s)] = true
		}
		return Number(float64(len(set)))
	}
	if n == 0 {
		return Value{}
	}
	switch agg {
	case AggSum:
		return Number(bigSum(vals))
	case AggMean:
		return Number(bigSum(vals) / float64(n))
	case AggMin, AggMax:
		best := vals[0].Num
		for _, x := range vals[1:] {
			less := x.Num < best || x.Num == best && math.Signbit(x.Num) && !math.Signbit(best)
			more := x.Num > best || x.Num == best && !math.Signbit(x.Num) && math.Signbit(best)
			if agg == AggMin && less || agg == AggMax && more {
				best = x.Num
			}
		}
		return Number(best)
	case AggFirst:
		return vals[0]
	case AggLast:
		return vals[n-1]
	}
	panic("unknown agg " + agg.String())
}

// bigSum adds exactly with math/big and rounds once, ties to even; an exact
// zero is +0.
func bigSum(vals []Value) float64 {
	sum := new(big.Float).SetPrec(4096)
	for _, x := range vals {
		sum.Add(sum, new(big.Float).SetFloat64(x.Num))
	}
	f, _ := sum.Float64()
	if f == 0 {
		return 0
	}
	return f
}

// sameValue reports whether two values are identical, numbers bit for bit.
func sameValue(a, b Value) bool {
	if a.Kind == KindNumber && b.Kind == KindNumber {
		return math.Float64bits(a.Num) == math.Float64bits(b.Num)
	}
	return a == b
}

// diffVectors describes how two vectors differ, bit for bit; "" if they
// do not.
func diffVectors(spec *Spec, got, want Vector) string {
	var b strings.Builder
	if got.Count != want.Count || got.Digest != want.Digest {
		fmt.Fprintf(&b, "input set: count %d digest %x, want %d %x; ",
			got.Count, got.Digest, want.Count, want.Digest)
	}
	for i, f := range spec.Features {
		if !sameValue(got.Values[i], want.Values[i]) || got.Skipped[i] != want.Skipped[i] {
			fmt.Fprintf(&b, "%s: %v (skipped %d), want %v (skipped %d); ", f.Name,
				got.Values[i], got.Skipped[i], want.Values[i], want.Skipped[i])
		}
	}
	return b.String()
}
