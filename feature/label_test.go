package feature

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"pgregory.net/rapid"
)

const labelSpecSrc = `
features:
  - name: payments_1h
    event: payment
    agg: count
    window: 1h
labels:
  - name: chargebacks_1h
    event: chargeback
    agg: count
    horizon: 1h
  - name: refund_sum_1h
    event: refund
    field: amount
    agg: sum
    horizon: 1h
  - name: refund_max_2h
    event: refund
    field: amount
    agg: max
    horizon: 2h
  - name: last_reason_2h
    event: [chargeback, refund]
    field: reason
    agg: last
    horizon: 2h
`

var lt0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// lev builds an event at lt0 plus off.
func lev(id, typ string, off time.Duration, amount float64, reason string) Event {
	payload := fmt.Sprint(id, typ, off, amount, reason)
	return Event{ID: id, Type: typ, Time: lt0.Add(off), Hash: xxhash.Sum64String(payload),
		Fields: []Field{{"amount", Number(amount)}, {"reason", String(reason)}}}
}

func TestLabelWindowEdges(t *testing.T) {
	spec := mustParse(t, labelSpecSrc)
	h := time.Hour
	events := []Event{
		lev("at-T", "chargeback", 0, 0, "a"),           // at T: excluded
		lev("just-after", "chargeback", 1, 0, "b"),     // T+1ns: included
		lev("at-T+h", "refund", h, 5, "c"),             // T+h: included in 1h and 2h
		lev("after-T+h", "refund", h+1, 7, "d"),        // only in the 2h labels
		lev("at-T+2h", "refund", 2*h, 1.5, "e"),        // end of the 2h labels
		lev("after-T+2h", "chargeback", 2*h+1, 0, "f"), // beyond every label
		lev("payment", "payment", h/2, 100, "g"),       // read by no label
		lev("before", "refund", -time.Minute, 9, "h"),  // before T
	}
	tests := []struct {
		name     string
		at       time.Time
		cutoff   time.Time
		want     []Value
		complete bool
	}{
		{"edges", lt0, lt0.Add(3 * h),
			[]Value{Number(1), Number(5), Number(7), String("e")}, true},
		{"cutoff exactly at T+2h", lt0, lt0.Add(2 * h),
			[]Value{Number(1), Number(5), Number(7), String("e")}, true},
		{"2h labels not yet known", lt0, lt0.Add(2*h - 1),
			[]Value{Number(1), Number(5), {}, {}}, false},
		{"nothing known", lt0, lt0.Add(h - 1), []Value{{}, {}, {}, {}}, false},
		{"no cutoff", lt0, time.Time{},
			[]Value{Number(1), Number(5), Number(7), String("e")}, true},
		{"empty window", lt0.Add(3 * h), time.Time{},
			[]Value{Number(0), {}, {}, {}}, true},
		{"one nanosecond later", lt0.Add(1), time.Time{},
			[]Value{Number(0), Number(12), Number(7), String("f")}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, complete := Labels(spec, events, tc.at, tc.cutoff)
			if complete != tc.complete || !sameValues(got, tc.want) {
				t.Fatalf("labels %v complete %v, want %v complete %v", got, complete, tc.want,
					tc.complete)
			}
		})
	}
}

func TestLabelDedupAndExactSum(t *testing.T) {
	spec := mustParse(t, labelSpecSrc)
	events := []Event{
		lev("r1", "refund", time.Minute, 0.1, "x"),
		lev("r2", "refund", 2*time.Minute, 0.2, "y"),
		lev("r3", "refund", 3*time.Minute, 0.3, "z"),
	}
	// The same event delivered twice counts once.
	events = append(events, events[1])
	got, _ := Labels(spec, events, lt0, time.Time{})
	if got[1].Num != exactFloat(0.1, 0.2, 0.3) {
		t.Fatalf("sum %v, want the exactly rounded %v", got[1].Num, exactFloat(0.1, 0.2, 0.3))
	}
	if got[3].Str != "z" {
		t.Fatalf("last %v, want z", got[3])
	}
}

func exactFloat(xs ...float64) float64 {
	var s exactSum
	for _, x := range xs {
		s.add(x)
	}
	return s.float()
}

