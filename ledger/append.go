package ledger

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"sort"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
)

// Result tells what Append did with a batch.
type Result struct {
	// First and Last are the ledger sequences given to the stored records;
	// both are 0 when nothing was stored.
	First, Last uint64

	// Events and Snapshots count the records stored.
	Events, Snapshots int

	// DuplicateEvents and DuplicateSnapshots hold the indexes, in the
	// batch's slices, of records skipped because they were already stored.
	DuplicateEvents, DuplicateSnapshots []int
}

// Append validates every record of b, then writes the records that are not
// already stored, their indexes, the checkpoints and the covered ranges in
// one Pebble batch, all or nothing. When Append returns nil the batch is
// synced to disk. Concurrent calls share fsyncs.
//
// An event already stored under the same id, or without an id under the same
// content hash, is skipped and counted, and so is a snapshot already stored
// under the same id. Append computes each record's content hash from its
// payload; a non-zero Hash that disagrees is refused.
func (l *Ledger) Append(b *Batch) (Result, error) {
	if err := validateBatch(b); err != nil {
		return Result{}, err
	}
	if err := l.acquire(); err != nil {
		return Result{}, err
	}
	defer l.release()
	if l.opts.ReadOnly {
		return Result{}, fmt.Errorf("ledger: append: %w", pebble.ErrReadOnly)
	}

	pb, res, err := l.prepareAndApply(b)
	if err != nil {
		return Result{}, err
	}

	// Wait for the WAL sync outside the lock: batches applied meanwhile join
	// the same fsync.
	if err := pb.SyncWait(); err != nil {
		l.mu.Lock()
		l.failed = err
		l.mu.Unlock()
		l.log.Error("sync failed; refusing further appends", "error", err)
		return Result{}, fmt.Errorf("ledger: sync: %w", err)
	}
	_ = pb.Close()
	return res, nil
}

// validateBatch checks every record and fills content hashes.
func validateBatch(b *Batch) error {
	if len(b.Events) == 0 && len(b.Snapshots) == 0 && len(b.Checkpoints) == 0 &&
		len(b.Covered) == 0 && len(b.Deleted) == 0 {
		return ErrEmptyBatch
	}
	for i := range b.Events {
		e := &b.Events[i]
		if err := e.validate(i); err != nil {
			return err
		}
		if h := xxhash.Sum64(e.Payload); e.Hash != h {
			return &ValidationError{Kind: "event", Index: i, Field: "hash",
				Msg: "does not match the payload's content hash"}
		}
	}
	for i := range b.Snapshots {
		s := &b.Snapshots[i]
		if err := s.validate(i); err != nil {
			return err
		}
		if h := xxhash.Sum64(s.Payload); s.Hash != h {
			return &ValidationError{Kind: "snapshot", Index: i, Field: "hash",
				Msg: "does not match the payload's content hash"}
		}
	}
	for i, r := range b.Covered {
		if r.Stream == "" || r.First == 0 || r.Last < r.First {
			return &ValidationError{Kind: "covered", Index: i, Field: "range",
				Msg: fmt.Sprintf("bad range %q [%d, %d]", r.Stream, r.First, r.Last)}
		}
	}
	for i, r := range b.Deleted {
		if r.Stream == "" || r.First == 0 || r.Last < r.First {
			return &ValidationError{Kind: "deleted", Index: i, Field: "range",
				Msg: fmt.Sprintf("bad range %q [%d, %d]", r.Stream, r.First, r.Last)}
		}
	}
	for s := range b.Checkpoints {
		if s == "" {
			return &ValidationError{Kind: "checkpoint", Field: "stream", Msg: "empty stream name"}
		}
	}
	return nil
}

