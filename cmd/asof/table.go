package main

// Tables: the label files that backfill reads and the training sets and
// label files that label and backfill write, as CSV or Parquet chosen by
// the file's extension.
//
// A label file has an entity column, a time column and any other columns,
// carried through as they are. In CSV the first line names the columns,
// times are RFC 3339, an empty cell is null, and a column is a number
// column when every non-empty cell parses as a number, a bool column when
// every one is true or false, and a string column otherwise. In Parquet,
// time is a timestamp (any unit) or an RFC 3339 string, booleans stay
// booleans, integers and floats become numbers, byte arrays strings.

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/asofdev/asof/feature"
)

// column is one typed column of a table. Kind KindNull marks the time
// column.
type column struct {
	name string
	kind feature.Kind
}

const kindTime = feature.KindNull

// labelTable is a label file in memory: the index of its entity and time
// columns and its rows, one value per column.
type labelTable struct {
	cols   []column
	entity int
	time   int
	rows   []labelRow
}

type labelRow struct {
	entity string
	at     time.Time
	vals   []feature.Value // one per column; entity and time columns null
}

// extra returns the columns other than entity and time, in file order.
func (t *labelTable) extra() []int {
	var idx []int
	for i := range t.cols {
		if i != t.entity && i != t.time {
			idx = append(idx, i)
		}
	}
	return idx
}

// tableFormat returns "csv" or "parquet" by path's extension.
func tableFormat(path string) (string, error) {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".csv":
		return "csv", nil
	case ".parquet":
		return "parquet", nil
	}
	return "", usagef("%s: want a .csv or .parquet file", path)
}

// readLabelTable reads a label file, CSV or Parquet by its extension.
func readLabelTable(path string) (*labelTable, error) {
	format, err := tableFormat(path)
	if err != nil {
		return nil, err
	}
	if format == "parquet" {
		return readParquetTable(path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readCSVTable(path, f)
}

// readCSVTable reads a CSV label file; errors name the file and line.
func readCSVTable(name string, r io.Reader) (*labelTable, error) {
	cr := csv.NewReader(r)
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%s: empty file: want a header line naming entity and time", name)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	t, err := newLabelTable(name, header)
	if err != nil {
		return nil, err
	}
	var cells [][]string
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		row := labelRow{entity: rec[t.entity]}
		if row.entity == "" {
			return nil, fmt.Errorf("%s:%d: empty entity", name, line)
		}
		row.at, err = time.Parse(time.RFC3339Nano, rec[t.time])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: time %q: want RFC 3339, such as 2026-12-02T10:00:00Z",
				name, line, rec[t.time])
		}
		t.rows = append(t.rows, row)
		cells = append(cells, rec)
	}
	t.typeCSV(cells)
	return t, nil
}

// newLabelTable checks a header and finds the entity and time columns.
func newLabelTable(name string, header []string) (*labelTable, error) {
	t := &labelTable{entity: -1, time: -1}
	seen := map[string]bool{}
	for i, h := range header {
		switch {
		case h == "":
			return nil, fmt.Errorf("%s: column %d has no name", name, i+1)
		case strings.ContainsAny(h, ",\"`"):
			return nil, fmt.Errorf("%s: column name %q holds a comma or quote", name, h)
		case seen[h]:
			return nil, fmt.Errorf("%s: column %q appears twice", name, h)
		}
		seen[h] = true
		t.cols = append(t.cols, column{name: h, kind: feature.KindString})
		switch h {
		case "entity":
			t.entity = i
		case "time":
			t.time = i
		}
	}
	if t.entity < 0 || t.time < 0 {
		return nil, fmt.Errorf("%s: missing column %s (the header is %s)", name,
			missing(t.entity, "entity", t.time, "time"), strings.Join(header, ","))
	}
	t.cols[t.time].kind = kindTime
	return t, nil
}

func missing(a int, an string, b int, bn string) string {
	switch {
	case a < 0 && b < 0:
		return an + " and " + bn
	case a < 0:
		return an
	}
	return bn
}

// typeCSV gives each extra column its kind and converts its cells.
func (t *labelTable) typeCSV(cells [][]string) {
	for _, c := range t.extra() {
		num, boolean := true, true
		for _, rec := range cells {
			s := rec[c]
			if s == "" {
				continue
			}
			if _, err := strconv.ParseFloat(s, 64); err != nil {
				num = false
			}
			if s != "true" && s != "false" {
				boolean = false
			}
		}
		kind := feature.KindString
		switch {
		case num:
			kind = feature.KindNumber
		case boolean:
			kind = feature.KindBool
		}
		t.cols[c].kind = kind
		for i, rec := range cells {
			if t.rows[i].vals == nil {
				t.rows[i].vals = make([]feature.Value, len(t.cols))
			}
			t.rows[i].vals[c] = cellValue(rec[c], kind)
		}
	}
}

func cellValue(s string, kind feature.Kind) feature.Value {
	if s == "" {
		return feature.Value{}
	}
	switch kind {
	case feature.KindNumber:
		f, _ := strconv.ParseFloat(s, 64)
		return feature.Number(f)
	case feature.KindBool:
		return feature.Bool(s == "true")
	}
	return feature.String(s)
}

// tableWriter writes rows of typed columns. The first two columns are the
// entity (string) and the time; the values of those two are taken from the
// row's own fields.
type tableWriter interface {
	write(entity string, at time.Time, vals []feature.Value) error
	close() error
}

// createTable creates path and returns a writer for cols by its extension.
func createTable(path string, cols []column) (tableWriter, error) {
	format, err := tableFormat(path)
	if err != nil {
		return nil, err
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if format == "parquet" {
		return newParquetWriter(f, cols)
	}
	return newCSVWriter(f, cols)
}

// csvWriter writes CSV: RFC 3339 times in UTC, numbers in the shortest form
// that reads back exactly, null as an empty cell.
type csvWriter struct {
	f   *os.File
	w   *csv.Writer
	rec []string
}

func newCSVWriter(f *os.File, cols []column) (*csvWriter, error) {
	w := &csvWriter{f: f, w: csv.NewWriter(f), rec: make([]string, len(cols))}
	for i, c := range cols {
		w.rec[i] = c.name
	}
	return w, w.w.Write(w.rec)
}

func (w *csvWriter) write(entity string, at time.Time, vals []feature.Value) error {
	w.rec[0], w.rec[1] = entity, at.UTC().Format(time.RFC3339Nano)
	for i, v := range vals {
		w.rec[i+2] = cellString(v)
	}
	return w.w.Write(w.rec)
}

func cellString(v feature.Value) string {
	switch v.Kind {
	case feature.KindNumber:
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case feature.KindString:
		return v.Str
	case feature.KindBool:
		return strconv.FormatBool(v.Bool)
	}
	return ""
}

func (w *csvWriter) close() error {
	w.w.Flush()
	err := w.w.Error()
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}
