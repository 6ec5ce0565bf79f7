package ledger

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/asofdev/asof/internal/jsonw/jsonwtest"
)

// marshalSnapshot is the reference AppendSnapshot must agree with: the
// snapshot's wire shape through encoding/json, as EncodeSnapshot once
// wrote it.
func marshalSnapshot(s *Snapshot) ([]byte, error) {
	w := snapshotWire{
		SnapshotID: s.ID, RequestID: s.RequestID, Model: s.Model,
		ModelVersion: s.ModelVersion, SpecVersion: s.SpecVersion, Entity: s.Entity,
		Time:       s.Time.UTC().Format(time.RFC3339Nano),
		Features:   make([]featureWire, len(s.Vector)),
		VectorHash: fmt.Sprintf("%016x", s.VectorHash), InputCount: s.InputCount,
		InputDigest: fmt.Sprintf("%016x", s.InputDigest), Watermark: s.Watermark,
		Score: s.Score, Decision: s.Decision,
	}
	for i, f := range s.Vector {
		var v []byte
		switch f.Value.Kind {
		case KindNull:
			v = []byte("null")
		case KindBool:
			v = strconv.AppendBool(nil, f.Value.Bool)
		case KindNumber:
			if math.IsNaN(f.Value.Num) || math.IsInf(f.Value.Num, 0) {
				return nil, fmt.Errorf("feature %q: %v", f.Name, f.Value.Num)
			}
			// Feature values are written in %g form, not json.Marshal's.
			v = strconv.AppendFloat(nil, f.Value.Num, 'g', -1, 64)
		case KindString:
			v, _ = json.Marshal(f.Value.Str)
		}
		w.Features[i] = featureWire{Name: f.Name, Value: v}
	}
	return json.Marshal(&w)
}

// TestAppendSnapshotAgreesWithEncodingJSON encodes random snapshots, with
// strings that need escaping, numbers at the edges of both number forms,
// times in other zones and every kind of value, and checks that the bytes
// are those of the reference, that the same snapshots are refused, and
// that DecodeSnapshot reads back what was encoded.
func TestAppendSnapshotAgreesWithEncodingJSON(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 2))
	prefix := []byte("kept")
	decoded := 0
	for i := range 5000 {
		s := randomSnapshot(r)
		want, werr := marshalSnapshot(&s)
		if s.ID == "" || s.Model == "" || s.Entity == "" || s.Time.IsZero() {
			werr = fmt.Errorf("missing a required field")
		}
		got, err := AppendSnapshot(bytes.Clone(prefix), &s)
		if !bytes.HasPrefix(got, prefix) {
			t.Fatalf("case %d: the buffer's prefix was overwritten: %q", i, got)
		}
		got = got[len(prefix):]
		if (err == nil) != (werr == nil) {
			t.Fatalf("case %d: %+v: error %v, reference error %v", i, s, err, werr)
		}
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("case %d: refused, but wrote %q", i, got)
			}
			continue
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("case %d:\n got %s\nwant %s", i, got, want)
		}
		if enc, err := EncodeSnapshot(&s); err != nil || !bytes.Equal(enc, want) {
			t.Fatalf("case %d: EncodeSnapshot %s %v", i, enc, err)
		}
		if checkDecodes(t, i, &s, got) {
			decoded++
		}
	}
	if decoded < 500 {
		t.Errorf("only %d of 5000 snapshots were valid enough to decode", decoded)
	}
}

// checkDecodes checks that DecodeSnapshot reads back s from its encoding
// b and reports whether it did; a snapshot with a string of invalid UTF-8
// is not checked, as JSON replaces the invalid bytes.
func checkDecodes(t *testing.T, i int, s *Snapshot, b []byte) bool {
	t.Helper()
	d, err := DecodeSnapshot(b)
	if err != nil {
		if s.valid() {
			t.Fatalf("case %d: decode %s: %v", i, b, err)
		}
		return false
	}
	if !s.valid() {
		return false
	}
	if d.ID != s.ID || d.RequestID != s.RequestID || d.Model != s.Model ||
		d.ModelVersion != s.ModelVersion || d.SpecVersion != s.SpecVersion ||
		d.Entity != s.Entity || !d.Time.Equal(s.Time) || d.VectorHash != s.VectorHash ||
		d.InputCount != s.InputCount || d.InputDigest != s.InputDigest ||
		d.Watermark != s.Watermark || d.Score != s.Score || d.Decision != s.Decision ||
		len(d.Vector) != len(s.Vector) {
		t.Fatalf("case %d: decoded %+v\nfrom %s\nwant %+v", i, d, b, *s)
	}
	for j, f := range s.Vector {
		g := d.Vector[j]
		if g.Name != f.Name || g.Value.Kind != f.Value.Kind || g.Value.Str != f.Value.Str ||
			g.Value.Bool != f.Value.Bool || g.Value.Num != f.Value.Num {
			t.Fatalf("case %d: feature %d decoded %+v, want %+v", i, j, g, f)
		}
	}
	return true
}

// valid reports whether every string of s is valid UTF-8 within the
// decoder's limits, so that decoding must give s back.
func (s *Snapshot) valid() bool {
	strs := []string{s.ID, s.RequestID, s.Model, s.ModelVersion, s.SpecVersion, s.Entity}
	for _, f := range s.Vector {
		strs = append(strs, f.Name, f.Value.Str)
	}
	for k, v := range strs {
		if !utf8.ValidString(v) || (k == 0 || k == 2) && len(v) > MaxKeyField {
			return false
		}
	}
	return true
}

// randomSnapshot returns a snapshot whose fields are each now and then
// empty, odd or at an edge.
func randomSnapshot(r *rand.Rand) Snapshot {
	str := func() string { return jsonwtest.String(r) }
	s := Snapshot{ID: "s-" + str(), Model: "m" + str(), ModelVersion: str(),
		SpecVersion: str(), Entity: "user:" + str(), VectorHash: r.Uint64(),
		InputCount: r.Uint64N(1 << uint(r.IntN(64))), InputDigest: r.Uint64(),
		Watermark: r.Uint64N(1 << uint(r.IntN(64))), Score: jsonwtest.Float(r),
		Decision: r.IntN(2) == 0}
	if r.IntN(2) == 0 {
		s.RequestID = str()
	}
	switch r.IntN(40) {
	case 0:
		s.ID = ""
	case 1:
		s.Model = ""
	case 2:
		s.Entity = ""
	}
	zones := []*time.Location{time.UTC, time.FixedZone("x", -5*3600-1800),
		time.FixedZone("y", 14*3600)}
	// Within the years the decoder reads, 1678 to 2262.
	s.Time = time.Unix(r.Int64N(1<<33)-1<<32, r.Int64N(1e9)).In(zones[r.IntN(len(zones))])
	if r.IntN(3) == 0 {
		s.Time = s.Time.Truncate(time.Duration(r.IntN(3)) * time.Millisecond)
	}
	if r.IntN(100) == 0 {
		s.Time = time.Time{}
	}
	for j := range r.IntN(8) {
		var v Value
		switch r.IntN(4) {
		case 0:
			v = Value{Kind: KindNumber, Num: jsonwtest.Float(r)}
		case 1:
			v = Value{Kind: KindString, Str: str()}
		case 2:
			v = Value{Kind: KindBool, Bool: r.IntN(2) == 0}
		}
		// Distinct names: the decoder refuses a feature given twice.
		name := strconv.Itoa(j) + str()
		s.Vector = append(s.Vector, Field{Name: name, Value: v})
	}
	return s
}
