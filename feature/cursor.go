package feature

import (
	"math"
	"time"
)

// Cursor computes the vectors of one State at non-decreasing instants,
// moving each window forward instead of recomputing it: over a sweep, each
// event enters and leaves each window once. A Cursor reads its State (the
// one it was made from, or the one Reset points it at); it notices when the
// State changes (Apply, any load, Prune, Reset) or when an instant goes
// backwards, and then starts over, so it is always correct and only fast
// when used as a sweep. Like the State, it is not safe for concurrent
// use.
type Cursor struct {
	s    *State
	gen  uint64 // the State's gen this cursor's windows agree with
	hi   int    // events before hi have event time at or before t
	t    int64  // the last instant, in Unix nanoseconds
	inLo int    // first event of the input set
	wins []window

	// vals and skips are carved into the vectors' slices, so that a sweep
	// allocates per block of vectors rather than per vector.
	vals  []Value
	skips []int
}

// vectorBlock is how many vectors' slices one allocation holds at most.
const vectorBlock = 256

// window is one feature's part of the events, [lo, hi) of the cursor, where
// lo is the first event with event time after t-width, and its aggregate.
// used counts the events whose values are in acc; skipped those of the
// feature's types whose field it could not use.
type window struct {
	plan    *plan
	acc     acc
	lo      int
	used    int
	skipped int
}

// Cursor returns a cursor positioned before the first event.
func (s *State) Cursor() *Cursor {
	c := &Cursor{s: s, wins: make([]window, len(s.spec.plans))}
	for i := range c.wins {
		p := &s.spec.plans[i]
		c.wins[i] = window{plan: p, acc: newAcc(p)}
	}
	c.restart()
	return c
}

// restart empties every window and rewinds to before the first event.
func (c *Cursor) restart() {
	c.gen, c.hi, c.t, c.inLo = c.s.gen, 0, math.MinInt64, 0
	for i := range c.wins {
		c.wins[i].lo = 0
		c.wins[i].clear()
	}
}

// Reset points the cursor at s, before its first event, and keeps the
// cursor's memory: its windows when s folds for the same spec, and in any
// case the block its vectors' values are cut from. A caller that computes
// one vector after another for different States, such as a scoring
// service answering requests for many entities, then allocates per vector
// only its share of a block. Vectors returned before keep their values. A
// zero Cursor may be Reset, and is then a cursor of s.
func (c *Cursor) Reset(s *State) {
	if c.s == nil || c.s.spec != s.spec {
		fresh := s.Cursor()
		fresh.vals, fresh.skips = c.vals, c.skips
		*c = *fresh
		return
	}
	c.s = s
	c.restart()
}

// At returns the vector as of at. Instants should not decrease from one
// call to the next; when one does, the cursor starts over.
func (c *Cursor) At(at time.Time) Vector {
	t := unixNanos(at)
	if c.gen != c.s.gen || t < c.t {
		c.restart()
	}
	c.t = t
	es := c.s.es
	hi := after(es, c.hi, len(es), t)
	for i := range c.wins {
		c.wins[i].advance(es, c.hi, hi, t)
	}
	c.hi = hi

	// The input set needs no walk: its count is a difference of indexes and
	// its digest a difference of the State's running sums of hashes.
	if !c.s.spec.unbounded {
		c.inLo = after(es, c.inLo, hi, minus(t, c.s.spec.horizon))
	}
	n := len(c.wins)
	if cap(c.vals)-len(c.vals) < n {
		// Blocks grow with use, so that a cursor asked for one vector
		// allocates no more than it needs.
		size := min(max(2*cap(c.vals), n), vectorBlock*n)
		c.vals, c.skips = make([]Value, 0, size), make([]int, 0, size)
	}
	k := len(c.vals)
	c.vals, c.skips = c.vals[:k+n], c.skips[:k+n]
	v := Vector{
		At:      at,
		Values:  c.vals[k : k+n : k+n],
		Count:   hi - c.inLo,
		Digest:  c.s.sums[hi] - c.s.sums[c.inLo],
		Skipped: c.skips[k : k+n : k+n],
	}
	for i := range c.wins {
		w := &c.wins[i]
		v.Values[i] = w.acc.result(es, w.used)
		v.Skipped[i] = w.skipped
	}
	return v
}

// advance moves a window that covered [w.lo, hi) at the previous instant so
// that it covers the events in (t-width, t], which end at newHi. When every
// event it held has left, it empties and jumps, so that events that would
// enter and leave at once are never fed to it.
func (w *window) advance(es []entry, hi, newHi int, t int64) {
	start := hi
	if w.plan.bounded {
		lim := minus(t, w.plan.window)
		if w.lo < hi && es[hi-1].t > lim {
			for es[w.lo].t <= lim {
				w.pop(es, w.lo)
				w.lo++
			}
		} else {
			w.clear()
			w.lo = after(es, hi, newHi, lim)
			start = w.lo
		}
	}
	for i := start; i < newHi; i++ {
		w.push(es, i)
	}
}

// Outcomes of offering an event to a feature.
const (
	notRead = iota // the feature does not read this event type
	use            // the value goes into the aggregate
	skip           // the field is absent, null or of the wrong type
)

// classify decides what a feature does with an event. For the first 64
// fields it reads bits the State set when it took the event in, so that a
// window walks its events without touching their values.
func (p *plan) classify(e *entry) int {
	if p.slot >= 64 && p.reads[e.typ] {
		if p.accepts(e.vals[p.slot]) {
			return use
		}
		return skip
	}
	return p.classifyBits(e.typ, e.usable, e.numeric)
}

// classifyBits is classify for an event of type typ whose first 64 fields
// have the usable and numeric bits given (see slotBits), for a feature
// whose field, if any, is among them.
func (p *plan) classifyBits(typ int, usable, numeric uint64) int {
	switch {
	case !p.reads[typ]:
		return notRead
	case p.slot < 0:
		return use
	}
	mask := usable
	if p.number {
		mask = numeric
	}
	if mask>>p.slot&1 == 1 {
		return use
	}
	return skip
}

// accepts reports whether the feature can use a value of its field.
func (p *plan) accepts(v Value) bool {
	return v.usable() && (!p.number || v.Kind == KindNumber)
}

// push offers the event at index i to the feature as it enters the window.
func (w *window) push(es []entry, i int) {
	switch w.plan.classify(&es[i]) {
	case use:
		w.acc.push(es, i)
		w.used++
	case skip:
		w.skipped++
	}
}

// pop takes the event at index i, the oldest held, out of the window.
func (w *window) pop(es []entry, i int) {
	switch w.plan.classify(&es[i]) {
	case use:
		w.acc.pop(es, i)
		w.used--
	case skip:
		w.skipped--
	}
}

func (w *window) clear() {
	w.acc.reset()
	w.used, w.skipped = 0, 0
}
