package feature

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"pgregory.net/rapid"
)

// These properties compare the fold with the trivial model in
// reference_test.go. rapid prints the seed of a failure and keeps the
// failing case under testdata/rapid, so any failure can be replayed.

var (
	propBase   = time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	propTypes  = []string{"payment", "login", "refund", "noise"} // no feature reads noise
	propFields = []string{"amount", "merchant"}
)

// genSpec draws a spec of one to six features over every aggregation, with
// windows on a minute grid so that window edges fall on event times.
func genSpec(t *rapid.T, bounded bool) *Spec {
	aggs := []string{"count", "sum", "mean", "min", "max", "first", "last", "count_distinct"}
	windows := []string{"90s", "1m", "5m", "10m", "30m"}
	if !bounded {
		windows = append(windows, "", "")
	}
	var b strings.Builder
	b.WriteString("features:\n")
	for i := range rapid.IntRange(1, 6).Draw(t, "features") {
		agg := rapid.SampledFrom(aggs).Draw(t, "agg")
		events := rapid.SliceOfNDistinct(rapid.SampledFrom(propTypes[:3]), 1, 3,
			rapid.ID[string]).Draw(t, "events")
		fmt.Fprintf(&b, "  - {name: f%d, agg: %s, event: [%s]", i, agg, strings.Join(events, ", "))
		if agg != "count" || rapid.Bool().Draw(t, "count a field") {
			fmt.Fprintf(&b, ", field: %s", rapid.SampledFrom(propFields).Draw(t, "field"))
		}
		if w := rapid.SampledFrom(windows).Draw(t, "window"); w != "" {
			fmt.Fprintf(&b, ", window: %s", w)
		}
		b.WriteString("}\n")
	}
	spec, err := ParseSpec("gen.yaml", []byte(b.String()))
	if err != nil {
		t.Fatalf("generated spec: %v\n%s", err, b.String())
	}
	return spec
}

// genValue draws a field value, or reports the field absent.
func genValue(t *rapid.T) (Value, bool) {
	switch rapid.IntRange(0, 9).Draw(t, "value kind") {
	case 0:
		return Value{}, false
	case 1:
		return Value{}, true
	case 2:
		return String(rapid.SampledFrom([]string{"a", "b", "c"}).Draw(t, "str")), true
	case 3:
		return Bool(rapid.Bool().Draw(t, "bool")), true
	case 4:
		return Number(rapid.SampledFrom([]float64{math.NaN(), math.Inf(1),
			math.Inf(-1)}).Draw(t, "non-finite")), true
	case 5:
		return Number(anyFinite.Draw(t, "float")), true
	}
	// Small integers and zeros of both signs, so ties are common.
	return Number(rapid.SampledFrom([]float64{-2, -1, 0, math.Copysign(0, -1), 1, 2, 3,
		0.5}).Draw(t, "small")), true
}

// genInstant draws an instant on the event grid, often exactly on a minute.
var genInstant = rapid.Custom(func(t *rapid.T) time.Time {
	return propBase.Add(time.Duration(rapid.IntRange(-2, 45).Draw(t, "minute"))*time.Minute +
		rapid.SampledFrom([]time.Duration{0, 0, 1, -1, 30 * time.Second}).Draw(t, "jitter"))
})

// genEvents draws events of all types on a minute grid, some with IDs that
// collide (one key, different content), some exact copies, and some with
// equal content under different IDs.
func genEvents(t *rapid.T) []Event {
	n := rapid.IntRange(0, 40).Draw(t, "events")
	out := make([]Event, 0, n)
	for i := range n {
		if i > 0 && rapid.IntRange(0, 7).Draw(t, "copy") == 0 {
			out = append(out, out[rapid.IntRange(0, i-1).Draw(t, "copy of")])
			continue
		}
		e := Event{
			Type: rapid.SampledFrom(propTypes).Draw(t, "type"),
			Time: genInstant.Draw(t, "time"),
		}
		if rapid.Bool().Draw(t, "has id") {
			e.ID = fmt.Sprintf("id%d", rapid.IntRange(0, 15).Draw(t, "id"))
		}
		for _, name := range propFields {
			if v, ok := genValue(t); ok {
				e.Fields = append(e.Fields, Field{Name: name, Value: v})
			}
		}
		// The hash stands for the payload: equal hashes mean equal content.
		// The salt plays the part of payload the fold does not read.
		salt := rapid.IntRange(0, 3).Draw(t, "salt")
		e.Hash = xxhash.Sum64String(fmt.Sprint(e.Type, e.Time.UnixNano(), e.Fields, salt))
		out = append(out, e)
	}
	return out
}

func requireSame(t *rapid.T, spec *Spec, how string, at time.Time, got, want Vector) {
	if d := diffVectors(spec, got, want); d != "" {
		t.Fatalf("%s at base%+v: %s", how, at.Sub(propBase), d)
	}
}

