package jsonw

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"testing"

	"github.com/asofdev/asof/internal/jsonw/jsonwtest"
)

// TestAgreesWithEncodingJSON writes random strings and numbers, chosen to
// reach every branch (escapes, HTML characters, invalid UTF-8, exponent
// forms), and checks the bytes against json.Marshal's.
func TestAgreesWithEncodingJSON(t *testing.T) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 1))
	for i := range 20000 {
		s := randomString(r)
		want, _ := json.Marshal(s)
		if got := AppendString([]byte("x"), s); !bytes.Equal(got[1:], want) {
			t.Fatalf("case %d: string %q: %s, json.Marshal %s", i, s, got[1:], want)
		}

		f := jsonwtest.Float(r)
		want, err := json.Marshal(f)
		got, ok := AppendFloat(nil, f)
		if ok != (err == nil) || ok && !bytes.Equal(got, want) {
			t.Fatalf("case %d: float %v: %s %v, json.Marshal %s %v", i, f, got, ok, want, err)
		}
	}
}

// randomString returns a short string mostly of plain bytes, sometimes
// with a character JSON escapes, a multi-byte rune or an invalid byte.
func randomString(r *rand.Rand) string {
	const odd = "\"\\<>&\x00\x1f\x7f\u00e9\u2028\u2029\U0001F600\xff\xc3"
	b := make([]byte, 0, 16)
	for range r.IntN(12) {
		if r.IntN(8) == 0 {
			runes := []rune(odd)
			b = append(b, string(runes[r.IntN(len(runes))])...)
			if r.IntN(4) == 0 {
				b = append(b, odd[len(odd)-2+r.IntN(2)]) // a lone invalid byte
			}
			continue
		}
		b = append(b, byte(0x20+r.IntN(0x5f)))
	}
	return string(b)
}
