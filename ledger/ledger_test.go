package ledger

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

func ev(entity, id string, at time.Duration, payload string) Event {
	return Event{
		ID: id, Entity: entity, Type: "payment", Time: t0.Add(at),
		Arrival: t0.Add(at + time.Second), Stream: "EVENTS",
		Fields: []Field{{"amount", Value{Kind: KindNumber, Num: 12.5}}, {"merchant",
			Value{Kind: KindString, Str: "m-7"}}},
		Payload: []byte(payload),
	}
}

func snap(id, model, entity string, at time.Duration) Snapshot {
	return Snapshot{
		ID: id, RequestID: "r-" + id, Model: model, ModelVersion: "mv1", SpecVersion: "sv1",
		Entity: entity, Time: t0.Add(at), VectorHash: 7, InputCount: 2, InputDigest: 99,
		Watermark: 12, Score: 0.25, Decision: true, Stream: "SNAPSHOTS",
		Vector: []Field{{"payments_1h", Value{Kind: KindNumber, Num: 2}}, {"last_merchant",
			Value{}}},
		Payload: []byte(`{"snapshot_id":"` + id + `"}`),
	}
}

func openTest(t testing.TB, dir string) *Ledger {
	t.Helper()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func mustAppend(t testing.TB, l *Ledger, b *Batch) Result {
	t.Helper()
	res, err := l.Append(b)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// fataler is what collect needs of *testing.T and *rapid.T alike.
type fataler interface {
	Helper()
	Fatal(args ...any)
}

func collect[T any](t fataler, seq func(func(T, error) bool)) []T {
	t.Helper()
	var out []T
	for v, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, v)
	}
	return out
}

func TestAppendAndRead(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()

	b := &Batch{
		Events: []Event{
			ev("user:1", "e1", 2*time.Minute, `{"a":1}`),
			ev("user:1", "e2", time.Minute, `{"a":2}`),
			ev("user:2", "", 0, `{"a":3}`),
		},
		Snapshots:   []Snapshot{snap("s1", "fraud", "user:1", 3*time.Minute)},
		Checkpoints: map[string]uint64{"EVENTS": 3, "SNAPSHOTS": 1},
		Covered:     []SeqRange{{"EVENTS", 1, 3}, {"SNAPSHOTS", 1, 1}},
	}
	res := mustAppend(t, l, b)
	if res.First != 1 || res.Last != 4 || res.Events != 3 || res.Snapshots != 1 {
		t.Fatalf("result %+v", res)
	}

	recs := collect(t, l.Log(1))
	if len(recs) != 4 || recs[0].Event.ID != "e1" || recs[3].Snapshot.ID != "s1" {
		t.Fatalf("log: %+v", recs)
	}
	if string(recs[2].Event.Payload) != `{"a":3}` || recs[2].Event.Hash == 0 {
		t.Fatalf("payload or hash not kept: %+v", recs[2].Event)
	}
	if got := collect(t, l.Log(3)); len(got) != 2 || got[0].Seq != 3 {
		t.Fatalf("log from 3: %+v", got)
	}

	// The entity index orders by event time, not by append order.
	evs := collect(t, l.EntityEvents("user:1", time.Time{}, time.Time{}))
	if len(evs) != 2 || evs[0].Record.ID != "e2" || evs[1].Record.ID != "e1" {
		t.Fatalf("entity events: %+v", evs)
	}
	if evs[0].Record.Arrival.IsZero() || evs[0].Record.Stream != "EVENTS" ||
		len(evs[0].Record.Fields) != 2 {
		t.Fatalf("entity event lacks replay fields: %+v", evs[0].Record)
	}

	e, err := l.Event("e1")
	if err != nil || e.Seq != 1 || e.Record.Entity != "user:1" {
		t.Fatalf("Event(e1) = %+v, %v", e, err)
	}
	byHash, err := l.EventByHash(recs[2].Event.Hash)
	if err != nil || byHash.Seq != 3 {
		t.Fatalf("EventByHash = %+v, %v", byHash, err)
	}
	s, err := l.Snapshot("s1")
	if err != nil || s.Record.Score != 0.25 || !s.Record.Decision || s.Record.Watermark != 12 {
		t.Fatalf("Snapshot(s1) = %+v, %v", s, err)
	}
	if _, err := l.Event("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing event: %v", err)
	}
	if _, err := l.Snapshot("nope"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing snapshot: %v", err)
	}
	if _, err := l.Record(99); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing record: %v", err)
	}

	if c := l.Counts(); c != (Counts{Events: 3, Snapshots: 1}) {
		t.Fatalf("counts %+v", c)
	}
	if cp, _ := l.Checkpoint("EVENTS"); cp != 3 {
		t.Fatalf("checkpoint %d", cp)
	}
	all, err := l.Checkpoints()
	if err != nil || all["SNAPSHOTS"] != 1 || len(all) != 2 {
		t.Fatalf("checkpoints %v %v", all, err)
	}
}

