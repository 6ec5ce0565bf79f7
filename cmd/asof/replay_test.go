package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestReplayCommand(t *testing.T) {
	data := t.TempDir()
	writeLedger(t, data)
	spec := filepath.Join("..", "..", "testdata", "specs", "payments.yaml")

	code, out, errs := runCmd("replay", "--data", data, "--spec", spec, "--entity", "user:1",
		"--at", "2026-12-02T10:30:00Z", "--json", "--explain")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	var got replayOutput
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatal(err, out)
	}
	if got.InputCount != 1 || len(got.Events) != 1 || got.Events[0].ID != "e1" ||
		got.Features["events_1h"] != 1.0 {
		t.Fatalf("replay output %+v", got)
	}

	// Before the event: nothing.
	code, out, _ = runCmd("replay", "--data", data, "--spec", spec, "--entity", "user:1",
		"--at", "2026-12-02T09:00:00Z", "--view", "knowable")
	if code != exitOK || !strings.Contains(out, "input set: 0 events") || !strings.Contains(out,
		"knowable view") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestReplayErrors(t *testing.T) {
	data := t.TempDir()
	writeLedger(t, data)
	spec := filepath.Join("..", "..", "testdata", "specs", "payments.yaml")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad,
		[]byte("features:\n  - name: x\n    event: payment\n    agg: median\n"),
		0o644); err != nil {
		t.Fatal(err)
	}
	base := []string{"replay", "--data", data, "--entity", "user:1"}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no spec", append(base, "--at", "2026-12-02T11:00:00Z"), "--spec is required"},
		{"bad time", append(base, "--spec", spec, "--at", "yesterday"), "want RFC 3339"},
		{"bad view", append(base, "--spec", spec, "--at", "2026-12-02T11:00:00Z", "--view",
			"x"), "unknown view"},
		{"watermark without bound", append(base, "--spec", spec, "--at", "2026-12-02T11:00:00Z",
			"--view", "watermark"), "needs --watermark"},
		{"bad spec", append(base, "--spec", bad, "--at", "2026-12-02T11:00:00Z"), "bad.yaml:4:"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd(tc.args...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errs, tc.want)
			}
		})
	}
}
