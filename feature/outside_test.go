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

// TestOutsideClassifiesBriefs checks how Outside reads a Brief's field
// bits: a value is used unless it is absent, null or a number that is not
// finite, and a feature that needs a number skips a string.
func TestOutsideClassifiesBriefs(t *testing.T) {
	s := mustParse(t, `features:
  - {name: last_amount, event: payment, field: amount, agg: last}
  - {name: amounts, event: payment, field: amount, agg: count}
  - {name: payments, event: payment, agg: count}
  - {name: recent_sum, event: payment, field: amount, agg: sum, window: 1h}`)
	if !s.Outside() {
		t.Fatal("the spec should have an Outside")
	}
	var o Outside
	o.Reset(s)
	briefs := []Brief{
		{Seq: 1, Time: 10, Hash: 1, Set: 1, Number: 1, Finite: 1}, // a finite number
		{Seq: 2, Time: 20, Hash: 2, Set: 1, Number: 1},            // NaN or an infinity
		{Seq: 3, Time: 30, Hash: 3},                               // absent or null
		{Seq: 4, Time: 40, Hash: 4, Set: 1},                       // a string or a bool
		{Seq: 5, Time: 50, Hash: 5, Type: 7, Set: 1},              // a type out of range
	}
	for i := range briefs {
		o.Add(&briefs[i])
	}
	if o.count != 4 || o.digest != 10 {
		t.Fatalf("count %d, digest %d; want 4 and 10", o.count, o.digest)
	}
	// last and count with a field use values of any kind; count alone uses
	// every event.
	if o.used[0] != 2 || o.skipped[0] != 2 || o.used[1] != 2 || o.skipped[1] != 2 ||
		o.used[2] != 4 || o.skipped[2] != 0 {
		t.Fatalf("used %v, skipped %v", o.used, o.skipped)
	}
	kept := o.Kept()
	if len(kept) != 1 || kept[0].Seq != 4 || !kept[0].Time().Equal(time.Unix(0, 40)) {
		t.Fatalf("kept %+v, want the event of sequence 4", kept)
	}
	if o.count != 3 || o.digest != 6 || o.used[0] != 1 || o.used[2] != 3 {
		t.Fatalf("after Kept: count %d, digest %d, used %v", o.count, o.digest, o.used)
	}
}
