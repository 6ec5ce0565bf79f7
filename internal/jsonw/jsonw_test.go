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
		s := jsonwtest.String(r)
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
