package ledger

import (
	"encoding/binary"
	"errors"
	"iter"
	"math"
	"time"
)

// Brief is what a brief scan reads of an entity event: enough to place it,
// filter it by arrival or broker sequence, count it in an input set and
// tell which of the projection's fields it holds, without its id, its
// field values or the strings it holds.
type Brief struct {
	Seq       uint64 // ledger sequence
	Time      int64  // event time, Unix nanoseconds
	Arrival   int64  // arrival time, Unix nanoseconds
	BrokerSeq uint64 // broker stream sequence
	Hash      uint64 // content hash
	Type      int    // the index of the event's type in the projection's Types

	// Bit j of Set is whether the projection's field j is present and not
	// null; of Number, whether it holds a number; of Finite, whether it
	// holds a finite number. Fields from the 65th on have no bits.
	Set, Number, Finite uint64
}

// errBriefProjection refuses a brief scan through a projection that does
// not name its types and fields.
var errBriefProjection = errors.New(
	"ledger: a brief scan needs a projection naming its types and at most 64 fields")

// Briefs iterates, briefly, over the events of entity with event time in
// (after, until], in the entity index's order: event time, then ledger
// sequence. A zero after or until leaves that side open. The reader's
// projection must name its types and at most 64 fields; events of other
// types are skipped. The yielded Brief is reused for the next event.
func (r EntityReader) Briefs(entity string, after, until time.Time) iter.Seq2[*Brief, error] {
	lo, hi := entityBounds(entity, after, until)
	p := r.p
	return func(yield func(*Brief, error) bool) {
		if p == nil || len(p.types) == 0 || p.allFields || len(p.fields) > 64 {
			yield(nil, errBriefProjection)
			return
		}
		d := scanDecoder()
		defer putScanDecoder(d)
		var (
			b Brief
			e Event // the general decoder's event, for uncommon values
		)
		iterateIn(r.l, r.v, lo, hi, func(k, v []byte) (bool, error) {
			_, t, ok := splitKeyBits(k)
			if !ok {
				return false, entityKeyError(k)
			}
			b.Seq = binary.BigEndian.Uint64(k[len(k)-8:])
			b.Time = int64(t ^ 1<<63)
			keep, done := decodeBrief(v, p, &b)
			if !done {
				var err error
				if keep, err = decodeEntityValue(v, d, &e, p); err != nil {
					return false, entityValueError(k, b.Seq, err)
				}
				if keep {
					e.brief(p, &b)
				}
			}
			if !keep {
				return true, nil
			}
			return yield(&b, nil), nil
		}, yield)
	}
}

// decodeBrief is the brief form of decodeProjected: one pass, for values
// whose string lengths and field count fit in one byte and whose kinds are
// known. For anything else it reports done false, for the general decoder.
// keep is false for an entry of a type p does not want.
func decodeBrief(v []byte, p *projection, b *Brief) (keep, done bool) {
	var h shortHead
	if !cutShortHead(v, &h) {
		return false, false
	}
	b.Type = p.typIndex(h.typ)
	if b.Type < 0 {
		return false, true
	}
	rest := h.fields
	var set, number, finite, claimed uint64
	var ok bool
	for range h.count {
		var name []byte
		if rest, name, ok = cutShort(rest, true); !ok || len(rest) == 0 {
			return false, false
		}
		kind := Kind(rest[0])
		rest = rest[1:]
		var bits uint64 // what the value sets: 1 set, 2 number, 4 finite
		switch kind {
		case KindNull:
		case KindNumber:
			if len(rest) < 8 {
				return false, false
			}
			bits = 3
			if f := math.Float64frombits(binary.BigEndian.Uint64(rest)); f-f == 0 {
				bits = 7
			}
			rest = rest[8:]
		case KindString:
			if rest, _, ok = cutShort(rest, true); !ok {
				return false, false
			}
			bits = 1
		case KindBool:
			if len(rest) == 0 {
				return false, false
			}
			bits = 1
			rest = rest[1:]
		default:
			return false, false
		}
		if j := p.field(name); claim(&claimed, j) {
			set |= (bits & 1) << j
			number |= (bits >> 1 & 1) << j
			finite |= (bits >> 2 & 1) << j
		}
	}
	if len(rest) != 0 {
		return false, false // trailing bytes, which the general decoder reports
	}
	b.Hash = binary.BigEndian.Uint64(v)
	b.Arrival = int64(binary.BigEndian.Uint64(v[8:]) ^ 1<<63)
	b.BrokerSeq = h.brokerSeq
	b.Set, b.Number, b.Finite = set, number, finite
	return true, true
}

// brief fills b's value-derived parts from e, an event decoded through p,
// as decodeBrief would.
func (e *Event) brief(p *projection, b *Brief) {
	b.Type = p.typIndex([]byte(e.Type))
	b.Hash, b.BrokerSeq = e.Hash, e.BrokerSeq
	b.Arrival = int64(timeBits(e.Arrival) ^ 1<<63)
	b.Set, b.Number, b.Finite = 0, 0, 0
	for j, f := range e.Fields {
		if j >= 64 {
			break
		}
		switch f.Value.Kind {
		case KindNull:
			continue
		case KindNumber:
			b.Number |= 1 << j
			if f.Value.Num-f.Value.Num == 0 {
				b.Finite |= 1 << j
			}
		}
		b.Set |= 1 << j
	}
}