func TestEntityEventsRange(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	var es []Event
	for i := range 10 {
		es = append(es, ev("user:1", fmt.Sprint("e", i), time.Duration(i)*time.Minute,
			fmt.Sprint(i)))
	}
	// A neighbour whose name extends the first must not leak into its range.
	es = append(es, ev("user:10", "x", 0, "x"))
	mustAppend(t, l, &Batch{Events: es})

	ids := func(after, until time.Time) []string {
		var out []string
		for _, e := range collect(t, l.EntityEvents("user:1", after, until)) {
			out = append(out, e.Record.ID)
		}
		return out
	}
	tests := []struct {
		name         string
		after, until time.Time
		want         []string
	}{
		{"all", time.Time{}, time.Time{}, []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6",
			"e7", "e8", "e9"}},
		{"window excludes start, includes end", t0.Add(2 * time.Minute),
			t0.Add(4 * time.Minute), []string{"e3", "e4"}},
		{"until only", time.Time{}, t0.Add(time.Minute), []string{"e0", "e1"}},
		{"after only", t0.Add(8 * time.Minute), time.Time{}, []string{"e9"}},
		{"empty", t0.Add(20 * time.Minute), time.Time{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ids(tc.after, tc.until); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	if n := len(collect(t, l.AllEntityEvents())); n != 11 {
		t.Fatalf("AllEntityEvents: %d", n)
	}
}

func TestEntityEventsInWindow(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	var es []Event
	for _, entity := range []string{"a", "b", "c"} {
		for i := range 10 {
			es = append(es, ev(entity, fmt.Sprint(entity, i), time.Duration(i)*time.Minute, "p"))
		}
	}
	mustAppend(t, l, &Batch{Events: es})
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	far := time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC) // beyond Unix nanoseconds
	old := time.Date(1, 2, 1, 0, 0, 0, 0, time.UTC)

	tests := []struct {
		name  string
		spans map[string][]Span
		want  []string
	}{
		{"one span per entity", map[string][]Span{"a": {{at(2), at(4)}}, "c": {{at(8), time.Time{}}}},
			[]string{"a3", "a4", "c9"}},
		{"gaps between spans are skipped", map[string][]Span{
			"b": {{time.Time{}, at(0)}, {at(3), at(5)}, {at(7), at(8)}}},
			[]string{"b0", "b4", "b5", "b8"}},
		{"bounds beyond stored times", map[string][]Span{
			"a": {{old, at(1)}, {at(8), far}}, "b": {{far, time.Time{}}}, "c": {{time.Time{}, old}}},
			[]string{"a0", "a1", "a9"}},
		{"empty spans are passed over", map[string][]Span{
			"a": {{at(3), at(3)}, {at(5), at(6)}}},
			[]string{"a6"}},
		{"no spans", map[string][]Span{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var asked []string
			window := func(entity string) []Span {
				asked = append(asked, entity)
				return tc.spans[entity]
			}
			var got []string
			for _, e := range collect(t, l.EntityEventsInWindow("", "", window)) {
				got = append(got, e.Record.ID)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
			if !slices.Equal(asked, []string{"a", "b", "c"}) {
				t.Fatalf("window asked about %v, want each entity once", asked)
			}
		})
	}
	// from and to bound the entities read.
	all := func(string) []Span { return []Span{{}} }
	if n := len(collect(t, l.EntityEventsInWindow("b", "c", all))); n != 10 {
		t.Fatalf("entities [b, c): %d events, want 10", n)
	}
}

func TestSnapshotsByModelAndTime(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, &Batch{Snapshots: []Snapshot{
		snap("a", "fraud", "u1", 0), snap("b", "fraud", "u2", time.Hour),
		snap("c", "churn", "u1", 30*time.Minute), snap("d", "fraud", "u3", 2*time.Hour),
	}})
	ids := func(model string, from, to time.Time) []string {
		var out []string
		for _, s := range collect(t, l.Snapshots(model, from, to)) {
			out = append(out, s.Record.ID)
		}
		return out
	}
	if got := ids("fraud", time.Time{}, time.Time{}); !slices.Equal(got, []string{"a", "b", "d"}) {
		t.Fatalf("fraud: %v", got)
	}
	if got := ids("fraud", t0.Add(time.Hour), t0.Add(2*time.Hour)); !slices.Equal(got,
		[]string{"b"}) {
		t.Fatalf("fraud [1h, 2h): %v", got)
	}
	if got := ids("", t0.Add(10*time.Minute), time.Time{}); len(got) != 3 {
		t.Fatalf("all models from 10m: %v", got)
	}
}

func TestDeduplication(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, &Batch{Events: []Event{ev("u", "e1", 0, "p1"), ev("u", "", 0, "anon")}})

	res := mustAppend(t, l, &Batch{
		Events: []Event{
			ev("u", "e1", time.Hour, "other payload, same id"),
			ev("u", "", time.Hour, "anon"), // same content, no id
			ev("u", "e2", 0, "p2"),
			ev("u", "e2", 0, "p2"), // twice in one batch
		},
		Snapshots: []Snapshot{snap("s1", "m", "u", 0), snap("s1", "m", "u", 0)},
	})
	if res.Events != 1 || !slices.Equal(res.DuplicateEvents, []int{0, 1, 3}) {
		t.Fatalf("events: %+v", res)
	}
	if res.Snapshots != 1 || !slices.Equal(res.DuplicateSnapshots, []int{1}) {
		t.Fatalf("snapshots: %+v", res)
	}
	if c := l.Counts(); c.Events != 3 || c.Duplicates != 4 {
		t.Fatalf("counts %+v", c)
	}
	// A batch of duplicates only stores nothing and moves no sequence.
	res = mustAppend(t, l, &Batch{Events: []Event{ev("u", "e1", 0, "p1")}})
	if res.First != 0 || res.Last != 0 || l.LastSeq() != 4 {
		t.Fatalf("duplicate-only batch: %+v, last %d", res, l.LastSeq())
	}
}

