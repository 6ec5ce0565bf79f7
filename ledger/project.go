package ledger

import (
	"iter"
	"slices"
	"time"
)

// A Projection narrows what a scan of the entity index decodes, for a
// reader that uses only some event types and fields, such as the fold of
// one spec. Entries of other types are skipped without decoding the rest of
// their value, and fields of other names are passed over unread. Names come
// from the projection's own strings, so a scan looks none of them up.
//
// A skipped part of an entry is not checked: damage there is found by
// Verify, not by a projected scan.
type Projection struct {
	// Types lists the event types wanted; empty means every type.
	Types []string

	// Fields lists the names of the fields decoded; nil means every field,
	// in stored order, and an empty non-nil slice none. Otherwise an
	// event's Fields are exactly these, in this order: each holds the first
	// stored field of its name, or null when the event has none.
	Fields []string

	// Stream asks for each event's broker stream name; without it Stream
	// is left empty.
	Stream bool

	// Reuse lets a scan decode each event's fields into the memory of the
	// previous event's: an event's Fields are then valid only until the
	// scan yields the next one. For readers that copy what they keep.
	Reuse bool
}

// projection is a Projection prepared for scans.
type projection struct {
	types     []string
	fields    []string
	allFields bool
	stream    bool
	reuse     bool
}

func (p Projection) compile() *projection {
	return &projection{types: slices.Clone(p.Types), fields: slices.Clone(p.Fields),
		allFields: p.Fields == nil, stream: p.Stream, reuse: p.Reuse}
}

// typ returns the wanted type spelled b, if b is one.
func (p *projection) typ(b []byte) (string, bool) {
	for _, t := range p.types {
		if string(b) == t {
			return t, true
		}
	}
	return "", false
}

// field returns the index in p.fields of the name spelled b, or -1.
func (p *projection) field(b []byte) int {
	for j, f := range p.fields {
		if string(b) == f {
			return j
		}
	}
	return -1
}

// EntityReader reads the entity index through a projection. It is safe
// for concurrent use, like the ledger.
type EntityReader struct {
	l *Ledger
	p *projection
}

// EntityReader returns a reader of the entity index that decodes what p
// asks for.
func (l *Ledger) EntityReader(p Projection) EntityReader {
	return EntityReader{l: l, p: p.compile()}
}

// Events is Ledger.EntityEvents through the reader's projection.
func (r EntityReader) Events(entity string, after, until time.Time) iter.Seq2[Indexed[Event],
	error] {
	lo, hi := entityBounds(entity, after, until)
	return r.l.entityIterWindow(lo, hi, nil, r.p)
}

// EventsIn is Ledger.EntityEventsIn through the reader's projection.
func (r EntityReader) EventsIn(from, to string) iter.Seq2[Indexed[Event], error] {
	lo, hi := entityRange(from, to)
	return r.l.entityIterWindow(lo, hi, nil, r.p)
}

// EventsInWindow is Ledger.EntityEventsInWindow through the reader's
// projection.
func (r EntityReader) EventsInWindow(from, to string,
	window EntityWindow) iter.Seq2[Indexed[Event], error] {
	lo, hi := entityRange(from, to)
	return r.l.entityIterWindow(lo, hi, window, r.p)
}
