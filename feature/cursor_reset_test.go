package feature

import (
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestCursorReset: one cursor reset from State to State, across specs and
// instants in any order, gives each vector the State itself gives, bit for
// bit, and leaves the vectors it returned before as they were.
func TestCursorReset(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		specs := []*Spec{genSpec(t, false), genSpec(t, true)}
		var states []*State
		for range rapid.IntRange(1, 4).Draw(t, "states") {
			st := NewState(rapid.SampledFrom(specs).Draw(t, "spec"))
			st.ApplyAll(genEvents(t))
			states = append(states, st)
		}
		var c Cursor
		type asked struct {
			st   *State
			at   time.Time
			got  Vector
			kept []Value // copies of got's values and skip counts when it was returned
			skip []int
		}
		var all []asked
		for range rapid.IntRange(1, 30).Draw(t, "vectors") {
			st := rapid.SampledFrom(states).Draw(t, "state")
			if rapid.IntRange(0, 2).Draw(t, "reset") > 0 || c.s != st {
				c.Reset(st)
			}
			at := genInstant.Draw(t, "at")
			v := c.At(at)
			requireSame(t, st.spec, "reset cursor", at, v, st.Vector(at))
			all = append(all, asked{st, at, v, slices.Clone(v.Values), slices.Clone(v.Skipped)})
		}
		for i, a := range all {
			if d := diffVectors(a.st.spec, Vector{At: a.at, Values: a.kept, Count: a.got.Count,
				Digest: a.got.Digest, Skipped: a.skip}, a.got); d != "" {
				t.Fatalf("vector %d changed after later ones: %s", i, d)
			}
		}
	})
}
