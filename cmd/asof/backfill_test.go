package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

var bt0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

// writeTrainingLedger stores payments, a late payment and a chargeback
// for user:1 and user:2; offsets are from bt0.
func writeTrainingLedger(t *testing.T, data string) {
	t.Helper()
	l, err := ledger.Open(ledgerDir(data), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ev := func(id, entity, typ string, at, arrived time.Duration, amount float64,
		merchant string) ledger.Event {
		return ledger.Event{ID: id, Entity: entity, Type: typ, Time: bt0.Add(at),
			Arrival: bt0.Add(arrived),
			Stream:  "EVENTS", Payload: fmt.Appendf(nil, `{"id":%q,"amount":%g}`, id, amount),
			Fields: []ledger.Field{
				{Name: "amount", Value: ledger.Value{Kind: ledger.KindNumber, Num: amount}},
				{Name: "merchant", Value: ledger.Value{Kind: ledger.KindString, Str: merchant}},
			}}
	}
	m := time.Minute
	_, err = l.Append(&ledger.Batch{Events: []ledger.Event{
		ev("p1", "user:1", "payment", 0, m, 10, "m1"),
		ev("p2", "user:1", "payment", 20*m, 21*m, 2.5, "m2"),
		ev("late", "user:1", "payment", 25*m, 5*time.Hour, 100, "m-late"),
		ev("cb", "user:1", "chargeback", 2*time.Hour, 2*time.Hour, 0, ""),
		ev("p3", "user:2", "payment", -2*time.Hour, -2*time.Hour, 7, "m3"),
		ev("tail", "user:3", "payment", 6*time.Hour, 6*time.Hour, 1, "m4"),
	}})
	if err != nil {
		t.Fatal(err)
	}
}

func TestBackfillCommand(t *testing.T) {
	data := t.TempDir()
	writeTrainingLedger(t, data)
	spec := filepath.Join("..", "..", "testdata", "specs", "payments.yaml")
	labels := filepath.Join("..", "..", "testdata", "labels", "payments.csv")
	dir := t.TempDir()

	// user:1 at 10:30 on truth sees p1, p2 and the late payment; on
	// knowable only p1 and p2. user:2 at 09:00 sees p3. user:1 at 12:00
	// still sees all three within 24h.
	// view -> entity@time -> label, amount_sum_24h, last_merchant
	want := map[string]map[string][3]any{
		"truth": {
			"user:1@2026-12-02T10:30:00Z": {1.0, 112.5, "m-late"},
			"user:2@2026-12-02T09:00:00Z": {0.0, 7.0, "m3"},
			"user:1@2026-12-02T12:00:00Z": {nil, 112.5, "m-late"},
		},
		"knowable": {
			"user:1@2026-12-02T10:30:00Z": {1.0, 12.5, "m2"},
			"user:2@2026-12-02T09:00:00Z": {0.0, 7.0, "m3"},
			"user:1@2026-12-02T12:00:00Z": {nil, 12.5, "m2"},
		},
	}
	for view, rows := range want {
		for _, ext := range []string{"csv", "parquet"} {
			t.Run(view+"/"+ext, func(t *testing.T) {
				out := filepath.Join(dir, view+"."+ext)
				code, _, errs := runCmd("backfill", "--data", data, "--spec", spec, "--labels",
					labels,
					"--out", out, "--view", view)
				if code != exitOK || !strings.Contains(errs, "backfill: 3 rows, 2 entities") {
					t.Fatalf("exit %d: %s", code, errs)
				}
				got, err := readLabelTable(out)
				if err != nil {
					t.Fatal(err)
				}
				checkTrainingSet(t, got, rows)
			})
		}
	}
}

// checkTrainingSet checks the columns, their kinds and order, and the
// values of a few of them.
func checkTrainingSet(t *testing.T, got *labelTable, rows map[string][3]any) {
	t.Helper()
	spec, err := feature.LoadSpec(filepath.Join("..", "..", "testdata", "specs", "payments.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	names := []string{"entity", "time", "fraud"}
	for _, f := range spec.Features {
		names = append(names, f.Name)
	}
	if len(got.cols) != len(names) {
		t.Fatalf("columns %v, want %v", got.cols, names)
	}
	for i, c := range got.cols {
		if c.name != names[i] {
			t.Fatalf("column %d is %q, want %q", i, c.name, names[i])
		}
		if i >= 3 && spec.Numeric(c.name) && c.kind != feature.KindNumber {
			t.Errorf("column %s has kind %v, want number", c.name, c.kind)
		}
	}
	if len(got.rows) != len(rows) {
		t.Fatalf("%d rows, want %d", len(got.rows), len(rows))
	}
	col := func(name string) int {
		for i, c := range got.cols {
			if c.name == name {
				return i
			}
		}
		t.Fatalf("no column %s", name)
		return -1
	}
	for _, r := range got.rows {
		key := r.entity + "@" + r.at.UTC().Format(time.RFC3339)
		w, ok := rows[key]
		if !ok {
			t.Fatalf("unexpected row %s", key)
		}
		vals := [3]any{r.vals[col("fraud")].Any(), r.vals[col("amount_sum_24h")].Any(),
			r.vals[col("last_merchant")].Any()}
		if vals != w {
			t.Errorf("row %s: %v, want %v", key, vals, w)
		}
		// A feature with nothing in its window is null, not zero.
		if r.entity == "user:2" && !r.vals[col("first_country")].IsNull() {
			t.Errorf("first_country of user:2 is %v, want null", r.vals[col("first_country")])
		}
	}
}

func TestBackfillFromTo(t *testing.T) {
	data := t.TempDir()
	writeTrainingLedger(t, data)
	out := filepath.Join(t.TempDir(), "out.csv")
	code, _, errs := runCmd("backfill", "--data", data, "--spec",
		filepath.Join("..", "..", "testdata", "specs", "payments.yaml"), "--labels",
		filepath.Join("..", "..", "testdata", "labels", "payments.csv"), "--out", out,
		"--from", "2026-12-02T10:00:00Z", "--to", "2026-12-02T12:00:00Z")
	if code != exitOK || !strings.Contains(errs, "1 rows, 1 entities") {
		t.Fatalf("exit %d: %s", code, errs)
	}
	b, _ := os.ReadFile(out)
	if lines := strings.Count(string(b), "\n"); lines != 2 {
		t.Fatalf("want a header and one row:\n%s", b)
	}
}

func TestBadLabelFiles(t *testing.T) {
	data := t.TempDir()
	writeTrainingLedger(t, data)
	spec := filepath.Join("..", "..", "testdata", "specs", "payments.yaml")
	dir := filepath.Join("..", "..", "testdata", "labels")
	tmp := t.TempDir()
	noEntity := filepath.Join(tmp, "no_entity.parquet")
	writeParquetFile(t, noEntity, []column{{"time", kindTime}, {"x", feature.KindNumber}}, 1)
	clash := filepath.Join(tmp, "clash.csv")
	if err := os.WriteFile(clash, []byte("entity,time,events_1h\nu,2026-12-02T10:00:00Z,1\n"),
		0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, labels, out, want string
	}{
		{"empty", filepath.Join(dir, "empty.csv"), "o.csv", "empty.csv: empty file"},
		{"missing column", filepath.Join(dir, "missing_time.csv"), "o.csv", "missing column time"},
		{"bad time", filepath.Join(dir, "bad_time.csv"), "o.csv",
			`bad_time.csv:3: time "yesterday"`},
		{"ragged", filepath.Join(dir, "ragged.csv"), "o.csv", "ragged.csv: record on line 2"},
		{"parquet missing entity", noEntity, "o.csv", "missing column entity"},
		{"column is a feature", clash, "o.csv", `column "events_1h" is also a feature`},
		{"no such file", filepath.Join(dir, "nope.csv"), "o.csv", "no such file"},
		{"bad out", filepath.Join(dir, "payments.csv"), "o.json", "want a .csv or .parquet file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errs := runCmd("backfill", "--data", data, "--spec", spec, "--labels",
				tc.labels,
				"--out", filepath.Join(tmp, tc.out))
			if code != exitUsage || !strings.Contains(errs, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errs, tc.want)
			}
		})
	}
	code, _, errs := runCmd("backfill", "--data", data, "--spec", spec, "--labels",
		filepath.Join(dir, "payments.csv"), "--out", filepath.Join(tmp, "o.csv"), "--view",
		"watermark")
	if code != exitUsage || !strings.Contains(errs, "want truth or knowable") {
		t.Fatalf("watermark view: exit %d, %s", code, errs)
	}
}

