package demo

import (
	"bufio"
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/asofdev/asof/audit"
	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
)

//go:embed assets
var assets embed.FS

// Asset file names, as written into the output directory.
const (
	SpecFile        = "spec.yaml"
	SpecChangedFile = "spec-changed.yaml"
	ModelFile       = "model.yaml"
	GroundTruthFile = "ground-truth.jsonl"
	SummaryFile     = "summary.json"
)

// WriteAssets writes the demo's spec, changed spec and model into dir and
// returns them parsed.
func WriteAssets(dir string) (spec, changed *feature.Spec, mod *model.Model, err error) {
	for _, name := range []string{SpecFile, SpecChangedFile, ModelFile} {
		data, err := assets.ReadFile("assets/" + name)
		if err != nil {
			return nil, nil, nil, err
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o644); err != nil {
			return nil, nil, nil, err
		}
	}
	if spec, err = feature.LoadSpec(filepath.Join(dir, SpecFile)); err != nil {
		return nil, nil, nil, err
	}
	if changed, err = feature.LoadSpec(filepath.Join(dir, SpecChangedFile)); err != nil {
		return nil, nil, nil, err
	}
	if mod, err = model.Load(filepath.Join(dir, ModelFile)); err != nil {
		return nil, nil, nil, err
	}
	return spec, changed, mod, nil
}

// Summary is what a demo run found, beside what really happened.
type Summary struct {
	Out        string        `json:"out"`
	Faults     string        `json:"faults"`
	Seed       uint64        `json:"seed"`
	Events     int           `json:"events"`
	Late       int           `json:"late_events"`
	Snapshots  int           `json:"snapshots"`
	Differing  int           `json:"differing"`
	Verdict    string        `json:"verdict"`
	Elapsed    time.Duration `json:"elapsed_ns"`
	Causes     []causeScore  `json:"causes"`
	ReportHTML string        `json:"report_html"`
}

// Settler waits until the ledger holds every event and snapshot published.
type Settler func(ctx context.Context) error

// Run drives sys with plan, waits for the ledger to settle, audits the run
// and writes the report, the ground truth and a summary into out.
func Run(ctx context.Context, sys System, l *ledger.Ledger, settle Settler, plan Plan,
	inj *Injector, mod *model.Model, out string) (*Summary, error) {
	start := time.Now()
	rec, err := Drive(ctx, sys, plan, inj)
	if err != nil {
		return nil, err
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := settle(sctx); err != nil {
		return nil, fmt.Errorf("demo: waiting for the ledger: %w", err)
	}

	rep, err := audit.Run(ctx, l, audit.Options{Spec: plan.Spec, From: rec.Start,
		To: rec.End.Add(time.Second), Model: plan.Model, Models: []*model.Model{mod}})
	if err != nil {
		return nil, fmt.Errorf("demo: audit: %w", err)
	}
	if err := audit.WriteReport(out, rep); err != nil {
		return nil, err
	}
	truth := groundTruth(plan.Spec, rec.Published, rec.Injected, servedOf(rec))
	if err := writeTruth(filepath.Join(out, GroundTruthFile), truth); err != nil {
		return nil, err
	}

	found := map[string][]string{}
	for _, f := range rep.Findings {
		for _, c := range f.Causes {
			found[f.Snapshot] = append(found[f.Snapshot], string(c))
		}
	}
	sum := &Summary{Out: out, Faults: plan.Faults.String(), Seed: plan.Seed,
		Events:    len(rec.Published),
		Snapshots: rep.Snapshots, Differing: rep.Differing, Verdict: rep.Verdict,
		Elapsed: time.Since(start), Causes: compare(truth, found),
		ReportHTML: filepath.Join(out, audit.ReportHTML)}
	for _, p := range rec.Published {
		if p.Sent.Sub(p.Time) > 100*time.Millisecond {
			sum.Late++
		}
	}
	return sum, writeJSON(filepath.Join(out, SummaryFile), sum)
}

// servedOf turns the replies into the snapshot records the ground truth
// reads.
func servedOf(rec *Records) []served {
	out := make([]served, 0, len(rec.Replies))
	for _, r := range rec.Replies {
		t, err := time.Parse(time.RFC3339Nano, r.Time)
		if err != nil {
			continue
		}
		out = append(out, served{ID: r.SnapshotID, Entity: r.Entity, T: t, Watermark: r.Watermark,
			SpecVersion: r.SpecVersion})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].T.Before(out[j].T) })
	return out
}

func writeTruth(path string, lines []truthLine) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for _, l := range lines {
		if len(l.Causes) == 0 {
			continue
		}
		if err := enc.Encode(l); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeJSON(path string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// Print writes the summary for a person.
func (s *Summary) Print(w io.Writer) {
	fmt.Fprintf(w, "\nasof demo: %d events (%d published late), %d snapshots, faults %s, seed %d\n",
		s.Events, s.Late, s.Snapshots, s.Faults, s.Seed)
	fmt.Fprintf(w, "audit: %d of %d snapshots differ from truth; verdict %s\n\n", s.Differing,
		s.Snapshots, s.Verdict)
	fmt.Fprintf(w, "  %-12s %8s %8s %8s %10s %8s\n", "cause", "injected", "audit", "agree",
		"precision", "recall")
	for _, c := range s.Causes {
		fmt.Fprintf(w, "  %-12s %8d %8d %8d %10.3f %8.3f\n", c.Cause, c.Truth, c.Audit, c.Both,
			c.Precision, c.Recall)
	}
	fmt.Fprintf(w,
		"\n(\"injected\" counts the snapshots each fault really affected, "+
			"from the demo's own records)\n")
	fmt.Fprintf(w, "report: %s\nfinished in %s\n", s.ReportHTML,
		s.Elapsed.Round(100*time.Millisecond))
}
