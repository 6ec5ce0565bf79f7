package score

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/internal/jsonw/jsonwtest"
)

// mixedSpec returns a spec of n count features whose names sort in
// another order than the file's.
func mixedSpec(t *testing.T, n int) *feature.Spec {
	t.Helper()
	stems := []string{"a", "B", "c.d", "e-f", "g_h", "Z9", "aa"}
	var b strings.Builder
	b.WriteString("features:\n")
	for i := range n {
		fmt.Fprintf(&b, "  - name: %s%d\n    event: payment\n    agg: count\n",
			stems[i%len(stems)], n-i)
	}
	spec, err := feature.ParseSpec("awkward.yaml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return spec
}

// TestReplyJSONMatchesEncodingJSON checks that answers are written as
// Reply.MarshalJSON writes their reply, byte for byte, errors included.
func TestReplyJSONMatchesEncodingJSON(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 1))
	// finite draws the numbers JSON holds, of every form; the answers that
	// cannot be encoded are those below and the rare NaN of random bits.
	finite := func() float64 {
		for {
			if f := jsonwtest.Float(rng); !math.IsNaN(f) && !math.IsInf(f, 0) {
				return f
			}
		}
	}
	value := func() feature.Value {
		switch rng.IntN(6) {
		case 0:
			return feature.Value{}
		case 1:
			return feature.String(jsonwtest.String(rng))
		case 2:
			return feature.Bool(rng.IntN(2) == 0)
		case 3:
			return feature.Number(math.Float64frombits(rng.Uint64()))
		}
		return feature.Number(finite())
	}
	specs := []*feature.Spec{mixedSpec(t, 1), mixedSpec(t, 8), mixedSpec(t, 40)}
	answers := []answer{
		{Reply: failed("", CodeBadRequest, "m")},
		{Reply: failed("r<1>", CodeUnavailable, "encode reply: %q", "bad\xff")},
		{Reply: Reply{Score: math.NaN()}, view: View{Spec: specs[0]}},
		{view: View{Spec: specs[0], Vector: feature.Vector{Values: []feature.Value{
			feature.Number(math.Inf(-1))}}}},
	}
	for range 2000 {
		a := answer{Reply: Reply{RequestID: jsonwtest.String(rng), SnapshotID: "s-1",
			Model: jsonwtest.String(rng), ModelVersion: "0123456789abcdef",
			SpecVersion: "fedcba9876543210", Entity: jsonwtest.String(rng),
			Time:  time.Now().UTC().Format(time.RFC3339Nano),
			Score: finite(), Decision: rng.IntN(2) == 0,
			Empty: rng.IntN(2) == 0, Watermark: rng.Uint64()},
			view: View{Spec: specs[rng.IntN(len(specs))]}}
		// Fewer values than features happen after a spec change; Map skips the rest.
		for range rng.IntN(len(a.view.Spec.Features) + 1) {
			a.view.Vector.Values = append(a.view.Vector.Values, value())
		}
		answers = append(answers, a)
	}
	for _, a := range answers {
		got, gotErr := a.appendJSON([]byte("kept"))
		want, wantErr := a.reply().MarshalJSON()
		if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) ||
			(wantErr == nil && !bytes.Equal(got, append([]byte("kept"), want...))) {
			t.Fatalf("seed %d: answer %+v:\ngot  %s (%v)\nwant %s (%v)", seed, a, got, gotErr,
				want, wantErr)
		}
	}
}

// TestPlainRequestMatchesUnmarshal checks that the request parser's own
// path reads what json.Unmarshal reads, and that parseRequest answers
// every payload as json.Unmarshal and the checks would.
func TestPlainRequestMatchesUnmarshal(t *testing.T) {
	payloads := []string{
		`{"entity":"user:42","request_id":"bench"}`,
		` { "entity" : "user:1" } `,
		"{\t\"request_id\":\"r\",\n\"entity\":\"e\"\r}",
		`{"entity":"a","entity":"b"}`,
		`{}`, `{ }`, `{"entity":""}`, `{"request_id":"r"}`,
		`{"Entity":"user:1"}`, `{"ENTITY":"user:1"}`, `{"entity":"a","other":1}`,
		`{"entity":"a",}`, `{"entity":"a"`, `{"entity":"a"}}`, `{"entity":"a"} x`,
		`{"entity":"a" "request_id":"r"}`, `{"entity":null}`, `{"entity":1}`,
		`{"entity":"a\"b"}`, `{"entity":"a\u0041"}`, `{"entity":"tab	in"}`, `{"entity":"é"}`,
		"{\"entity\":\"bad\xff\"}", `[]`, `"user:1"`, `null`, ``, ` `, `{`, `{"entity"}`,
		`{"entity":}`, `{,}`, `{"entity":"a",,"request_id":"r"}`, `{"entity":"` +
			string(bytes.Repeat([]byte("x"), 300)) + `"}`,
	}
	plain := 0
	for _, p := range payloads {
		if req, ok := parsePlainRequest([]byte(p)); ok {
			plain++
			var want Request
			if err := json.Unmarshal([]byte(p), &want); err != nil || req != want {
				t.Errorf("%s: read %+v, json.Unmarshal %+v (%v)", p, req, want, err)
			}
		}
		got, gotBad := parseRequest([]byte(p), 1<<10)
		want, wantBad := parseAnyRequest([]byte(p))
		if wantBad == nil {
			want, wantBad = checkRequest(want)
		}
		if got != want || !reflect.DeepEqual(gotBad, wantBad) {
			t.Errorf("%s: parsed %+v %+v, want %+v %+v", p, got, gotBad, want, wantBad)
		}
	}
	if plain < 8 {
		t.Errorf("only %d payloads read without json.Unmarshal", plain)
	}
}

// TestSnapshotIDs checks the form of snapshot ids and that they differ.
func TestSnapshotIDs(t *testing.T) {
	ids, err := newIDSource()
	if err != nil {
		t.Fatal(err)
	}
	at := time.Unix(0, 0x123456789abc)
	form := regexp.MustCompile(`^s-0000123456789abc-[0-9a-f]{8}-[0-9a-f]+$`)
	a, b := ids.next(at), ids.next(at)
	if !form.MatchString(a) || !form.MatchString(b) || a == b {
		t.Errorf("ids %q and %q", a, b)
	}
	if late := ids.next(time.Unix(0, math.MaxInt64)); late[:18] != "s-7fffffffffffffff" {
		t.Errorf("id %q", late)
	}
}
