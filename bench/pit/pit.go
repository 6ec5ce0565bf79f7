// Package pit compares asof's backfill with DuckDB on one point-in-time
// join: for each label row (entity, T), the count and the sum of the
// entity's events with event time in (T - window, T]. Both sides get the
// same generated events and labels; loading is not timed, the join is, and
// the two results are checked row by row.
//
// It lives in its own module so that the main module stays free of cgo.
package pit

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/metrics"
	"sync/atomic"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
	"github.com/duckdb/duckdb-go/v2"
)

// Config sizes the data set. Zero fields take the defaults noted.
type Config struct {
	Events   int           // default 2,000,000
	Entities int           // default 100,000
	Labels   int           // default 500,000
	Window   time.Duration // default 1h
	Span     time.Duration // event times spread over this; default 30 days
	Seed     uint64        // default 1
}

func (c Config) withDefaults() Config {
	if c.Events == 0 {
		c.Events = 2_000_000
	}
	if c.Entities == 0 {
		c.Entities = 100_000
	}
	if c.Labels == 0 {
		c.Labels = 500_000
	}
	if c.Window == 0 {
		c.Window = time.Hour
	}
	if c.Span == 0 {
		c.Span = 30 * 24 * time.Hour
	}
	if c.Seed == 0 {
		c.Seed = 1
	}
	return c
}

var t0 = time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)

// Event and Label are the generated rows; times are Unix nanoseconds.
type Event struct {
	Entity int
	T      int64
	Amount float64 // whole numbers, so every order of summing is exact
}

// Label is one (entity, T) row of the label set.
type Label struct {
	Entity int
	T      int64
}

// Result is one row of the join.
type Result struct {
	Count float64
	Sum   float64 // 0 when Count is 0 (DuckDB's NULL, asof's null)
}

// Data is a generated data set.
type Data struct {
	Config Config
	Events []Event
	Labels []Label
}

// Generate draws the data set; the same Config gives the same data.
func Generate(c Config) *Data {
	c = c.withDefaults()
	rng := rand.New(rand.NewPCG(c.Seed, 2))
	d := &Data{Config: c, Events: make([]Event, c.Events), Labels: make([]Label, c.Labels)}
	for i := range d.Events {
		d.Events[i] = Event{Entity: rng.IntN(c.Entities),
			T:      t0.UnixNano() + rng.Int64N(int64(c.Span)),
			Amount: float64(1 + rng.IntN(1000))}
	}
	for i := range d.Labels {
		d.Labels[i] = Label{Entity: rng.IntN(c.Entities),
			T: t0.UnixNano() + rng.Int64N(int64(c.Span))}
	}
	return d
}

func entityName(i int) string { return fmt.Sprintf("user:%d", i) }

// Spec is the asof spec of the join.
func Spec(window time.Duration) (*feature.Spec, error) {
	return feature.ParseSpec("pit.yaml", fmt.Appendf(nil, `
features:
  - name: n
    event: payment
    agg: count
    window: %s
  - name: amount_sum
    event: payment
    field: amount
    agg: sum
    window: %s
`, window, window))
}

// DuckDB holds the data set loaded into an in-process DuckDB.
type DuckDB struct {
	db   *sql.DB
	conn *sql.Conn
}

// LoadDuckDB creates the events and labels tables and appends the rows.
func LoadDuckDB(ctx context.Context, d *Data) (*DuckDB, error) {
	connector, err := duckdb.NewConnector("", nil)
	if err != nil {
		return nil, err
	}
	db := sql.OpenDB(connector)
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, err
	}
	for _, q := range []string{
		"CREATE TABLE events (entity VARCHAR, ts BIGINT, amount DOUBLE)",
		"CREATE TABLE labels (id INTEGER, entity VARCHAR, ts BIGINT)",
	} {
		if _, err := conn.ExecContext(ctx, q); err != nil {
			return nil, err
		}
	}
	err = conn.Raw(func(dc any) error {
		if err := appendRows(dc.(driver.Conn), "events", len(d.Events), func(i int) []driver.Value {
			e := d.Events[i]
			return []driver.Value{entityName(e.Entity), e.T, e.Amount}
		}); err != nil {
			return err
		}
		return appendRows(dc.(driver.Conn), "labels", len(d.Labels), func(i int) []driver.Value {
			return []driver.Value{int32(i), entityName(d.Labels[i].Entity), d.Labels[i].T}
		})
	})
	if err != nil {
		return nil, err
	}
	return &DuckDB{db: db, conn: conn}, nil
}

func appendRows(dc driver.Conn, table string, n int, row func(int) []driver.Value) error {
	app, err := duckdb.NewAppenderFromConn(dc, "", table)
	if err != nil {
		return err
	}
	for i := range n {
		if err := app.AppendRow(row(i)...); err != nil {
			return err
		}
	}
	return app.Close()
}

// Close closes the database.
func (q *DuckDB) Close() error {
	_ = q.conn.Close()
	return q.db.Close()
}