func TestValidation(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	good := ev("u", "ok", 0, "p")
	tests := []struct {
		name        string
		batch       Batch
		kind, field string
		index       int
	}{
		{"missing entity", Batch{Events: []Event{good, {Time: t0, Payload: []byte("x")}}},
			"event", "entity", 1},
		{"zero time", Batch{Events: []Event{{Entity: "u", Payload: []byte("x")}}}, "event",
			"time", 0},
		{"time beyond nanoseconds", Batch{Events: []Event{{Entity: "u", Time: time.Date(2300, 1,
			1, 0, 0, 0, 0, time.UTC),
			Payload: []byte("x")}}}, "event", "time", 0},
		{"empty payload", Batch{Events: []Event{good, good, {Entity: "u", Time: t0}}}, "event",
			"payload", 2},
		{"wrong hash", Batch{Events: []Event{{Entity: "u", Time: t0, Payload: []byte("x"),
			Hash: 1}}}, "event", "hash", 0},
		{"NaN field", Batch{Events: []Event{{Entity: "u", Time: t0, Payload: []byte("x"),
			Fields: []Field{{"a", Value{Kind: KindNumber, Num: nan()}}}}}}, "event", "fields", 0},
		{"snapshot without id", Batch{Snapshots: []Snapshot{{Model: "m", Entity: "u", Time: t0,
			Payload: []byte("x")}}}, "snapshot", "id", 0},
		{"snapshot without model", Batch{Snapshots: []Snapshot{{ID: "s", Entity: "u", Time: t0,
			Payload: []byte("x")}}}, "snapshot", "model", 0},
		{"bad range", Batch{Covered: []SeqRange{{"EVENTS", 5, 4}}}, "covered", "range", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := l.Append(&tc.batch)
			var ve *ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a ValidationError, got %v", err)
			}
			if ve.Kind != tc.kind || ve.Field != tc.field || ve.Index != tc.index {
				t.Fatalf("got %+v, want %s %d %s", ve, tc.kind, tc.index, tc.field)
			}
		})
	}
	if l.LastSeq() != 0 || len(collect(t, l.Log(0))) != 0 {
		t.Fatal("a refused batch left records behind")
	}
	if _, err := l.Append(&Batch{}); !errors.Is(err, ErrEmptyBatch) {
		t.Fatalf("empty batch: %v", err)
	}
}

