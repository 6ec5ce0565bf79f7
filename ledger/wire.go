package ledger

// The JSON wire formats of events and snapshots, as they travel on NATS.
//
// An event is one JSON object, published on events.<type>:
//
//	{"id": "evt-123", "entity": "user:42", "type": "payment",
//	 "time": "2026-12-02T10:00:00.123Z",
//	 "fields": {"amount": 12.5, "merchant": "m-7", "card_present": true}}
//
//   - entity: a non-empty string of at most 1 KiB. Required.
//   - time: the event time, RFC 3339 with an optional fraction of a second,
//     between the years 1678 and 2262 (the ledger stores Unix nanoseconds).
//     Required.
//   - id: the publisher's id, a string of at most 1 KiB. Optional: without
//     it the ledger deduplicates by the content hash of the payload.
//   - type: a string of at most 1 KiB; when absent, the last token of the
//     subject the event was published on.
//   - fields: an object whose values are scalars: numbers, strings, booleans
//     or null. Nested objects and arrays are refused. Optional.
//
// Other top-level keys are skipped, so publishers may add their own. A key
// given twice, top-level or inside fields, is refused: readers could not
// agree on which of the two values counts. The payload must be valid UTF-8.
// DecodeEvent returns the fields sorted by name.
//
// A snapshot is one JSON object, published on snapshots.<model>:
//
//	{"snapshot_id": "s-1", "request_id": "r-9", "model": "fraud",
//	 "model_version": "5f1d...", "spec_version": "a3c0...",
//	 "entity": "user:42", "time": "2026-12-02T10:00:00.5Z",
//	 "features": [{"name": "payments_1h", "value": 3},
//	              {"name": "last_merchant", "value": "m-7"}],
//	 "vector_hash": "00ff00ff00ff00ff", "input_count": 3,
//	 "input_digest": "0123456789abcdef", "watermark": 1042,
//	 "score": 0.87, "decision": true}
//
// The vector is a list of {name, value} pairs rather than an object, so that
// its order (the spec's order, which the vector hash is computed over)
// survives every JSON library on the way. vector_hash and input_digest are
// 16 lowercase hex digits. snapshot_id, model, entity and time are required.

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/asofdev/asof/internal/jsonw"
)

// Reasons a payload is refused, as WireError.Reason. They are short fixed
// codes: the ingester puts them in the dead-letter header and in metric
// labels.
const (
	ReasonTooLarge      = "too_large"      // payload over the size limit
	ReasonBadUTF8       = "bad_utf8"       // payload is not valid UTF-8
	ReasonNotJSON       = "not_json"       // not one well-formed JSON object
	ReasonDuplicateKey  = "duplicate_key"  // a key given twice
	ReasonMissingEntity = "missing_entity" // entity absent, null or empty
	ReasonBadEntity     = "bad_entity"     // entity not a string, or too long
	ReasonMissingTime   = "missing_time"   // time absent or null
	ReasonBadTime       = "bad_time"       // time not an RFC 3339 string in range
	ReasonBadID         = "bad_id"         // id not a string, or too long
	ReasonBadType       = "bad_type"       // type not a string, or too long
	ReasonBadFields     = "bad_fields"     // fields not an object of scalars
	ReasonMissingID     = "missing_id"     // snapshot without snapshot_id
	ReasonMissingModel  = "missing_model"  // snapshot without model
	ReasonBadSnapshot   = "bad_snapshot"   // a snapshot key of the wrong type
	ReasonBadHash       = "bad_hash"       // vector_hash or input_digest not 16 hex
)

// WireError reports a payload that cannot be decoded into a record. Reason
// is one of the Reason constants; Msg says what is wrong and where.
type WireError struct {
	Reason string
	Msg    string
}

func (e *WireError) Error() string { return "ledger: " + e.Reason + ": " + e.Msg }

