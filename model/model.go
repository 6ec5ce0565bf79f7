// Package model reads scoring models and applies them to feature vectors.
//
// A model file (YAML, or JSON, which is YAML too) names a logistic model:
//
//	name: fraud
//	kind: logistic
//	bias: -3.2
//	threshold: 0.5
//	weights:
//	  amount_sum_24h: 0.002
//	  events_1h: 0.4
//
// The score is the logistic function of the bias plus the weighted sum of
// the named features; the decision is score >= threshold. A feature whose
// value is null (no events in its window) contributes nothing. Weights may
// name only numeric features of the spec the model is served with; Check
// refuses others with the file and the name.
//
// A model's version is a content hash of its canonical form: the name, kind,
// bias, threshold and weights sorted by feature name, numbers in their
// shortest round-trip form. Reformatting the file or reordering its keys
// keeps the version; changing any number changes it. The scoring service
// records the version in every snapshot, and the audit re-scores with it.
//
// The package is pure: both the scoring service and the audit import it.
package model

import (
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/asofdev/asof/feature"
	"github.com/cespare/xxhash/v2"
	"github.com/goccy/go-yaml"
)

// ErrInvalidModel is wrapped by every error about a model file's content.
var ErrInvalidModel = errors.New("model: invalid model")

// Model is a logistic model.
type Model struct {
	Name      string             `yaml:"name"`
	Kind      string             `yaml:"kind"`
	Bias      float64            `yaml:"bias"`
	Threshold float64            `yaml:"threshold"`
	Weights   map[string]float64 `yaml:"weights"`

	// Version is the content hash of the canonical form, 16 hex digits.
	Version string `yaml:"-"`
	// File is where the model was read from, for messages.
	File string `yaml:"-"`

	names []string // weighted feature names, sorted
}

// Load reads a model file.
func Load(path string) (*Model, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model: %w", err)
	}
	return Parse(path, data)
}

// Parse reads a model from data; file names it in errors.
func Parse(file string, data []byte) (*Model, error) {
	var m Model
	if err := yaml.UnmarshalWithOptions(data, &m, yaml.Strict()); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidModel, file, err)
	}
	m.File = file
	if err := m.validate(); err != nil {
		return nil, err
	}
	m.names = m.features()
	m.Version = fmt.Sprintf("%016x", xxhash.Sum64String(m.canonical()))
	return &m, nil
}

func (m *Model) validate() error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrInvalidModel, m.File, fmt.Sprintf(format, args...))
	}
	switch {
	case m.Name == "":
		return bad("name is missing")
	case strings.ContainsAny(m.Name, " .*>"):
		return bad("name %q may not contain spaces, '.', '*' or '>' "+
			"(it names the subject score.<name>)", m.Name)
	case m.Kind != "logistic":
		return bad("kind %q is not supported (want logistic)", m.Kind)
	case len(m.Weights) == 0:
		return bad("weights are missing")
	case !finite(m.Bias) || !finite(m.Threshold):
		return bad("bias and threshold must be finite numbers")
	case m.Threshold < 0 || m.Threshold > 1:
		return bad("threshold %v is outside [0, 1]", m.Threshold)
	}
	for name, w := range m.Weights {
		if !finite(w) {
			return bad("weight of %s is not a finite number", name)
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// canonical renders the model in the fixed form its version hashes.
func (m *Model) canonical() string {
	var b strings.Builder
	num := func(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
	fmt.Fprintf(&b, "name=%q\nkind=%q\nbias=%s\nthreshold=%s\n", m.Name, m.Kind, num(m.Bias),
		num(m.Threshold))
	for _, name := range m.features() {
		fmt.Fprintf(&b, "weight %q=%s\n", name, num(m.Weights[name]))
	}
	return b.String()
}

// features returns the weighted feature names, sorted.
func (m *Model) features() []string {
	names := make([]string, 0, len(m.Weights))
	for n := range m.Weights {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Check reports whether every weight names a numeric feature of spec.
func (m *Model) Check(spec *feature.Spec) error {
	for _, name := range m.features() {
		if _, ok := spec.Index(name); !ok {
			return fmt.Errorf("%w: %s: weight names %q, which spec %s does not define",
				ErrInvalidModel, m.File, name, spec.File)
		}
		if !spec.Numeric(name) {
			return fmt.Errorf("%w: %s: weight names %q, which is not a numeric feature",
				ErrInvalidModel, m.File, name)
		}
	}
	return nil
}

// Score applies the model to a vector of spec: the logistic function of the
// bias plus the weighted features, and whether it reaches the threshold.
// Null values count as zero. Call Check first.
func (m *Model) Score(spec *feature.Spec, v feature.Vector) (score float64, decision bool) {
	z := m.Bias
	for _, name := range m.names {
		i, ok := spec.Index(name)
		if !ok || i >= len(v.Values) || v.Values[i].Kind != feature.KindNumber {
			continue
		}
		z += m.Weights[name] * v.Values[i].Num
	}
	score = 1 / (1 + math.Exp(-z))
	return score, score >= m.Threshold
}
