package ledger

import (
	"cmp"
	"errors"
	"fmt"
	"iter"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// Counts returns the running totals of stored and skipped records.
func (l *Ledger) Counts() Counts {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.counts
}

// LastSeq returns the highest ledger sequence stored, 0 for an empty ledger.
func (l *Ledger) LastSeq() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeq
}

// Checkpoint returns the last broker sequence applied from stream, 0 when
// none was.
func (l *Ledger) Checkpoint(stream string) (uint64, error) {
	if err := l.acquire(); err != nil {
		return 0, err
	}
	defer l.release()
	seq, err := l.checkpointLocked(stream)
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	return seq, err
}

// checkpointLocked reads a checkpoint; the caller holds acquire.
func (l *Ledger) checkpointLocked(stream string) (uint64, error) {
	v, err := l.getSealed(checkpointKey(stream))
	if err != nil {
		return 0, err
	}
	d := &decoder{b: v}
	seq := d.uint64("checkpoint")
	return seq, d.err
}

// Checkpoints returns every stream's checkpoint.
func (l *Ledger) Checkpoints() (map[string]uint64, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	defer l.release()
	out := make(map[string]uint64)
	err := l.scan([]byte{prefixCheckpoint}, func(k, v []byte) error {
		body, ok := unseal(k, v)
		if !ok || len(body) != 8 {
			return &CorruptionError{Kind: "checksum", Key: clone(k),
				Msg: "checkpoint does not match its checksum"}
		}
		out[string(k[1:])] = uint64FromKey(append([]byte{0}, body...))
		return nil
	})
	return out, err
}