func TestLabelerNoLabels(t *testing.T) {
	spec := mustParse(t, "features:\n  - name: n\n    event: e\n    agg: count\n")
	lb := NewLabeler(spec)
	if lb.Relevant("e") || lb.Horizon() != 0 {
		t.Fatal("a spec without labels reads nothing")
	}
	vals, complete := lb.At(lt0, lt0)
	if len(vals) != 0 || !complete {
		t.Fatalf("got %v %v", vals, complete)
	}
}

// TestLabelerSweepMatchesModel checks a sweep over increasing instants (and
// a single call) against a trivial model: filter the window, dedup by key
// keeping the canonically first copy, aggregate.
func TestLabelerSweepMatchesModel(t *testing.T) {
	spec := mustParse(t, labelSpecSrc)
	rapid.Check(t, func(t *rapid.T) {
		n := rapid.IntRange(0, 40).Draw(t, "n")
		var events []Event
		for i := range n {
			off := time.Duration(rapid.IntRange(0, 300).Draw(t, "min")) * time.Minute
			typ := rapid.SampledFrom([]string{"chargeback", "refund", "payment"}).Draw(t, "type")
			// One id is one event: a redelivery keeps its type.
			id := typ + rapid.SampledFrom([]string{"a", "b", "c", "d", ""}).Draw(t,
				"id") + string(rune('0'+i%3))
			amount := float64(rapid.IntRange(-40, 40).Draw(t, "amount")) / 8
			events = append(events, lev(id, typ, off, amount,
				rapid.StringMatching("[xyz]").Draw(t, "r")))
		}
		instants := rapid.SliceOfN(rapid.IntRange(-60, 360), 1, 8).Draw(t, "instants")
		slices.Sort(instants)
		cutoff := lt0.Add(time.Duration(rapid.IntRange(0, 500).Draw(t, "cutoff")) * time.Minute)
		lb := NewLabeler(spec)
		lb.ApplyAll(events)
		for _, m := range instants {
			at := lt0.Add(time.Duration(m) * time.Minute)
			got, complete := lb.At(at, cutoff)
			want, wantComplete := modelLabels(spec, events, at, cutoff)
			if complete != wantComplete || !sameValues(got, want) {
				t.Fatalf("at %v: got %v (%v), want %v (%v)", at, got, complete, want, wantComplete)
			}
		}
	})
}

func modelLabels(spec *Spec, events []Event, at, cutoff time.Time) ([]Value, bool) {
	// Keep the canonically first event of each key.
	es := slices.Clone(events)
	slices.SortStableFunc(es, func(a, b Event) int {
		ea, eb := entry{t: a.Time.UnixNano(), hash: a.Hash, key: a.Key()},
			entry{t: b.Time.UnixNano(), hash: b.Hash, key: b.Key()}
		return compareEntries(&ea, &eb)
	})
	seen := map[string]bool{}
	var uniq []Event
	for _, e := range es {
		if !seen[e.Key()] {
			seen[e.Key()] = true
			uniq = append(uniq, e)
		}
	}
	out := make([]Value, len(spec.Labels))
	complete := true
	for i, l := range spec.Labels {
		if at.Add(l.Horizon).After(cutoff) {
			complete = false
			continue
		}
		var vals []float64
		var last Value
		count := 0
		for _, e := range uniq {
			if !e.Time.After(at) || e.Time.After(at.Add(l.Horizon)) ||
				!slices.Contains(l.Events, e.Type) {
				continue
			}
			v, _ := e.Get(l.Field)
			if l.Field != "" && !v.usable() {
				continue
			}
			count++
			vals = append(vals, v.Num)
			last = v
		}
		switch l.Agg {
		case AggCount:
			out[i] = Number(float64(count))
		case AggSum:
			if count > 0 {
				out[i] = Number(exactFloat(vals...))
			}
		case AggMax:
			if count > 0 {
				out[i] = Number(slices.Max(vals))
			}
		case AggLast:
			out[i] = last
		}
	}
	return out, complete
}

func sameValues(a, b []Value) bool {
	return slices.EqualFunc(a, b, func(x, y Value) bool {
		return x.Kind == y.Kind && (x.Kind != KindNumber ||
			math.Float64bits(x.Num) == math.Float64bits(y.Num) ||
			x.Num == y.Num) && x.Str == y.Str && x.Bool == y.Bool
	})
}
