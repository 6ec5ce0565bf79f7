package ledger

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
)

const benchBatch = 1000

// benchEvents returns n events with 200-byte payloads and distinct ids,
// spread over entities.
func benchEvents(start, n, entities int) []Event {
	es := make([]Event, n)
	for i := range es {
		j := start + i
		id := fmt.Sprintf("evt-%012d", j)
		payload := fmt.Appendf(nil,
			`{"id":%q,"entity":"user:%d","type":"payment","time":"2026-12-02T10:00:00Z",`+
				`"fields":{"amount":%d.5,"merchant":"m-%d"}}`, id, j%entities, j%1000, j%97)
		for len(payload) < 200 {
			payload = append(payload, ' ')
		}
		es[i] = Event{
			ID: id, Entity: fmt.Sprint("user:", j%entities), Type: "payment",
			Time:    t0.Add(time.Duration(j) * time.Millisecond),
			Arrival: t0.Add(time.Duration(j) * time.Millisecond),
			Stream:  "EVENTS", BrokerSeq: uint64(j + 1),
			Fields: []Field{
				{"amount", Value{Kind: KindNumber, Num: float64(j%1000) + .5}},
				{"merchant", Value{Kind: KindString, Str: fmt.Sprint("m-", j%97)}},
			},
			Payload: payload[:200],
		}
	}
	return es
}

// BenchmarkAppend appends batches of 1,000 200-byte events with every index,
// content hash, chain step and checkpoint, synced per batch.
func BenchmarkAppend(b *testing.B) {
	l := openTest(b, b.TempDir())
	defer l.Close()
	n := 0
	b.ReportAllocs()
	b.SetBytes(200 * benchBatch)
	for b.Loop() {
		b.StopTimer()
		es := benchEvents(n, benchBatch, 10000)
		b.StartTimer()
		n += benchBatch
		if _, err := l.Append(&Batch{Events: es,
			Checkpoints: map[string]uint64{"EVENTS": uint64(n)},
			Covered:     []SeqRange{{"EVENTS", uint64(n - benchBatch + 1), uint64(n)}},
		}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkPebbleRaw writes the same records to a plain Pebble database with
// the ledger's options: each event encoded as the ledger's log record, with
// its content hash computed as the encoding needs it, one key per record, no
// indexes, no dedup check, one synced batch of 1,000.
func BenchmarkPebbleRaw(b *testing.B) { benchPebbleRaw(b, 0, false) }

// BenchmarkPebbleRawPadded is BenchmarkPebbleRaw with each record padded by
// 142 bytes, so that a batch is as large as the ledger's with its indexes:
// the fsync's share of an append.
func BenchmarkPebbleRawPadded(b *testing.B) { benchPebbleRaw(b, 142, false) }

// BenchmarkPebbleRawKeys writes, like BenchmarkPebbleRaw, one synced plain
// Pebble batch per 1,000 events, but with all three of the ledger's keys per
// event (log record, dedup key, entity index entry), encoded as the ledger
// encodes them: no dedup check, no chain, no checkpoint. Against it, Append
// shows the cost of its own work rather than of the bytes and keys it must
// write.
func BenchmarkPebbleRawKeys(b *testing.B) { benchPebbleRaw(b, 0, true) }

// openRawPebble opens a plain Pebble database with the ledger's options in
// a temporary directory, closed when b ends.
func openRawPebble(b *testing.B) *pebble.DB {
	opts := Options{}.withDefaults()
	cache := pebble.NewCache(opts.CacheSize)
	b.Cleanup(cache.Unref)
	db, err := pebble.Open(b.TempDir(), opts.pebbleOptions(cache))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = db.Close() })
	return db
}

// benchPebbleRaw writes synced batches of 1,000 events to a plain Pebble
// database with the ledger's options: for each event, its log record, with
// the content hash it holds computed, padded by pad bytes, and when keys is
// set its dedup key and entity index entry too.
func benchPebbleRaw(b *testing.B, pad int, keys bool) {
	db := openRawPebble(b)
	n := 0
	b.ReportAllocs()
	b.SetBytes(200 * benchBatch)
	var rec, key []byte
	var seqv [8]byte
	for b.Loop() {
		b.StopTimer()
		es := benchEvents(n, benchBatch, 10000)
		b.StartTimer()
		pb := db.NewBatch()
		for i := range es {
			n++
			e := &es[i]
			e.Hash = xxhash.Sum64(e.Payload)
			rec = appendEventValue(rec[:0], e)
			rec = append(rec, make([]byte, pad)...)
			_ = pb.Set(logKey(uint64(n)), rec, nil)
			if !keys {
				continue
			}
			putUint64(seqv[:], uint64(n))
			key = appendDedupKey(key[:0], e)
			_ = pb.Set(key, seqv[:], nil)
			key = appendEntityKey(key[:0], e.Entity, e.Time, uint64(n))
			rec = appendEntityValue(rec[:0], e)
			_ = pb.Set(key, rec, nil)
		}
		if err := pb.Commit(pebble.Sync); err != nil {
			b.Fatal(err)
		}
		_ = pb.Close()
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkEntityScan reads whole entities of 1,000 events through the
// entity index (decoded into events), against a raw Pebble iteration over the
// same keys in the same database.
func BenchmarkEntityScan(b *testing.B) {
	const entities, perEntity = 100, 1000
	l := openTest(b, b.TempDir())
	defer l.Close()
	for start := 0; start < entities*perEntity; start += benchBatch {
		if _, err := l.Append(&Batch{Events: benchEvents(start, benchBatch,
			entities)}); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.db.Flush(); err != nil {
		b.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))

	b.Run("ledger", func(b *testing.B) {
		n := 0
		for b.Loop() {
			entity := fmt.Sprint("user:", rng.IntN(entities))
			for _, err := range l.EntityEvents(entity, time.Time{}, time.Time{}) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	})
	b.Run("pebble-raw", func(b *testing.B) {
		n := 0
		for b.Loop() {
			p := entityPrefix(fmt.Sprint("user:", rng.IntN(entities)))
			it, _ := l.db.NewIter(&pebble.IterOptions{LowerBound: p, UpperBound: upperBound(p)})
			for ok := it.First(); ok; ok = it.Next() {
				_ = it.Value()
				n++
			}
			_ = it.Close()
		}
		b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "events/s")
	})
}
