package feature

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParseSpec: any input gives either a usable spec or *SpecErrors, never
// a panic. The seeds are the example specs, good and bad.
func FuzzParseSpec(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join(specDir, "*.yaml"))
	bad, _ := filepath.Glob(filepath.Join(specDir, "bad", "*.yaml"))
	for _, name := range append(files, bad...) {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ParseSpec("fuzz.yaml", data)
		if err != nil {
			var se *SpecError
			if s != nil || !errors.As(err, &se) || se.Line < 1 || se.Col < 1 {
				t.Fatalf("error %v (%T) is not a positioned *SpecError", err, err)
			}
			return
		}
		if len(s.Features) == 0 || len(s.Version) != 16 {
			t.Fatalf("accepted a spec with %d features, version %q", len(s.Features), s.Version)
		}
		st := NewState(s)
		st.Apply(Event{Type: s.Features[0].Events[0], Time: t0})
		if v := st.Vector(t0); len(v.Values) != len(s.Features) || v.Count != 1 {
			t.Fatalf("vector %+v from one event", v)
		}
	})
}
