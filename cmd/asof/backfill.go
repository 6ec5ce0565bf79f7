package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
)

func init() {
	register(&command{
		name:    "backfill",
		summary: "join each label row to its feature vector as of the row's time: a training set",
		usage: "--data DIR --spec FILE --labels FILE --out FILE [--view truth|knowable] " +
			"[--from TIME] [--to TIME]",
		run: runBackfill,
	})
}

// backfillArgs are the checked flags of backfill.
type backfillArgs struct {
	data, specFile, labels, out string
	view                        replay.View
	from, to                    time.Time
}

func runBackfill(e *env) int {
	c := commands["backfill"]
	fs := newFlags(e, c)
	var a backfillArgs
	fs.StringVar(&a.data, "data", "", "data directory of asof serve (holds ledger/)")
	fs.StringVar(&a.specFile, "spec", "", "feature spec (YAML)")
	fs.StringVar(&a.labels, "labels", "",
		"label file, .csv or .parquet, with entity and time columns")
	fs.StringVar(&a.out, "out", "", "output file, .csv or .parquet")
	view := fs.String("view", "truth", "truth (every event up to the row's time) or knowable "+
		"(only what had also arrived: what serving could have seen)")
	from := fs.String("from", "", "first row time, RFC 3339, inclusive (default: the start)")
	to := fs.String("to", "", "last row time, RFC 3339, exclusive (default: no end)")
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}
	if err := a.check(*view, *from, *to); err != nil {
		return fail(e, fs, err)
	}
	spec, err := feature.LoadSpec(a.specFile)
	if err != nil {
		return fail(e, nil, err)
	}
	table, err := readLabelTable(a.labels)
	if err != nil {
		return fail(e, nil, err)
	}
	l, cleanup, err := openLedgerForRead(a.data)
	if err != nil {
		return fail(e, nil, err)
	}
	defer cleanup()

	start := time.Now()
	bar := newProgress(e.stderr, "backfill")
	sum, err := backfill(l, spec, table, &a, bar.update)
	bar.done()
	if err != nil {
		return fail(e, nil, err)
	}
	fmt.Fprintf(e.stderr, "backfill: %d rows, %d entities, %s view, %s -> %s\n", sum.rows,
		sum.entities, a.view, time.Since(start).Round(time.Millisecond), a.out)
	return exitOK
}

func (a *backfillArgs) check(view, from, to string) error {
	switch {
	case a.data == "":
		return usagef("--data is required")
	case a.specFile == "":
		return usagef("--spec is required")
	case a.labels == "":
		return usagef("--labels is required")
	case a.out == "":
		return usagef("--out is required")
	}
	if _, err := tableFormat(a.out); err != nil {
		return err
	}
	v, err := replay.ParseView(view)
	if err != nil || v == replay.Watermark {
		return usagef("--view %q: want truth or knowable", view)
	}
	a.view = v
	a.from, a.to, err = parseWindow(from, to)
	return err
}

type backfillSummary struct{ rows, entities int }

// backfill joins every row of the table in [from, to) to its vector and
// writes the training set, streamed in the order of the ledger's entity
// index.
func backfill(l *ledger.Ledger, spec *feature.Spec, t *labelTable, a *backfillArgs,
	progress func(done, total int)) (backfillSummary, error) {
	extra := t.extra()
	cols := []column{{"entity", feature.KindString}, {"time", kindTime}}
	names := map[string]bool{"entity": true, "time": true}
	for _, c := range extra {
		cols = append(cols, t.cols[c])
		names[t.cols[c].name] = true
	}
	for _, f := range spec.Features {
		if names[f.Name] {
			return backfillSummary{}, fmt.Errorf("%s: column %q is also a feature of %s", a.labels,
				f.Name, a.specFile)
		}
		kind := feature.KindString
		if spec.Numeric(f.Name) {
			kind = feature.KindNumber
		}
		cols = append(cols, column{f.Name, kind})
	}

	var points []replay.Point
	for i, r := range t.rows {
		if (a.from.IsZero() || !r.at.Before(a.from)) && (a.to.IsZero() || r.at.Before(a.to)) {
			points = append(points, replay.Point{Entity: r.entity, At: r.at, Ref: i})
		}
	}
	w, err := createTable(a.out, cols)
	if err != nil {
		return backfillSummary{}, err
	}
	var sum backfillSummary
	last := ""
	out := make([]feature.Value, 0, len(cols))
	opts := replay.BackfillOptions{View: a.view, Progress: func(n int) { progress(n, len(points)) }}
	err = replay.New(l, spec).Backfill(points, opts, func(p replay.Point, v feature.Vector) error {
		if sum.rows == 0 || p.Entity != last {
			sum.entities, last = sum.entities+1, p.Entity
		}
		sum.rows++
		out = out[:0]
		for _, c := range extra {
			out = append(out, t.rows[p.Ref].vals[c])
		}
		return w.write(p.Entity, p.At, append(out, v.Values...))
	})
	if cerr := w.close(); err == nil {
		err = cerr
	}
	return sum, err
}

// progress draws a progress line on a terminal, at most ten times a
// second; elsewhere it draws nothing.
type progress struct {
	w     io.Writer
	what  string
	on    bool
	last  time.Time
	drawn bool
}

func newProgress(w io.Writer, what string) *progress {
	p := &progress{w: w, what: what}
	if f, ok := w.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
			p.on = true
		}
	}
	return p
}

func (p *progress) update(done, total int) {
	if !p.on || time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last, p.drawn = time.Now(), true
	const width = 30
	filled := width
	if total > 0 {
		filled = width * done / total
	}
	bar := make([]byte, width)
	for i := range bar {
		bar[i] = ' '
		if i < filled {
			bar[i] = '='
		}
	}
	fmt.Fprintf(p.w, "\r%s [%s] %d/%d rows", p.what, bar, done, total)
}

func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}