func nan() float64 { z := 0.0; return z / z }

func TestCheckpointsNeverMoveBack(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, &Batch{Checkpoints: map[string]uint64{"EVENTS": 10}})
	mustAppend(t, l, &Batch{Checkpoints: map[string]uint64{"EVENTS": 7}})
	if cp, _ := l.Checkpoint("EVENTS"); cp != 10 {
		t.Fatalf("checkpoint moved back to %d", cp)
	}
	if cp, _ := l.Checkpoint("OTHER"); cp != 0 {
		t.Fatalf("unknown stream checkpoint %d", cp)
	}
}

func TestCoverageAndGaps(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	for _, r := range []SeqRange{{"E", 1, 10}, {"E", 11, 20}, {"E", 31, 40}, {"E", 5, 8}, {"S",
		1, 2}} {
		mustAppend(t, l, &Batch{Covered: []SeqRange{r}})
	}
	check := func(l *Ledger) {
		cov, err := l.Coverage("E")
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cov, []SeqRange{{"E", 1, 20}, {"E", 31, 40}}) {
			t.Fatalf("coverage %v", cov)
		}
		gaps, err := l.Gaps("")
		if err != nil || !slices.Equal(gaps, []SeqRange{{"E", 21, 30}}) {
			t.Fatalf("gaps %v %v", gaps, err)
		}
	}
	check(l)
	l.Close()
	l = openTest(t, dir)
	defer l.Close()
	// After reopening, a range touching the last one still extends it.
	mustAppend(t, l, &Batch{Covered: []SeqRange{{"E", 41, 45}}})
	cov, _ := l.Coverage("E")
	if !slices.Equal(cov, []SeqRange{{"E", 1, 20}, {"E", 31, 45}}) {
		t.Fatalf("coverage after reopen %v", cov)
	}
	check2, _ := l.Gaps("E")
	if len(check2) != 1 {
		t.Fatalf("gaps after reopen %v", check2)
	}

	// Sequences the broker deleted are no gap.
	mustAppend(t, l, &Batch{Deleted: []SeqRange{{"E", 21, 25}, {"E", 26, 30}}})
	if gaps, _ := l.Gaps(""); len(gaps) != 0 {
		t.Fatalf("gaps with deletions %v", gaps)
	}
	if del, _ := l.Deleted("E"); !slices.Equal(del, []SeqRange{{"E", 21, 30}}) {
		t.Fatalf("deleted %v", del)
	}
	if _, err := l.Append(&Batch{Deleted: []SeqRange{{"E", 9, 3}}}); err == nil {
		t.Fatal("a bad deleted range was accepted")
	}
}

func TestReopenKeepsState(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	mustAppend(t, l, &Batch{Events: []Event{ev("u", "e1", 0, "a"), ev("u", "e2", 0, "b")}})
	l.Close()

	l = openTest(t, dir)
	defer l.Close()
	if l.LastSeq() != 2 || l.Counts().Events != 2 {
		t.Fatalf("after reopen: last %d counts %+v", l.LastSeq(), l.Counts())
	}
	res := mustAppend(t, l, &Batch{Events: []Event{ev("u", "e1", 0, "a"), ev("u", "e3", 0, "c")}})
	if res.First != 3 || res.Events != 1 || len(res.DuplicateEvents) != 1 {
		t.Fatalf("append after reopen: %+v", res)
	}
	rep, err := l.Verify()
	if err != nil || !rep.Clean() || rep.Events != 3 || rep.Batches != 2 {
		t.Fatalf("verify after reopen: %+v %v", rep, err)
	}
}