// prepareAndApply builds the Pebble batch under the write lock and applies
// it without waiting for the sync.
func (l *Ledger) prepareAndApply(b *Batch) (*pebble.Batch, Result, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed != nil {
		return nil, Result{}, fmt.Errorf("%w: %w", ErrFailed, l.failed)
	}

	w := &l.w
	w.reset(l)
	defer func() { w.pb = nil }()
	if err := w.events(b.Events); err != nil {
		_ = w.pb.Close()
		return nil, Result{}, err
	}
	if err := w.snapshots(b.Snapshots); err != nil {
		_ = w.pb.Close()
		return nil, Result{}, err
	}
	w.flushIndexes()
	chain, batchN := l.chain, l.batchSeq
	if w.res.First != 0 {
		batchN++
		chain = w.chain.sum()
		br := batchRecord{n: batchN, first: w.res.First, last: w.seq, chain: chain}
		k, v := br.encode()
		w.set(k, v)
	}
	w.checkpoints(b.Checkpoints)
	cov := w.coverage(b.Covered)
	for _, r := range b.Deleted {
		k := deletedKey(r.Stream, r.First)
		w.set(k, seal(k, appendUint64(nil, r.Last)))
	}
	w.set(keyCounts, seal(keyCounts, appendCounts(nil, w.counts)))

	if err := l.db.ApplyNoSyncWait(w.pb, pebble.Sync); err != nil {
		// Pebble may or may not have written the batch to the WAL; the write
		// state can no longer be trusted.
		l.failed = err
		return nil, Result{}, fmt.Errorf("ledger: apply: %w", err)
	}
	l.lastSeq, l.chain, l.batchSeq, l.counts = w.seq, chain, batchN, w.counts
	for s, r := range cov {
		l.coverage[s] = r
	}
	for _, h := range w.newHashes {
		l.filter.addHash(h)
	}
	if w.res.First != 0 {
		w.res.Last = w.seq
	}
	return w.pb, w.res, nil
}

func appendCounts(b []byte, c Counts) []byte {
	b = appendUint64(b, c.Events)
	b = appendUint64(b, c.Snapshots)
	return appendUint64(b, c.Duplicates)
}

// writer collects the writes of one batch. Log records go straight into the
// Pebble batch in sequence order; index entries are gathered and written
// sorted, which lets Pebble's memtable insert each next to the previous one.
// The ledger keeps one writer and reuses its buffers from batch to batch.
type writer struct {
	l       *Ledger
	pb      *pebble.Batch
	seq     uint64
	counts  Counts
	chain   chainHasher
	res     Result
	index   kvList // dedup and snapshot index entries, written sorted
	scratch []byte
	key     []byte // the key being built

	// stored holds the positions in the batch of the events to store;
	// entities their entity index entries, built with entKey and entVal.
	stored         []int
	entities       kvList
	entKey, entVal []byte

	// probes holds, for each record of the batch, the hash of its dedup or
	// snapshot-id key and whether the filter may hold it.
	probes []probe

	// newKeys are the index entries (in index) of the dedup and snapshot-id
	// keys of this batch and newHashes their hashes, to add to the filter;
	// seen maps each hash to its position in newKeys, to find duplicates
	// within the batch.
	newKeys   []int
	newHashes []uint64
	seen      map[uint64]int
}

type probe struct {
	hash  uint64
	maybe bool
}

// writerKeep bounds the memory a writer keeps from batch to batch: once its
// probes, one for each event and then for each snapshot of a batch, have
// grown a capacity of more than writerKeep, it drops all its buffers before
// the next batch, so that a rare huge batch does not hold on to them.
const writerKeep = 1 << 14

// reset readies w for a new batch of l, keeping its buffers unless the
// capacity of w.probes exceeds writerKeep.
func (w *writer) reset(l *Ledger) {
	if cap(w.probes) > writerKeep {
		*w = writer{}
	}
	w.l, w.pb, w.seq, w.counts, w.res = l, l.db.NewBatch(), l.lastSeq, l.counts, Result{}
	w.chain.reset(l.chain, l.batchSeq+1)
	w.index.reset()
	w.entities.reset()
	w.newKeys, w.newHashes = w.newKeys[:0], w.newHashes[:0]
	if w.seen == nil {
		w.seen = make(map[uint64]int)
	}
	clear(w.seen)
}

func (w *writer) set(k, v []byte) { _ = w.pb.Set(k, v, nil) }

func (w *writer) next() uint64 {
	w.seq++
	if w.res.First == 0 {
		w.res.First = w.seq
	}
	return w.seq
}

