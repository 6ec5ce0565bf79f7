package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/asofdev/asof/audit"
	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/model"
	"github.com/hashicorp/go-hclog"
)

func init() {
	register(&command{
		name: "audit",
		summary: "compare recorded snapshots with replay, explain every difference " +
			"and judge the result",
		usage: "--data DIR --spec FILE (--from T1 --to T2 | --night YYYY-MM-DD [--tz ZONE]) " +
			"[--model NAME] [--model-file FILE ...] [--out DIR] [--tolerance X] " +
			"[--fail-on RULES] [--thresholds FILE] [--json]",
		run: runAudit,
	})
}

// listFlag collects a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// auditFlags are the parsed flags of audit.
type auditFlags struct {
	data, spec, from, to, night, tz string
	model, out, failOn, thresholds  string
	tolerance                       float64
	modelFiles                      listFlag
	asJSON                          bool
}

func runAudit(e *env) int {
	c := commands["audit"]
	fs := newFlags(e, c)
	var f auditFlags
	fs.StringVar(&f.data, "data", "",
		"data directory of asof serve (holds ledger/); serve may be running")
	fs.StringVar(&f.spec, "spec", "", "feature spec (YAML) to replay with")
	fs.StringVar(&f.from, "from", "", "first request time audited, RFC 3339 (inclusive)")
	fs.StringVar(&f.to, "to", "", "end of the window, RFC 3339 (exclusive)")
	fs.StringVar(&f.night, "night", "", "audit one calendar day YYYY-MM-DD, [00:00, 24:00) in --tz")
	fs.StringVar(&f.tz, "tz", "UTC", "time zone of --night, such as Europe/Paris")
	fs.StringVar(&f.model, "model", "", "audit only this model's snapshots (default every model)")
	fs.Var(&f.modelFiles, "model-file", "model file to re-score with, by version (repeatable)")
	fs.StringVar(&f.out, "out", "audit-report",
		"directory for report.json, findings.jsonl, report.md, report.html")
	fs.Float64Var(&f.tolerance, "tolerance", feature.DefaultTolerance,
		"relative tolerance for numbers; 0 compares exactly")
	fs.StringVar(&f.failOn, "fail-on", "",
		"threshold rules, such as unexplained=0,late=0.1,feature:NAME=0.2,flips=0.01")
	fs.StringVar(&f.thresholds, "thresholds", "", "YAML thresholds file (applied before --fail-on)")
	fs.BoolVar(&f.asJSON, "json", false, "print report.json on stdout instead of a summary")
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}

	opts, err := f.options()
	if err != nil {
		return fail(e, fs, err)
	}
	l, cleanup, err := openLedgerForRead(f.data)
	if err != nil {
		return fail(e, nil, err)
	}
	defer cleanup()

	finish := auditProgress(e, &opts)
	r, err := audit.Run(context.Background(), l, opts)
	finish()
	if err != nil {
		return fail(e, nil, err)
	}
	if err := audit.WriteReport(f.out, r); err != nil {
		return fail(e, nil, err)
	}
	printAudit(e, r, f.out, f.asJSON)
	if r.Verdict != audit.VerdictPass {
		return exitFindings
	}
	return exitOK
}

// options checks the flags and builds the audit's options.
func (f *auditFlags) options() (audit.Options, error) {
	var o audit.Options
	switch {
	case f.data == "":
		return o, usagef("--data is required")
	case f.spec == "":
		return o, usagef("--spec is required")
	case math.IsNaN(f.tolerance) || f.tolerance < 0:
		return o, usagef("--tolerance %v: want a relative tolerance >= 0", f.tolerance)
	}
	from, to, err := f.window()
	if err != nil {
		return o, err
	}
	spec, err := feature.LoadSpec(f.spec)
	if err != nil {
		return o, err
	}
	o = audit.Options{Spec: spec, From: from, To: to, Model: f.model, Tolerance: f.tolerance}
	if f.tolerance == 0 {
		o.Tolerance = math.SmallestNonzeroFloat64 // 0 means exact here, not the default
	}
	for _, path := range f.modelFiles {
		m, err := model.Load(path)
		if err != nil {
			return o, err
		}
		if err := m.Check(spec); err != nil {
			return o, err
		}
		o.Models = append(o.Models, m)
	}
	th := audit.DefaultThresholds()
	if f.thresholds != "" {
		if th, err = audit.LoadThresholds(f.thresholds, th); err != nil {
			return o, err
		}
	}
	if th, err = audit.ApplyRules(th, f.failOn); err != nil {
		return o, usagef("--fail-on: %v", err)
	}
	o.Thresholds = &th
	return o, nil
}

