package audit

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The files WriteReport writes into its directory.
const (
	ReportJSON   = "report.json"
	FindingsJSON = "findings.jsonl"
	ReportMD     = "report.md"
	ReportHTML   = "report.html"
)

// WriteReport writes the report's four files into dir, creating it: each is
// written to a temporary name and renamed, so a reader never sees half a
// file.
func WriteReport(dir string, r *Report) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("audit: write report: %w", err)
	}
	files := []struct {
		name  string
		write func(io.Writer) error
	}{
		{ReportJSON, r.WriteJSON},
		{FindingsJSON, r.WriteFindings},
		{ReportMD, r.WriteMarkdown},
		{ReportHTML, r.WriteHTML},
	}
	for _, f := range files {
		if err := writeFile(filepath.Join(dir, f.name), f.write); err != nil {
			return fmt.Errorf("audit: write report: %w", err)
		}
	}
	return nil
}

func writeFile(path string, write func(io.Writer) error) error {
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = write(w)
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, path)
}

// WriteJSON writes report.json: the report without its findings, indented.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteFindings writes findings.jsonl: one JSON object per line for each
// differing snapshot.
func (r *Report) WriteFindings(w io.Writer) error {
	enc := json.NewEncoder(w)
	for i := range r.Findings {
		if err := enc.Encode(&r.Findings[i]); err != nil {
			return err
		}
	}
	return nil
}

// WriteMarkdown writes report.md, a summary to paste into a ticket.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# asof audit: %s\n\n", strings.ToUpper(r.Verdict))
	fmt.Fprintf(b, "Window %s to %s", r.Window.From.Format(time.RFC3339),
		r.Window.To.Format(time.RFC3339))
	if r.Model != "" {
		fmt.Fprintf(b, ", model %s", r.Model)
	}
	fmt.Fprintf(b, ", spec %s, tolerance %g.\n\n", r.SpecVersion, r.Tolerance)
	fmt.Fprintf(b, "%d snapshots audited: %d consistent with truth, %d differing (%s).\n\n",
		r.Snapshots, r.Consistent, r.Differing, pct(rate(r.Differing, r.Snapshots)))

	b.WriteString("## Causes\n\n| cause | snapshots | rate | limit |\n" +
		"| --- | ---: | ---: | ---: |\n")
	for _, c := range Causes {
		cs := r.Causes[c]
		fmt.Fprintf(b, "| %s | %d | %s | %s |\n", c, cs.Snapshots, pct(cs.Rate),
			limitOf(r.Thresholds.Causes, c))
	}
	b.WriteString("\n## Features\n\n")
	b.WriteString("| feature | compared | mismatched | rate | mean abs diff | max abs diff |\n")
	b.WriteString("| --- | ---: | ---: | ---: | ---: | ---: |\n")
	for _, name := range r.featureNames() {
		fs := r.Features[name]
		fmt.Fprintf(b, "| %s | %d | %d | %s | %.6g | %.6g |\n", name, fs.Compared, fs.Mismatched,
			pct(fs.Rate), fs.MeanAbsDiff, fs.MaxAbsDiff)
	}
	si := r.ScoreImpact
	fmt.Fprintf(b,
		"\n## Score impact\n\n%d snapshots re-scored on their truth vector (%d not: model "+
			"version not given); mean |delta| %.6g, max %.6g; %d decisions flip (%s).\n",
		si.Rescored, si.NotRescored, si.MeanAbsDelta, si.MaxAbsDelta, si.Flips, pct(si.FlipRate))
	fmt.Fprintf(b, "\n## Ingest\n\n%d broker sequences in %d gaps never reached the ledger.\n",
		r.Ingest.Missing, len(r.Ingest.Gaps))
	for _, g := range r.Ingest.Gaps {
		fmt.Fprintf(b, "- stream %s: %d-%d\n", g.Stream, g.First, g.Last)
	}
	if len(r.WorstEntities) > 0 {
		b.WriteString("\n## Worst entities\n\n| entity | snapshots | differing | max abs diff |\n")
		b.WriteString("| --- | ---: | ---: | ---: |\n")
		for _, e := range r.WorstEntities {
			fmt.Fprintf(b, "| %s | %d | %d | %.6g |\n", e.Entity, e.Snapshots, e.Differing,
				e.MaxAbsDiff)
		}
	}
	b.WriteString("\n## Verdict\n\n")
	if len(r.Breaches) == 0 {
		b.WriteString("Every threshold holds: **pass**.\n")
	}
	for _, br := range r.Breaches {
		fmt.Fprintf(b, "- %s: %s is above the limit %s\n", br.Rule, pct(br.Rate), pct(br.Limit))
	}
	if len(r.Breaches) > 0 {
		b.WriteString("\n**fail**. Each differing snapshot is explained in findings.jsonl.\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// featureNames returns the report's feature names in a stable order.
func (r *Report) featureNames() []string {
	names := make([]string, 0, len(r.Features))
	for n := range r.Features {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func pct(x float64) string { return fmt.Sprintf("%.3g%%", 100*x) }

func limitOf(m map[Cause]float64, c Cause) string {
	if v, ok := m[c]; ok {
		return pct(v)
	}
	return "none"
}
