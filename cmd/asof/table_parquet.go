package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"strconv"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"
)

// parquetRowGroup is the number of rows the writer buffers before it
// writes a row group, which bounds its memory.
const parquetRowGroup = 64 << 10

// parquetWriter writes a Parquet file whose columns keep the order of cols:
// entity as a required string, time as a required timestamp in
// nanoseconds (UTC), then each column as an optional double, string or
// boolean.
type parquetWriter struct {
	f       *os.File
	w       *parquet.GenericWriter[any]
	kinds   []feature.Kind
	buf     []parquet.Row
	pending int
}

func newParquetWriter(f *os.File, cols []column) (*parquetWriter, error) {
	w := &parquetWriter{f: f, kinds: make([]feature.Kind, len(cols))}
	for i, c := range cols {
		w.kinds[i] = c.kind
	}
	w.w = parquet.NewGenericWriter[any](f, parquetSchema(cols))
	return w, nil
}

// parquetSchema builds the schema from a struct type made at run time,
// since a parquet.Group orders its columns by name.
func parquetSchema(cols []column) *parquet.Schema {
	fields := make([]reflect.StructField, len(cols))
	for i, c := range cols {
		tag, typ := c.name, reflect.TypeFor[*string]()
		switch {
		case i == 0:
			typ = reflect.TypeFor[string]()
		case c.kind == kindTime:
			tag, typ = tag+",timestamp(nanosecond)", reflect.TypeFor[time.Time]()
		case c.kind == feature.KindNumber:
			typ = reflect.TypeFor[*float64]()
		case c.kind == feature.KindBool:
			typ = reflect.TypeFor[*bool]()
		}
		fields[i] = reflect.StructField{Name: "F" + strconv.Itoa(i), Type: typ,
			Tag: reflect.StructTag(`parquet:"` + tag + `"`)}
	}
	return parquet.SchemaOf(reflect.New(reflect.StructOf(fields)).Interface())
}

func (w *parquetWriter) write(entity string, at time.Time, vals []feature.Value) error {
	row := make(parquet.Row, 0, len(w.kinds))
	row = append(row, parquet.ByteArrayValue([]byte(entity)).Level(0, 0, 0),
		parquet.Int64Value(at.UnixNano()).Level(0, 0, 1))
	for i, v := range vals {
		row = append(row, parquetValue(v, w.kinds[i+2], i+2))
	}
	w.buf = append(w.buf, row)
	if len(w.buf) == cap(w.buf) || len(w.buf) >= 1024 {
		return w.flushRows()
	}
	return nil
}

// parquetValue encodes v for an optional column of kind.
func parquetValue(v feature.Value, kind feature.Kind, col int) parquet.Value {
	if v.IsNull() {
		return parquet.NullValue().Level(0, 0, col)
	}
	var pv parquet.Value
	switch kind {
	case feature.KindNumber:
		pv = parquet.DoubleValue(v.Num)
	case feature.KindBool:
		pv = parquet.BooleanValue(v.Bool)
	default:
		s := v.Str
		if v.Kind != feature.KindString {
			s = cellString(v)
		}
		pv = parquet.ByteArrayValue([]byte(s))
	}
	return pv.Level(0, 1, col)
}

func (w *parquetWriter) flushRows() error {
	if _, err := w.w.WriteRows(w.buf); err != nil {
		return err
	}
	w.pending += len(w.buf)
	w.buf = w.buf[:0]
	if w.pending >= parquetRowGroup {
		w.pending = 0
		return w.w.Flush()
	}
	return nil
}