func wireErr(reason, format string, args ...any) *WireError {
	return &WireError{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}

// The range of event times the ledger can store: Unix nanoseconds in an
// int64, less the one value that encodes the zero time.
var (
	minEventTime = time.Unix(0, math.MinInt64+1).UTC()
	maxEventTime = time.Unix(0, math.MaxInt64).UTC()
)

// maxDepth bounds the nesting of skipped values, so that a hostile payload
// cannot exhaust the stack.
const maxDepth = 64

// DecodeEvent decodes an event payload received on subject. Payload is kept
// as the event's Payload, not copied: the caller must not modify it later.
// A payload longer than maxSize bytes is refused; maxSize <= 0 or above
// MaxPayload means MaxPayload. Every refusal is a *WireError.
//
// DecodeEvent fills ID, Entity, Type, Time, Fields and Payload; the broker
// fields and Hash are left to the caller and Append.
func DecodeEvent(subject string, payload []byte, maxSize int) (Event, error) {
	if maxSize <= 0 || maxSize > MaxPayload {
		maxSize = MaxPayload
	}
	if len(payload) > maxSize {
		return Event{}, wireErr(ReasonTooLarge, "payload of %d bytes is over the limit of %d",
			len(payload), maxSize)
	}
	if !utf8.Valid(payload) {
		return Event{}, wireErr(ReasonBadUTF8, "payload is not valid UTF-8")
	}

	// One copy of the payload as a string: every string without escapes
	// in the event is a slice of it.
	d := eventDecoder{s: scanner{src: string(payload)}}
	d.object()
	if err := d.result(); err != nil {
		return Event{}, err
	}
	e := d.ev
	e.Payload = payload
	if e.Type == "" {
		e.Type = subject[strings.LastIndexByte(subject, '.')+1:]
	}
	byName := func(a, b Field) int { return strings.Compare(a.Name, b.Name) }
	if !slices.IsSortedFunc(e.Fields, byName) {
		slices.SortFunc(e.Fields, byName)
	}
	for i := 1; i < len(e.Fields); i++ {
		if e.Fields[i].Name == e.Fields[i-1].Name {
			return Event{}, wireErr(ReasonDuplicateKey, "field %q is given twice", e.Fields[i].Name)
		}
	}
	return e, nil
}

// eventDecoder walks one event object. A value of the wrong kind is kept in
// bad, the first one only, while the walk goes on, so that a payload that is
// not JSON at all is reported as such even when an earlier key was wrong.
type eventDecoder struct {
	s       scanner
	ev      Event
	bad     *WireError
	seen    uint8 // bit set of the known keys met so far
	hasTime bool
}

func (d *eventDecoder) fail(reason, format string, args ...any) {
	if d.bad == nil {
		d.bad = wireErr(reason, format, args...)
	}
}

// result returns the first problem found, syntax first.
func (d *eventDecoder) result() *WireError {
	switch {
	case d.s.err != "":
		return wireErr(ReasonNotJSON, "%s at byte %d", d.s.err, d.s.errAt)
	case d.bad != nil:
		return d.bad
	case d.ev.Entity == "":
		return wireErr(ReasonMissingEntity, "no entity")
	case !d.hasTime:
		return wireErr(ReasonMissingTime, "no time")
	}
	return nil
}

// object walks the top-level object and checks that nothing follows it.
func (d *eventDecoder) object() {
	d.s.members(func(key string) {
		switch key {
		case "id":
			d.once(key, 1)
			d.ev.ID = d.keyString(key, ReasonBadID)
		case "entity":
			d.once(key, 2)
			d.ev.Entity = d.keyString(key, ReasonBadEntity)
		case "type":
			d.once(key, 4)
			d.ev.Type = d.keyString(key, ReasonBadType)
		case "time":
			d.once(key, 8)
			d.time()
		case "fields":
			d.once(key, 16)
			d.fields()
		default:
			d.s.skipValue(0)
		}
	})
	d.s.end()
}

// once records that a known key was met, refusing it the second time.
func (d *eventDecoder) once(key string, bit uint8) {
	if d.seen&bit != 0 {
		d.fail(ReasonDuplicateKey, "key %q is given twice", key)
	}
	d.seen |= bit
}

// keyString reads a value that must be a string of at most MaxKeyField
// bytes, or null (read as "").
func (d *eventDecoder) keyString(key, reason string) string {
	v := d.s.scalar()
	switch {
	case d.s.err != "" || v.Kind == KindNull:
		return ""
	case v.Kind != KindString:
		d.fail(reason, "%s is %s, not a string", key, kindName(v.Kind))
		return ""
	case len(v.Str) > MaxKeyField:
		d.fail(reason, "%s is %d bytes, over the limit of %d", key, len(v.Str), MaxKeyField)
		return ""
	}
	return v.Str
}

func (d *eventDecoder) time() {
	v := d.s.scalar()
	switch {
	case d.s.err != "" || v.Kind == KindNull:
		return
	case v.Kind != KindString:
		d.fail(ReasonBadTime, "time is %s, not an RFC 3339 string", kindName(v.Kind))
		return
	}
	d.hasTime = true
	t, err := parseTime(v.Str)
	if err != nil {
		d.fail(ReasonBadTime, "%v", err)
		return
	}
	d.ev.Time = t
}

// parseTime parses an RFC 3339 time that the ledger can store, in UTC.
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("time %q is not RFC 3339", s)
	}
	if t.Before(minEventTime) || t.After(maxEventTime) {
		return time.Time{}, fmt.Errorf("time %q is outside the years 1678 to 2262", s)
	}
	return t.UTC(), nil
}

