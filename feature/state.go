package feature

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"time"
)

// State is one entity's fold state: the deduplicated events of the types the
// spec reads, in canonical order. Vectors are computed from it on demand, for
// any instant. Apply, ApplyAll, ApplyUnique, a Loader, Prune and Reset need
// exclusive access; Vector and VectorsAt only read the State, so an RWMutex
// lets them run together.
type State struct {
	spec *Spec
	es   []entry          // canonical order
	sums []uint64         // sums[i]: wrapping sum of the hashes of es[:i]
	keys map[string]keyAt // dedup key -> the held event's position in the order
	gen  uint64           // bumped by every change, so cursors notice

	// keysStale is set by a load that skips the key index (ApplyUnique, a
	// Loader); the next Apply, ApplyAll or Prune rebuilds it first.
	keysStale bool

	// block holds the field values of the entries the last load into an
	// empty state added; it is reused by the next such load.
	block []Value
}

// keyAt is enough of an entry to find it again by binary search.
type keyAt struct {
	t    int64
	hash uint64
}

// NewState returns an empty state for the spec.
func NewState(spec *Spec) *State {
	return &State{spec: spec, sums: []uint64{0}, keys: make(map[string]keyAt)}
}

// Reset empties the state and keeps its memory, so that a sweep folding
// entity after entity reuses one State. Cursors of the state notice and
// start over.
func (s *State) Reset() {
	clear(s.es) // drop the held strings and values
	s.es = s.es[:0]
	s.sums = s.sums[:1]
	clear(s.keys)
	s.keysStale = false
	clear(s.block)
	s.gen++
}

// Spec returns the spec the state folds for.
func (s *State) Spec() *Spec { return s.spec }

// Len returns the number of events held.
func (s *State) Len() int { return len(s.es) }

// Apply adds one event. It returns false, and leaves the event out, when no
// feature reads its type or when an event with the same Key is already held.
// Of two events with one Key the state keeps the one first in canonical
// order, replacing the held one if needed, so that the result never depends
// on the order of application.
func (s *State) Apply(e Event) bool {
	typ, ok := s.spec.types[e.Type]
	if !ok {
		return false
	}
	s.ensureKeys()
	at := keyAt{unixNanos(e.Time), e.Hash}
	key := e.Key()
	if old, dup := s.keys[key]; dup {
		if compareKeys(at, old) < 0 {
			s.remove(s.find(old, key))
			s.keys[key] = at
			s.insert(s.entryOf(&e, typ, at.t, key, nil))
		}
		return false
	}
	s.keys[key] = at
	s.insert(s.entryOf(&e, typ, at.t, key, nil))
	return true
}

// ApplyAll adds many events at once: one sort instead of one insertion per
// event, which suits loading an entity's history from the ledger. The result
// is the same as applying each event with Apply. It returns how many events
// were added (new keys).
func (s *State) ApplyAll(events []Event) int {
	s.ensureKeys()
	return s.load(events, math.MaxInt64, true)
}

// ApplyUnique is ApplyAll for events whose keys are known to be distinct
// from each other and from the events already held, such as one entity's
// events read from the ledger, which stores each event once. It skips the
// duplicate check, which is most of the cost of loading; given a duplicate
// it would hold both copies.
func (s *State) ApplyUnique(events []Event) int {
	return s.load(events, math.MaxInt64, false)
}

// ensureKeys rebuilds the key index after ApplyUnique skipped it.
func (s *State) ensureKeys() {
	if !s.keysStale {
		return
	}
	clear(s.keys)
	for _, en := range s.es {
		s.keys[en.key] = keyAt{en.t, en.hash}
	}
	s.keysStale = false
}

// load adds the relevant events with event time at or before upTo. Leaving
// out later events cannot change which event of a key is kept for instants
// up to upTo: the kept one is the earliest. With dedup false it trusts the
// keys to be distinct and leaves the key index alone.
func (s *State) load(events []Event, upTo int64, dedup bool) int {
	ld := s.loader(len(events))
	for i := range events {
		if t := unixNanos(events[i].Time); t <= upTo {
			ld.add(&events[i], t)
		}
	}
	return ld.done(dedup)
}

// Loader adds events to a State one at a time, as ApplyUnique adds a slice
// of them: for a reader that produces an entity's events one by one and
// reuses each one's memory for the next, such as a scan of the ledger. Add
// copies what the fold needs of an event. The State must not be used
// between Loader and Done, except to Reset it, which abandons the load; and
// the events' keys must be distinct from each other and from those held, as
// for ApplyUnique.
type Loader struct {
	s      *State
	before int     // entries held before the load
	block  []Value // where the new entries' values go

	// lastType and lastTyp are the type of the last event added and its
	// index: an entity's events tend to repeat types, and a comparison is
	// cheaper than a map look-up.
	lastType string
	lastTyp  int

	// sorted is whether the entries are still in canonical order: a reader
	// of the ledger adds them in event time order, and then needs no sort.
	sorted bool
}

