package feature

import (
	"cmp"
	"slices"
	"time"
)

// Outside stands in for part of a State in a query for one instant T: the
// events that lie outside every bounded window at T, those with event time
// at or before T minus the spec's bounded horizon (see
// Spec.BoundedHorizon). Such events feed only the input set's count and
// digest and the unbounded features. When those are all counts, firsts and
// lasts (see Spec.Outside), they need not be held: Outside counts each event
// offered to it and remembers the few whose value a first or last feature
// may end with. Those, Kept, go into the State in full, and Cursor.AtOutside
// adds the rest to the vector. The vector is then exactly the one a State
// holding every event would give.
//
// Events are offered once each, in any order, already deduplicated, and of
// the instant's view (the reader filters them as it would for the State),
// as a Brief: only their types, times, hashes and which fields they hold
// matter, not the values.
type Outside struct {
	spec      *Spec
	unbounded []int // indexes of the unbounded features
	count     int
	digest    uint64
	used      []int // per feature: events whose value it would use
	skipped   []int // per feature: events it would skip
	cands     [][]Held
	kept      []Held
}

// Held is an event that Outside remembers: where it is in the entity's
// order, enough to find it again, and how the fold classifies it.
type Held struct {
	Seq uint64 // the reader's reference, from Brief

	t               int64
	hash            uint64
	typ             int
	usable, numeric uint64
}

// Time returns the event time.
func (h *Held) Time() time.Time { return time.Unix(0, h.t).UTC() }

// Outside reports whether an Outside can stand in for the events outside
// the bounded windows: some feature is unbounded, every unbounded feature
// is a count, a first or a last, and the spec reads at most 64 fields.
func (s *Spec) Outside() bool {
	if !s.unbounded || len(s.slots) > 64 {
		return false
	}
	for _, p := range s.plans {
		if !p.bounded && p.agg != AggCount && p.agg != AggFirst && p.agg != AggLast {
			return false
		}
	}
	return true
}

// BoundedHorizon returns the widest window of the spec's bounded features,
// 0 when none is bounded. An event at or before an instant minus it is in
// no bounded window of that instant.
func (s *Spec) BoundedHorizon() time.Duration {
	return time.Duration(s.horizon) // an unbounded feature's window is 0
}

// Reset empties o for a new query with spec, keeping its memory.
func (o *Outside) Reset(spec *Spec) {
	if o.spec != spec {
		o.spec = spec
		o.unbounded = o.unbounded[:0]
		for i := range spec.plans {
			if !spec.plans[i].bounded {
				o.unbounded = append(o.unbounded, i)
			}
		}
		n := len(spec.plans)
		o.used, o.skipped, o.cands = make([]int, n), make([]int, n), make([][]Held, n)
	}
	o.count, o.digest = 0, 0
	clear(o.used)
	clear(o.skipped)
	for i := range o.cands {
		o.cands[i] = o.cands[i][:0]
	}
	o.kept = o.kept[:0]
}

// Brief is what Outside needs to know of an event: everything but its
// values. Type and the bits are by the spec's indexes: types in the order of
// Spec.EventTypes, fields (bit i for field i, the first 64) in the order of
// Spec.Fields.
type Brief struct {
	Seq  uint64 // the reader's reference to the event, handed back by Kept
	Type int
	Time int64 // event time, Unix nanoseconds
	Hash uint64

	// Set has the bits of the fields present and not null, Number of those
	// holding a number, Finite of those holding a finite number.
	Set, Number, Finite uint64
}

// Add offers the event b describes. A Type out of the spec's range is
// ignored.
func (o *Outside) Add(b *Brief) {
	if b.Type < 0 || b.Type >= len(o.spec.types) {
		return
	}
	o.count++
	o.digest += b.Hash
	// A value feeds an aggregation unless null or a number that is not
	// finite (see Value.usable and slotBits).
	usable, numeric := b.Set&^(b.Number&^b.Finite), b.Number&b.Finite
	for _, i := range o.unbounded {
		p := &o.spec.plans[i]
		switch p.classifyBits(b.Type, usable, numeric) {
		case use:
			o.used[i]++
			if p.agg == AggFirst || p.agg == AggLast {
				o.offer(i, p.agg == AggLast, Held{Seq: b.Seq, t: b.Time, hash: b.Hash,
					typ: b.Type, usable: usable, numeric: numeric})
			}
		case skip:
			o.skipped[i]++
		}
	}
}

// offer makes h a candidate for feature i's value when it comes at least as
// late (last) or as early (first) as the candidates so far. Candidates tie
// on event time and content hash; the State orders them by key.
func (o *Outside) offer(i int, last bool, h Held) {
	cs := o.cands[i]
	if len(cs) > 0 {
		c := cmp.Or(cmp.Compare(h.t, cs[0].t), cmp.Compare(h.hash, cs[0].hash))
		if last {
			c = -c
		}
		switch {
		case c > 0:
			return
		case c == 0:
			o.cands[i] = append(cs, h)
			return
		}
	}
	o.cands[i] = append(cs[:0], h)
}

// Kept returns the events to add to the State in full, in event time
// order, and takes them out of o's counts: once in the State, the cursor
// counts them. Call it once, after the last Add.
func (o *Outside) Kept() []Held {
	for _, cs := range o.cands {
		for _, h := range cs {
			if !slices.ContainsFunc(o.kept, func(k Held) bool { return k.Seq == h.Seq }) {
				o.kept = append(o.kept, h)
			}
		}
	}
	slices.SortFunc(o.kept, func(a, b Held) int {
		return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.Seq, b.Seq))
	})
	for _, h := range o.kept {
		o.count--
		o.digest -= h.hash
		for _, i := range o.unbounded {
			switch o.spec.plans[i].classifyBits(h.typ, h.usable, h.numeric) {
			case use:
				o.used[i]--
			case skip:
				o.skipped[i]--
			}
		}
	}
	return o.kept
}

// AtOutside is At for a State that holds the events of the instant's
// bounded windows and o's kept events, with o standing in for the other
// events outside the bounded windows: the vector a State holding them all
// would give.
func (c *Cursor) AtOutside(at time.Time, o *Outside) Vector {
	v := c.At(at)
	v.Count += o.count
	v.Digest += o.digest
	// An unbounded window also holds the events o used and did not keep. A
	// first or last that used any holds its kept candidate too, so only a
	// count's result changes with the number.
	for _, i := range o.unbounded {
		w := &c.wins[i]
		v.Skipped[i] += o.skipped[i]
		v.Values[i] = w.acc.result(c.s.es, w.used+o.used[i])
	}
	return v
}
