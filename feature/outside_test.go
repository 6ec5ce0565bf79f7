package feature

import (
	"math"
	"testing"
	"time"
)

// TestSlotBitsAgreeWithUsable checks the mask bits the fold walks windows
// with against Value.usable, the rule they stand for.
func TestSlotBitsAgreeWithUsable(t *testing.T) {
	values := []Value{{}, Number(0), Number(-1.5), Number(math.MaxFloat64),
		Number(math.SmallestNonzeroFloat64), Number(math.NaN()), Number(math.Inf(1)),
		Number(math.Inf(-1)), String(""), String("m"), Bool(false), Bool(true)}
	for _, v := range values {
		for _, slot := range []int{0, 5, 63} {
			u, n := slotBits(slot, &v)
			if (u != 0) != v.usable() || (n != 0) != (v.usable() && v.Kind == KindNumber) {
				t.Errorf("%v in slot %d: bits %x %x, usable %v", v, slot, u, n, v.usable())
			}
			if u&^(1<<slot) != 0 || n&^(1<<slot) != 0 {
				t.Errorf("%v in slot %d: bits %x %x outside the slot", v, slot, u, n)
			}
		}
		if u, n := slotBits(64, &v); u != 0 || n != 0 {
			t.Errorf("%v in slot 64: bits %x %x", v, u, n)
		}
	}
}

func TestSpecOutside(t *testing.T) {
	for _, tc := range []struct {
		src     string
		outside bool
		horizon time.Duration
	}{
		{`features:
  - {name: a, event: payment, agg: count, window: 1h}
  - {name: b, event: payment, field: amount, agg: sum, window: 2h}`, false, 2 * time.Hour},
		{`features:
  - {name: a, event: payment, agg: count, window: 1h}
  - {name: b, event: payment, field: merchant, agg: last}
  - {name: c, event: login, agg: count}
  - {name: d, event: payment, field: amount, agg: first}`, true, time.Hour},
		{`features:
  - {name: b, event: payment, field: merchant, agg: last}`, true, 0},
		{`features:
  - {name: a, event: payment, field: amount, agg: sum, window: 1h}
  - {name: b, event: payment, field: amount, agg: sum}`, false, time.Hour},
		{`features:
  - {name: b, event: payment, field: merchant, agg: count_distinct}`, false, 0},
	} {
		s := mustParse(t, tc.src)
		if s.Outside() != tc.outside || s.BoundedHorizon() != tc.horizon {
			t.Errorf("%s:\nOutside %v, BoundedHorizon %v; want %v, %v", tc.src, s.Outside(),
				s.BoundedHorizon(), tc.outside, tc.horizon)
		}
	}
}
