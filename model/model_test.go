package model

import (
	"errors"
	"math"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
)

func demoSpec(t *testing.T) *feature.Spec {
	t.Helper()
	s, err := feature.LoadSpec(filepath.Join("..", "testdata", "specs", "payments.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLoadAndScore(t *testing.T) {
	m, err := Load(filepath.Join("..", "testdata", "models", "fraud.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec := demoSpec(t)
	if err := m.Check(spec); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	s := feature.NewState(spec)
	for i, amount := range []float64{100, 250} {
		s.Apply(feature.Event{ID: string(rune('a' + i)), Type: "payment",
			Time: at.Add(-time.Duration(i) * time.Minute),
			Hash: uint64(i + 1), Fields: []feature.Field{{Name: "amount",
				Value: feature.Number(amount)}}})
	}
	v := s.Vector(at)
	score, decision := m.Score(spec, v)
	// bias -4 + 0.35*2 events + 0.004*350 sum + 0.006*250 max = -0.4
	want := 1 / (1 + math.Exp(0.4))
	if math.Abs(score-want) > 1e-12 || decision {
		t.Fatalf("score %v decision %v, want %v false", score, decision, want)
	}
	empty, _ := m.Score(spec, feature.NewState(spec).Vector(at))
	if math.Abs(empty-1/(1+math.Exp(4))) > 1e-12 {
		t.Fatalf("empty vector score %v", empty)
	}
}

func TestVersion(t *testing.T) {
	a, err := Parse("a.yaml",
		[]byte("name: m\nkind: logistic\nbias: 1\nthreshold: 0.5\nweights: {x: 1, y: 2}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := Parse("b.json",
		[]byte(`{"weights": {"y": 2.0, "x": 1}, "threshold": 0.5, `+
			`"kind": "logistic", "name": "m", "bias": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if a.Version != b.Version || len(a.Version) != 16 {
		t.Fatalf("same model, versions %s and %s", a.Version, b.Version)
	}
	c, _ := Parse("c.yaml",
		[]byte("name: m\nkind: logistic\nbias: 1\nthreshold: 0.5\nweights: {x: 1, y: 2.5}\n"))
	if c.Version == a.Version {
		t.Fatal("a changed weight kept the version")
	}
}

func TestInvalidModels(t *testing.T) {
	spec := demoSpec(t)
	tests := []struct{ name, src, want string }{
		{"no name", "kind: logistic\nweights: {events_1h: 1}\n", "name is missing"},
		{"bad kind", "name: m\nkind: forest\nweights: {events_1h: 1}\n", `kind "forest"`},
		{"no weights", "name: m\nkind: logistic\n", "weights are missing"},
		{"threshold", "name: m\nkind: logistic\nthreshold: 2\nweights: {events_1h: 1}\n",
			"outside [0, 1]"},
		{"unknown key", "name: m\nkind: logistic\nweights: {events_1h: 1}\ncolour: red\n",
			"colour"},
		{"not yaml", "name: [\n", "m.yaml"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("m.yaml", []byte(tc.src))
			if !errors.Is(err, ErrInvalidModel) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
	for _, tc := range []struct{ weight, want string }{
		{"nope", `"nope", which spec`},
		{"last_merchant", "not a numeric feature"},
	} {
		m, err := Parse("m.yaml", []byte("name: m\nkind: logistic\nweights: {"+tc.weight+": 1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Check(spec); err == nil || !strings.Contains(err.Error(), tc.want) ||
			!strings.Contains(err.Error(), "m.yaml") {
			t.Fatalf("Check(%s) = %v", tc.weight, err)
		}
	}
}
