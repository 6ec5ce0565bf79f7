package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// demoSummary reads what a demo run wrote.
func demoSummary(t *testing.T, out string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil {
		t.Fatal(err)
	}
	var sum map[string]any
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	return sum
}

// TestDemoScoresTheAudit runs a shortened demo with every fault and checks
// the audit against the ground truth the demo kept: precision and recall of
// at least 0.99 for every cause, and every fault actually injected.
func TestDemoScoresTheAudit(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs for several seconds")
	}
	out := filepath.Join(t.TempDir(), "demo")
	code, stdout, stderr := runCmd("demo", "--out", out, "--duration", "8s", "--seed", "3")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	for _, f := range []string{"report.html", "report.md", "report.json", "findings.jsonl",
		"ground-truth.jsonl", "spec.yaml", "model.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("demo did not write %s: %v", f, err)
		}
	}
	sum := demoSummary(t, out)
	for _, c := range sum["causes"].([]any) {
		c := c.(map[string]any)
		if c["precision"].(float64) < 0.99 || c["recall"].(float64) < 0.99 {
			t.Errorf("cause %v: precision %v, recall %v (truth %v, audit %v)", c["cause"],
				c["precision"], c["recall"], c["truth"], c["audit"])
		}
		if c["cause"] != "unexplained" && c["truth"].(float64) == 0 {
			t.Errorf("cause %v was never injected: the run proves nothing about it", c["cause"])
		}
	}
	if !strings.Contains(stdout, "precision") || !strings.Contains(stdout, "report.html") {
		t.Errorf("summary not printed:\n%s", stdout)
	}
}

// TestDemoWithoutFaults checks that with no fault injected the audit finds
// no difference at all.
func TestDemoWithoutFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("the demo runs for several seconds")
	}
	out := filepath.Join(t.TempDir(), "demo")
	code, stdout, stderr := runCmd("demo", "--out", out, "--duration", "4s", "--faults", "none")
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, stdout, stderr)
	}
	sum := demoSummary(t, out)
	if sum["differing"].(float64) != 0 || sum["snapshots"].(float64) < 100 ||
		sum["verdict"] != "pass" {
		t.Fatalf("no faults, yet: %v", sum)
	}
}

func TestDemoRefusesForeignDirectory(t *testing.T) {
	out := t.TempDir()
	if err := os.WriteFile(filepath.Join(out, "precious.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd("demo", "--out", out, "--duration", "1s")
	if code != exitUsage || !strings.Contains(stderr, "not written by asof demo") {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if _, err := os.Stat(filepath.Join(out, "precious.txt")); err != nil {
		t.Fatal("demo removed a file it did not write")
	}
	code, _, stderr = runCmd("demo", "--faults", "drop=lots")
	if code != exitUsage || !strings.Contains(stderr, "--faults") {
		t.Fatalf("bad faults: exit %d: %s", code, stderr)
	}
}
