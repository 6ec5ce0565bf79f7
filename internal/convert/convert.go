// Package convert turns the ledger's records into the fold's events and
// the fold's vectors into the ledger's fields. It is the one place where
// package ledger and package feature meet, so that the online pipeline and
// replay convert alike: the two sides must hand the fold identical events.
package convert

import (
	"unsafe"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// sameLayout is whether a ledger field and a fold field are laid out alike,
// with kinds numbered alike, so that Transient can read a slice of one as a
// slice of the other instead of copying it. Both are a name and a value of
// kind, number, string and boolean; this checks it rather than trusting it.
var sameLayout = func() bool {
	var l ledger.Field
	var f feature.Field
	return unsafe.Sizeof(l) == unsafe.Sizeof(f) &&
		unsafe.Offsetof(l.Value) == unsafe.Offsetof(f.Value) &&
		unsafe.Sizeof(l.Value.Kind) == unsafe.Sizeof(f.Value.Kind) &&
		unsafe.Offsetof(l.Value.Num) == unsafe.Offsetof(f.Value.Num) &&
		unsafe.Offsetof(l.Value.Str) == unsafe.Offsetof(f.Value.Str) &&
		unsafe.Offsetof(l.Value.Bool) == unsafe.Offsetof(f.Value.Bool) &&
		uint8(ledger.KindNull) == uint8(feature.KindNull) &&
		uint8(ledger.KindNumber) == uint8(feature.KindNumber) &&
		uint8(ledger.KindString) == uint8(feature.KindString) &&
		uint8(ledger.KindBool) == uint8(feature.KindBool)
}()

// Value converts a ledger value into the fold's value.
func Value(v ledger.Value) feature.Value {
	return feature.Value{Kind: feature.Kind(v.Kind), Num: v.Num, Str: v.Str, Bool: v.Bool}
}

// LedgerValue converts a fold value into the ledger's value.
func LedgerValue(v feature.Value) ledger.Value {
	return ledger.Value{Kind: ledger.Kind(v.Kind), Num: v.Num, Str: v.Str, Bool: v.Bool}
}

// Event converts one ledger event into the fold's event.
func Event(e *ledger.Event) feature.Event {
	c := Converter{arena: make([]feature.Field, 0, len(e.Fields))}
	return c.Event(e)
}

// Brief converts what a brief scan read of an event into what a
// feature.Outside needs. The scan's projection must be the spec's
// EventTypes and Fields, in that order, so that indexes agree.
func Brief(b *ledger.Brief) feature.Brief {
	return feature.Brief{Seq: b.Seq, Type: b.Type, Time: b.Time, Hash: b.Hash,
		Set: b.Set, Number: b.Number, Finite: b.Finite}
}

// Vector converts a vector's values into named ledger fields, in spec
// order: the vector a snapshot records.
func Vector(spec *feature.Spec, v feature.Vector) []ledger.Field {
	return AppendVector(make([]ledger.Field, 0, len(v.Values)), spec, v)
}

// AppendVector is Vector appending to dst, for a caller that reuses it.
func AppendVector(dst []ledger.Field, spec *feature.Spec, v feature.Vector) []ledger.Field {
	for i, val := range v.Values {
		if i >= len(spec.Features) {
			break
		}
		dst = append(dst, ledger.Field{Name: spec.Features[i].Name, Value: LedgerValue(val)})
	}
	return dst
}

// Converter converts many events, cutting their field slices from chunks
// so that a sweep does not allocate one slice per event. The events it
// returns share those chunks until Reset.
type Converter struct {
	arena   []feature.Field
	scratch feature.Event // Transient's event
}

// Transient converts e into the converter's own event, which is valid only
// until the next call and while e is unchanged (its fields may be e's own):
// for a reader that hands each event at once to a feature.Loader or a
// feature.Outside, which copy what they keep.
func (c *Converter) Transient(e *ledger.Event) *feature.Event {
	fe := &c.scratch
	fe.ID, fe.Type, fe.Time, fe.Hash = e.ID, e.Type, e.Time, e.Hash
	if sameLayout {
		fe.Fields = unsafe.Slice((*feature.Field)(unsafe.Pointer(unsafe.SliceData(e.Fields))),
			len(e.Fields))
		return fe
	}
	if cap(fe.Fields) < len(e.Fields) {
		fe.Fields = make([]feature.Field, len(e.Fields))
	}
	fe.Fields = fe.Fields[:len(e.Fields)]
	for i := range e.Fields {
		f, g := &fe.Fields[i], &e.Fields[i]
		f.Name = g.Name
		f.Value = Value(g.Value)
	}
	return fe
}

// Event converts one ledger event into the fold's event.
func (c *Converter) Event(e *ledger.Event) feature.Event {
	fe := feature.Event{ID: e.ID, Type: e.Type, Time: e.Time, Hash: e.Hash}
	n := len(e.Fields)
	if n == 0 {
		return fe
	}
	if cap(c.arena)-len(c.arena) < n {
		// Chunks grow with use, so a short scan stays small.
		c.arena = make([]feature.Field, 0, max(min(2*cap(c.arena), 4096), 16, n))
	}
	fe.Fields = c.arena[len(c.arena) : len(c.arena)+n : len(c.arena)+n]
	c.arena = c.arena[:len(c.arena)+n]
	for i, f := range e.Fields {
		fe.Fields[i] = feature.Field{Name: f.Name, Value: Value(f.Value)}
	}
	return fe
}

// Reset lets the current chunk be reused: the events converted so far must
// no longer be used.
func (c *Converter) Reset() { c.arena = c.arena[:0] }
