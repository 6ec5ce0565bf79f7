package ledger

import (
	"encoding/binary"
	"iter"
	"math"
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
	// scan yields the next one or ends, as a later scan may decode into the
	// same memory. For readers that copy what they keep.
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
	if i := p.typIndex(b); i >= 0 {
		return p.types[i], true
	}
	return "", false
}

// typIndex returns the index in p.types of the type spelled b, or -1.
func (p *projection) typIndex(b []byte) int { return indexOf(p.types, b) }

// field returns the index in p.fields of the name spelled b, or -1.
func (p *projection) field(b []byte) int { return indexOf(p.fields, b) }

// indexOf returns the index of the first of names spelled b, or -1.
func indexOf(names []string, b []byte) int {
	for i, name := range names {
		if string(b) == name {
			return i
		}
	}
	return -1
}

// nullFields returns p's fields, in p's order, all null, for a projected
// decoder to fill.
func (d *decoder) nullFields(p *projection) []Field {
	fs := d.fieldSlice(len(p.fields), p)
	for j, name := range p.fields {
		fs[j] = Field{Name: name}
	}
	return fs
}

// claim reports whether a stored field that is p.fields[j] (j -1 for none
// of them) is the one to keep, and marks it kept: the first of its name
// wins. set records the first 64 fields kept; beyond those every field is
// kept and a later one overwrites.
func claim(set *uint64, j int) bool {
	switch {
	case j < 0:
		return false
	case j >= 64:
		return true
	case *set&(1<<j) != 0:
		return false
	}
	*set |= 1 << j
	return true
}

// EntityReader reads the entity index through a projection. It is safe
// for concurrent use, like the ledger. The Ledger's own entity scans are
// those of a reader without a projection, which decodes everything.
type EntityReader struct {
	l *Ledger
	p *projection // nil: everything
	v *View       // nil: the ledger as it is at each scan
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
	return r.l.entityIterWindow(r.v, lo, hi, nil, r.p)
}

// EventsIn is Ledger.EntityEventsIn through the reader's projection.
func (r EntityReader) EventsIn(from, to string) iter.Seq2[Indexed[Event], error] {
	return r.EventsInWindow(from, to, nil)
}

// EventsInWindow is Ledger.EntityEventsInWindow through the reader's
// projection.
func (r EntityReader) EventsInWindow(from, to string,
	window EntityWindow) iter.Seq2[Indexed[Event], error] {
	lo, hi := entityRange(from, to)
	return r.l.entityIterWindow(r.v, lo, hi, window, r.p)
}

// cutShort cuts a string of a one-byte length off the front of b, when ok
// and there is one, and reports whether there was.
func cutShort(b []byte, ok bool) (rest, s []byte, _ bool) {
	if !ok || len(b) == 0 || b[0] >= 0x80 || int(b[0]) >= len(b) {
		return b, nil, false
	}
	return b[1+b[0]:], b[1 : 1+b[0]], true
}

// shortHead is the start of an entity index value in the short form that
// the one-pass decoders read, where every string length and the field
// count fit in one byte.
type shortHead struct {
	brokerSeq       uint64
	stream, id, typ []byte
	count           int    // the number of fields
	fields          []byte // the fields, after their count
}

// cutShortHead parses the start of v into h, and reports whether v starts
// in the short form.
func cutShortHead(v []byte, h *shortHead) bool {
	if len(v) < 17 {
		return false
	}
	seq, n := binary.Uvarint(v[16:])
	if n <= 0 {
		return false
	}
	b := v[16+n:]
	ok := true
	b, h.stream, ok = cutShort(b, ok)
	b, h.id, ok = cutShort(b, ok)
	b, h.typ, ok = cutShort(b, ok)
	if !ok || len(b) == 0 || b[0] >= 0x80 {
		return false
	}
	h.brokerSeq, h.count, h.fields = seq, int(b[0]), b[1:]
	return true
}

// decodeProjected is the common case of decodeEntityValue for a projected
// scan, in one pass over the value with few calls: every string length and
// the field count fit in one byte, and every value kind is known. For
// anything else it reports done false, and decodeEntityValue, which sets
// everything again, reads the value and reports any damage. keep is false
// for an entry of a type p does not want.
func decodeProjected(v []byte, p *projection, d *decoder, e *Event) (keep, done bool) {
	var h shortHead
	if p.allFields || !cutShortHead(v, &h) {
		return false, false
	}
	if len(p.types) == 0 {
		e.Type = d.intern(h.typ)
	} else if e.Type, keep = p.typ(h.typ); !keep {
		return false, true
	}
	b := h.fields
	var fs []Field
	if len(p.fields) > 0 {
		fs = d.nullFields(p)
	}
	var set uint64 // see claim
	var ok bool
	for range h.count {
		var name []byte
		if b, name, ok = cutShort(b, true); !ok || len(b) == 0 {
			return false, false
		}
		// Whether the field is kept is settled before its value is read, so
		// that the string value of a field not kept is passed over unread.
		j := p.field(name)
		kept := claim(&set, j)
		val := Value{Kind: Kind(b[0])}
		b = b[1:]
		switch val.Kind {
		case KindNull:
		case KindNumber:
			if len(b) < 8 {
				return false, false
			}
			val.Num = math.Float64frombits(binary.BigEndian.Uint64(b))
			b = b[8:]
		case KindString:
			var s []byte
			if b, s, ok = cutShort(b, true); !ok {
				return false, false
			}
			if kept {
				val.Str = d.intern(s)
			}
		case KindBool:
			if len(b) == 0 {
				return false, false
			}
			val.Bool = b[0] == 1
			b = b[1:]
		default:
			return false, false
		}
		if kept {
			fs[j].Value = val
		}
	}
	if len(b) != 0 {
		return false, false // trailing bytes, which decodeEntityValue reports
	}
	e.Hash = binary.BigEndian.Uint64(v)
	e.Arrival = bitsTime(binary.BigEndian.Uint64(v[8:]))
	e.BrokerSeq = h.brokerSeq
	if p.stream {
		e.Stream = d.intern(h.stream)
	}
	e.ID = d.ids.copy(h.id)
	e.Fields = fs
	return true, true
}