// Loader starts adding events to s.
func (s *State) Loader() Loader { return s.loader(0) }

// Add adds e, when some feature reads its type.
func (ld *Loader) Add(e *Event) { ld.add(e, unixNanos(e.Time)) }

// Done ends the load and returns how many events were added.
func (ld *Loader) Done() int { return ld.done(false) }

// loader starts a load of about n events.
func (s *State) loader(n int) Loader {
	ld := Loader{s: s, before: len(s.es), sorted: true}
	s.es = slices.Grow(s.es, n)
	// The block holds the field values of the new entries. No entry refers
	// to the last one once the state is empty, so it is reused then.
	if slots := len(s.spec.slots); slots > 0 {
		if ld.before == 0 && cap(s.block) >= slots*max(n, 1) {
			ld.block = s.block[:0]
		} else {
			ld.block = make([]Value, 0, slots*max(n, 64))
		}
	}
	return ld
}

// add adds e, whose event time is t in Unix nanoseconds, when some
// feature reads its type.
func (ld *Loader) add(e *Event, t int64) {
	s := ld.s
	typ := ld.lastTyp
	if e.Type != ld.lastType || ld.lastType == "" {
		var ok bool
		if typ, ok = s.spec.types[e.Type]; !ok {
			return
		}
		ld.lastType, ld.lastTyp = e.Type, typ
	}
	n := len(s.spec.slots)
	if cap(ld.block)-len(ld.block) < n {
		// A new block: the entries made so far keep the old one.
		ld.block = make([]Value, 0, max(2*cap(ld.block), 64*n))
	}
	en := s.entryOf(e, typ, t, e.Key(), ld.block[len(ld.block):len(ld.block):cap(ld.block)])
	ld.block = ld.block[:len(ld.block)+len(en.vals)]
	if n := len(s.es); ld.sorted && n > 0 && compareEntries(&s.es[n-1], &en) > 0 {
		ld.sorted = false
	}
	s.es = append(s.es, en)
}

// done sorts the added entries into place and, with dedup, keeps the
// first event of each key.
func (ld *Loader) done(dedup bool) int {
	s, before := ld.s, ld.before
	if before == 0 {
		s.block = ld.block
	}
	if len(s.es) == before {
		return 0
	}
	if !ld.sorted {
		slices.SortFunc(s.es, func(a, b entry) int { return compareEntries(&a, &b) })
	}
	if !dedup {
		s.keysStale = true // the key index lacks the new entries
		s.rebuildSums()
		s.gen++
		return len(s.es) - before
	}

	// Keep the first event of each key in canonical order.
	clear(s.keys)
	kept := s.es[:0]
	for _, en := range s.es {
		if _, dup := s.keys[en.key]; !dup {
			s.keys[en.key] = keyAt{en.t, en.hash}
			kept = append(kept, en)
		}
	}
	clear(s.es[len(kept):])
	s.es = kept
	s.rebuildSums()
	s.gen++
	return len(s.es) - before
}

// Prune drops the events that no window can hold at an instant at or after
// at: those with event time at or before at minus the spec's horizon. It
// does nothing when some feature is unbounded. Their keys are forgotten too,
// so vectors are only defined for instants at or after at from then on, and
// a late copy of a pruned event is held again (it lies outside every window
// of those instants, so it changes no value). It returns how many events it
// dropped.
func (s *State) Prune(at time.Time) int {
	if s.spec.unbounded {
		return 0
	}
	s.ensureKeys()
	cut := minus(unixNanos(at), s.spec.horizon)
	n := after(s.es, 0, len(s.es), cut)
	if n == 0 {
		return 0
	}
	for i := range n {
		delete(s.keys, s.es[i].key)
	}
	m := copy(s.es, s.es[n:])
	clear(s.es[m:])
	s.es = s.es[:m]
	s.rebuildSums()
	s.gen++
	return n
}

// Vector returns the vector as of at.
func (s *State) Vector(at time.Time) Vector {
	return s.Cursor().At(at)
}

// VectorsAt returns the vectors as of each instant, in the order given. It
// sweeps the events once for instants in increasing order, so the cost is
// about one step per event and per instant rather than a window per instant.
func (s *State) VectorsAt(ts []time.Time) []Vector {
	order := make([]int, len(ts))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(unixNanos(ts[a]), unixNanos(ts[b]))
	})
	out := make([]Vector, len(ts))
	c := s.Cursor()
	for _, i := range order {
		out[i] = c.At(ts[i])
	}
	return out
}