// probe hashes the n keys that key appends, the dedup or snapshot-id keys
// of a batch's records, and asks the filter about all of them in one pass,
// before the batch is written: the questions are independent, so their
// cache misses overlap instead of following one another.
func (w *writer) probe(n int, key func(b []byte, i int) []byte) {
	w.probes = w.probes[:0]
	for i := range n {
		w.key = key(w.key[:0], i)
		w.probes = append(w.probes, probe{hash: xxhash.Sum64(w.key)})
	}
	w.l.filter.mayHaveHashes(w.probes)
}

// dup reports whether key, whose probe is p, is already stored or already in
// this batch.
func (w *writer) dup(key []byte, p probe) (bool, error) {
	if i, ok := w.seen[p.hash]; ok {
		if bytes.Equal(w.index.keyAt(w.newKeys[i]), key) {
			return true, nil
		}
		// Two keys with one hash: compare with every key of the batch.
		for _, j := range w.newKeys {
			if bytes.Equal(w.index.keyAt(j), key) {
				return true, nil
			}
		}
	}
	if !p.maybe {
		return false, nil
	}
	_, closer, err := w.l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("ledger: dedup lookup: %w", err)
	}
	_ = closer.Close()
	return true, nil
}

// record writes one log record and folds it into the chain.
func (w *writer) record(seq uint64, val []byte) {
	var k [9]byte
	k[0] = prefixLog
	putUint64(k[1:], seq)
	w.set(k[:], val)
	w.chain.add(seq, val)
}

// parallelMin is the number of new events from which a batch builds its
// entity index entries on a second goroutine.
const parallelMin = 64

// events writes the new events of es: first it settles which are new, in
// one pass, then it writes their log records while another goroutine builds
// and sorts their entity index entries.
func (w *writer) events(es []Event) error {
	w.probe(len(es), func(b []byte, i int) []byte { return appendDedupKey(b, &es[i]) })
	w.stored = w.stored[:0]
	firstSeq := w.seq + 1
	for i := range es {
		w.key = appendDedupKey(w.key[:0], &es[i])
		p := w.probes[i]
		dup, err := w.dup(w.key, p)
		if err != nil {
			return err
		}
		if dup {
			w.res.DuplicateEvents = append(w.res.DuplicateEvents, i)
			w.counts.Duplicates++
			continue
		}
		w.addKey(w.key, p.hash, w.next())
		w.stored = append(w.stored, i)
	}
	w.res.Events += len(w.stored)
	w.counts.Events += uint64(len(w.stored))

	if len(w.stored) < parallelMin {
		w.entityEntries(es, firstSeq)
		w.logRecords(es, firstSeq)
		return nil
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.entityEntries(es, firstSeq)
	}()
	w.logRecords(es, firstSeq)
	w.chain.flush() // while the entity entries are sorted
	<-done
	return nil
}

// logRecords writes the log records of the stored events of es, the first
// with sequence first.
func (w *writer) logRecords(es []Event, first uint64) {
	for k, i := range w.stored {
		w.scratch = appendEventValue(w.scratch[:0], &es[i])
		w.record(first+uint64(k), w.scratch)
	}
}

// entityEntries builds the entity index entries of the stored events of es,
// the first with sequence first, sorted. It touches nothing that logRecords
// does, so the two can run at once.
func (w *writer) entityEntries(es []Event, first uint64) {
	for k, i := range w.stored {
		e := &es[i]
		w.entKey = appendEntityKey(w.entKey[:0], e.Entity, e.Time, first+uint64(k))
		w.entVal = appendEntityValue(w.entVal[:0], e)
		w.entities.add(w.entKey, w.entVal)
	}
	w.entities.sort()
}

func (w *writer) snapshots(ss []Snapshot) error {
	w.probe(len(ss), func(b []byte, i int) []byte { return appendSnapIDKey(b, ss[i].ID) })
	for i := range ss {
		s := &ss[i]
		w.key = appendSnapIDKey(w.key[:0], s.ID)
		ik, p := w.key, w.probes[i]
		dup, err := w.dup(ik, p)
		if err != nil {
			return err
		}
		if dup {
			w.res.DuplicateSnapshots = append(w.res.DuplicateSnapshots, i)
			w.counts.Duplicates++
			continue
		}
		seq := w.next()
		w.scratch = appendSnapshotValue(w.scratch[:0], s, true)
		w.record(seq, w.scratch)
		w.addKey(ik, p.hash, seq)
		w.scratch = appendSnapshotValue(w.scratch[:0], s, false)
		w.index.add(snapModelKey(s.Model, s.Time, seq), w.scratch)
		w.res.Snapshots++
		w.counts.Snapshots++
	}
	return nil
}

