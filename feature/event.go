package feature

import (
	"cmp"
	"math"
	"strings"
	"time"
)

// Field is one named scalar of an event.
type Field struct {
	Name  string
	Value Value
}

// Event is one raw event as the fold sees it.
type Event struct {
	ID     string    // dedup key; empty means the content hash stands in
	Type   string    // the event type, such as "payment"
	Time   time.Time // event time
	Hash   uint64    // xxhash64 of the raw payload (content hash)
	Fields []Field   // the event's decoded "fields" object, scalars only
}

// Key returns the event's dedup key: its ID, or "h:" followed by the 16
// lower-case hex digits of its content hash when it has no ID.
func (e Event) Key() string {
	if e.ID != "" {
		return e.ID
	}
	return "h:" + hex16(e.Hash)
}

// Get returns the value of the first field with the given name.
func (e Event) Get(name string) (Value, bool) {
	for _, f := range e.Fields {
		if f.Name == name {
			return f.Value, true
		}
	}
	return Value{}, false
}

func hex16(x uint64) string {
	const digits = "0123456789abcdef"
	var b [16]byte
	for i := 15; i >= 0; i-- {
		b[i] = digits[x&0xf]
		x >>= 4
	}
	return string(b[:])
}

// entry is an event as a State holds it: its time as Unix nanoseconds, its
// identity, the index of its type in the spec, and the values of the fields
// the spec reads (one per Spec.slots entry, null where absent). Two masks
// say, for the first 64 of those fields, which values are usable at all and
// which are finite numbers, so that features can be decided from the entry
// alone.
type entry struct {
	t       int64
	hash    uint64
	key     string
	typ     int
	vals    []Value
	usable  uint64 // bit s: vals[s] is usable (see Value.usable)
	numeric uint64 // bit s: vals[s] is also a number
}

// compareEntries orders entries canonically: by event time, then content
// hash, then key. Keys are unique in a State, so the order is total.
func compareEntries(a, b *entry) int {
	if c := cmp.Compare(a.t, b.t); c != 0 {
		return c
	}
	if c := cmp.Compare(a.hash, b.hash); c != 0 {
		return c
	}
	return strings.Compare(a.key, b.key)
}

// Bounds of the Unix seconds whose nanoseconds fit in an int64.
const (
	minNanoSec = math.MinInt64 / 1_000_000_000
	maxNanoSec = math.MaxInt64 / 1_000_000_000
)

// unixNanos converts t to Unix nanoseconds, clamping times outside the
// int64 range (before 1678 or after 2262) to its ends. The mapping never
// reverses the order of two times, and online and replay clamp alike.
func unixNanos(t time.Time) int64 {
	s := t.Unix()
	switch {
	case s > minNanoSec && s < maxNanoSec:
		return t.UnixNano()
	case s < minNanoSec:
		return math.MinInt64
	case s > maxNanoSec:
		return math.MaxInt64
	}
	n, ns := s*1e9, int64(t.Nanosecond())
	if n > 0 && ns > math.MaxInt64-n {
		return math.MaxInt64
	}
	return n + ns
}

// minus returns t-d for d >= 0, saturating at math.MinInt64.
func minus(t, d int64) int64 {
	if t < math.MinInt64+d {
		return math.MinInt64
	}
	return t - d
}