// Formulations of the join in SQL. %d is the window in nanoseconds.
var Formulations = map[string]string{
	// A range join on entity and time, then one group per label.
	"range_join": `SELECT l.id, count(e.ts), coalesce(sum(e.amount), 0)
FROM labels l LEFT JOIN events e
  ON e.entity = l.entity AND e.ts > l.ts - %d AND e.ts <= l.ts
GROUP BY l.id`,
	// Running count and sum per entity (peers of one ts share a value),
	// then two ASOF joins: at T and at T - window.
	"asof_window": `WITH c AS (
  SELECT entity, ts,
    count(*) OVER (PARTITION BY entity ORDER BY ts) AS cn,
    sum(amount) OVER (PARTITION BY entity ORDER BY ts) AS cs
  FROM events)
SELECT l.id, coalesce(a.cn, 0) - coalesce(b.cn, 0), coalesce(a.cs, 0) - coalesce(b.cs, 0)
FROM labels l
ASOF LEFT JOIN c a ON l.entity = a.entity AND l.ts >= a.ts
ASOF LEFT JOIN (SELECT * FROM c) b ON l.entity = b.entity AND l.ts - %[1]d >= b.ts`,
}

// Run runs one formulation and reads every result row into out (by label
// id). The time includes reading the rows into Go.
func (q *DuckDB) Run(ctx context.Context, name string, window time.Duration,
	out []Result) (time.Duration, error) {
	start := time.Now()
	rows, err := q.conn.QueryContext(ctx, fmt.Sprintf(Formulations[name], int64(window)))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var id int32
		var r Result
		if err := rows.Scan(&id, &r.Count, &r.Sum); err != nil {
			return 0, err
		}
		out[id] = r
	}
	return time.Since(start), rows.Err()
}

// Ledger holds the data set written into an asof ledger.
type Ledger struct {
	L    *ledger.Ledger
	Spec *feature.Spec
	dir  string
}

// LoadLedger writes the events into a new ledger under dir, opened with
// opts, in batches, with arrival time equal to event time.
func LoadLedger(d *Data, dir string, opts ledger.Options) (*Ledger, error) {
	spec, err := Spec(d.Config.Window)
	if err != nil {
		return nil, err
	}
	l, err := ledger.Open(dir, opts)
	if err != nil {
		return nil, err
	}
	const batch = 10_000
	buf := make([]ledger.Event, 0, batch)
	for i, e := range d.Events {
		at := time.Unix(0, e.T).UTC()
		buf = append(buf, ledger.Event{
			ID: fmt.Sprintf("e%d", i), Entity: entityName(e.Entity), Type: "payment", Time: at,
			Arrival: at, Stream: "EVENTS", BrokerSeq: uint64(i + 1),
			Payload: fmt.Appendf(nil, `{"amount":%g}`, e.Amount),
			Fields: []ledger.Field{{Name: "amount",
				Value: ledger.Value{Kind: ledger.KindNumber, Num: e.Amount}}},
		})
		if len(buf) == batch || i == len(d.Events)-1 {
			if _, err := l.Append(&ledger.Batch{Events: buf}); err != nil {
				_ = l.Close()
				return nil, err
			}
			buf = buf[:0]
		}
	}
	// Settle the ledger, as DuckDB's tables are settled once loaded: the
	// join should not pay for compactions the load left pending.
	if err := l.Compact(context.Background()); err != nil {
		_ = l.Close()
		return nil, err
	}
	return &Ledger{L: l, Spec: spec, dir: dir}, nil
}

// Close closes the ledger and removes its directory.
func (l *Ledger) Close() error {
	err := l.L.Close()
	_ = os.RemoveAll(l.dir)
	return err
}

// Points returns the label rows as backfill points (Ref is the label id).
func (d *Data) Points() []replay.Point {
	ps := make([]replay.Point, len(d.Labels))
	for i, lb := range d.Labels {
		ps[i] = replay.Point{Entity: entityName(lb.Entity), At: time.Unix(0, lb.T).UTC(), Ref: i}
	}
	return ps
}

// Run backfills the points (the sweep and the join) into out, by Ref.
// The points are sorted in place.
func (l *Ledger) Run(points []replay.Point, view replay.View, out []Result) (time.Duration, error) {
	start := time.Now()
	err := replay.New(l.L, l.Spec).Backfill(points, replay.BackfillOptions{View: view},
		func(p replay.Point, v feature.Vector) error {
			out[p.Ref] = Result{Count: v.Values[0].Num, Sum: v.Values[1].Num}
			return nil
		})
	return time.Since(start), err
}

// Compare returns the number of rows that differ and the first of them.
func Compare(a, b []Result) (int, string) {
	bad, first := 0, ""
	for i := range a {
		if a[i] != b[i] {
			if bad == 0 {
				first = fmt.Sprintf("label %d: %+v vs %+v", i, a[i], b[i])
			}
			bad++
		}
	}
	return bad, first
}

// PeakHeap samples the bytes of live and not yet swept heap objects until
// stop is called, and returns the largest value seen and the first, taken
// when PeakHeap is called: what the process held before. It reads
// runtime/metrics, which does not stop the world as ReadMemStats does.
func PeakHeap() (stop func() (peak, before uint64)) {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	read := func() uint64 {
		metrics.Read(sample)
		return sample[0].Value.Uint64()
	}
	first := read()
	var peak atomic.Uint64
	peak.Store(first)
	done := make(chan struct{})
	go func() {
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			if v := read(); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-done:
				return
			case <-tick.C:
			}
		}
	}()
	return func() (uint64, uint64) { close(done); return peak.Load(), first }
}
