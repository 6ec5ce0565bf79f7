package ledger

import (
	"math"
	"time"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// Kind tells the type of a field's value.
type Kind uint8

// The kinds of field values. An event's fields are scalars only.
const (
	KindNull Kind = iota
	KindNumber
	KindString
	KindBool
)

// Value is one scalar field value: a number, a string, a boolean or null.
type Value struct {
	Kind Kind
	Num  float64
	Str  string
	Bool bool
}

// Field is one named value of an event's fields, or one feature of a
// snapshot's vector.
type Field struct {
	Name  string
	Value Value
}

// Event is one raw fact about one entity, as it arrived from the broker.
//
// Payload holds the bytes exactly as received; Hash is the xxhash64 of
// Payload and is computed by Append when zero. Fields holds the event's
// decoded fields, so that readers need not parse payloads.
type Event struct {
	ID        string    // the publisher's id; empty when it gave none
	Entity    string    // the key features are computed for, never empty
	Type      string    // the event type, such as "payment"
	Time      time.Time // event time, never zero
	Arrival   time.Time // when the broker stored the event
	Stream    string    // broker stream name
	BrokerSeq uint64    // broker stream sequence
	Hash      uint64    // xxhash64 of Payload
	Fields    []Field
	Payload   []byte
}

// Snapshot is the record of one scoring call: the vector the online side
// used, the versions it was computed with and how far the online pipeline
// had read.
type Snapshot struct {
	ID           string    // the snapshot id, unique, never empty
	RequestID    string    // the caller's request id, may be empty
	Model        string    // model name, never empty
	ModelVersion string    // content hash of the model file
	SpecVersion  string    // content hash of the spec
	Entity       string    // never empty
	Time         time.Time // request time T, never zero
	Vector       []Field   // feature name and value, in spec order
	VectorHash   uint64    // hash of the vector's canonical encoding
	InputCount   uint64    // events in the vector's input set
	InputDigest  uint64    // order-independent digest of that input set
	Watermark    uint64    // events stream sequence applied when scored
	Score        float64
	Decision     bool
	Arrival      time.Time // when the broker stored the snapshot message
	Stream       string    // broker stream name
	BrokerSeq    uint64    // broker stream sequence
	Hash         uint64    // xxhash64 of Payload
	Payload      []byte    // the snapshot message exactly as received
}

// Indexed pairs a record with the ledger sequence it was stored under.
type Indexed[T any] struct {
	Seq    uint64
	Record T
}

// SeqRange is an inclusive range of broker sequences of one stream.
type SeqRange struct {
	Stream      string
	First, Last uint64
}

// Batch is the unit of Append: records and the consumer checkpoints that
// they advance, written together or not at all.
type Batch struct {
	Events    []Event
	Snapshots []Snapshot

	// Checkpoints maps a stream name to the last broker sequence applied
	// from it, including messages that were not stored (duplicates,
	// dead letters).
	Checkpoints map[string]uint64

	// Covered lists the broker sequences this batch accounts for: stored
	// records, skipped duplicates and dead letters alike. Gaps between the
	// covered ranges of a stream are messages that never reached the
	// ledger.
	Covered []SeqRange

	// Deleted lists broker sequences the broker no longer held when the
	// ingester reached them (removed by limits, purges or by hand), as the
	// broker confirmed. They are not gaps: no message was lost between the
	// broker and the ledger.
	Deleted []SeqRange
}

// DedupKey is the key events are deduplicated by: the id, or the content
// hash when the event has no id.
func (e *Event) DedupKey() []byte {
	if e.ID != "" {
		return append([]byte{dedupByID}, e.ID...)
	}
	var k [9]byte
	k[0] = dedupByHash
	putUint64(k[1:], e.Hash)
	return k[:]
}

// Key bytes that tell the two kinds of deduplication key apart.
const (
	dedupByID   = 1
	dedupByHash = 2
)

// Limits on what a record may hold. They keep keys short and values bounded.
const (
	MaxKeyField = 1 << 10 // entity, id, type, model: at most 1 KiB each
	MaxPayload  = 16 << 20
)

// validate checks an event before it is written, filling Hash.
func (e *Event) validate(i int) error {
	bad := func(field, msg string) error {
		return &ValidationError{Kind: "event", Index: i, Field: field, Msg: msg}
	}
	switch {
	case e.Entity == "":
		return bad("entity", "missing")
	case len(e.Entity) > MaxKeyField:
		return bad("entity", "longer than 1 KiB")
	case !utf8.ValidString(e.Entity):
		return bad("entity", "not valid UTF-8")
	case e.Time.IsZero():
		return bad("time", "zero event time")
	case !storableTime(e.Time) || (!e.Arrival.IsZero() && !storableTime(e.Arrival)):
		return bad("time", "outside the years 1678 to 2261 that Unix nanoseconds can hold")
	case len(e.Payload) == 0:
		return bad("payload", "empty")
	case len(e.Payload) > MaxPayload:
		return bad("payload", "larger than 16 MiB")
	case len(e.ID) > MaxKeyField:
		return bad("id", "longer than 1 KiB")
	case len(e.Type) > MaxKeyField:
		return bad("type", "longer than 1 KiB")
	}
	if err := validateFields(e.Fields); err != "" {
		return bad("fields", err)
	}
	if e.Hash == 0 {
		e.Hash = xxhash.Sum64(e.Payload)
	}
	return nil
}

// validate checks a snapshot before it is written, filling Hash.
func (s *Snapshot) validate(i int) error {
	bad := func(field, msg string) error {
		return &ValidationError{Kind: "snapshot", Index: i, Field: field, Msg: msg}
	}
	switch {
	case s.ID == "":
		return bad("id", "missing")
	case len(s.ID) > MaxKeyField:
		return bad("id", "longer than 1 KiB")
	case s.Model == "":
		return bad("model", "missing")
	case len(s.Model) > MaxKeyField:
		return bad("model", "longer than 1 KiB")
	case s.Entity == "":
		return bad("entity", "missing")
	case s.Time.IsZero():
		return bad("time", "zero request time")
	case !storableTime(s.Time):
		return bad("time", "outside the years 1678 to 2261 that Unix nanoseconds can hold")
	case len(s.Payload) == 0:
		return bad("payload", "empty")
	case len(s.Payload) > MaxPayload:
		return bad("payload", "larger than 16 MiB")
	}
	if err := validateFields(s.Vector); err != "" {
		return bad("vector", err)
	}
	if s.Hash == 0 {
		s.Hash = xxhash.Sum64(s.Payload)
	}
	return nil
}

// storableTime reports whether t fits the ledger's time encoding, Unix
// nanoseconds in an int64.
func storableTime(t time.Time) bool {
	return t.Year() >= 1678 && t.Year() <= 2261
}

// validateFields returns what is wrong with fields, or "".
func validateFields(fs []Field) string {
	for _, f := range fs {
		if f.Value.Kind > KindBool {
			return "field " + f.Name + " has an unknown kind"
		}
		if f.Value.Kind == KindNumber && math.IsNaN(f.Value.Num) {
			return "field " + f.Name + " is NaN"
		}
	}
	return ""
}