// TestFoldMatchesNaive: for every aggregation, at random instants, with
// random events, duplicates and application orders, the fold gives the same
// vector as filtering a slice and aggregating, bit for bit, whichever way it
// is asked: online after each Apply, Vector, VectorsAt, a Cursor sweep,
// ApplyAll in another order, Compute.
func TestFoldMatchesNaive(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := genSpec(t, false)
		events := genEvents(t)
		instants := rapid.SliceOfN(genInstant, 1, 6).Draw(t, "instants")

		// Online: events arrive in any order; vectors are asked in between.
		order := rapid.Permutation(events).Draw(t, "apply order")
		st := NewState(spec)
		for i, e := range order {
			st.Apply(e)
			if rapid.IntRange(0, 3).Draw(t, "ask now") == 0 {
				at := rapid.SampledFrom(instants).Draw(t, "at")
				requireSame(t, spec, "online Vector", at, st.Vector(at),
					naiveVector(spec, order[:i+1], at))
			}
		}

		batch := NewState(spec)
		batch.ApplyAll(rapid.Permutation(events).Draw(t, "batch order"))
		if batch.Len() != st.Len() {
			t.Fatalf("ApplyAll holds %d events, Apply %d", batch.Len(), st.Len())
		}
		swept := st.VectorsAt(instants)
		for i, at := range instants {
			want := naiveVector(spec, events, at)
			requireSame(t, spec, "Vector", at, st.Vector(at), want)
			requireSame(t, spec, "VectorsAt", at, swept[i], want)
			requireSame(t, spec, "ApplyAll", at, batch.Vector(at), want)
			requireSame(t, spec, "Compute", at, Compute(spec, order, at), want)
		}
		// A dense sweep, so that values leave windows one by one.
		sweep := slices.Clone(instants)
		step := time.Duration(rapid.IntRange(1, 5).Draw(t, "sweep step")) * time.Minute
		end := propBase.Add(46 * time.Minute)
		for at := propBase.Add(-2 * time.Minute); at.Before(end); at = at.Add(step) {
			sweep = append(sweep, at)
		}
		slices.SortFunc(sweep, time.Time.Compare)
		c := batch.Cursor()
		for _, at := range sweep {
			requireSame(t, spec, "Cursor", at, c.At(at), naiveVector(spec, events, at))
		}
	})
}

// TestPruneKeepsLaterVectors: pruning at an instant changes no vector at or
// after it.
func TestPruneKeepsLaterVectors(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := genSpec(t, true)
		events := genEvents(t)
		cut := genInstant.Draw(t, "prune at")
		st := NewState(spec)
		st.ApplyAll(events)
		st.Prune(cut)
		for _, e := range rapid.Permutation(events).Draw(t, "replay") {
			st.Apply(e) // copies of pruned events come back; they must not matter
		}
		for _, d := range rapid.SliceOfN(rapid.IntRange(0, 50), 1, 5).Draw(t, "after") {
			at := cut.Add(time.Duration(d) * time.Minute)
			requireSame(t, spec, "pruned", at, st.Vector(at), naiveVector(spec, events, at))
		}
	})
}

// TestInputSetDigest: equal input multisets give equal counts and digests
// whatever the order; removing one event of the input set, or adding a copy
// of one under a new key, changes both by exactly that event.
func TestInputSetDigest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := genSpec(t, false)
		events := genEvents(t)
		at := genInstant.Draw(t, "at")
		base := Compute(spec, events, at)
		other := Compute(spec, rapid.Permutation(events).Draw(t, "order"), at)
		if other.Count != base.Count || other.Digest != base.Digest {
			t.Fatalf("reordering changed the input set: %d %x, then %d %x",
				base.Count, base.Digest, other.Count, other.Digest)
		}

		horizon, unbounded := spec.Horizon()
		if unbounded {
			horizon = 0
		}
		var in []Event
		for _, e := range naiveHeld(spec, events) {
			if inWindow(e.Time, at, horizon) {
				in = append(in, e)
			}
		}
		if len(in) == 0 {
			return
		}
		victim := rapid.SampledFrom(in).Draw(t, "victim")

		without := slices.DeleteFunc(slices.Clone(events), func(e Event) bool {
			return e.Key() == victim.Key()
		})
		v := Compute(spec, without, at)
		if v.Count != base.Count-1 || v.Digest != base.Digest-victim.Hash ||
			v.Digest == base.Digest {
			t.Fatalf("removing %s: %d %x, from %d %x", victim.Key(), v.Count, v.Digest,
				base.Count, base.Digest)
		}

		copied := victim
		copied.ID = "copy of " + victim.Key()
		v = Compute(spec, append(slices.Clone(events), copied), at)
		if v.Count != base.Count+1 || v.Digest != base.Digest+victim.Hash ||
			v.Digest == base.Digest {
			t.Fatalf("copying %s: %d %x, from %d %x", victim.Key(), v.Count, v.Digest,
				base.Count, base.Digest)
		}
	})
}