// Compute returns the vector as of at over a batch of events, in any order
// and with any duplicates: the same vector a State given those events would
// return. It sorts once, then sweeps the windows.
func Compute(spec *Spec, events []Event, at time.Time) Vector {
	s := NewState(spec)
	s.load(events, unixNanos(at), true)
	return s.Vector(at)
}

// ComputeUnique is Compute for events whose keys are known to be distinct,
// as ApplyUnique is ApplyAll.
func ComputeUnique(spec *Spec, events []Event, at time.Time) Vector {
	s := NewState(spec)
	s.load(events, unixNanos(at), false)
	return s.Vector(at)
}

// entryOf builds the entry for an event, reading the fields the spec uses.
//
// The values go into buf when it has room for them (its capacity beyond
// its length), else into a new slice.
func (s *State) entryOf(e *Event, typ int, t int64, key string, buf []Value) entry {
	en := entry{t: t, hash: e.Hash, key: key, typ: typ}
	if n := len(s.spec.slots); n > 0 {
		if cap(buf)-len(buf) >= n {
			en.vals = buf[len(buf) : len(buf)+n : len(buf)+n]
		} else {
			en.vals = make([]Value, n)
		}
		aligned := s.spec.aligned(e)
		for i := range s.spec.slots {
			en.vals[i] = s.spec.slotValue(e, i, aligned)
			u, n := slotBits(i, &en.vals[i])
			en.usable |= u
			en.numeric |= n
		}
	}
	return en
}

// aligned reports whether e carries exactly the spec's fields in slot
// order, as events read through a projection of the spec do; others are
// searched by name.
func (s *Spec) aligned(e *Event) bool {
	if len(e.Fields) != len(s.slots) {
		return false
	}
	for i, name := range s.slots {
		if e.Fields[i].Name != name {
			return false
		}
	}
	return true
}

// slotValue returns the value of slot i's field in e.
func (s *Spec) slotValue(e *Event, i int, aligned bool) Value {
	if aligned {
		return e.Fields[i].Value
	}
	v, _ := e.Get(s.slots[i])
	return v
}

// slotBits returns bit i when v can feed an aggregation (see Value.usable)
// as usable, and again as numeric when it is also a number; slots from 64 on
// have no bits.
func slotBits(i int, v *Value) (usable, numeric uint64) {
	if i >= 64 || !v.usable() {
		return 0, 0
	}
	if v.Kind == KindNumber {
		return 1 << i, 1 << i
	}
	return 1 << i, 0
}

// find returns the index of the held entry with the given position and key.
func (s *State) find(at keyAt, key string) int {
	probe := entry{t: at.t, hash: at.hash, key: key}
	return sort.Search(len(s.es), func(i int) bool {
		return compareEntries(&s.es[i], &probe) >= 0
	})
}

// remove drops the entry at index i.
func (s *State) remove(i int) {
	h := s.es[i].hash
	s.es = slices.Delete(s.es, i, i+1)
	for k := i + 1; k < len(s.sums)-1; k++ {
		s.sums[k] = s.sums[k+1] - h
	}
	s.sums = s.sums[:len(s.sums)-1]
	s.gen++
}

// insert places en in canonical order; in-order arrivals append.
func (s *State) insert(en entry) {
	n := len(s.es)
	i := n
	if n > 0 && compareEntries(&s.es[n-1], &en) > 0 {
		i = sort.Search(n, func(i int) bool { return compareEntries(&s.es[i], &en) > 0 })
	}
	s.es = slices.Insert(s.es, i, en)
	s.sums = append(s.sums, 0)
	for k := n + 1; k > i; k-- {
		s.sums[k] = s.sums[k-1] + en.hash
	}
	s.gen++
}

// rebuildSums recomputes the running sums of hashes after a bulk change.
func (s *State) rebuildSums() {
	s.sums = append(s.sums[:0], 0)
	for i := range s.es {
		s.sums = append(s.sums, s.sums[i]+s.es[i].hash)
	}
}

func compareKeys(a, b keyAt) int {
	return cmp.Or(cmp.Compare(a.t, b.t), cmp.Compare(a.hash, b.hash))
}

// after returns the first index in [from, to) whose event time is after t,
// or to. It gallops from from, so a short step costs little and a long jump
// costs a logarithm.
func after(es []entry, from, to int, t int64) int {
	i, step := from, 1
	for i < to && es[i].t <= t {
		from = i + 1
		i += step
		step *= 2
	}
	end := min(i, to)
	return from + sort.Search(end-from, func(k int) bool { return es[from+k].t > t })
}