// writeParquetFile writes n rows of cols (the first two are entity and
// time by position) through the command's writer.
func writeParquetFile(t *testing.T, path string, cols []column, n int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w, err := newParquetWriter(f, cols)
	if err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if err := w.write("u", bt0.Add(time.Duration(i)), make([]feature.Value,
			len(cols)-2)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.close(); err != nil {
		t.Fatal(err)
	}
}

// TestTableRoundTrip writes every kind of value, nulls included, as CSV
// and as Parquet, and reads it back with the same values and kinds.
func TestTableRoundTrip(t *testing.T) {
	cols := []column{{"entity", feature.KindString}, {"time", kindTime}, {"n", feature.KindNumber},
		{"s", feature.KindString}, {"b", feature.KindBool}}
	rows := [][]feature.Value{
		{feature.Number(1.5), feature.String("a,\"b\""), feature.Bool(true)},
		{{}, {}, {}},
		{feature.Number(-math.MaxFloat64), feature.String("ü"), feature.Bool(false)},
	}
	for _, ext := range []string{"csv", "parquet"} {
		t.Run(ext, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "t."+ext)
			w, err := createTable(path, cols)
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range rows {
				if err := w.write(fmt.Sprint("e", i), bt0.Add(time.Duration(i)*time.Nanosecond),
					r); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.close(); err != nil {
				t.Fatal(err)
			}
			got, err := readLabelTable(path)
			if err != nil {
				t.Fatal(err)
			}
			for i, c := range got.cols {
				if c != cols[i] {
					t.Fatalf("column %d: %v, want %v", i, c, cols[i])
				}
			}
			for i, r := range got.rows {
				if r.entity != fmt.Sprint("e", i) || !r.at.Equal(bt0.Add(time.Duration(i))) {
					t.Fatalf("row %d: %s at %s", i, r.entity, r.at)
				}
				for k, v := range rows[i] {
					if !r.vals[k+2].Equal(v, 0) {
						t.Fatalf("row %d column %s: %v, want %v", i, cols[k+2].name, r.vals[k+2], v)
					}
				}
			}
		})
	}
}