// Coverage returns the broker sequences of stream that the ledger has
// accounted for, as sorted, merged, inclusive ranges. With stream "" it
// returns the ranges of every stream.
func (l *Ledger) Coverage(stream string) ([]SeqRange, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	defer l.release()
	var out []SeqRange
	err := l.eachCoverage(stream, func(r SeqRange) error {
		n := len(out)
		if n > 0 && out[n-1].Stream == r.Stream && r.First <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			return nil
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

// Gaps returns the broker sequences of stream (every stream with "")
// missing between its covered ranges that the broker did not delete:
// messages the broker stored that never reached the ledger.
func (l *Ledger) Gaps(stream string) ([]SeqRange, error) {
	cov, err := l.Coverage(stream)
	if err != nil {
		return nil, err
	}
	del, err := l.Deleted(stream)
	if err != nil {
		return nil, err
	}
	// Deleted sequences count as accounted for.
	all := mergeRanges(append(cov, del...))
	var gaps []SeqRange
	for i := 1; i < len(all); i++ {
		if all[i].Stream == all[i-1].Stream && all[i].First > all[i-1].Last+1 {
			gaps = append(gaps, SeqRange{all[i].Stream, all[i-1].Last + 1, all[i].First - 1})
		}
	}
	return gaps, nil
}

// Deleted returns the broker sequences of stream (every stream with "")
// that the broker had deleted before the ledger read them, sorted and
// merged.
func (l *Ledger) Deleted(stream string) ([]SeqRange, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	defer l.release()
	var out []SeqRange
	err := l.eachRange(prefixDeleted, stream, func(r SeqRange) error {
		out = append(out, r)
		return nil
	})
	return mergeRanges(out), err
}

// mergeRanges sorts ranges by stream and first sequence and merges those
// that overlap or touch.
func mergeRanges(rs []SeqRange) []SeqRange {
	slices.SortFunc(rs, func(a, b SeqRange) int {
		return cmp.Or(cmp.Compare(a.Stream, b.Stream), cmp.Compare(a.First, b.First))
	})
	var out []SeqRange
	for _, r := range rs {
		n := len(out)
		if n > 0 && out[n-1].Stream == r.Stream && r.First <= out[n-1].Last+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return out
}

// eachCoverage calls fn for each stored range of stream (all streams when
// ""), in key order.
func (l *Ledger) eachCoverage(stream string, fn func(SeqRange) error) error {
	return l.eachRange(prefixCoverage, stream, fn)
}

// eachRange calls fn for each range stored under the family (coverage or
// deleted) for stream (all streams when ""), in key order.
func (l *Ledger) eachRange(family byte, stream string, fn func(SeqRange) error) error {
	prefix := []byte{family}
	if stream != "" {
		prefix = appendPrefixed(nil, family, stream)
	}
	return l.scan(prefix, func(k, v []byte) error {
		body, ok := unseal(k, v)
		d := &decoder{b: k[1:]}
		s := d.string("coverage stream")
		first := d.uint64("coverage first")
		if !ok || len(body) != 8 || d.err != nil || len(d.b) != 0 {
			return &CorruptionError{Kind: "checksum", Key: clone(k),
				Msg: "sequence range is damaged"}
		}
		return fn(SeqRange{Stream: s, First: first, Last: uint64FromKey(append([]byte{0},
			body...))})
	})
}

// scan calls fn for every key with prefix, in order. k and v are valid only
// during the call.
func (l *Ledger) scan(prefix []byte, fn func(k, v []byte) error) error {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upperBound(prefix)})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			_ = it.Close()
			return err
		}
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return err
	}
	return it.Close()
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

// scanDecoders keeps the decoders of finished scans, so that a scan starts
// with the strings earlier scans interned (types, streams, field names and
// common values) instead of allocating them again: a point replay is a
// short scan, and most of its strings repeat from one to the next. The
// interned strings are immutable and safe to share, and so are the ids
// cut from the decoder's chunks, whose bytes are never written twice; the
// field arena is not, and each scan gets a new one. Nor is the scratch that
// a projection with Reuse decodes fields into, which the next such scan with
// the decoder overwrites: those fields last only as long as their scan.
var scanDecoders = sync.Pool{New: func() any {
	return &decoder{names: new(internTable)}
}}

func scanDecoder() *decoder {
	d := scanDecoders.Get().(*decoder)
	d.arena = new([]Field)
	return d
}

func putScanDecoder(d *decoder) {
	d.b, d.err, d.arena = nil, nil, nil
	scanDecoders.Put(d)
}

// Log iterates the log in sequence order, starting at sequence from.
func (l *Ledger) Log(from uint64) iter.Seq2[Record, error] {
	return func(yield func(Record, error) bool) {
		lo := logKey(from)
		l.iterate(lo, []byte{prefixLog + 1}, func(k, v []byte) (bool, error) {
			if len(k) != 9 {
				return false, &CorruptionError{Kind: "key", Key: clone(k), Msg: "malformed log key"}
			}
			seq := uint64FromKey(k)
			r, err := decodeRecord(seq, v)
			if err != nil {
				return false, &CorruptionError{Kind: "decode", Key: clone(k), Seq: seq,
					Msg: err.Error()}
			}
			return yield(r, nil), nil
		}, yield)
	}
}

// iterateWith runs fn over [lo, hi) of the ledger, handing errors to yield
// as the last item.
func iterateWith[T any](l *Ledger, lo, hi []byte, fn func(k, v []byte) (bool, error),
	yield func(T, error) bool) {
	iterateIn(l, nil, lo, hi, fn, yield)
}

// iterateIn is iterateWith through v, or of the ledger itself when v is nil.
func iterateIn[T any](l *Ledger, v *View, lo, hi []byte, fn func(k, v []byte) (bool, error),
	yield func(T, error) bool) {
	var zero T
	it, end, err := l.newIter(v, lo, hi)
	if err != nil {
		yield(zero, err)
		return
	}
	defer end()
	for ok := it.First(); ok; ok = it.Next() {
		more, err := fn(it.Key(), it.Value())
		if err != nil {
			yield(zero, err)
			return
		}
		if !more {
			return
		}
	}
	if err := it.Error(); err != nil {
		yield(zero, fmt.Errorf("ledger: iterate: %w", err))
	}
}

func (l *Ledger) iterate(lo, hi []byte, fn func(k, v []byte) (bool, error),
	yield func(Record, error) bool) {
	iterateWith(l, lo, hi, fn, yield)
}

// EntityEvents iterates one entity's events with event time in (after,
// until], ordered by event time, then ledger sequence. A zero after or until
// leaves that side open. The events carry everything but the payload.
func (l *Ledger) EntityEvents(entity string, after, until time.Time) iter.Seq2[Indexed[Event],
	error] {
	return EntityReader{l: l}.Events(entity, after, until)
}

// entityBounds returns the keys that bound entity's events with event time
// in (after, until].
func entityBounds(entity string, after, until time.Time) (lo, hi []byte) {
	prefix := entityPrefix(entity)
	lo, hi = prefix, upperBound(prefix)
	if !after.IsZero() {
		lo = appendUint64(clone(prefix), timeBits(after)+1)
	}
	if !until.IsZero() {
		hi = appendUint64(clone(prefix), timeBits(until)+1)
	}
	return lo, hi
}

// entityRange returns the keys that bound the entities in [from, to), ""
// leaving a side open.
func entityRange(from, to string) (lo, hi []byte) {
	lo, hi = []byte{prefixEntity}, []byte{prefixEntity + 1}
	if from != "" {
		lo = entityPrefix(from)
	}
	if to != "" {
		hi = entityPrefix(to)
	}
	return lo, hi
}

// AllEntityEvents iterates the whole entity index: entity after entity, each
// one's events ordered by event time. Sweeps over every entity use it.
func (l *Ledger) AllEntityEvents() iter.Seq2[Indexed[Event], error] {
	return EntityReader{l: l}.EventsIn("", "")
}

// Span is an interval of event time, (After, Until]; a zero bound leaves
// that side open.
type Span struct {
	After, Until time.Time
}

// EntityWindow tells a filtered scan of the entity index which events of
// entity it wants: those with event time in one of the spans it returns,
// which must be sorted and disjoint. With no spans it wants none of them.
// The scan reads the slice until it asks about the next entity, so the
// window may reuse it then.
type EntityWindow func(entity string) []Span

// EntityEventsInWindow is EntityEventsIn that hands over only the events
// window wants, and skips the others without decoding them. window is
// called once per entity, when the scan reaches it.
func (l *Ledger) EntityEventsInWindow(from, to string,
	window EntityWindow) iter.Seq2[Indexed[Event], error] {
	return EntityReader{l: l}.EventsInWindow(from, to, window)
}

// spanFilter walks one entity's spans as the scan's event times rise.
// Bounds are compared as the keys store times, without decoding them.
type spanFilter struct {
	spans    []Span
	i        int    // the first span that does not end before the last time seen
	from, to uint64 // spans[i] in key bits, both included
}

func (f *spanFilter) reset(spans []Span) {
	f.spans, f.i = spans, -1
	f.next()
}

// next moves to the following span that can hold a stored time.
func (f *spanFilter) next() {
	for f.i++; f.i < len(f.spans); f.i++ {
		s := f.spans[f.i]
		f.from, f.to = 0, math.MaxUint64
		if !s.After.IsZero() && !s.After.Before(minKeyTime) {
			if !s.After.Before(maxKeyTime) {
				continue // nothing stored is later
			}
			f.from = timeBits(s.After) + 1
		}
		if !s.Until.IsZero() && s.Until.Before(maxKeyTime) {
			if s.Until.Before(minKeyTime) {
				continue // nothing stored is earlier
			}
			f.to = timeBits(s.Until)
		}
		if f.from <= f.to {
			return
		}
	}
}

// wants reports whether an event whose key holds time bits t is in a span;
// t must not fall between calls.
func (f *spanFilter) wants(t uint64) bool {
	for f.i < len(f.spans) && t > f.to {
		f.next()
	}
	return f.i < len(f.spans) && t >= f.from
}

// Stored times are those Unix nanoseconds can hold.
var (
	minKeyTime = time.Unix(0, math.MinInt64)
	maxKeyTime = time.Unix(0, math.MaxInt64)
)

// entityIterWindow iterates the entity index in [lo, hi), skipping the
// entries window (when not nil) does not want, and decoding what p (when
// not nil) asks for.
func (l *Ledger) entityIterWindow(view *View, lo, hi []byte, window EntityWindow,
	p *projection) iter.Seq2[Indexed[Event], error] {
	return func(yield func(Indexed[Event], error) bool) {
		d := scanDecoder()
		defer putScanDecoder(d)
		var entity string     // the previous key's entity, reused while it repeats
		var ie Indexed[Event] // the entry being decoded
		var (
			wanted string // the entity window was last asked about
			filter spanFilter
		)
		iterateIn(l, view, lo, hi, func(k, v []byte) (bool, error) {
			if window != nil {
				// A malformed key is left to decodeEntityEntry to report.
				if name, t, ok := splitKeyBits(k); ok {
					if string(name) != wanted || wanted == "" {
						wanted = string(name)
						entity = wanted // decodeEntityEntry reuses it
						filter.reset(window(wanted))
					}
					if !filter.wants(t) {
						return true, nil
					}
				}
			}
			ok, err := decodeEntityEntry(k, v, d, &entity, p, &ie)
			if err != nil || !ok {
				return err == nil, err
			}
			return yield(ie, nil), nil
		}, yield)
	}
}

// decodeEntityEntry rebuilds an event, less its payload, from an entity
// index entry into ie, as much of it as p asks for (all of it when p is
// nil). It returns false for an entry of a type p does not want. With p, ie
// is not cleared between entries: it must be zero when a scan starts and
// serve that scan only.
//
// prev holds the entity of the previous entry; it is reused when the entity
// repeats and replaced when it changes.
func decodeEntityEntry(k, v []byte, d *decoder, prev *string, p *projection,
	ie *Indexed[Event]) (bool, error) {
	eb, t, seq, ok := splitKeyTimeSeq(k)
	if !ok {
		return false, entityKeyError(k)
	}
	if string(eb) != *prev {
		*prev = string(eb)
	}
	ie.Seq = seq
	if p != nil {
		// The one-pass decoder sets all of the event but its entity and
		// time, set here, its payload and, when p does not ask for it, its
		// stream. No decoding through p sets those last two, so they stay
		// empty; setting two fields is cheaper than clearing the event.
		r := &ie.Record
		r.Entity, r.Time = *prev, t
		if keep, done := decodeProjected(v, p, d, r); done {
			return keep, nil
		}
	}
	ie.Record = Event{Entity: *prev, Time: t}
	keep, err := decodeEntityValue(v, d, &ie.Record, p)
	if err != nil {
		return false, entityValueError(k, seq, err)
	}
	return keep, nil
}

// entityKeyError reports the malformed entity index key k.
func entityKeyError(k []byte) error {
	return &CorruptionError{Kind: "key", Key: clone(k), Msg: "malformed entity index key"}
}

// entityValueError reports that the entity index value under k, of the
// record at ledger sequence seq, failed to decode with err.
func entityValueError(k []byte, seq uint64, err error) error {
	return &CorruptionError{Kind: "decode", Key: clone(k), Seq: seq,
		Msg: "entity index value: " + err.Error()}
}

// decodeEntityValue reads an entity index value into e, as much of it as p
// asks for (all of it when p is nil), and reports false for an entry of a
// type p does not want.
func decodeEntityValue(v []byte, d *decoder, e *Event, p *projection) (bool, error) {
	d.b, d.err = v, nil
	e.Hash = d.uint64("hash")
	e.Arrival = d.time("arrival")
	e.BrokerSeq = d.uvarint("broker sequence")
	if p == nil || p.stream {
		e.Stream = d.name("stream")
	} else {
		d.bytes("stream")
	}
	id := d.bytes("id")
	typ := d.bytes("type")
	if p == nil || len(p.types) == 0 {
		e.Type = d.intern(typ)
	} else if t, ok := p.typ(typ); !ok && d.err == nil {
		return false, nil
	} else {
		e.Type = t
	}
	e.ID = d.ids.copy(id)
	e.Fields = d.projectFields("fields", p)
	if d.err == nil && len(d.b) != 0 {
		d.err = errors.New("trailing bytes")
	}
	return d.err == nil, d.err
}

// Snapshots iterates the snapshots of model with request time in [from, to),
// ordered by time. A zero from or to leaves that side open; model "" means
// every model, model after model. Snapshots carry everything but the
// payload.
func (l *Ledger) Snapshots(model string, from, to time.Time) iter.Seq2[Indexed[Snapshot], error] {
	prefix := []byte{prefixSnapModel}
	if model != "" {
		prefix = snapModelPrefix(model)
	}
	lo, hi := prefix, upperBound(prefix)
	if model != "" && !from.IsZero() {
		lo = appendTime(clone(prefix), from)
	}
	if model != "" && !to.IsZero() {
		hi = appendTime(clone(prefix), to)
	}
	return func(yield func(Indexed[Snapshot], error) bool) {
		d := scanDecoder()
		defer putScanDecoder(d)
		iterateWith(l, lo, hi, func(k, v []byte) (bool, error) {
			_, t, seq, ok := splitTimeSeq(k)
			if !ok {
				return false, &CorruptionError{Kind: "key", Key: clone(k),
					Msg: "malformed snapshot index key"}
			}
			if (!from.IsZero() && t.Before(from)) || (!to.IsZero() && !t.Before(to)) {
				return true, nil
			}
			r, err := decodeRecordWith(d, seq, v)
			if err != nil || r.Snapshot == nil {
				return false, &CorruptionError{Kind: "decode", Key: clone(k), Seq: seq,
					Msg: fmt.Sprintf("snapshot index value: %v", err)}
			}
			return yield(Indexed[Snapshot]{Seq: seq, Record: *r.Snapshot}, nil), nil
		}, yield)
	}
}

// Record returns the log record stored under seq.
func (l *Ledger) Record(seq uint64) (Record, error) {
	if err := l.acquire(); err != nil {
		return Record{}, err
	}
	defer l.release()
	return l.recordLocked(seq)
}

func (l *Ledger) recordLocked(seq uint64) (Record, error) {
	k := logKey(seq)
	v, closer, err := l.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return Record{}, fmt.Errorf("ledger: sequence %d: %w", seq, ErrNotFound)
	}
	if err != nil {
		return Record{}, err
	}
	defer closer.Close()
	r, err := decodeRecord(seq, v)
	if err != nil {
		return r, &CorruptionError{Kind: "decode", Key: k, Seq: seq, Msg: err.Error()}
	}
	return r, nil
}