func TestFormatChecks(t *testing.T) {
	t.Run("newer format refused", func(t *testing.T) {
		dir := t.TempDir()
		openTest(t, dir).Close()
		setRaw(t, dir, keyFormat, []byte(formatPrefix+"99"))
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrFormatTooNew) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("garbage format refused", func(t *testing.T) {
		dir := t.TempDir()
		openTest(t, dir).Close()
		setRaw(t, dir, keyFormat, []byte("something else"))
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("foreign pebble database refused", func(t *testing.T) {
		dir := t.TempDir()
		db, err := pebble.Open(dir, quietPebble())
		if err != nil {
			t.Fatal(err)
		}
		_ = db.Set([]byte("hello"), []byte("world"), pebble.Sync)
		db.Close()
		if _, err := Open(dir, Options{}); !errors.Is(err, ErrUnknownFormat) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("read-only needs an existing ledger", func(t *testing.T) {
		if _, err := Open(t.TempDir()+"/missing", Options{ReadOnly: true}); err == nil {
			t.Fatal("opened a missing directory read-only")
		}
	})
}

// setRaw writes one key straight into the Pebble store of a closed ledger.
func setRaw(t *testing.T, dir string, k, v []byte) {
	t.Helper()
	db, err := pebble.Open(dir, quietPebble())
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(k, v, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestReadOnlyAndCopy(t *testing.T) {
	dir := t.TempDir()
	l := openTest(t, dir)
	mustAppend(t, l, &Batch{Events: []Event{ev("u", "e1", 0, "a")}})

	// A copy of a live ledger opens read-only in its own directory.
	cp := t.TempDir() + "/copy"
	if err := l.CopyTo(cp); err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, &Batch{Events: []Event{ev("u", "e2", 0, "b")}})
	l.Close()

	ro, err := Open(cp, Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	if ro.LastSeq() != 1 {
		t.Fatalf("copy holds %d records, want 1", ro.LastSeq())
	}
	if _, err := ro.Append(&Batch{Events: []Event{ev("u", "e3", 0, "c")}}); err == nil {
		t.Fatal("append to a read-only ledger succeeded")
	}
	rep, err := ro.Verify()
	if err != nil || !rep.Clean() {
		t.Fatalf("verify copy: %+v %v", rep, err)
	}
}

func TestConcurrentAppendsGroupCommit(t *testing.T) {
	l := openTest(t, t.TempDir())
	const writers, batches, size = 8, 20, 10
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range batches {
				var es []Event
				for i := range size {
					id := fmt.Sprintf("w%d-b%d-%d", w, b, i)
					es = append(es, ev(fmt.Sprint("user:", i), id, time.Duration(b), id))
				}
				if _, err := l.Append(&Batch{Events: es}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if c := l.Counts(); c.Events != writers*batches*size {
		t.Fatalf("stored %d events", c.Events)
	}
	rep, err := l.Verify()
	if err != nil || !rep.Clean() || rep.Batches != writers*batches {
		t.Fatalf("verify: %+v %v", rep, err)
	}
	l.Close()
	if _, err := l.Append(&Batch{Events: []Event{ev("u", "x", 0, "x")}}); !errors.Is(err,
		ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
}

// TestAppendAfterHugeBatch appends a batch larger than a writer keeps the
// memory of, then a small one holding a duplicate of one of the big one's
// events: the writer starts afresh and nothing is lost or doubled.
func TestAppendAfterHugeBatch(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	var big []Event
	for i := range writerKeep + 100 {
		big = append(big, ev(fmt.Sprint("user:", i%50), fmt.Sprint("e", i),
			time.Duration(i)*time.Second, fmt.Sprint("p", i)))
	}
	if r := mustAppend(t, l, &Batch{Events: big}); r.Events != len(big) {
		t.Fatalf("big batch: %+v", r)
	}
	r := mustAppend(t, l, &Batch{Events: []Event{big[7], ev("user:1", "new", time.Hour, "q")}})
	if r.Events != 1 || !slices.Equal(r.DuplicateEvents, []int{0}) {
		t.Fatalf("small batch after the big one: %+v", r)
	}
	if c := l.Counts(); c.Events != uint64(len(big)+1) || c.Duplicates != 1 {
		t.Fatalf("counts %+v", c)
	}
	rep, err := l.Verify()
	if err != nil || !rep.Clean() || rep.Events != uint64(len(big)+1) {
		t.Fatalf("verify: %v %+v", err, rep)
	}
}
