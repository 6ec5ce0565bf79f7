package score

import (
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/internal/convert"
	"github.com/asofdev/asof/ledger"
)

// table is the online state proper: one feature.State per entity, the dedup
// keys applied, and the watermark. Online guards its table with its mutex;
// a table being built for a restart or a new spec belongs to the builder
// until it is installed.
type table struct {
	spec   *feature.Spec
	empty  *feature.State // an empty state of spec, for entities without one
	fields int            // distinct fields the spec reads, for estimates

	states map[string]*feature.State
	// seen holds the xxhash64 of the dedup key (see dedupKey) of every
	// event taken, so that, as in the ledger, the first arrival of a key
	// wins across entities and types. Two keys sharing a 64-bit hash would
	// lose the second event: odds of about n²/2⁶⁵ for n events.
	seen      map[uint64]struct{}
	watermark uint64
	held      int // events held by all states
	bytes     int // estimated bytes of all states

	// memos holds the last vector read of some entities, each in the slot
	// its name hashes to, so that a view of an entity asked for again
	// before any of its events enters or leaves a window is not folded
	// again (see feature.Memo). Views store into it under the shared lock;
	// a memo knows its State, so one left in a slot by another entity, or
	// by a State that changed since, is not used.
	memos []atomic.Pointer[feature.Memo]
}

// memoSlots is how many memos a table keeps: at eight features, at most
// about 8 MB.
const memoSlots = 1 << 14

// memo returns the slot of entity's memo.
func (t *table) memo(entity string) *atomic.Pointer[feature.Memo] {
	return &t.memos[xxhash.Sum64String(entity)&(memoSlots-1)]
}

func newTable(spec *feature.Spec, watermark uint64) *table {
	names := make(map[string]struct{})
	for _, f := range spec.Features {
		if f.Field != "" {
			names[f.Field] = struct{}{}
		}
	}
	return &table{spec: spec, empty: feature.NewState(spec), fields: len(names),
		states: make(map[string]*feature.State), seen: make(map[uint64]struct{}),
		watermark: watermark, memos: make([]atomic.Pointer[feature.Memo], memoSlots)}
}

// take records e's dedup key and reports whether it is the first arrival.
func (t *table) take(e *ledger.Event) bool {
	h := xxhash.Sum64String(dedupKey(e))
	if _, dup := t.seen[h]; dup {
		return false
	}
	t.seen[h] = struct{}{}
	return true
}

// apply adds e to its entity's state, twice (the second copy under another
// key) when twice is set. It reports whether the state took it.
func (t *table) apply(e *ledger.Event, twice bool) bool {
	if !t.spec.Relevant(e.Type) {
		return false
	}
	st := t.states[e.Entity]
	if st == nil {
		st = feature.NewState(t.spec)
		t.states[e.Entity] = st
	}
	fe := convert.Event(e)
	took := t.add(st, fe)
	if twice {
		fe.ID = fe.Key() + "#twice" // same content, another key
		t.add(st, fe)
	}
	return took
}

// add applies one fold event to st and keeps the counts.
func (t *table) add(st *feature.State, fe feature.Event) bool {
	before := st.Len()
	took := st.Apply(fe)
	if d := st.Len() - before; d > 0 {
		t.held += d
		t.bytes += d * eventBytes(&fe, t.fields)
	}
	return took
}

// load adds one entity's history at once, as read from the ledger.
func (t *table) load(entity string, events []feature.Event) {
	st := feature.NewState(t.spec)
	st.ApplyAll(events)
	if st.Len() == 0 {
		return
	}
	t.states[entity] = st
	t.held += st.Len()
	for i := range events {
		if t.spec.Relevant(events[i].Type) {
			t.bytes += eventBytes(&events[i], t.fields)
		}
	}
}

// prune drops the events no window can hold at or after at, and the
// entities left without events. It returns how many events it dropped.
func (t *table) prune(at time.Time) int {
	dropped := 0
	for entity, st := range t.states {
		if n := st.Prune(at); n > 0 {
			dropped += n
			if t.held > 0 {
				t.bytes -= t.bytes / t.held * n
			}
			t.held -= n
		}
		if st.Len() == 0 {
			delete(t.states, entity)
		}
	}
	return dropped
}