// fields reads the fields object: null, or an object of scalars.
func (d *eventDecoder) fields() {
	s := &d.s
	s.skipSpace()
	switch s.peek() {
	case '{':
	case 'n':
		s.scalar()
		return
	default:
		v := s.scalar()
		if s.err == "" {
			d.fail(ReasonBadFields, "fields is %s, not an object", kindName(v.Kind))
		}
		return
	}
	s.members(func(name string) {
		v := s.scalar()
		switch {
		case s.err != "":
		case v.Kind == kindComposite:
			d.fail(ReasonBadFields, "field %q is an object or array, not a scalar", name)
		case v.Kind == KindNumber && math.IsInf(v.Num, 0):
			d.fail(ReasonBadFields, "field %q is a number out of range", name)
		default:
			if d.ev.Fields == nil {
				d.ev.Fields = make([]Field, 0, 8) // one allocation for most events
			}
			d.ev.Fields = append(d.ev.Fields, Field{Name: name, Value: v})
		}
	})
}

// kindComposite is the Kind scanner.scalar gives an object or an array,
// which it skips.
const kindComposite Kind = 255

func kindName(k Kind) string {
	switch k {
	case KindNull:
		return "null"
	case KindNumber:
		return "a number"
	case KindString:
		return "a string"
	case KindBool:
		return "a bool"
	}
	return "an object or array"
}

// scanner reads JSON from src. It checks the grammar strictly (RFC 8259)
// and keeps the first syntax error; after one, every read returns at once.
type scanner struct {
	src   string
	pos   int
	err   string // the first syntax error, "" when none
	errAt int    // the byte offset of err
	buf   []byte // scratch for strings with escapes
}

// syntax records a syntax error at the current position and ends the scan.
func (s *scanner) syntax(msg string) {
	if s.err == "" {
		s.err, s.errAt = msg, s.pos
	}
	s.pos = len(s.src)
}

// peek returns the next byte, or 0 at the end.
func (s *scanner) peek() byte {
	if s.pos < len(s.src) {
		return s.src[s.pos]
	}
	return 0
}

func (s *scanner) skipSpace() {
	for s.pos < len(s.src) {
		switch s.src[s.pos] {
		case ' ', '\t', '\n', '\r':
			s.pos++
		default:
			return
		}
	}
}

// end checks that only white space is left.
func (s *scanner) end() {
	s.skipSpace()
	if s.pos < len(s.src) {
		s.syntax("unexpected data after the object")
	}
}

