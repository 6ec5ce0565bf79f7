package ledger

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"pgregory.net/rapid"
)

const wireTime = `"2026-12-02T10:00:00.123Z"`

func TestDecodeEvent(t *testing.T) {
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 123e6, time.UTC)
	tests := []struct {
		name    string
		subject string
		payload string
		want    Event
	}{
		{"full", "events.payment",
			`{"id": "evt-1", "entity": "user:42", "type": "refund", "time": ` + wireTime + `,
			  "fields": {"merchant": "m-7", "amount": 12.5, "ok": true, "note": null}}`,
			Event{ID: "evt-1", Entity: "user:42", Type: "refund", Time: t0, Fields: []Field{
				{"amount", Value{Kind: KindNumber, Num: 12.5}},
				{"merchant", Value{Kind: KindString, Str: "m-7"}},
				{"note", Value{}},
				{"ok", Value{Kind: KindBool, Bool: true}},
			}}},
		{"type from subject", "events.payment",
			`{"entity":"u","time":` + wireTime + `}`,
			Event{Entity: "u", Type: "payment", Time: t0}},
		{"null type and id", "events.a.b",
			`{"entity":"u","time":` + wireTime + `,"type":null,"id":null,"fields":null}`,
			Event{Entity: "u", Type: "b", Time: t0}},
		{"offset and no fraction", "",
			`{"entity":"u","time":"2026-12-02T11:00:00+01:00"}`,
			Event{Entity: "u", Time: t0.Truncate(time.Second)}},
		{"unknown keys skipped", "x",
			`{"entity":"u","time":` + wireTime + `,"source":{"a":[1,{"b":null}],"c":"d"}}`,
			Event{Entity: "u", Type: "x", Time: t0}},
		{"escapes", "x",
			`{"entity":"a\"b\\c\/d\u00e9\ud83d\ude00\ud83d\u0041\n","time":` + wireTime + `}`,
			Event{Entity: "a\"b\\c/dé😀\uFFFDA\n", Type: "x", Time: t0}},
		{"numbers", "x",
			`{"entity":"u","time":` + wireTime + `,"fields":{"a":-0.5e-3,"b":0,"c":1E+2}}`,
			Event{Entity: "u", Type: "x", Time: t0, Fields: []Field{
				{"a", Value{Kind: KindNumber, Num: -0.5e-3}},
				{"b", Value{Kind: KindNumber}},
				{"c", Value{Kind: KindNumber, Num: 100}},
			}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DecodeEvent(tc.subject, []byte(tc.payload), 0)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Payload = []byte(tc.payload)
			if !wireEventsEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

// badWireEvents has one payload per class of refusal; the ingest tests send the
// same classes through the broker.
var badWireEvents = []struct {
	name, payload, reason string
}{
	{"not json", `hello`, ReasonNotJSON},
	{"empty", ``, ReasonNotJSON},
	{"array", `[1,2]`, ReasonNotJSON},
	{"trailing data", `{"entity":"u","time":` + wireTime + `} x`, ReasonNotJSON},
	{"truncated", `{"entity":"u","time":` + wireTime, ReasonNotJSON},
	{"trailing comma", `{"entity":"u","time":` + wireTime + `,}`, ReasonNotJSON},
	{"leading zero", `{"entity":"u","time":` + wireTime + `,"x":01}`, ReasonNotJSON},
	{"raw control char", "{\"entity\":\"u\x01\",\"time\":" + wireTime + `}`, ReasonNotJSON},
	{"bad escape", `{"entity":"u\x","time":` + wireTime + `}`, ReasonNotJSON},
	{"deep nesting", `{"entity":"u","time":` + wireTime + `,"x":` +
		strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`, ReasonNotJSON},
	{"syntax beats meaning", `{"entity":5,"time":` + wireTime + `,}`, ReasonNotJSON},
	{"bad utf8", "{\"entity\":\"\xff\",\"time\":" + wireTime + `}`, ReasonBadUTF8},
	{"missing entity", `{"time":` + wireTime + `}`, ReasonMissingEntity},
	{"empty entity", `{"entity":"","time":` + wireTime + `}`, ReasonMissingEntity},
	{"entity not a string", `{"entity":42,"time":` + wireTime + `}`, ReasonBadEntity},
	{"entity too long", `{"entity":"` + strings.Repeat("e", MaxKeyField+1) + `","time":` +
		wireTime + `}`, ReasonBadEntity},
	{"missing time", `{"entity":"u"}`, ReasonMissingTime},
	{"null time", `{"entity":"u","time":null}`, ReasonMissingTime},
	{"bad time", `{"entity":"u","time":"yesterday"}`, ReasonBadTime},
	{"time not a string", `{"entity":"u","time":1733133600}`, ReasonBadTime},
	{"time out of range", `{"entity":"u","time":"3000-01-01T00:00:00Z"}`, ReasonBadTime},
	{"id not a string", `{"id":7,"entity":"u","time":` + wireTime + `}`, ReasonBadID},
	{"type not a string", `{"type":["a"],"entity":"u","time":` + wireTime + `}`, ReasonBadType},
	{"fields not an object", `{"entity":"u","time":` + wireTime + `,"fields":[1]}`,
		ReasonBadFields},
	{"nested field", `{"entity":"u","time":` + wireTime + `,"fields":{"a":{"b":1}}}`,
		ReasonBadFields},
	{"number out of range", `{"entity":"u","time":` + wireTime + `,"fields":{"a":1e400}}`,
		ReasonBadFields},
	{"duplicate key", `{"entity":"u","entity":"v","time":` + wireTime + `}`,
		ReasonDuplicateKey},
	{"duplicate field", `{"entity":"u","time":` + wireTime + `,"fields":{"a":1,"a":2}}`,
		ReasonDuplicateKey},
}

func TestDecodeEventRefuses(t *testing.T) {
	for _, tc := range badWireEvents {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeEvent("events.x", []byte(tc.payload), 0)
			var we *WireError
			if !errors.As(err, &we) {
				t.Fatalf("got %v, want a *WireError", err)
			}
			if we.Reason != tc.reason || we.Msg == "" {
				t.Fatalf("got reason %q (%v), want %q", we.Reason, err, tc.reason)
			}
		})
	}
}

func TestDecodeEventTooLarge(t *testing.T) {
	p := []byte(`{"entity":"u","time":` + wireTime + `}`)
	if _, err := DecodeEvent("x", p, len(p)); err != nil {
		t.Fatalf("payload at the limit: %v", err)
	}
	_, err := DecodeEvent("x", p, len(p)-1)
	var we *WireError
	if !errors.As(err, &we) || we.Reason != ReasonTooLarge {
		t.Fatalf("payload over the limit: got %v", err)
	}
}

// TestDecodeEventMatchesEncodingJSON decodes random events written by
// encoding/json and compares with what was written.
func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want, payload := genWireEvent(t)
		got, err := DecodeEvent("events.gen", payload, 0)
		if err != nil {
			t.Fatalf("%v\npayload: %s", err, payload)
		}
		want.Payload = payload
		if !wireEventsEqual(got, want) {
			t.Fatalf("got  %+v\nwant %+v\npayload: %s", got, want, payload)
		}
	})
}

// genWireEvent draws an event and its JSON, with unknown keys and random
// white space.
func genWireEvent(t *rapid.T) (Event, []byte) {
	str := rapid.StringN(0, 12, -1)
	e := Event{
		ID:     str.Draw(t, "id"),
		Entity: rapid.StringN(1, 12, MaxKeyField).Draw(t, "entity"),
		Type:   str.Draw(t, "type"),
	}
	ns := rapid.Int64Range(math.MinInt64+1, math.MaxInt64).Draw(t, "ns")
	zone := time.FixedZone("", 60*rapid.IntRange(-14*60, 14*60).Draw(t, "offset_min"))
	e.Time = time.Unix(0, ns).UTC()
	m := map[string]any{"entity": e.Entity, "time": e.Time.In(zone).Format(time.RFC3339Nano)}
	if e.ID != "" {
		m["id"] = e.ID
	}
	if e.Type != "" {
		m["type"] = e.Type
	} else {
		e.Type = "gen"
	}
	fields := map[string]any{}
	for _, name := range rapid.SliceOfDistinct(str, rapid.ID).Draw(t, "names") {
		v := genWireValue(t)
		fields[name] = wireJSONOf(v)
		e.Fields = append(e.Fields, Field{Name: name, Value: v})
	}
	slices.SortFunc(e.Fields, func(a, b Field) int { return strings.Compare(a.Name, b.Name) })
	if len(fields) > 0 || rapid.Bool().Draw(t, "empty_fields") {
		m["fields"] = fields
	}
	if rapid.Bool().Draw(t, "extra") {
		m["extra"] = map[string]any{"list": []any{1.5, "x", nil, map[string]any{}}}
	}
	var b []byte
	var err error
	if rapid.Bool().Draw(t, "indent") {
		b, err = json.MarshalIndent(m, " ", "\t")
	} else {
		b, err = json.Marshal(m)
	}
	if err != nil {
		t.Fatal(err)
	}
	return e, b
}

func genWireValue(t *rapid.T) Value {
	switch rapid.IntRange(0, 3).Draw(t, "kind") {
	case 0:
		return Value{}
	case 1:
		f := rapid.Float64().Filter(func(f float64) bool {
			return !math.IsNaN(f) && !math.IsInf(f, 0)
		}).Draw(t, "num")
		return Value{Kind: KindNumber, Num: f}
	case 2:
		return Value{Kind: KindString, Str: rapid.String().Draw(t, "str")}
	}
	return Value{Kind: KindBool, Bool: rapid.Bool().Draw(t, "bool")}
}

func wireJSONOf(v Value) any {
	switch v.Kind {
	case KindNumber:
		return v.Num
	case KindString:
		return v.Str
	case KindBool:
		return v.Bool
	}
	return nil
}

func wireEventsEqual(a, b Event) bool {
	return a.ID == b.ID && a.Entity == b.Entity && a.Type == b.Type && a.Time.Equal(b.Time) &&
		string(a.Payload) == string(b.Payload) && slices.Equal(a.Fields, b.Fields)
}

// FuzzDecodeEvent checks that DecodeEvent never panics, that what it accepts
// is valid JSON holding what encoding/json reads there, and that an accepted
// event has what the ledger needs.
func FuzzDecodeEvent(f *testing.F) {
	for _, tc := range badWireEvents {
		f.Add("events.x", []byte(tc.payload))
	}
	f.Fuzz(func(t *testing.T, subject string, payload []byte) {
		e, err := DecodeEvent(subject, payload, 1<<16)
		if err != nil {
			var we *WireError
			if !errors.As(err, &we) || we.Reason == "" {
				t.Fatalf("error %v is not a *WireError with a reason", err)
			}
			return
		}
		if e.Entity == "" || e.Time.IsZero() {
			t.Fatalf("accepted an event without entity or time: %+v", e)
		}
		if !json.Valid(payload) || !utf8.Valid(payload) {
			t.Fatalf("accepted invalid JSON %q", payload)
		}
		checkAgainstEncodingJSON(t, e, payload)
		if err := e.validate(0); err != nil {
			t.Fatalf("the ledger refuses an accepted event: %v", err)
		}
	})
}

// checkAgainstEncodingJSON compares an accepted event with what
// encoding/json reads from the same payload.
func checkAgainstEncodingJSON(t *testing.T, e Event, payload []byte) {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil {
		t.Fatalf("encoding/json refuses what DecodeEvent accepted: %v", err)
	}
	var ref struct {
		ID, Entity string
		Fields     map[string]any
	}
	for key, dst := range map[string]any{"id": &ref.ID, "entity": &ref.Entity,
		"fields": &ref.Fields} {
		if raw, ok := top[key]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				t.Fatalf("%s: encoding/json: %v", key, err)
			}
		}
	}
	if ref.ID != e.ID || ref.Entity != e.Entity || len(ref.Fields) != len(e.Fields) {
		t.Fatalf("encoding/json reads id %q entity %q %d fields, DecodeEvent %+v",
			ref.ID, ref.Entity, len(ref.Fields), e)
	}
	for _, f := range e.Fields {
		if want := wireJSONOf(f.Value); ref.Fields[f.Name] != want {
			t.Fatalf("field %q: encoding/json reads %v, DecodeEvent %v", f.Name,
				ref.Fields[f.Name], want)
		}
	}
}

func TestSnapshotRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := Snapshot{
			ID:           rapid.StringN(1, 10, -1).Draw(t, "id"),
			RequestID:    rapid.String().Draw(t, "request_id"),
			Model:        rapid.StringN(1, 10, -1).Draw(t, "model"),
			ModelVersion: rapid.String().Draw(t, "model_version"),
			SpecVersion:  rapid.String().Draw(t, "spec_version"),
			Entity:       rapid.StringN(1, 10, -1).Draw(t, "entity"),
			Time:         time.Unix(0, rapid.Int64Min(1).Draw(t, "ns")).UTC(),
			VectorHash:   rapid.Uint64().Draw(t, "vector_hash"),
			InputCount:   rapid.Uint64().Draw(t, "input_count"),
			InputDigest:  rapid.Uint64().Draw(t, "input_digest"),
			Watermark:    rapid.Uint64().Draw(t, "watermark"),
			Score:        rapid.Float64Range(-1e9, 1e9).Draw(t, "score"),
			Decision:     rapid.Bool().Draw(t, "decision"),
		}
		// Features keep their order, which is not sorted.
		for i, name := range rapid.SliceOfDistinct(rapid.StringN(1, 8, -1), rapid.ID).
			Draw(t, "names") {
			s.Vector = append(s.Vector, Field{Name: fmt.Sprintf("%s%d", name, 9-i),
				Value: genWireValue(t)})
		}
		b, err := EncodeSnapshot(&s)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeSnapshot(b)
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		if string(got.Payload) != string(b) || !got.Time.Equal(s.Time) {
			t.Fatalf("payload or time differ: %+v", got)
		}
		got.Payload, got.Time, s.Time = nil, time.Time{}, time.Time{}
		if got.Vector == nil {
			got.Vector = s.Vector[:0:0]
		}
		if s.Vector == nil {
			s.Vector = got.Vector
		}
		if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", s) {
			t.Fatalf("got  %+v\nwant %+v\njson %s", got, s, b)
		}
	})
}

func TestDecodeSnapshotRefuses(t *testing.T) {
	base := map[string]any{
		"snapshot_id": "s-1", "model": "fraud", "entity": "user:42",
		"time": "2026-12-02T10:00:00Z", "vector_hash": "00000000000000ff",
		"input_digest": "0123456789abcdef", "features": []any{},
	}
	with := func(key string, v any) string {
		m := map[string]any{}
		for k, x := range base {
			m[k] = x
		}
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		b, _ := json.Marshal(m)
		return string(b)
	}
	if _, err := DecodeSnapshot([]byte(with("request_id", "r"))); err != nil {
		t.Fatalf("the base snapshot is refused: %v", err)
	}
	tests := []struct{ name, payload, reason string }{
		{"not json", `{"snapshot_id":`, ReasonNotJSON},
		{"bad utf8", "{\"snapshot_id\":\"\xfe\"}", ReasonBadUTF8},
		{"no id", with("snapshot_id", nil), ReasonMissingID},
		{"no model", with("model", nil), ReasonMissingModel},
		{"no entity", with("entity", nil), ReasonMissingEntity},
		{"no time", with("time", nil), ReasonMissingTime},
		{"bad time", with("time", "noon"), ReasonBadTime},
		{"short hash", with("vector_hash", "ff"), ReasonBadHash},
		{"bad digest", with("input_digest", "0123456789abcdeg"), ReasonBadHash},
		{"wrong type", with("watermark", "high"), ReasonBadSnapshot},
		{"features as object", with("features", map[string]any{"a": 1}), ReasonBadSnapshot},
		{"nested feature", with("features", []any{map[string]any{"name": "a",
			"value": []any{1}}}), ReasonBadFields},
		{"unnamed feature", with("features", []any{map[string]any{"value": 1}}),
			ReasonBadFields},
		{"duplicate feature", with("features", []any{map[string]any{"name": "a"},
			map[string]any{"name": "a"}}), ReasonDuplicateKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeSnapshot([]byte(tc.payload))
			var we *WireError
			if !errors.As(err, &we) || we.Reason != tc.reason {
				t.Fatalf("got %v, want reason %q", err, tc.reason)
			}
		})
	}
}

func TestEncodeSnapshotRefuses(t *testing.T) {
	ok := Snapshot{ID: "s", Model: "m", Entity: "e", Time: time.Unix(1, 0)}
	tests := []struct {
		name   string
		change func(*Snapshot)
	}{
		{"no id", func(s *Snapshot) { s.ID = "" }},
		{"no model", func(s *Snapshot) { s.Model = "" }},
		{"no entity", func(s *Snapshot) { s.Entity = "" }},
		{"zero time", func(s *Snapshot) { s.Time = time.Time{} }},
		{"NaN feature", func(s *Snapshot) {
			s.Vector = []Field{{"a", Value{Kind: KindNumber, Num: math.NaN()}}}
		}},
		{"NaN score", func(s *Snapshot) { s.Score = math.NaN() }},
	}
	if _, err := EncodeSnapshot(&ok); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := ok
			tc.change(&s)
			if _, err := EncodeSnapshot(&s); err == nil {
				t.Fatal("no error")
			}
		})
	}
}

func ExampleDecodeEvent() {
	payload := []byte(`{"id": "evt-123", "entity": "user:42",
		"time": "2026-12-02T10:00:00.123Z",
		"fields": {"merchant": "m-7", "amount": 12.5}}`)
	e, err := DecodeEvent("events.payment", payload, 0)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(e.ID, e.Entity, e.Type, e.Time.Format(time.RFC3339Nano))
	for _, f := range e.Fields {
		fmt.Printf("%s kind=%d num=%v str=%q\n", f.Name, f.Value.Kind, f.Value.Num, f.Value.Str)
	}

	_, err = DecodeEvent("events.payment", []byte(`{"entity": "user:42"}`), 0)
	fmt.Println(err)
	// Output:
	// evt-123 user:42 payment 2026-12-02T10:00:00.123Z
	// amount kind=1 num=12.5 str=""
	// merchant kind=2 num=0 str="m-7"
	// ledger: missing_time: no time
}

// wireBenchEvent is a typical event of about 200 bytes.
var wireBenchEvent = []byte(`{"id":"evt-0000000123","entity":"user:000042","type":"payment",` +
	`"time":"2026-12-02T10:00:00.123Z","fields":{"amount":12.5,"currency":"EUR",` +
	`"merchant":"m-000007","card_present":true,"country":"DE","mcc":5411}}`)

// BenchmarkDecodeEvent compares DecodeEvent with encoding/json reading the
// same event into a struct with a map for the fields.
func BenchmarkDecodeEvent(b *testing.B) {
	b.Run("asof", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(wireBenchEvent)))
		for b.Loop() {
			if _, err := DecodeEvent("events.payment", wireBenchEvent, 0); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(wireBenchEvent)))
		for b.Loop() {
			var e struct {
				ID, Entity, Type, Time string
				Fields                 map[string]any
			}
			if err := json.Unmarshal(wireBenchEvent, &e); err != nil {
				b.Fatal(err)
			}
			if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	})
}
