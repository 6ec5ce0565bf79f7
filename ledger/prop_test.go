package ledger

import (
	"bytes"
	"errors"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// model is the trivial in-memory ledger the real one is checked against.
type model struct {
	log         []Record // in sequence order
	keys        map[string]bool
	checkpoints map[string]uint64
}

func (m *model) apply(b *Batch) Result {
	var res Result
	seq := uint64(len(m.log))
	for i, e := range b.Events {
		k := string(dedupKey(&e))
		if m.keys[k] {
			res.DuplicateEvents = append(res.DuplicateEvents, i)
			continue
		}
		m.keys[k] = true
		seq++
		e := e
		m.log = append(m.log, Record{Seq: seq, Event: &e})
		res.Events++
	}
	for i, s := range b.Snapshots {
		k := string(snapIDKey(s.ID))
		if m.keys[k] {
			res.DuplicateSnapshots = append(res.DuplicateSnapshots, i)
			continue
		}
		m.keys[k] = true
		seq++
		s := s
		m.log = append(m.log, Record{Seq: seq, Snapshot: &s})
		res.Snapshots++
	}
	for s, v := range b.Checkpoints {
		m.checkpoints[s] = max(m.checkpoints[s], v)
	}
	return res
}

type ledgerMachine struct {
	dir   string
	l     *Ledger
	m     *model
	calls int
}

func genEvent(t *rapid.T) Event {
	size := rapid.SampledFrom([]int{1, 20, 200, 5000, 40000}).Draw(t, "payloadSize")
	payload := bytes.Repeat([]byte{rapid.Byte().Draw(t, "fill")}, size)
	payload[0] = byte(rapid.IntRange(0, 255).Draw(t, "first"))
	e := Event{
		ID: rapid.SampledFrom([]string{"", "", "a", "b", "c", "d", "e", "f", "g"}).Draw(t,
			"id"),
		Entity: rapid.SampledFrom([]string{"user:1", "user:2", "user:10", "u",
			"merchant:7"}).Draw(t, "entity"),
		Type:    rapid.SampledFrom([]string{"payment", "login"}).Draw(t, "type"),
		Time:    t0.Add(time.Duration(rapid.IntRange(-5000, 5000).Draw(t, "time")) * time.Second),
		Arrival: t0.Add(time.Duration(rapid.IntRange(0, 10000).Draw(t, "arrival")) * time.Second),
		Stream:  "EVENTS", BrokerSeq: rapid.Uint64Range(1, 1000).Draw(t, "bseq"),
		Payload: payload,
	}
	if rapid.Bool().Draw(t, "hasField") {
		e.Fields = []Field{{"amount", Value{Kind: KindNumber, Num: rapid.Float64Range(-1e6,
			1e6).Draw(t, "amount")}}}
	}
	return e
}

func genSnapshot(t *rapid.T) Snapshot {
	return snap(rapid.SampledFrom([]string{"s1", "s2", "s3", "s4"}).Draw(t, "sid"),
		rapid.SampledFrom([]string{"fraud", "churn"}).Draw(t, "model"),
		rapid.SampledFrom([]string{"user:1", "user:2"}).Draw(t, "sentity"),
		time.Duration(rapid.IntRange(0, 100).Draw(t, "stime"))*time.Minute)
}

func (lm *ledgerMachine) Append(t *rapid.T) {
	b := &Batch{
		Events:    rapid.SliceOfN(rapid.Custom(genEvent), 0, 8).Draw(t, "events"),
		Snapshots: rapid.SliceOfN(rapid.Custom(genSnapshot), 0, 2).Draw(t, "snapshots"),
	}
	if rapid.Bool().Draw(t, "checkpoint") {
		b.Checkpoints = map[string]uint64{"EVENTS": rapid.Uint64Range(1, 100).Draw(t, "cp")}
	}
	if len(b.Events)+len(b.Snapshots)+len(b.Checkpoints) == 0 {
		t.Skip("empty batch")
	}
	got, err := lm.l.Append(b)
	if err != nil {
		t.Fatal(err)
	}
	want := lm.m.apply(b)
	if got.Events != want.Events || got.Snapshots != want.Snapshots ||
		!slices.Equal(got.DuplicateEvents, want.DuplicateEvents) ||
		!slices.Equal(got.DuplicateSnapshots, want.DuplicateSnapshots) {
		t.Fatalf("append: got %+v, model %+v", got, want)
	}
}

func (lm *ledgerMachine) AppendInvalid(t *rapid.T) {
	es := rapid.SliceOfN(rapid.Custom(genEvent), 1, 4).Draw(t, "events")
	bad := rapid.IntRange(0, len(es)-1).Draw(t, "bad")
	switch rapid.IntRange(0, 2).Draw(t, "how") {
	case 0:
		es[bad].Entity = ""
	case 1:
		es[bad].Payload = nil // an empty payload is refused
	default:
		es[bad].Time = time.Time{}
	}
	_, err := lm.l.Append(&Batch{Events: es})
	var ve *ValidationError
	if !errors.As(err, &ve) || ve.Index != bad {
		t.Fatalf("a batch with invalid record %d: %v", bad, err)
	}
}

func (lm *ledgerMachine) Reopen(t *rapid.T) {
	if err := lm.l.Close(); err != nil {
		t.Fatal(err)
	}
	l, err := Open(lm.dir, propOptions)
	if err != nil {
		t.Fatal(err)
	}
	lm.l = l
}

// Check compares every read with the model.
func (lm *ledgerMachine) Check(t *rapid.T) {
	lm.calls++
	recs := collect(t, lm.l.Log(0))
	if len(recs) != len(lm.m.log) {
		t.Fatalf("log holds %d records, model %d", len(recs), len(lm.m.log))
	}
	for i, r := range recs {
		if !sameRecord(r, lm.m.log[i]) {
			t.Fatalf("record %d differs:\n got %+v\nwant %+v", i, r, lm.m.log[i])
		}
	}
	if lm.calls%4 != 0 {
		return // the log is compared after every step, the rest every fourth
	}
	lm.checkEntities(t)
	lm.checkLookups(t)
	for s, v := range lm.m.checkpoints {
		if cp, _ := lm.l.Checkpoint(s); cp != v {
			t.Fatalf("checkpoint %s = %d, model %d", s, cp, v)
		}
	}
	if lm.calls%8 == 0 {
		rep, err := lm.l.Verify()
		if err != nil || !rep.Clean() {
			t.Fatalf("verify: %v %v", err, rep.Findings)
		}
	}
}

func sameRecord(a, b Record) bool {
	if a.Seq != b.Seq || (a.Event == nil) != (b.Event == nil) {
		return false
	}
	if a.Event != nil {
		x, y := *a.Event, *b.Event
		return x.ID == y.ID && x.Entity == y.Entity && x.Time.Equal(y.Time) &&
			x.Arrival.Equal(y.Arrival) && bytes.Equal(x.Payload, y.Payload) && x.Hash == y.Hash &&
			x.BrokerSeq == y.BrokerSeq && slices.Equal(x.Fields, y.Fields)
	}
	return a.Snapshot.ID == b.Snapshot.ID && bytes.Equal(a.Snapshot.Payload, b.Snapshot.Payload)
}

// checkEntities compares each entity's events, in event time order, and a
// time-bounded range.
func (lm *ledgerMachine) checkEntities(t *rapid.T) {
	by := map[string][]Record{}
	for _, r := range lm.m.log {
		if r.Event != nil {
			by[r.Event.Entity] = append(by[r.Event.Entity], r)
		}
	}
	after := t0.Add(-1000 * time.Second)
	until := t0.Add(1000 * time.Second)
	for entity, want := range by {
		sort.SliceStable(want, func(i,
			j int) bool {
			return want[i].Event.Time.Before(want[j].Event.Time)
		})
		got := collect(t, lm.l.EntityEvents(entity, time.Time{}, time.Time{}))
		if len(got) != len(want) {
			t.Fatalf("entity %s: %d events, model %d", entity, len(got), len(want))
		}
		for i := range got {
			if got[i].Seq != want[i].Seq || got[i].Record.Hash != want[i].Event.Hash {
				t.Fatalf("entity %s event %d: got seq %d, want %d", entity, i, got[i].Seq,
					want[i].Seq)
			}
		}
		n := 0
		for _, r := range want {
			if r.Event.Time.After(after) && !r.Event.Time.After(until) {
				n++
			}
		}
		if got := collect(t, lm.l.EntityEvents(entity, after, until)); len(got) != n {
			t.Fatalf("entity %s in range: %d events, model %d", entity, len(got), n)
		}
	}
}

func (lm *ledgerMachine) checkLookups(t *rapid.T) {
	var c Counts
	for _, r := range lm.m.log {
		switch {
		case r.Event != nil && r.Event.ID != "":
			c.Events++
			if got, err := lm.l.Event(r.Event.ID); err != nil || got.Seq != r.Seq {
				t.Fatalf("Event(%s) = %d, %v; want %d", r.Event.ID, got.Seq, err, r.Seq)
			}
		case r.Event != nil:
			c.Events++
			if got, err := lm.l.EventByHash(r.Event.Hash); err != nil || got.Seq != r.Seq {
				t.Fatalf("EventByHash = %d, %v; want %d", got.Seq, err, r.Seq)
			}
		default:
			c.Snapshots++
			if got, err := lm.l.Snapshot(r.Snapshot.ID); err != nil || got.Seq != r.Seq {
				t.Fatalf("Snapshot(%s) = %d, %v; want %d", r.Snapshot.ID, got.Seq, err, r.Seq)
			}
		}
	}
	got := lm.l.Counts()
	if got.Events != c.Events || got.Snapshots != c.Snapshots {
		t.Fatalf("counts %+v, model %+v", got, c)
	}
	if n := len(collect(t, lm.l.Snapshots("", time.Time{},
		time.Time{}))); uint64(n) != c.Snapshots {
		t.Fatalf("Snapshots() yields %d, model %d", n, c.Snapshots)
	}
}

// propOptions keeps Pebble small: the property test opens hundreds of
// ledgers.
var propOptions = Options{MemTableSize: 16 << 20, CacheSize: 16 << 20}

// TestLedgerMatchesModel runs random appends (duplicates, out-of-order event
// times, several entities, small and large payloads, invalid batches) and
// reopenings against the in-memory model. rapid prints the seed of a failure;
// rerun it with -rapid.seed.
func TestLedgerMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		dir, err := os.MkdirTemp("", "asof-ledger-prop")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		l, err := Open(dir, propOptions)
		if err != nil {
			t.Fatal(err)
		}
		lm := &ledgerMachine{dir: dir, l: l,
			m: &model{keys: map[string]bool{}, checkpoints: map[string]uint64{}}}
		defer func() { _ = lm.l.Close() }()
		t.Repeat(rapid.StateMachineActions(lm))
	})
}