// members reads an object, calling value for each key with the scanner
// placed before the key's value; value must read that value.
func (s *scanner) members(value func(key string)) {
	s.skipSpace()
	if s.peek() != '{' {
		s.syntax("expected an object")
		return
	}
	s.pos++
	s.skipSpace()
	if s.peek() == '}' {
		s.pos++
		return
	}
	for s.err == "" {
		s.skipSpace()
		if s.peek() != '"' {
			s.syntax("expected a key")
			return
		}
		key := s.str()
		s.skipSpace()
		if s.peek() != ':' {
			s.syntax("expected ':' after a key")
			return
		}
		s.pos++
		value(key)
		s.skipSpace()
		switch s.peek() {
		case ',':
			s.pos++
		case '}':
			s.pos++
			return
		default:
			s.syntax("expected ',' or '}' in an object")
		}
	}
}

// scalar reads any value. Objects and arrays are checked and skipped, and
// reported as kindComposite. A number out of the float64 range is ±Inf.
func (s *scanner) scalar() Value {
	s.skipSpace()
	switch c := s.peek(); {
	case c == '"':
		return Value{Kind: KindString, Str: s.str()}
	case c == 't':
		s.literal("true")
		return Value{Kind: KindBool, Bool: true}
	case c == 'f':
		s.literal("false")
		return Value{Kind: KindBool}
	case c == 'n':
		s.literal("null")
		return Value{}
	case c == '-' || (c >= '0' && c <= '9'):
		f, _ := strconv.ParseFloat(s.number(), 64)
		return Value{Kind: KindNumber, Num: f}
	case c == '{' || c == '[':
		s.skipValue(0)
		return Value{Kind: kindComposite}
	}
	s.syntax("expected a value")
	return Value{}
}

// skipValue checks and skips one value of any kind.
func (s *scanner) skipValue(depth int) {
	if depth > maxDepth {
		s.syntax("values nested too deeply")
		return
	}
	s.skipSpace()
	switch s.peek() {
	case '{':
		s.members(func(string) { s.skipValue(depth + 1) })
	case '[':
		s.pos++
		s.skipSpace()
		if s.peek() == ']' {
			s.pos++
			return
		}
		for s.err == "" {
			s.skipValue(depth + 1)
			s.skipSpace()
			switch s.peek() {
			case ',':
				s.pos++
			case ']':
				s.pos++
				return
			default:
				s.syntax("expected ',' or ']' in an array")
			}
		}
	default:
		s.scalar()
	}
}

func (s *scanner) literal(word string) {
	if !strings.HasPrefix(s.src[s.pos:], word) {
		s.syntax("expected " + word)
		return
	}
	s.pos += len(word)
}

// number reads a number and returns its text.
func (s *scanner) number() string {
	start := s.pos
	if s.peek() == '-' {
		s.pos++
	}
	switch c := s.peek(); {
	case c == '0':
		s.pos++
	case c >= '1' && c <= '9':
		s.digits()
	default:
		s.syntax("expected a digit")
		return "0"
	}
	if s.peek() == '.' {
		s.pos++
		if !s.digits() {
			s.syntax("expected a digit after '.'")
			return "0"
		}
	}
	if c := s.peek(); c == 'e' || c == 'E' {
		s.pos++
		if c := s.peek(); c == '+' || c == '-' {
			s.pos++
		}
		if !s.digits() {
			s.syntax("expected a digit in the exponent")
			return "0"
		}
	}
	return s.src[start:s.pos]
}

// digits skips decimal digits, reporting whether there was any.
func (s *scanner) digits() bool {
	start := s.pos
	for s.pos < len(s.src) && s.src[s.pos] >= '0' && s.src[s.pos] <= '9' {
		s.pos++
	}
	return s.pos > start
}

// str reads a string. Without escapes it is a slice of src.
func (s *scanner) str() string {
	s.pos++ // the opening quote
	start := s.pos
	for s.pos < len(s.src) {
		switch c := s.src[s.pos]; {
		case c == '"':
			s.pos++
			return s.src[start : s.pos-1]
		case c == '\\':
			return s.escaped(start)
		case c < 0x20:
			s.syntax("control character in a string")
			return ""
		}
		s.pos++
	}
	s.syntax("unterminated string")
	return ""
}

