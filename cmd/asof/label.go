package main

import (
	"fmt"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
)

func init() {
	register(&command{
		name: "label",
		summary: "compute the spec's labels for scored snapshots or a requests file, " +
			"as CSV or Parquet",
		usage: "--data DIR --spec FILE --out FILE [--from TIME] [--to TIME] [--model M] " +
			"[--requests FILE]",
		run: runLabel,
	})
}

// labelArgs are the checked flags of label.
type labelArgs struct {
	data, specFile, out, model, requests string
	from, to                             time.Time
}

func runLabel(e *env) int {
	c := commands["label"]
	fs := newFlags(e, c)
	var a labelArgs
	fs.StringVar(&a.data, "data", "", "data directory of asof serve (holds ledger/)")
	fs.StringVar(&a.specFile, "spec", "", "feature spec (YAML) with labels:")
	fs.StringVar(&a.out, "out", "", "output file, .csv or .parquet")
	fs.StringVar(&a.model, "model", "", "only snapshots of this model (default: every model)")
	fs.StringVar(&a.requests, "requests", "",
		"label the rows (entity, time) of this CSV or Parquet "+
			"file instead of snapshots")
	from := fs.String("from", "", "first request time, RFC 3339, inclusive (default: the start)")
	to := fs.String("to", "", "last request time, RFC 3339, exclusive (default: no end)")
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}
	if err := a.check(*from, *to); err != nil {
		return fail(e, fs, err)
	}
	spec, err := feature.LoadSpec(a.specFile)
	if err != nil {
		return fail(e, nil, err)
	}
	if len(spec.Labels) == 0 {
		return fail(e, nil, fmt.Errorf("%s defines no labels", a.specFile))
	}
	l, cleanup, err := openLedgerForRead(a.data)
	if err != nil {
		return fail(e, nil, err)
	}
	defer cleanup()
	n, err := writeLabels(l, spec, &a, time.Now())
	if err != nil {
		return fail(e, nil, err)
	}
	fmt.Fprintf(e.stderr, "label: %d rows -> %s\n", n, a.out)
	return exitOK
}

func (a *labelArgs) check(from, to string) error {
	switch {
	case a.data == "":
		return usagef("--data is required")
	case a.specFile == "":
		return usagef("--spec is required")
	case a.out == "":
		return usagef("--out is required")
	}
	if _, err := tableFormat(a.out); err != nil {
		return err
	}
	var err error
	a.from, a.to, err = parseWindow(from, to)
	return err
}

// parseWindow parses the optional --from and --to flags.
func parseWindow(from, to string) (time.Time, time.Time, error) {
	f, err := parseOptionalTime("--from", from)
	if err != nil {
		return f, time.Time{}, err
	}
	t, err := parseOptionalTime("--to", to)
	return f, t, err
}

func parseOptionalTime(flag, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return t, usagef("%s %q: want RFC 3339, such as 2026-12-02T10:00:00Z", flag, s)
	}
	return t, nil
}

// labelRows is what label labels: the rows' points, their carried columns
// (request id and snapshot id, or the requests file's other columns) and
// the values of those columns, by Ref.
type labelRows struct {
	points []replay.Point
	cols   []column
	vals   [][]feature.Value
}

// writeLabels labels every row and writes the output; it returns the
// number of rows written.
func writeLabels(l *ledger.Ledger, spec *feature.Spec, a *labelArgs, now time.Time) (int, error) {
	var rows labelRows
	var err error
	if a.requests != "" {
		rows, err = requestRows(a)
	} else {
		rows, err = snapshotRows(l, a)
	}
	if err != nil {
		return 0, err
	}
	cutoff, err := labelCutoff(l, now)
	if err != nil {
		return 0, err
	}
	cols := append([]column{{"entity", feature.KindString}, {"time", kindTime}}, rows.cols...)
	cols = append(cols, column{"complete", feature.KindBool})
	for _, lab := range spec.Labels {
		kind := feature.KindNumber
		if lab.Agg == feature.AggLast {
			kind = feature.KindString
		}
		cols = append(cols, column{lab.Name, kind})
	}
	w, err := createTable(a.out, cols)
	if err != nil {
		return 0, err
	}
	out := make([]feature.Value, 0, len(cols))
	err = replay.New(l, spec).Labels(rows.points, cutoff, replay.BackfillOptions{},
		func(p replay.Point, vals []feature.Value, complete bool) error {
			out = append(append(out[:0], rows.vals[p.Ref]...), feature.Bool(complete))
			return w.write(p.Entity, p.At, append(out, vals...))
		})
	if cerr := w.close(); err == nil {
		err = cerr
	}
	return len(rows.points), err
}

// labelCutoff is the newest instant the ledger's events are known to
// reach: the newest arrival time among its last records, and never after
// now. Each stream is appended in arrival order, so the newest arrival is
// among the last records unless one stream has been silent for more than
// cutoffRecords records of the others; the ledger keeps no running maximum
// of arrival times that would settle it exactly.
func labelCutoff(l *ledger.Ledger, now time.Time) (time.Time, error) {
	const cutoffRecords = 4096
	last := l.LastSeq()
	var newest time.Time
	for rec, err := range l.Log(max(last, cutoffRecords) - cutoffRecords + 1) {
		if err != nil {
			return time.Time{}, fmt.Errorf("read the newest records: %w", err)
		}
		switch {
		case rec.Event != nil && rec.Event.Arrival.After(newest):
			newest = rec.Event.Arrival
		case rec.Snapshot != nil && rec.Snapshot.Arrival.After(newest):
			newest = rec.Snapshot.Arrival
		}
	}
	if newest.IsZero() || newest.After(now) {
		newest = now
	}
	return newest, nil
}

// snapshotRows takes one row per snapshot of the model with request time
// in [from, to).
func snapshotRows(l *ledger.Ledger, a *labelArgs) (labelRows, error) {
	rows := labelRows{cols: []column{{"request_id", feature.KindString},
		{"snapshot_id", feature.KindString}}}
	for is, err := range l.Snapshots(a.model, a.from, a.to) {
		if err != nil {
			return rows, fmt.Errorf("read snapshots: %w", err)
		}
		s := &is.Record
		rows.points = append(rows.points, replay.Point{Entity: s.Entity, At: s.Time,
			Ref: len(rows.points)})
		rows.vals = append(rows.vals, []feature.Value{feature.String(s.RequestID),
			feature.String(s.ID)})
	}
	return rows, nil
}

// requestRows takes the rows of the requests file with time in [from, to),
// carrying its other columns.
func requestRows(a *labelArgs) (labelRows, error) {
	t, err := readLabelTable(a.requests)
	if err != nil {
		return labelRows{}, err
	}
	var rows labelRows
	extra := t.extra()
	for _, c := range extra {
		rows.cols = append(rows.cols, t.cols[c])
	}
	for _, r := range t.rows {
		if (!a.from.IsZero() && r.at.Before(a.from)) || (!a.to.IsZero() && !r.at.Before(a.to)) {
			continue
		}
		vals := make([]feature.Value, len(extra))
		for i, c := range extra {
			vals[i] = r.vals[c]
		}
		rows.points = append(rows.points, replay.Point{Entity: r.entity, At: r.at,
			Ref: len(rows.points)})
		rows.vals = append(rows.vals, vals)
	}
	return rows, nil
}
