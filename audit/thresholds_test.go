package audit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestApplyRules(t *testing.T) {
	tests := []struct {
		rules string
		check func(Thresholds) bool
		err   string
	}{
		{"", func(th Thresholds) bool {
			return th.Causes[Unexplained] == 0 &&
				th.Flips == 0.01
		}, ""},
		{"late=0.2, unexplained=0.5", func(th Thresholds) bool {
			return th.Causes[Late] == 0.2 && th.Causes[Unexplained] == 0.5 && th.Causes[Lag] == 0.02
		}, ""},
		{"feature:amount=0.3,feature:*=0.1,flips=0", func(th Thresholds) bool {
			return th.Feature("amount") == 0.3 && th.Feature("other") == 0.1 && th.Flips == 0
		}, ""},
		{"late", nil, "want NAME=RATE"},
		{"late=x", nil, "want NAME=RATE"},
		{"sideways=0.1", nil, "unknown cause"},
		{"lag=-0.1", nil, "not a rate"},
		{"flips=1.5", nil, "not a rate"},
		{"feature:x=NaN", nil, "not a rate"},
	}
	for _, tc := range tests {
		t.Run(tc.rules, func(t *testing.T) {
			base := DefaultThresholds()
			th, err := ApplyRules(base, tc.rules)
			if tc.err != "" {
				if !errors.Is(err, ErrInvalidThresholds) || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || !tc.check(th) {
				t.Fatalf("thresholds %+v, error %v", th, err)
			}
			if base.Causes[Late] != 0.05 || len(base.Features) != 1 {
				t.Fatalf("ApplyRules changed its argument: %+v", base)
			}
		})
	}
}

func TestLoadThresholds(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.yaml",
		"causes:\n  late: 0.2\nfeatures:\n  \"*\": 0.5\n  amount: 0\nflips: 0.1\n")
	th, err := LoadThresholds(good, DefaultThresholds())
	if err != nil {
		t.Fatal(err)
	}
	if th.Causes[Late] != 0.2 || th.Causes[Lag] != 0.02 || th.Feature("amount") != 0 ||
		th.Feature("x") != 0.5 || th.Flips != 0.1 {
		t.Fatalf("loaded %+v", th)
	}
	for name, body := range map[string]string{
		"unknown-key.yaml":   "cause:\n  late: 0.1\n",
		"unknown-cause.yaml": "causes:\n  sideways: 0.1\n",
		"not-a-rate.yaml":    "flips: 3\n",
		"not-yaml.yaml":      "causes: [\n",
	} {
		_, err := LoadThresholds(write(name, body), DefaultThresholds())
		if !errors.Is(err, ErrInvalidThresholds) {
			t.Errorf("%s: error %v, want ErrInvalidThresholds", name, err)
		}
	}
}

func TestJudge(t *testing.T) {
	r := &Report{Snapshots: 100, Thresholds: DefaultThresholds(),
		Causes:      map[Cause]CauseStat{Late: {5, 0.05}, Lag: {3, 0.03}},
		Features:    map[string]FeatureStats{"a": {Rate: 0.05}, "b": {Rate: 0.051}},
		ScoreImpact: ScoreImpact{FlipRate: 0.01}}
	r.judge()
	var rules []string
	for _, b := range r.Breaches {
		rules = append(rules, b.Rule)
	}
	// A rate equal to its limit holds; one above it breaches.
	if got := strings.Join(rules, " "); got != "cause:lag feature:b" || r.Verdict != VerdictFail {
		t.Fatalf("breaches %q, verdict %s", got, r.Verdict)
	}
	r.Thresholds, _ = ApplyRules(r.Thresholds, "lag=0.03,feature:b=0.06")
	r.judge()
	if len(r.Breaches) != 0 || r.Verdict != VerdictPass {
		t.Fatalf("breaches %+v, verdict %s", r.Breaches, r.Verdict)
	}
}