// escaped finishes reading a string that holds escapes, from start, its
// first byte, with the scanner at the first backslash. A lone UTF-16
// surrogate becomes U+FFFD, as encoding/json does.
func (s *scanner) escaped(start int) string {
	b := append(s.buf[:0], s.src[start:s.pos]...)
	for s.pos < len(s.src) {
		c := s.src[s.pos]
		switch {
		case c == '"':
			s.pos++
			s.buf = b
			return string(b)
		case c < 0x20:
			s.syntax("control character in a string")
			return ""
		case c != '\\':
			b = append(b, c)
			s.pos++
			continue
		}
		s.pos++
		switch e := s.peek(); e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			b = utf8.AppendRune(b, s.unicodeEscape())
			continue
		default:
			s.syntax("bad escape in a string")
			return ""
		}
		s.pos++
	}
	s.syntax("unterminated string")
	return ""
}

// unicodeEscape reads the four hex digits of a \u escape, with the scanner at the u,
// joining a surrogate pair.
func (s *scanner) unicodeEscape() rune {
	r := s.hex4()
	if s.err != "" || !utf16.IsSurrogate(r) {
		return r
	}
	if !strings.HasPrefix(s.src[s.pos:], `\u`) {
		return utf8.RuneError
	}
	save := s.pos
	s.pos++
	r2 := s.hex4()
	if s.err != "" {
		return utf8.RuneError
	}
	if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
		return dec
	}
	s.pos = save // not a pair: the second escape stands on its own
	return utf8.RuneError
}

// hex4 reads a u and four hex digits, with the scanner at the u.
func (s *scanner) hex4() rune {
	if len(s.src)-s.pos < 5 {
		s.syntax("short \\u escape")
		return 0
	}
	var r rune
	for _, c := range []byte(s.src[s.pos+1 : s.pos+5]) {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			s.syntax("bad hex digit in a \\u escape")
			return 0
		}
		r = r<<4 | rune(c)
	}
	s.pos += 5
	return r
}

// snapshotWire is the JSON shape of a snapshot.
type snapshotWire struct {
	SnapshotID   string        `json:"snapshot_id"`
	RequestID    string        `json:"request_id,omitempty"`
	Model        string        `json:"model"`
	ModelVersion string        `json:"model_version"`
	SpecVersion  string        `json:"spec_version"`
	Entity       string        `json:"entity"`
	Time         string        `json:"time"`
	Features     []featureWire `json:"features"`
	VectorHash   string        `json:"vector_hash"`
	InputCount   uint64        `json:"input_count"`
	InputDigest  string        `json:"input_digest"`
	Watermark    uint64        `json:"watermark"`
	Score        float64       `json:"score"`
	Decision     bool          `json:"decision"`
}

// featureWire is one feature of a snapshot's vector.
type featureWire struct {
	Name  string          `json:"name"`
	Value json.RawMessage `json:"value"`
}

// EncodeSnapshot returns the JSON of s, the form the scoring service
// publishes: AppendSnapshot into a new buffer.
func EncodeSnapshot(s *Snapshot) ([]byte, error) {
	return AppendSnapshot(nil, s)
}

// appendValueJSON appends the JSON of one scalar value.
func appendValueJSON(b []byte, v Value) ([]byte, error) {
	switch v.Kind {
	case KindNull:
		return append(b, "null"...), nil
	case KindBool:
		return strconv.AppendBool(b, v.Bool), nil
	case KindNumber:
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) {
			return nil, fmt.Errorf("number %v cannot be written as JSON", v.Num)
		}
		return strconv.AppendFloat(b, v.Num, 'g', -1, 64), nil
	case KindString:
		return jsonw.AppendString(b, v.Str), nil
	}
	return nil, fmt.Errorf("unknown kind %d", v.Kind)
}

// parseHex16 parses exactly 16 hex digits.
func parseHex16(key, s string) (uint64, *WireError) {
	if len(s) != 16 {
		return 0, wireErr(ReasonBadHash, "%s %q is not 16 hex digits", key, s)
	}
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, wireErr(ReasonBadHash, "%s %q is not 16 hex digits", key, s)
	}
	return v, nil
}