// lookup follows an index that maps a key to a ledger sequence.
func (l *Ledger) lookup(k []byte) (Record, error) {
	if err := l.acquire(); err != nil {
		return Record{}, err
	}
	defer l.release()
	v, closer, err := l.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return Record{}, ErrNotFound
	}
	if err != nil {
		return Record{}, err
	}
	if len(v) != 8 {
		_ = closer.Close()
		return Record{}, &CorruptionError{Kind: "decode", Key: clone(k),
			Msg: "index value is not a sequence"}
	}
	seq := uint64FromKey(append([]byte{0}, v...))
	_ = closer.Close()
	return l.recordLocked(seq)
}

// Event returns the event stored under id.
func (l *Ledger) Event(id string) (Indexed[Event], error) {
	return l.eventByKey(&Event{ID: id}, "id "+id)
}

// EventByHash returns the event without id stored under content hash h.
func (l *Ledger) EventByHash(h uint64) (Indexed[Event], error) {
	return l.eventByKey(&Event{Hash: h}, fmt.Sprintf("hash %016x", h))
}

func (l *Ledger) eventByKey(e *Event, what string) (Indexed[Event], error) {
	r, err := l.lookup(dedupKey(e))
	if err != nil {
		return Indexed[Event]{}, fmt.Errorf("ledger: event %s: %w", what, err)
	}
	if r.Event == nil {
		return Indexed[Event]{}, &CorruptionError{Kind: "index", Key: dedupKey(e), Seq: r.Seq,
			Msg: "dedup index points at a snapshot"}
	}
	return Indexed[Event]{Seq: r.Seq, Record: *r.Event}, nil
}

// Snapshot returns the snapshot stored under id.
func (l *Ledger) Snapshot(id string) (Indexed[Snapshot], error) {
	r, err := l.lookup(snapIDKey(id))
	if err != nil {
		return Indexed[Snapshot]{}, fmt.Errorf("ledger: snapshot %s: %w", id, err)
	}
	if r.Snapshot == nil {
		return Indexed[Snapshot]{}, &CorruptionError{Kind: "index", Key: snapIDKey(id), Seq: r.Seq,
			Msg: "snapshot id index points at an event"}
	}
	return Indexed[Snapshot]{Seq: r.Seq, Record: *r.Snapshot}, nil
}