// window returns the audited span from --from/--to or --night/--tz.
func (f *auditFlags) window() (time.Time, time.Time, error) {
	if f.night != "" {
		if f.from != "" || f.to != "" {
			return time.Time{}, time.Time{}, usagef("--night and --from/--to exclude each other")
		}
		loc, err := time.LoadLocation(f.tz)
		if err != nil {
			return time.Time{}, time.Time{}, usagef("--tz %q: %v", f.tz, err)
		}
		d, err := time.ParseInLocation("2006-01-02", f.night, loc)
		if err != nil {
			return time.Time{}, time.Time{}, usagef("--night %q: want YYYY-MM-DD", f.night)
		}
		return d, d.AddDate(0, 0, 1), nil
	}
	if f.from == "" || f.to == "" {
		return time.Time{}, time.Time{}, usagef("give --from and --to, or --night")
	}
	from, err := time.Parse(time.RFC3339Nano, f.from)
	if err != nil {
		return time.Time{}, time.Time{},
			usagef("--from %q: want RFC 3339, such as 2026-12-02T00:00:00Z", f.from)
	}
	to, err := time.Parse(time.RFC3339Nano, f.to)
	if err != nil {
		return time.Time{}, time.Time{},
			usagef("--to %q: want RFC 3339, such as 2026-12-03T00:00:00Z", f.to)
	}
	if !from.Before(to) {
		return time.Time{}, time.Time{}, usagef("--from %s is not before --to %s", f.from, f.to)
	}
	return from, to, nil
}

// auditProgress draws a progress bar when stderr is a terminal, and logs
// structured lines otherwise. The returned function ends the bar.
func auditProgress(e *env, o *audit.Options) (finish func()) {
	if !isTerminal(e.stderr) {
		o.Logger = hclog.New(&hclog.LoggerOptions{Name: "asof.audit", Output: e.stderr,
			Level: hclog.Info, JSONFormat: true})
		return func() {}
	}
	drawn := false
	o.Progress = func(done, total int) {
		drawn = true
		const width = 30
		filled := width
		if total > 0 {
			filled = width * done / total
		}
		fmt.Fprintf(e.stderr, "\raudit [%s%s] %d/%d snapshots", strings.Repeat("#", filled),
			strings.Repeat(".", width-filled), done, total)
	}
	return func() {
		if drawn {
			fmt.Fprintln(e.stderr)
		}
	}
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func printAudit(e *env, r *audit.Report, out string, asJSON bool) {
	if asJSON {
		_ = r.WriteJSON(e.stdout)
		return
	}
	fmt.Fprintf(e.stdout, "%d snapshots from %s to %s: %d consistent, %d differing\n", r.Snapshots,
		r.Window.From.Format(time.RFC3339), r.Window.To.Format(time.RFC3339), r.Consistent,
		r.Differing)
	var causes []string
	for _, c := range audit.Causes {
		causes = append(causes, fmt.Sprintf("%s %d", c, r.Causes[c].Snapshots))
	}
	fmt.Fprintf(e.stdout, "causes: %s\n", strings.Join(causes, ", "))
	fmt.Fprintf(e.stdout, "score impact: %d re-scored, %d flips, mean |delta| %.4g; "+
		"ingest gaps: %d missing\n",
		r.ScoreImpact.Rescored, r.ScoreImpact.Flips, r.ScoreImpact.MeanAbsDelta, r.Ingest.Missing)
	for _, b := range r.Breaches {
		fmt.Fprintf(e.stdout, "breach: %s rate %.4g above limit %.4g\n", b.Rule, b.Rate, b.Limit)
	}
	abs, err := filepath.Abs(out)
	if err != nil {
		abs = out
	}
	fmt.Fprintf(e.stdout, "verdict: %s; report in %s\n", r.Verdict, abs)
}
