package audit

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"
)

// AnyFeature is the key of Thresholds.Features that applies to every
// feature without a limit of its own.
const AnyFeature = "*"

// Thresholds are the limits an audit is judged by. Every limit is a rate in
// [0, 1], and a rate above its limit is a breach: a limit of 0 allows none.
type Thresholds struct {
	// Causes limits, per cause, the share of audited snapshots the cause
	// affects. Defaults: late 0.05, lag 0.02, dropped 0.001, duplicated
	// 0.001, definition 0.001, unexplained 0 (none allowed: it is a
	// defect).
	Causes map[Cause]float64 `json:"causes"`

	// Features limits, per feature name, the share of compared snapshots
	// whose value differs from truth; AnyFeature covers the features not
	// named. Default: AnyFeature 0.05.
	Features map[string]float64 `json:"features"`

	// Flips limits the share of re-scored snapshots whose decision on the
	// truth vector differs from the one served. Default 0.01.
	Flips float64 `json:"flips"`
}

// DefaultThresholds returns the documented default limits (see Thresholds).
func DefaultThresholds() Thresholds {
	return Thresholds{
		Causes: map[Cause]float64{
			Late: 0.05, Lag: 0.02, Dropped: 0.001, Duplicated: 0.001,
			Definition: 0.001, Unexplained: 0,
		},
		Features: map[string]float64{AnyFeature: 0.05},
		Flips:    0.01,
	}
}

// clone returns a deep copy, so that callers' maps are never mutated.
func (t Thresholds) clone() Thresholds {
	t.Causes = maps.Clone(t.Causes)
	t.Features = maps.Clone(t.Features)
	if t.Causes == nil {
		t.Causes = map[Cause]float64{}
	}
	if t.Features == nil {
		t.Features = map[string]float64{}
	}
	return t
}

// Validate checks that every cause is known and every limit is a rate.
func (t Thresholds) Validate() error {
	for c, v := range t.Causes {
		if !c.valid() {
			return fmt.Errorf("%w: unknown cause %q (want one of %s)", ErrInvalidThresholds, c,
				causeList())
		}
		if err := checkRate("cause "+string(c), v); err != nil {
			return err
		}
	}
	for f, v := range t.Features {
		if err := checkRate("feature "+f, v); err != nil {
			return err
		}
	}
	return checkRate("flips", t.Flips)
}

func checkRate(what string, v float64) error {
	if !(v >= 0 && v <= 1) {
		return fmt.Errorf("%w: %s: limit %v is not a rate in [0, 1]", ErrInvalidThresholds, what, v)
	}
	return nil
}

func causeList() string {
	names := make([]string, len(Causes))
	for i, c := range Causes {
		names[i] = string(c)
	}
	return strings.Join(names, ", ")
}

// Feature returns the limit for the named feature: its own, or AnyFeature's,
// or 1 (anything goes) when neither is set.
func (t Thresholds) Feature(name string) float64 {
	if v, ok := t.Features[name]; ok {
		return v
	}
	if v, ok := t.Features[AnyFeature]; ok {
		return v
	}
	return 1
}

// thresholdsFile is the YAML form of Thresholds. Every key is optional and
// overrides the limit it names:
//
//	causes:
//	  late: 0.1
//	  unexplained: 0
//	features:
//	  "*": 0.05
//	  amount_sum_24h: 0.2
//	flips: 0.02
type thresholdsFile struct {
	Causes   map[string]float64 `yaml:"causes"`
	Features map[string]float64 `yaml:"features"`
	Flips    *float64           `yaml:"flips"`
}

// LoadThresholds reads a YAML thresholds file and applies it over base: the
// limits the file names replace base's, the others stay.
func LoadThresholds(path string, base Thresholds) (Thresholds, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return base, fmt.Errorf("audit: read thresholds: %w", err)
	}
	var f thresholdsFile
	if err := yaml.UnmarshalWithOptions(data, &f, yaml.Strict()); err != nil {
		return base, fmt.Errorf("%w: %s: %v", ErrInvalidThresholds, path, err)
	}
	t := base.clone()
	for c, v := range f.Causes {
		t.Causes[Cause(c)] = v
	}
	maps.Copy(t.Features, f.Features)
	if f.Flips != nil {
		t.Flips = *f.Flips
	}
	if err := t.Validate(); err != nil {
		return base, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// ApplyRules applies comma-separated rules over t, in order. A rule is
// NAME=LIMIT where NAME is a cause (late, lag, dropped, duplicated,
// definition, unexplained), "flips", or "feature:NAME" (feature:* for every
// feature without its own limit); LIMIT is a rate in [0, 1]. For example
// "unexplained=0,late=0.1,feature:amount_sum_24h=0.2,flips=0.02".
func ApplyRules(t Thresholds, rules string) (Thresholds, error) {
	out := t.clone()
	for rule := range strings.SplitSeq(rules, ",") {
		rule = strings.TrimSpace(rule)
		if rule == "" {
			continue
		}
		name, val, ok := strings.Cut(rule, "=")
		v, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if !ok || err != nil {
			return t, fmt.Errorf("%w: rule %q: want NAME=RATE, such as late=0.05",
				ErrInvalidThresholds, rule)
		}
		name = strings.TrimSpace(name)
		switch {
		case name == "flips":
			out.Flips = v
		case strings.HasPrefix(name, "feature:"):
			out.Features[strings.TrimPrefix(name, "feature:")] = v
		default:
			out.Causes[Cause(name)] = v
		}
	}
	if err := out.Validate(); err != nil {
		return t, err
	}
	return out, nil
}

// Breach is one limit the audit exceeded.
type Breach struct {
	Rule  string  `json:"rule"`  // "cause:late", "feature:amount_sum_24h" or "flips"
	Rate  float64 `json:"rate"`  // the measured rate
	Limit float64 `json:"limit"` // the limit it exceeded
}

// judge fills the report's breaches and verdict from its thresholds.
func (r *Report) judge() {
	r.Breaches = []Breach{}
	for _, c := range Causes {
		if limit, ok := r.Thresholds.Causes[c]; ok && r.Causes[c].Rate > limit {
			r.Breaches = append(r.Breaches, Breach{"cause:" + string(c), r.Causes[c].Rate, limit})
		}
	}
	for _, name := range slices.Sorted(maps.Keys(r.Features)) {
		fs := r.Features[name]
		if limit := r.Thresholds.Feature(name); fs.Rate > limit {
			r.Breaches = append(r.Breaches, Breach{"feature:" + name, fs.Rate, limit})
		}
	}
	if r.ScoreImpact.FlipRate > r.Thresholds.Flips {
		r.Breaches = append(r.Breaches, Breach{"flips", r.ScoreImpact.FlipRate, r.Thresholds.Flips})
	}
	r.Verdict = VerdictPass
	if len(r.Breaches) > 0 {
		r.Verdict = VerdictFail
	}
}
