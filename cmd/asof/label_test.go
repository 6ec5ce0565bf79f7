package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// TestLabelCommand labels two snapshots: one whose 30-day horizon has
// passed (the ledger's newest arrival is 40 days later) and one whose
// horizon has not, then writes the result as Parquet and uses it as the
// label file of backfill.
func TestLabelCommand(t *testing.T) {
	data := t.TempDir()
	writeTrainingLedger(t, data)
	l, err := ledger.Open(ledgerDir(data), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	day := 24 * time.Hour
	snap := func(id string, at time.Time) ledger.Snapshot {
		return ledger.Snapshot{ID: id, RequestID: "r-" + id, Model: "fraud", Entity: "user:1",
			Time:    at,
			Arrival: at, Payload: []byte(id)}
	}
	_, err = l.Append(&ledger.Batch{
		Snapshots: []ledger.Snapshot{snap("s1", bt0.Add(time.Hour)), snap("s2", bt0.Add(20*day))},
		Events: []ledger.Event{{ID: "newest", Entity: "user:9", Type: "payment",
			Time:    bt0.Add(40 * day),
			Arrival: bt0.Add(40 * day), Payload: []byte("newest")}},
	})
	_ = l.Close()
	if err != nil {
		t.Fatal(err)
	}
	spec := filepath.Join("..", "..", "testdata", "specs", "payments.yaml")
	dir := t.TempDir()

	out := filepath.Join(dir, "labels.parquet")
	code, _, errs := runCmd("label", "--data", data, "--spec", spec, "--model", "fraud",
		"--out", out,
		"--from", "2026-12-01T00:00:00Z")
	if code != exitOK || !strings.Contains(errs, "label: 2 rows") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	// The command takes now from the clock; for the horizons, label as if
	// it were 100 days after bt0.
	lr, err := ledger.Open(ledgerDir(data), ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	specV, err := feature.LoadSpec(spec)
	if err != nil {
		t.Fatal(err)
	}
	args := &labelArgs{model: "fraud", out: out}
	n, err := writeLabels(lr, specV, args, bt0.Add(100*day))
	_ = lr.Close()
	if err != nil || n != 2 {
		t.Fatalf("%d rows, %v", n, err)
	}
	tab, err := readLabelTable(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range tab.rows {
		got = append(got, r.vals[2].String()+" "+r.vals[3].String()+" "+r.vals[4].String()+" "+
			r.vals[5].String())
	}
	// request id, snapshot id, complete, chargebacks_30d; the newest
	// arrival is 40 days after bt0, so s2's horizon (50 days) has not passed.
	want := []string{`"r-s1" "s1" true 1`, `"r-s2" "s2" false null`}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("labels %v, want %v", got, want)
	}

	// The output of label is a valid label file.
	train := filepath.Join(dir, "train.csv")
	code, _, errs = runCmd("backfill", "--data", data, "--spec", spec, "--labels", out, "--out",
		train)
	if code != exitOK || !strings.Contains(errs, "2 rows, 1 entities") {
		t.Fatalf("backfill of label output: exit %d: %s", code, errs)
	}

	// From a requests file instead of snapshots, with its columns carried.
	out = filepath.Join(dir, "requests.csv")
	code, _, errs = runCmd("label", "--data", data, "--spec", spec, "--out", out, "--requests",
		filepath.Join("..", "..", "testdata", "labels", "payments.csv"))
	if code != exitOK || !strings.Contains(errs, "label: 3 rows") {
		t.Fatalf("requests: exit %d: %s", code, errs)
	}
	tab, err = readLabelTable(out)
	if err != nil {
		t.Fatal(err)
	}
	if names := colNames(tab); names != "entity,time,fraud,complete,chargebacks_30d" {
		t.Fatalf("columns %s", names)
	}
}

func colNames(t *labelTable) string {
	var s []string
	for _, c := range t.cols {
		s = append(s, c.name)
	}
	return strings.Join(s, ",")
}

func TestLabelErrors(t *testing.T) {
	data := t.TempDir()
	writeTrainingLedger(t, data)
	spec := filepath.Join("..", "..", "testdata", "specs", "payments.yaml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no out", []string{"--data", data, "--spec", spec}, "--out is required"},
		{"bad from", []string{"--data", data, "--spec", spec, "--out", "x.csv", "--from",
			"now"}, "want RFC 3339"},
		{"bad requests", []string{"--data", data, "--spec", spec, "--out",
			filepath.Join(t.TempDir(), "x.csv"),
			"--requests", filepath.Join("..", "..", "testdata", "labels", "bad_time.csv")},
			"bad_time.csv:3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd(append([]string{"label"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errs, tc.want)
			}
		})
	}
}