func (w *parquetWriter) close() error {
	err := w.flushRows()
	if cerr := w.w.Close(); err == nil {
		err = cerr
	}
	if cerr := w.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readParquetTable reads a Parquet label file of flat columns; errors name
// the file and the row (1-based).
func readParquetTable(path string) (*labelTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	schema := pf.Schema()
	leaves := schema.Columns()
	header := make([]string, len(leaves))
	for i, p := range leaves {
		if len(p) != 1 {
			return nil, fmt.Errorf("%s: nested column %v: want flat columns", path, p)
		}
		header[i] = p[0]
	}
	t, err := newLabelTable(path, header)
	if err != nil {
		return nil, err
	}
	units := make([]time.Duration, len(leaves))
	for i, p := range leaves {
		leaf, _ := schema.Lookup(p...)
		if leaf.MaxRepetitionLevel > 0 {
			return nil, fmt.Errorf("%s: repeated column %s: want flat columns", path, p[0])
		}
		kind, unit := parquetKind(leaf.Node.Type())
		switch {
		case i == t.time:
			kind = kindTime
		case kind == kindTime:
			kind = feature.KindString // another timestamp column: carried as RFC 3339 text
		}
		t.cols[i].kind, units[i] = kind, unit
	}
	if err := t.readParquetRows(path, pf, units); err != nil {
		return nil, err
	}
	return t, nil
}

// parquetKind maps a column type to a value kind and, for timestamps,
// their unit.
func parquetKind(typ parquet.Type) (feature.Kind, time.Duration) {
	if lt := typ.LogicalType(); lt != nil {
		if ts, ok := lt.Value.(*format.TimestampType); ok && ts.Unit.Value != nil {
			return kindTime, ts.Unit.Value.Duration()
		}
	}
	switch typ.Kind() {
	case parquet.Boolean:
		return feature.KindBool, 0
	case parquet.Int32, parquet.Int64, parquet.Float, parquet.Double:
		return feature.KindNumber, 0
	}
	return feature.KindString, 0
}

func (t *labelTable) readParquetRows(path string, pf *parquet.File, units []time.Duration) error {
	r := parquet.NewReader(pf)
	defer r.Close()
	buf := make([]parquet.Row, 256)
	for {
		n, err := r.ReadRows(buf)
		for _, row := range buf[:n] {
			if err := t.addParquetRow(row, units); err != nil {
				return fmt.Errorf("%s: row %d: %w", path, len(t.rows)+1, err)
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: row %d: %w", path, len(t.rows)+1, err)
		}
	}
}

func (t *labelTable) addParquetRow(row parquet.Row, units []time.Duration) error {
	lr := labelRow{vals: make([]feature.Value, len(t.cols))}
	for _, v := range row {
		c := v.Column()
		if c < 0 || c >= len(t.cols) {
			continue
		}
		switch c {
		case t.entity:
			lr.entity = string(v.ByteArray())
		case t.time:
			at, err := parquetTime(v, units[c])
			if err != nil {
				return err
			}
			lr.at = at
		default:
			lr.vals[c] = parquetCell(v, t.cols[c].kind, units[c])
		}
	}
	if lr.entity == "" {
		return errors.New("empty entity")
	}
	t.rows = append(t.rows, lr)
	return nil
}

func parquetTime(v parquet.Value, unit time.Duration) (time.Time, error) {
	switch {
	case v.IsNull():
		return time.Time{}, errors.New("null time")
	case unit > 0:
		return time.Unix(0, 0).Add(time.Duration(v.Int64()) * unit).UTC(), nil
	case v.Kind() == parquet.ByteArray:
		at, err := time.Parse(time.RFC3339Nano, string(v.ByteArray()))
		if err != nil {
			return at, fmt.Errorf("time %q: want RFC 3339, such as 2026-12-02T10:00:00Z",
				v.ByteArray())
		}
		return at, nil
	}
	return time.Time{}, fmt.Errorf("time column of type %s: want a timestamp or RFC 3339 text",
		v.Kind())
}

func parquetCell(v parquet.Value, kind feature.Kind, unit time.Duration) feature.Value {
	if v.IsNull() {
		return feature.Value{}
	}
	switch {
	case unit > 0:
		return feature.String(time.Unix(0, 0).Add(time.Duration(v.Int64()) * unit).UTC().
			Format(time.RFC3339Nano))
	case kind == feature.KindBool:
		return feature.Bool(v.Boolean())
	case kind == feature.KindNumber:
		switch v.Kind() {
		case parquet.Int32:
			return feature.Number(float64(v.Int32()))
		case parquet.Int64:
			return feature.Number(float64(v.Int64()))
		case parquet.Float:
			return feature.Number(float64(v.Float()))
		}
		return feature.Number(v.Double())
	}
	return feature.String(string(v.ByteArray()))
}
