package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
	"unsafe"
)

// Record kinds, the first byte of every log value.
const (
	recordEvent    = 1
	recordSnapshot = 2
)

var errShort = errors.New("value too short")

func putUint64(b []byte, v uint64) { binary.BigEndian.PutUint64(b, v) }

func appendUint64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendTime encodes t as Unix nanoseconds with the sign bit flipped, so that
// the big-endian bytes sort in time order.
func appendTime(b []byte, t time.Time) []byte {
	return appendUint64(b, timeBits(t))
}

func timeBits(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	return uint64(t.UnixNano()) ^ (1 << 63)
}

func bitsTime(v uint64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(v^(1<<63))).UTC()
}

func appendFields(b []byte, fs []Field) []byte {
	b = binary.AppendUvarint(b, uint64(len(fs)))
	for _, f := range fs {
		b = appendString(b, f.Name)
		b = append(b, byte(f.Value.Kind))
		switch f.Value.Kind {
		case KindNumber:
			b = appendUint64(b, math.Float64bits(f.Value.Num))
		case KindString:
			b = appendString(b, f.Value.Str)
		case KindBool:
			if f.Value.Bool {
				b = append(b, 1)
			} else {
				b = append(b, 0)
			}
		}
	}
	return b
}

// decoder reads the encodings above. The first error sticks; later reads
// return zero values.
type decoder struct {
	b   []byte
	err error

	// names, when set, interns the strings that repeat across records
	// (stream, type, field names and string values), so that a scan does
	// not allocate them again for every event.
	names *internTable

	// arena, when set, is a chunk that field slices are cut from, so that a
	// scan allocates fields in blocks rather than one slice per event.
	arena *[]Field

	// scratch holds the fields of the last event of a scan whose projection
	// reuses memory.
	scratch []Field

	// ids is where a scan copies the ids of events.
	ids stringArena
}

// stringArena copies strings into shared chunks, so that a scan allocates
// one chunk for many short strings, such as event ids, rather than one
// each. A chunk's bytes are written once, before any string made of them is
// handed out, and never again, so the strings are as immutable as any; a
// chunk lives as long as one of its strings does.
type stringArena struct {
	buf []byte
}

// copy returns b as a string in the arena.
func (a *stringArena) copy(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if len(b) > 256 {
		return string(b) // too large to share a chunk with others
	}
	if cap(a.buf)-len(a.buf) < len(b) {
		a.buf = make([]byte, 0, 8192)
	}
	start := len(a.buf)
	a.buf = append(a.buf, b...)
	return unsafe.String(&a.buf[start], len(b))
}

// fieldSlice returns a slice of n fields: from the projection's scratch
// space when it reuses memory, else from the arena when there is one.
func (d *decoder) fieldSlice(n int, p *projection) []Field {
	if p != nil && p.reuse {
		if cap(d.scratch) < n {
			d.scratch = make([]Field, n)
		}
		return d.scratch[:n]
	}
	if d.arena == nil || n > 64 {
		return make([]Field, n)
	}
	a := *d.arena
	if cap(a)-len(a) < n {
		// Chunks grow with use, so a short scan stays small.
		a = make([]Field, 0, max(min(2*cap(a), 4096), 16, n))
	}
	fs := a[len(a) : len(a)+n : len(a)+n]
	*d.arena = a[:len(a)+n]
	return fs
}

// name reads a string that is likely to repeat, interning it when the
// decoder has an intern table.
func (d *decoder) name(what string) string {
	return d.intern(d.bytes(what))
}

// intern returns b as a string, the one the decoder's intern table holds
// when it holds b, else a copy that takes b's place in the table. A
// decoder without a table copies b.
func (d *decoder) intern(b []byte) string {
	if d.names == nil {
		return string(b)
	}
	h := uint32(len(b))
	for _, c := range b {
		h = h*31 + uint32(c)
	}
	slot := &d.names[h%uint32(len(d.names))]
	if *slot == string(b) {
		return *slot
	}
	*slot = string(b)
	return *slot
}

// bytes reads a length-prefixed string without copying it: the bytes are
// valid as long as the decoded value is.
func (d *decoder) bytes(what string) []byte {
	n := d.uvarint(what)
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail(what)
		return nil
	}
	b := d.b[:n:n]
	d.b = d.b[n:]
	return b
}

// internTable is a direct-mapped cache of decoded strings, by a hash of
// their bytes: a hit costs a multiply per byte and a comparison, and a
// string that loses its place to another is only allocated again.
type internTable [1024]string

