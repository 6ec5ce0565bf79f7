package feature

import (
	"math"
	"slices"
	"time"
)

// A Memo is a vector of one State kept together with the span of instants
// it holds for: from the instant it was computed at up to the first
// instant at which an event enters the input set or one of the windows, or
// leaves one. A vector's values, count, digest and skip counts depend only
// on which events lie in each window and in the input set, so at every
// instant of the span the vector is the memo's. A service that asks for
// the same entity's vector again and again between events, as scoring
// does, reads it from a memo instead of folding the windows anew.
//
// A Memo is immutable, and so safe to share between goroutines; the
// vectors it returns share its slices and must not be modified.
type Memo struct {
	s           *State
	gen         uint64
	from, until int64 // Unix nanoseconds, [from, until)
	v           Vector
}

// Memo returns a memo of the vector the cursor's last At returned, which
// must be v. It copies v's slices, and reads the State it was computed
// from, which must not have changed since.
func (c *Cursor) Memo(v Vector) *Memo {
	m := &Memo{s: c.s, gen: c.gen, from: c.t, until: c.steady(), v: v}
	m.v.Values, m.v.Skipped = slices.Clone(v.Values), slices.Clone(v.Skipped)
	return m
}

// At returns the memo's vector as of at, and true, when the memo is of s,
// s has not changed since, and at lies in the memo's span. Otherwise it
// returns false, and the caller computes the vector.
func (m *Memo) At(s *State, at time.Time) (Vector, bool) {
	if m == nil || m.s != s || m.gen != s.gen {
		return Vector{}, false
	}
	if t := unixNanos(at); t < m.from || t >= m.until {
		return Vector{}, false
	}
	v := m.v
	v.At = at
	return v, true
}

// steady returns the first instant after the cursor's last one at which
// an event enters or leaves the input set or a window, or MaxInt64 when
// none does until the State changes. An event enters at its
// event time; it leaves a window of width w, which holds (t-w, t], at its
// event time plus w. The first event of a window leaves it first, since
// events are in event time order.
func (c *Cursor) steady() int64 {
	es := c.s.es
	until := int64(math.MaxInt64)
	if c.hi < len(es) {
		until = es[c.hi].t
	}
	// A window's first event is the first of all types after its lower
	// edge, so the widest window's is the input set's: its leaving is
	// covered here too.
	for i := range c.wins {
		w := &c.wins[i]
		if w.plan.bounded && w.lo < c.hi {
			until = min(until, plus(es[w.lo].t, w.plan.window))
		}
	}
	return until
}

// plus returns t+d for d >= 0, MaxInt64 when that overflows.
func plus(t, d int64) int64 {
	if t > math.MaxInt64-d {
		return math.MaxInt64
	}
	return t + d
}
