package audit

import (
	"context"
	"errors"
	"math"
	"path/filepath"
	"testing"
	"time"

	"github.com/asofdev/asof/model"
)

func TestOptionsValidate(t *testing.T) {
	fx := loadFixture(t)
	to := day.AddDate(0, 0, 1)
	bad := Thresholds{Flips: 2}
	tests := []struct {
		name string
		opts Options
	}{
		{"no spec", Options{From: day, To: to}},
		{"no window", Options{Spec: fx.spec}},
		{"no to", Options{Spec: fx.spec, From: day}},
		{"reversed", Options{Spec: fx.spec, From: to, To: day}},
		{"empty", Options{Spec: fx.spec, From: day, To: day}},
		{"negative tolerance", Options{Spec: fx.spec, From: day, To: to, Tolerance: -1}},
		{"NaN tolerance", Options{Spec: fx.spec, From: day, To: to, Tolerance: math.NaN()}},
		{"bad thresholds", Options{Spec: fx.spec, From: day, To: to, Thresholds: &bad}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.opts.Validate()
			if !errors.Is(err, ErrInvalidOptions) && !errors.Is(err, ErrInvalidThresholds) {
				t.Fatalf("Validate: %v", err)
			}
			if _, err := Run(context.Background(), nil, tc.opts); err == nil {
				t.Fatal("Run accepted invalid options")
			}
		})
	}
}

// TestRunSelects checks the model filter, the window's ends, re-scoring by
// version only, and cancellation.
func TestRunSelects(t *testing.T) {
	fx := loadFixture(t)
	l := fx.build(t, parseScript(t, filepath.Join(casesDir, "late", "case.txt")))
	run := func(o Options) *Report {
		t.Helper()
		o.Spec = fx.spec
		r, err := Run(context.Background(), l, o)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	at1030 := day.Add(10*time.Hour + 30*time.Minute)
	if r := run(Options{From: day, To: day.AddDate(0, 0, 1), Model: "other"}); r.Snapshots != 0 {
		t.Fatalf("model filter: %d snapshots", r.Snapshots)
	}
	// [10:30, 10:50): s0 and s2 at 10:30, not s1 at 10:50.
	r := run(Options{From: at1030, To: at1030.Add(20 * time.Minute), Model: "fraud"})
	if r.Snapshots != 2 || r.ScoreImpact.NotRescored != 2 || r.ScoreImpact.Rescored != 0 {
		t.Fatalf("window: %d snapshots, %+v", r.Snapshots, r.ScoreImpact)
	}
	other, err := model.Parse("other.yaml", []byte("name: fraud\nkind: logistic\nbias: 1\n"+
		"threshold: 0.5\nweights:\n  payments_1h: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	r = run(Options{From: day, To: day.AddDate(0, 0, 1), Models: []*model.Model{other, fx.model}})
	if r.ScoreImpact.Rescored != 3 || r.ScoreImpact.NotRescored != 0 {
		t.Fatalf("re-scoring by version: %+v", r.ScoreImpact)
	}
	r = run(Options{From: day, To: day.AddDate(0, 0, 1), Models: []*model.Model{other}})
	if r.ScoreImpact.Rescored != 0 || r.ScoreImpact.NotRescored != 3 {
		t.Fatalf("a model of another version re-scored: %+v", r.ScoreImpact)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = Run(ctx, l, Options{Spec: fx.spec, From: day, To: day.AddDate(0, 0, 1)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled audit returned %v", err)
	}
}

// TestHoursFollowWindow checks that the hourly series is counted from the
// window's start and given in its time zone, so that it lines up with a
// night in a zone whose offset is not a whole number of hours.
func TestHoursFollowWindow(t *testing.T) {
	fx := loadFixture(t)
	l := fx.build(t, parseScript(t, filepath.Join(casesDir, "late", "case.txt")))
	ist := time.FixedZone("IST", 5*3600+1800)
	// 09:45 UTC is 15:15 in IST: s0 and s2 at 10:30 fall in the first hour,
	// s1 at 10:50 in the second.
	from := day.Add(9*time.Hour + 45*time.Minute).In(ist)
	r, err := Run(context.Background(), l,
		Options{Spec: fx.spec, From: from, To: from.Add(24 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		start     string
		snapshots int
	}{{"15:15+05:30", 2}, {"16:15+05:30", 1}}
	if len(r.Hours) != len(want) {
		t.Fatalf("%d hours, want %d: %+v", len(r.Hours), len(want), r.Hours)
	}
	for i, w := range want {
		h := r.Hours[i]
		if got := h.Start.Format("15:04Z07:00"); got != w.start || h.Snapshots != w.snapshots {
			t.Errorf("hour %d: start %s with %d snapshots, want %s with %d",
				i, got, h.Snapshots, w.start, w.snapshots)
		}
	}
}