// fail records that the value ended too soon, unless an error is recorded
// already, and empties d.b, so that later fixed-size reads fail too without
// checking d.err. badKind empties d.b as well; an error set directly, such
// as that of trailing bytes, does not.
func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("decode %s: %w", what, errShort)
	}
	d.b = nil
}

func (d *decoder) byte1(what string) byte {
	b := d.b
	if len(b) < 1 {
		d.fail(what)
		return 0
	}
	d.b = b[1:]
	return b[0]
}

func (d *decoder) uint64(what string) uint64 {
	b := d.b
	if len(b) < 8 {
		d.fail(what)
		return 0
	}
	d.b = b[8:]
	return binary.BigEndian.Uint64(b)
}

// uvarint reads a uvarint; most are one byte, read here without a call.
func (d *decoder) uvarint(what string) uint64 {
	if b := d.b; len(b) > 0 && b[0] < 0x80 {
		d.b = b[1:]
		return uint64(b[0])
	}
	return d.uvarintSlow(what)
}

func (d *decoder) uvarintSlow(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// string reads a length-prefixed string, copied.
func (d *decoder) string(what string) string { return string(d.bytes(what)) }

func (d *decoder) time(what string) time.Time { return bitsTime(d.uint64(what)) }

func (d *decoder) fields(what string) []Field {
	return d.projectFields(what, nil)
}

// projectFields reads a list of fields: all of them when p is nil or
// wants every field, else exactly p's fields in p's order, each holding the
// first stored field of its name or null, the values of the others skipped
// unread.
func (d *decoder) projectFields(what string, p *projection) []Field {
	n := d.uvarint(what)
	if d.err != nil || n > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	if p != nil && !p.allFields {
		return d.denseFields(what, int(n), p)
	}
	if n == 0 {
		return nil
	}
	fs := d.fieldSlice(int(n), p)
	for i := range fs {
		f := &fs[i]
		f.Name = d.name(what)
		d.valueInto(what, &f.Value)
	}
	if d.err != nil {
		return nil
	}
	return fs
}

// denseFields reads n stored fields into p's fields, in p's order.
func (d *decoder) denseFields(what string, n int, p *projection) []Field {
	if len(p.fields) == 0 {
		for range n {
			d.bytes(what)
			d.skipValue(what)
		}
		return nil
	}
	fs := d.nullFields(p)
	var set uint64 // see claim
	for range n {
		j := p.field(d.bytes(what))
		if !claim(&set, j) {
			d.skipValue(what)
			continue
		}
		d.valueInto(what, &fs[j].Value)
	}
	if d.err != nil {
		return nil
	}
	return fs
}

// valueInto reads a field's value into v.
func (d *decoder) valueInto(what string, v *Value) {
	k := Kind(d.byte1(what))
	v.Kind = k
	switch k {
	case KindNull:
	case KindNumber:
		v.Num = math.Float64frombits(d.uint64(what))
	case KindString:
		v.Str = d.name(what)
	case KindBool:
		v.Bool = d.byte1(what) == 1
	default:
		d.badKind(what, k)
	}
}

// skipValue moves past a field's value without reading it.
func (d *decoder) skipValue(what string) {
	k := Kind(d.byte1(what))
	switch k {
	case KindNull:
	case KindNumber:
		d.uint64(what)
	case KindString:
		d.bytes(what)
	case KindBool:
		d.byte1(what)
	default:
		d.badKind(what, k)
	}
}

func (d *decoder) badKind(what string, k Kind) {
	if d.err == nil {
		d.err = fmt.Errorf("decode %s: unknown value kind %d", what, k)
	}
	d.b = nil
}

// rest returns the remaining bytes, copied.
func (d *decoder) rest() []byte {
	if d.err != nil {
		return nil
	}
	out := make([]byte, len(d.b))
	copy(out, d.b)
	d.b = nil
	return out
}

// appendEventValue encodes the log value of an event:
//
//	kind(1) hash(8) time(8) arrival(8) brokerSeq(uvarint) stream id entity
//	type fields payload(rest)
func appendEventValue(b []byte, e *Event) []byte {
	b = append(b, recordEvent)
	b = appendUint64(b, e.Hash)
	b = appendTime(b, e.Time)
	b = appendTime(b, e.Arrival)
	b = binary.AppendUvarint(b, e.BrokerSeq)
	b = appendString(b, e.Stream)
	b = appendString(b, e.ID)
	b = appendString(b, e.Entity)
	b = appendString(b, e.Type)
	b = appendFields(b, e.Fields)
	return append(b, e.Payload...)
}

func decodeEventBody(d *decoder) Event {
	var e Event
	e.Hash = d.uint64("event hash")
	e.Time = d.time("event time")
	e.Arrival = d.time("event arrival")
	e.BrokerSeq = d.uvarint("event broker sequence")
	e.Stream = d.string("event stream")
	e.ID = d.string("event id")
	e.Entity = d.string("event entity")
	e.Type = d.string("event type")
	e.Fields = d.fields("event fields")
	e.Payload = d.rest()
	return e
}

// appendSnapshotValue encodes the log value of a snapshot:
//
//	kind(1) hash(8) time(8) arrival(8) brokerSeq(uvarint) stream id
//	requestID model modelVersion specVersion entity vectorHash(8)
//	inputCount(uvarint) inputDigest(8) watermark(uvarint) score(8)
//	decision(1) vector payload(rest)
//
// With payload false it stops before the payload: the snapshot index holds
// that form.
func appendSnapshotValue(b []byte, s *Snapshot, payload bool) []byte {
	b = append(b, recordSnapshot)
	b = appendUint64(b, s.Hash)
	b = appendTime(b, s.Time)
	b = appendTime(b, s.Arrival)
	b = binary.AppendUvarint(b, s.BrokerSeq)
	b = appendString(b, s.Stream)
	b = appendString(b, s.ID)
	b = appendString(b, s.RequestID)
	b = appendString(b, s.Model)
	b = appendString(b, s.ModelVersion)
	b = appendString(b, s.SpecVersion)
	b = appendString(b, s.Entity)
	b = appendUint64(b, s.VectorHash)
	b = binary.AppendUvarint(b, s.InputCount)
	b = appendUint64(b, s.InputDigest)
	b = binary.AppendUvarint(b, s.Watermark)
	b = appendUint64(b, math.Float64bits(s.Score))
	if s.Decision {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = appendFields(b, s.Vector)
	if payload {
		b = append(b, s.Payload...)
	}
	return b
}

func decodeSnapshotBody(d *decoder) Snapshot {
	var s Snapshot
	s.Hash = d.uint64("snapshot hash")
	s.Time = d.time("snapshot time")
	s.Arrival = d.time("snapshot arrival")
	s.BrokerSeq = d.uvarint("snapshot broker sequence")
	s.Stream = d.name("snapshot stream")
	s.ID = d.string("snapshot id")
	s.RequestID = d.string("snapshot request id")
	s.Model = d.name("snapshot model")
	s.ModelVersion = d.name("snapshot model version")
	s.SpecVersion = d.name("snapshot spec version")
	s.Entity = d.string("snapshot entity")
	s.VectorHash = d.uint64("snapshot vector hash")
	s.InputCount = d.uvarint("snapshot input count")
	s.InputDigest = d.uint64("snapshot input digest")
	s.Watermark = d.uvarint("snapshot watermark")
	s.Score = math.Float64frombits(d.uint64("snapshot score"))
	s.Decision = d.byte1("snapshot decision") == 1
	s.Vector = d.fields("snapshot vector")
	s.Payload = d.rest()
	return s
}

// Record is one entry of the log: an event or a snapshot.
type Record struct {
	Seq      uint64
	Event    *Event    // set when the record is an event
	Snapshot *Snapshot // set when the record is a snapshot
}

// decodeRecord decodes a log value.
func decodeRecord(seq uint64, v []byte) (Record, error) {
	return decodeRecordWith(&decoder{}, seq, v)
}

// decodeRecordWith decodes a log value with d, whose intern table and
// arena, when set, a scan reuses from record to record.
func decodeRecordWith(d *decoder, seq uint64, v []byte) (Record, error) {
	d.b, d.err = v, nil
	r := Record{Seq: seq}
	switch kind := d.byte1("record kind"); kind {
	case recordEvent:
		e := decodeEventBody(d)
		r.Event = &e
	case recordSnapshot:
		s := decodeSnapshotBody(d)
		r.Snapshot = &s
	default:
		if d.err == nil {
			return r, fmt.Errorf("decode record: unknown kind %d", kind)
		}
	}
	return r, d.err
}

// appendEntityValue encodes the value of an entity index entry: everything
// replay needs without reading the log.
//
//	hash(8) arrival(8) brokerSeq(uvarint) stream id type fields
func appendEntityValue(b []byte, e *Event) []byte {
	b = appendUint64(b, e.Hash)
	b = appendTime(b, e.Arrival)
	b = binary.AppendUvarint(b, e.BrokerSeq)
	b = appendString(b, e.Stream)
	b = appendString(b, e.ID)
	b = appendString(b, e.Type)
	return appendFields(b, e.Fields)
}