// DecodeSnapshot decodes a snapshot payload. Payload is kept as the
// snapshot's Payload, not copied. Every refusal is a *WireError; the broker
// fields and Hash are left to the caller and Append.
func DecodeSnapshot(payload []byte) (Snapshot, error) {
	if len(payload) > MaxPayload {
		return Snapshot{}, wireErr(ReasonTooLarge, "payload of %d bytes is over the limit of %d",
			len(payload), MaxPayload)
	}
	if !utf8.Valid(payload) {
		return Snapshot{}, wireErr(ReasonBadUTF8, "payload is not valid UTF-8")
	}
	var w snapshotWire
	if err := json.Unmarshal(payload, &w); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Snapshot{}, wireErr(ReasonBadSnapshot, "%s is %s, not %s",
				te.Field, te.Value, te.Type)
		}
		return Snapshot{}, wireErr(ReasonNotJSON, "%v", err)
	}
	s, werr := w.snapshot()
	if werr != nil {
		return Snapshot{}, werr
	}
	s.Payload = payload
	return s, nil
}

// snapshot checks w and turns it into a Snapshot.
func (w *snapshotWire) snapshot() (Snapshot, *WireError) {
	switch {
	case w.SnapshotID == "":
		return Snapshot{}, wireErr(ReasonMissingID, "no snapshot_id")
	case len(w.SnapshotID) > MaxKeyField:
		return Snapshot{}, wireErr(ReasonBadSnapshot, "snapshot_id is over %d bytes", MaxKeyField)
	case w.Model == "":
		return Snapshot{}, wireErr(ReasonMissingModel, "no model")
	case len(w.Model) > MaxKeyField:
		return Snapshot{}, wireErr(ReasonBadSnapshot, "model is over %d bytes", MaxKeyField)
	case w.Entity == "":
		return Snapshot{}, wireErr(ReasonMissingEntity, "no entity")
	case w.Time == "":
		return Snapshot{}, wireErr(ReasonMissingTime, "no time")
	}
	t, err := parseTime(w.Time)
	if err != nil {
		return Snapshot{}, wireErr(ReasonBadTime, "%v", err)
	}
	s := Snapshot{
		ID: w.SnapshotID, RequestID: w.RequestID, Model: w.Model,
		ModelVersion: w.ModelVersion, SpecVersion: w.SpecVersion, Entity: w.Entity,
		Time: t, InputCount: w.InputCount, Watermark: w.Watermark,
		Score: w.Score, Decision: w.Decision,
	}
	var werr *WireError
	if s.VectorHash, werr = parseHex16("vector_hash", w.VectorHash); werr != nil {
		return Snapshot{}, werr
	}
	if s.InputDigest, werr = parseHex16("input_digest", w.InputDigest); werr != nil {
		return Snapshot{}, werr
	}
	if s.Vector, werr = decodeFeatures(w.Features); werr != nil {
		return Snapshot{}, werr
	}
	return s, nil
}

// decodeFeatures turns the features list into the vector, in order.
func decodeFeatures(fs []featureWire) ([]Field, *WireError) {
	out := make([]Field, 0, len(fs))
	seen := make(map[string]struct{}, len(fs))
	for i, f := range fs {
		if f.Name == "" {
			return nil, wireErr(ReasonBadFields, "feature %d has no name", i)
		}
		if _, dup := seen[f.Name]; dup {
			return nil, wireErr(ReasonDuplicateKey, "feature %q is given twice", f.Name)
		}
		seen[f.Name] = struct{}{}
		var v Value // null when "value" is absent
		if len(f.Value) > 0 {
			sc := scanner{src: string(f.Value)}
			v = sc.scalar()
			if sc.end(); sc.err != "" {
				return nil, wireErr(ReasonNotJSON, "feature %q: %s", f.Name, sc.err)
			}
		}
		if v.Kind == kindComposite || (v.Kind == KindNumber && math.IsInf(v.Num, 0)) {
			return nil, wireErr(ReasonBadFields, "feature %q is not a scalar in range", f.Name)
		}
		out = append(out, Field{Name: f.Name, Value: v})
	}
	return out, nil
}
