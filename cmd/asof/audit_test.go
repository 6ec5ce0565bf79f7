package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/asofdev/asof/audit"
	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
	"github.com/asofdev/asof/replay"
	"github.com/cespare/xxhash/v2"
)

var (
	auditSpec  = filepath.Join("..", "..", "testdata", "specs", "payments.yaml")
	auditModel = filepath.Join("..", "..", "testdata", "models", "fraud.yaml")
)

// writeAuditLedger stores three payments of user:1 and three snapshots of
// them on 2026-12-02: two computed from exactly their watermark view, and
// one whose amount sum is off by 7 (an unexplained difference).
func writeAuditLedger(t *testing.T, data string) {
	t.Helper()
	spec, err := feature.LoadSpec(auditSpec)
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(auditModel)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var events []ledger.Event
	for i, amount := range []float64{12, 30, 5} {
		payload := []byte(`{"n":` + string(rune('0'+i)) + `}`)
		events = append(events, ledger.Event{ID: "p" + string(rune('0'+i)), Entity: "user:1",
			Type: "payment", Time: at.Add(time.Duration(i) * time.Minute),
			Arrival: at.Add(time.Duration(i)*time.Minute + time.Second), Stream: "EVENTS",
			BrokerSeq: uint64(i + 1), Payload: payload, Hash: xxhash.Sum64(payload),
			Fields: []ledger.Field{{Name: "amount",
				Value: ledger.Value{Kind: ledger.KindNumber, Num: amount}}}})
	}
	b := &ledger.Batch{Events: events,
		Covered: []ledger.SeqRange{{Stream: "EVENTS", First: 1, Last: 3}}}
	for i, off := range []float64{0, 0, 7} {
		t := at.Add(time.Duration(10+i) * time.Minute)
		var fes []feature.Event
		for k := range events {
			fes = append(fes, replay.FeatureEvent(&events[k]))
		}
		v := feature.Compute(spec, fes, t)
		sumAt, _ := spec.Index("amount_sum_24h")
		v.Values[sumAt].Num += off
		score, decision := m.Score(spec, v)
		s := ledger.Snapshot{ID: "s" + string(rune('0'+i)), Model: "fraud", ModelVersion: m.Version,
			SpecVersion: spec.Version, Entity: "user:1", Time: t, InputCount: uint64(v.Count),
			InputDigest: v.Digest, Watermark: 3, Score: score, Decision: decision,
			Payload: []byte(`{"s":` + string(rune('0'+i)) + `}`)}
		for k, f := range spec.Features {
			s.Vector = append(s.Vector, ledger.Field{Name: f.Name,
				Value: replay.LedgerValue(v.Values[k])})
		}
		b.Snapshots = append(b.Snapshots, s)
	}
	l, err := ledger.Open(ledgerDir(data), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := l.Append(b); err != nil {
		t.Fatal(err)
	}
}

// withArgs returns first followed by extra, in a new slice.
func withArgs(first []string, extra ...string) []string {
	return append(slices.Clone(first), extra...)
}

func TestAuditCommand(t *testing.T) {
	data := t.TempDir()
	writeAuditLedger(t, data)
	out := filepath.Join(t.TempDir(), "report")
	base := []string{"audit", "--data", data, "--spec", auditSpec, "--model-file", auditModel,
		"--out", out}

	// The defect is unexplained, and none is allowed by default: exit 1.
	code, stdout, stderr := runCmd(withArgs(base, "--night", "2026-12-02")...)
	if code != exitFindings {
		t.Fatalf("exit %d, want %d\n%s%s", code, exitFindings, stdout, stderr)
	}
	for _, want := range []string{"3 snapshots", "2 consistent, 1 differing", "unexplained 1",
		"breach: cause:unexplained", "verdict: fail"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, stdout)
		}
	}
	if !strings.Contains(stderr, `"@message":"audit done"`) {
		t.Errorf("no structured log on a non-terminal stderr:\n%s", stderr)
	}
	files := []string{audit.ReportJSON, audit.FindingsJSON, audit.ReportMD, audit.ReportHTML}
	for _, name := range files {
		if st, err := os.Stat(filepath.Join(out, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	findings, _ := os.ReadFile(filepath.Join(out, audit.FindingsJSON))
	n := strings.Count(string(findings), "\n")
	if n != 1 || !strings.Contains(string(findings), `"s2"`) {
		t.Errorf("findings.jsonl holds %d lines:\n%s", n, findings)
	}

	// Allowing it passes, and --json prints the report.
	code, stdout, _ = runCmd(withArgs(base, "--from", "2026-12-02T00:00:00Z", "--to",
		"2026-12-03T00:00:00Z", "--fail-on", "unexplained=1,feature:*=1", "--json")...)
	var rep audit.Report
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitOK {
		t.Fatalf("exit %d, %v:\n%s", code, err, stdout)
	}
	if rep.Verdict != "pass" || rep.Causes[audit.Unexplained].Snapshots != 1 ||
		rep.ScoreImpact.Rescored != 3 {
		t.Fatalf("report %+v", rep)
	}
}

func TestAuditWindow(t *testing.T) {
	data := t.TempDir()
	writeAuditLedger(t, data)
	out := filepath.Join(t.TempDir(), "report")
	// The snapshots are at 10:10-10:12 UTC: 11:10 in Paris on the 2nd, and
	// 02:10 in Los Angeles, still the 2nd.
	tests := []struct {
		tz, night string
		snapshots int
		from      string
	}{
		{"Europe/Paris", "2026-12-02", 3, "2026-12-01T23:00:00Z"},
		{"America/Los_Angeles", "2026-12-01", 0, "2026-12-01T08:00:00Z"},
		{"UTC", "2026-12-03", 0, "2026-12-03T00:00:00Z"},
	}
	for _, tc := range tests {
		t.Run(tc.tz+"/"+tc.night, func(t *testing.T) {
			code, stdout, stderr := runCmd("audit", "--data", data, "--spec", auditSpec,
				"--out", out,
				"--night", tc.night, "--tz", tc.tz, "--fail-on", "unexplained=1,feature:*=1",
				"--json")
			var rep audit.Report
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitOK {
				t.Fatalf("exit %d, %v:\n%s%s", code, err, stdout, stderr)
			}
			if rep.Snapshots != tc.snapshots || rep.Window.From.Format(time.RFC3339) != tc.from ||
				rep.Window.To.Sub(rep.Window.From) != 24*time.Hour {
				t.Fatalf("window %v, %d snapshots", rep.Window, rep.Snapshots)
			}
			if rep.ScoreImpact.NotRescored != rep.Snapshots {
				t.Fatalf("re-scored without --model-file: %+v", rep.ScoreImpact)
			}
		})
	}
}

func TestAuditUsage(t *testing.T) {
	data := t.TempDir()
	writeAuditLedger(t, data)
	dir := t.TempDir()
	badTh := filepath.Join(dir, "th.yaml")
	if err := os.WriteFile(badTh, []byte("causes:\n  sideways: 0.1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "report")
	base := []string{"audit", "--data", data, "--spec", auditSpec, "--out", out}
	night := withArgs(base, "--night", "2026-12-02")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no data", []string{"audit", "--spec", auditSpec, "--night", "2026-12-02"},
			"--data is required"},
		{"no spec", []string{"audit", "--data", data, "--night", "2026-12-02"},
			"--spec is required"},
		{"no window", base, "give --from and --to, or --night"},
		{"only from", withArgs(base, "--from", "2026-12-02T00:00:00Z"), "give --from and --to"},
		{"night and from", withArgs(night, "--from", "2026-12-02T00:00:00Z"), "exclude each other"},
		{"bad night", withArgs(base, "--night", "02/12/2026"), "want YYYY-MM-DD"},
		{"bad tz", withArgs(night, "--tz", "Mars/Olympus"), "--tz"},
		{"bad from", withArgs(base, "--from", "yesterday", "--to", "2026-12-03T00:00:00Z"),
			"want RFC 3339"},
		{"empty window", withArgs(base, "--from", "2026-12-03T00:00:00Z", "--to",
			"2026-12-02T00:00:00Z"),
			"is not before"},
		{"bad rule", withArgs(night, "--fail-on", "late"), "want NAME=RATE"},
		{"unknown cause", withArgs(night, "--fail-on", "sideways=0.1"), "unknown cause"},
		{"rate above 1", withArgs(night, "--fail-on", "late=2"), "not a rate"},
		{"bad thresholds file", withArgs(night, "--thresholds", badTh), "unknown cause"},
		{"missing thresholds file", withArgs(night, "--thresholds", filepath.Join(dir,
			"none.yaml")),
			"no such file"},
		{"negative tolerance", withArgs(night, "--tolerance", "-1"), "--tolerance"},
		{"missing model file", withArgs(night, "--model-file", filepath.Join(dir, "none.yaml")),
			"no such file"},
		{"no ledger", []string{"audit", "--data", dir, "--spec", auditSpec, "--night",
			"2026-12-02"},
			"no ledger in"},
		{"unknown flag", withArgs(night, "--colour"), "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd(tc.args...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errs, tc.want)
			}
		})
	}
	if _, err := os.Stat(out); err == nil {
		t.Fatal("a refused audit wrote a report")
	}
	code, stdout, _ := runCmd("help", "audit")
	if code != exitOK || !strings.Contains(stdout, "--night") {
		t.Fatalf("help audit: exit %d\n%s", code, stdout)
	}
}