// addKey adds a dedup or snapshot-id index entry, pointing at seq, and
// remembers it, by its hash h, for the duplicate checks of the rest of the
// batch.
func (w *writer) addKey(key []byte, h, seq uint64) {
	var v [8]byte
	putUint64(v[:], seq)
	w.index.add(key, v[:])
	w.seen[h] = len(w.newKeys)
	w.newKeys = append(w.newKeys, len(w.index.ents)-1)
	w.newHashes = append(w.newHashes, h)
}

// flushIndexes writes the gathered index entries in key order, merging the
// sorted entity entries with the others.
func (w *writer) flushIndexes() {
	w.index.sort()
	a, b := &w.index, &w.entities
	i, j := 0, 0
	for i < len(a.ents) || j < len(b.ents) {
		if j == len(b.ents) || i < len(a.ents) && bytes.Compare(a.keyAt(i), b.keyAt(j)) < 0 {
			w.set(a.at(i))
			i++
		} else {
			w.set(b.at(j))
			j++
		}
	}
}

// kvList holds key/value pairs in one buffer.
type kvList struct {
	buf  []byte
	ents []kvEnt
}

type kvEnt struct{ ko, kl, vl int }

func (l *kvList) add(k, v []byte) {
	l.ents = append(l.ents, kvEnt{ko: len(l.buf), kl: len(k), vl: len(v)})
	l.buf = append(l.buf, k...)
	l.buf = append(l.buf, v...)
}

func (l *kvList) reset() { l.buf, l.ents = l.buf[:0], l.ents[:0] }

func (l *kvList) key(e kvEnt) []byte { return l.buf[e.ko : e.ko+e.kl] }

// keyAt returns the key of entry i, in the order entries were added (until
// sort).
func (l *kvList) keyAt(i int) []byte { return l.key(l.ents[i]) }

func (l *kvList) at(i int) (k, v []byte) {
	e := l.ents[i]
	return l.buf[e.ko : e.ko+e.kl], l.buf[e.ko+e.kl : e.ko+e.kl+e.vl]
}

// sort orders the entries by key, unless they already are.
func (l *kvList) sort() {
	less := func(a, b kvEnt) int { return bytes.Compare(l.key(a), l.key(b)) }
	if slices.IsSortedFunc(l.ents, less) {
		return
	}
	slices.SortFunc(l.ents, less)
}

// checkpoints writes each stream's checkpoint, never moving one backwards.
func (w *writer) checkpoints(cp map[string]uint64) {
	for _, s := range sortedStreams(cp) {
		seq := cp[s]
		if cur, err := w.l.checkpointLocked(s); err == nil && cur > seq {
			continue
		}
		k := checkpointKey(s)
		w.set(k, seal(k, appendUint64(nil, seq)))
	}
}

// coverage merges the covered ranges into the stored ones, extending a
// stream's last range when the new one touches it. It returns the new last
// range per stream.
func (w *writer) coverage(rs []SeqRange) map[string]SeqRange {
	if len(rs) == 0 {
		return nil
	}
	rs = append([]SeqRange(nil), rs...)
	sort.Slice(rs, func(i, j int) bool {
		if rs[i].Stream != rs[j].Stream {
			return rs[i].Stream < rs[j].Stream
		}
		return rs[i].First < rs[j].First
	})
	out := make(map[string]SeqRange)
	for _, r := range rs {
		cur, ok := out[r.Stream]
		if !ok {
			cur, ok = w.l.coverage[r.Stream]
		}
		switch {
		case ok && r.First >= cur.First && r.First <= cur.Last+1:
			if r.Last <= cur.Last {
				continue // already covered
			}
			cur.Last = r.Last
		case ok && r.First < cur.First:
			// An older range, redelivered: store it on its own; reads merge.
			w.putRange(r)
			continue
		default:
			cur = r
		}
		w.putRange(cur)
		out[r.Stream] = cur
	}
	return out
}

func (w *writer) putRange(r SeqRange) {
	k := coverageKey(r.Stream, r.First)
	w.set(k, seal(k, appendUint64(nil, r.Last)))
}
