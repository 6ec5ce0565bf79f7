package feature

import (
	"math"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestMemoHoldsOverItsSpan: a memo taken at one instant answers at every
// instant of its span, the last nanosecond included, with the vector the
// State itself gives there, and refuses instants outside it, another
// State and a State that changed.
func TestMemoHoldsOverItsSpan(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		spec := genSpec(t, rapid.Bool().Draw(t, "bounded"))
		st, other := NewState(spec), NewState(spec)
		st.ApplyAll(genEvents(t))
		from := genInstant.Draw(t, "from")
		c := st.Cursor()
		m := c.Memo(c.At(from))

		v, ok := m.At(st, from)
		if !ok {
			t.Fatalf("memo refuses the instant it was computed at")
		}
		requireSame(t, spec, "memo at its instant", from, v, st.Vector(from))
		if m.until <= m.from {
			t.Fatalf("empty span [%d, %d)", m.from, m.until)
		}
		if _, ok := m.At(st, from.Add(-time.Nanosecond)); ok {
			t.Fatalf("memo answers before its instant")
		}
		if _, ok := m.At(other, from); ok {
			t.Fatalf("memo answers for another State")
		}

		// The span's last nanosecond, its end, and instants drawn after.
		ats := []time.Time{genInstant.Draw(t, "later"), genInstant.Draw(t, "later")}
		if m.until != math.MaxInt64 {
			end := time.Unix(0, m.until).UTC()
			ats = append(ats, end.Add(-time.Nanosecond), end)
		}
		for _, at := range ats {
			v, ok := m.At(st, at)
			in := !at.Before(from) && at.UnixNano() < m.until
			if ok != in {
				t.Fatalf("memo of [%d, %d) at %d: answered %v", m.from, m.until, at.UnixNano(), ok)
			}
			if ok {
				requireSame(t, spec, "memo", at, v, st.Vector(at))
			}
		}

		// An event of a type the spec reads, unlike any drawn (whose hashes
		// cover their content), changes the State.
		st.Apply(Event{Type: spec.Features[0].Events[0], Time: from, Hash: 1})
		if _, ok := m.At(st, from); ok {
			t.Fatalf("memo answers for a State changed since")
		}
	})
}
