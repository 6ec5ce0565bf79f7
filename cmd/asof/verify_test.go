package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/asofdev/asof/ledger"
	"github.com/cockroachdb/pebble/v2"
)

// runCmd runs asof in process and returns its exit code and output.
func runCmd(args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func writeLedger(t *testing.T, data string) {
	t.Helper()
	l, err := ledger.Open(ledgerDir(data), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	_, err = l.Append(&ledger.Batch{
		Events: []ledger.Event{
			{ID: "e1", Entity: "user:1", Type: "payment", Time: at, Payload: []byte(`{"a":1}`)},
			{ID: "e2", Entity: "user:2", Type: "payment", Time: at, Payload: []byte(`{"a":2}`)},
		},
		Covered: []ledger.SeqRange{{Stream: "EVENTS", First: 1, Last: 2}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestVerifyClean(t *testing.T) {
	data := t.TempDir()
	writeLedger(t, data)
	code, out, errs := runCmd("verify", "--data", data)
	if code != exitOK || !strings.Contains(out, "2 events, 0 snapshots, 1 batches; 0 findings") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}

	code, out, _ = runCmd("verify", "--data", data, "--json")
	var sum map[string]any
	if err := json.Unmarshal([]byte(out), &sum); err != nil || code != exitOK {
		t.Fatalf("exit %d, bad JSON %v:\n%s", code, err, out)
	}
	if sum["events"] != 2.0 || sum["snapshots"] != 0.0 || len(sum["findings"].([]any)) != 0 {
		t.Fatalf("summary %v", sum)
	}
}

func TestVerifyFindings(t *testing.T) {
	data := t.TempDir()
	writeLedger(t, data)

	// Damage the entity index behind the ledger's back.
	db, err := pebble.Open(ledgerDir(data), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	it, _ := db.NewIter(&pebble.IterOptions{LowerBound: []byte("e"), UpperBound: []byte("f")})
	it.First()
	k := append([]byte(nil), it.Key()...)
	it.Close()
	_ = db.Delete(k, pebble.Sync)
	db.Close()

	code, out, _ := runCmd("verify", "--data", data, "--json")
	if code != exitFindings {
		t.Fatalf("exit %d, want %d\n%s", code, exitFindings, out)
	}
	var sum struct {
		Findings []verifyFinding `json:"findings"`
	}
	if err := json.Unmarshal([]byte(out), &sum); err != nil || len(sum.Findings) != 1 {
		t.Fatalf("findings %+v %v", sum.Findings, err)
	}
	if f := sum.Findings[0]; f.Kind != "index" || f.Seq != 1 || !strings.Contains(f.Message,
		"missing") {
		t.Fatalf("finding %+v", f)
	}
	code, out, _ = runCmd("verify", "--data", data)
	if code != exitFindings || !strings.Contains(out, "1 findings") {
		t.Fatalf("exit %d\n%s", code, out)
	}
}

func TestVerifyUsageAndIOErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no data flag", []string{"verify"}, "--data is required"},
		{"missing directory", []string{"verify", "--data", t.TempDir() + "/nope"}, "no ledger in"},
		{"unknown flag", []string{"verify", "--bogus"}, "flag provided but not defined"},
		{"stray argument", []string{"verify", "--data", "x", "extra"}, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd(tc.args...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q; want 2 and %q", code, errs, tc.want)
			}
			if strings.Contains(errs, "goroutine") {
				t.Fatalf("stack trace printed: %s", errs)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	code, out, _ := runCmd("help")
	if code != exitOK || !strings.Contains(out, "verify") {
		t.Fatalf("help: %d %s", code, out)
	}
	code, _, errs := runCmd("frobnicate")
	if code != exitUsage || !strings.Contains(errs, `unknown command "frobnicate"`) {
		t.Fatalf("unknown command: %d %s", code, errs)
	}
}
