package ledger

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
)

// Report is what Verify found.
type Report struct {
	Events    uint64 // event records in the log
	Snapshots uint64 // snapshot records in the log
	Batches   uint64 // batch records checked
	Gaps      []SeqRange
	Findings  []*CorruptionError
}

// Clean reports whether Verify found nothing wrong.
func (r *Report) Clean() bool { return len(r.Findings) == 0 && len(r.Gaps) == 0 }

// Verify re-reads the whole ledger: it recomputes every record's content
// hash and the chain of batch digests, cross-checks every index entry against
// the log in both directions, and checks the checksums of checkpoints,
// coverage ranges and counts. It reports every finding, each with its key
// and ledger sequence, rather than stopping at the first. The error is for
// failures to read at all; a damaged store file that Pebble refuses to read
// is reported as a finding naming the file.
//
// Verify reads a consistent view; appends may continue meanwhile.
func (l *Ledger) Verify() (*Report, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	defer l.release()
	snap := l.db.NewSnapshot()
	defer snap.Close()
	last := l.LastSeq() // at or past the snapshot's last record

	v := &verifier{r: snap, rep: &Report{}}
	v.primary, v.secondary = make([]uint64, last), make([]uint64, last)
	v.seenP, v.seenS = make([]bool, last), make([]bool, last)
	v.run()
	if v.err != nil {
		return v.rep, v.err
	}
	if gaps, err := l.Gaps(""); err == nil {
		v.rep.Gaps = gaps
	}
	return v.rep, nil
}

// verifier holds the state of one Verify pass.
type verifier struct {
	r   pebble.Reader
	rep *Report
	err error

	// Per ledger sequence (index seq-1): a hash of the expected primary
	// index entry (entity or snapshot-model key and value) and of the
	// expected secondary key (dedup or snapshot id), and whether each was
	// found in the index scans.
	primary, secondary []uint64
	seenP, seenS       []bool
	counted            Counts
}

func (v *verifier) find(kind string, key []byte, seq uint64, format string, args ...any) {
	v.rep.Findings = append(v.rep.Findings, &CorruptionError{
		Kind: kind, Key: clone(key), Seq: seq, Msg: fmt.Sprintf(format, args...)})
}

// run performs the passes in order, turning a Pebble panic on a damaged file
// into a finding.
func (v *verifier) run() {
	defer func() {
		if r := recover(); r != nil {
			v.find("store", nil, 0, "pebble failed reading the store: %v", r)
		}
	}()
	v.checkFormat()
	v.checkLog()
	v.checkIndex(prefixEntity, v.primaryEntry)
	v.checkIndex(prefixSnapModel, v.primaryEntry)
	v.checkIndex(prefixDedup, v.secondaryEntry)
	v.checkIndex(prefixSnapID, v.secondaryEntry)
	v.checkMissing()
	v.checkSealed()
}

func (v *verifier) checkFormat() {
	val, closer, err := v.r.Get(keyFormat)
	if err != nil {
		v.find("format", keyFormat, 0, "format key unreadable: %v", err)
		return
	}
	defer closer.Close()
	if !bytes.HasPrefix(val, []byte(formatPrefix)) {
		v.find("format", keyFormat, 0, "format key holds %q", val)
	}
}

// scan iterates [lo, hi) and records a read error as a finding.
func (v *verifier) scan(lo, hi []byte, fn func(k, val []byte)) {
	it, err := v.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		v.err = err
		return
	}
	defer it.Close() // also when fn or Pebble panics
	for ok := it.First(); ok; ok = it.Next() {
		fn(it.Key(), it.Value())
	}
	if err := it.Error(); err != nil {
		v.find("store", lo, 0, "reading %s: %v", FormatKey(lo), err)
	}
}

// checkLog walks the batch records and the log together, streaming both:
// every log record belongs to exactly one batch, sequences are contiguous,
// content hashes and chain digests match.
func (v *verifier) checkLog() {
	log, err := v.r.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixLog}, UpperBound: []byte{prefixLog + 1}})
	if err != nil {
		v.err = err
		return
	}
	defer log.Close()
	logOK := log.First()
	orphan := func() {
		seq := v.readRecord(log.Key(), log.Value())
		v.find("log", log.Key(), seq, "log record belongs to no batch")
		logOK = log.Next()
	}

	var prev [32]byte
	var want uint64 = 1
	v.scan([]byte{prefixBatch}, []byte{prefixBatch + 1}, func(k, val []byte) {
		br, err := decodeBatchRecord(k, val)
		if err != nil {
			v.find("batch", k, 0, "batch record does not match its checksum")
			return
		}
		if br.n != want {
			v.find("batch", k, 0, "batch %d follows batch %d", br.n, want-1)
		}
		want = br.n + 1
		v.rep.Batches++
		c := newChainHasher(prev, br.n)
		for seq := br.first; seq <= br.last; seq++ {
			for logOK && logSeq(log.Key()) < seq {
				orphan()
			}
			if !logOK || logSeq(log.Key()) != seq {
				v.find("log", logKey(seq), seq, "log record of batch %d is missing", br.n)
				continue
			}
			v.readRecord(log.Key(), log.Value())
			c.add(seq, log.Value())
			logOK = log.Next()
		}
		if c.sum() != br.chain {
			v.find("chain", k, br.first,
				"batch %d (sequences %d-%d) does not match its chained digest", br.n, br.first,
				br.last)
		}
		prev = br.chain
	})
	for logOK {
		orphan()
	}
	if err := log.Error(); err != nil {
		v.find("store", []byte{prefixLog}, 0, "reading the log: %v", err)
	}
}

// logSeq returns the sequence of a log key, 0 when malformed.
func logSeq(k []byte) uint64 {
	if len(k) != 9 {
		return 0
	}
	return uint64FromKey(k)
}

// readRecord decodes one log record, checking its encoding and content hash
// and noting its expected index entries. It returns the record's sequence.
func (v *verifier) readRecord(k, val []byte) uint64 {
	seq := logSeq(k)
	if seq == 0 {
		v.find("key", k, 0, "malformed log key")
		return 0
	}
	r, err := decodeRecord(seq, val)
	if err != nil {
		v.find("decode", k, seq, "%v", err)
		return seq
	}
	v.expect(r, k)
	return seq
}

// expect checks a record's content hash and notes its index entries.
func (v *verifier) expect(r Record, k []byte) {
	var pk, pv, sk []byte
	switch {
	case r.Event != nil:
		e := r.Event
		if xxhash.Sum64(e.Payload) != e.Hash {
			v.find("hash", k, r.Seq, "event payload does not match its content hash %016x", e.Hash)
		}
		pk, pv, sk = entityKey(e.Entity, e.Time, r.Seq), appendEntityValue(nil, e), dedupKey(e)
		v.counted.Events++
	case r.Snapshot != nil:
		s := r.Snapshot
		if xxhash.Sum64(s.Payload) != s.Hash {
			v.find("hash", k, r.Seq, "snapshot payload does not match its content hash %016x",
				s.Hash)
		}
		pk, pv, sk = snapModelKey(s.Model, s.Time, r.Seq), appendSnapshotValue(nil, s, false),
			snapIDKey(s.ID)
		v.counted.Snapshots++
	}
	i := r.Seq - 1
	if i >= uint64(len(v.primary)) {
		v.find("log", k, r.Seq, "log record beyond the last sequence %d", len(v.primary))
		return
	}
	v.primary[i] = entryHash(pk, pv)
	v.secondary[i] = entryHash(sk, appendUint64(nil, r.Seq))
}

func entryHash(k, val []byte) uint64 {
	d := xxhash.New()
	_, _ = d.Write(k)
	_, _ = d.Write([]byte{0})
	_, _ = d.Write(val)
	return d.Sum64() | 1 // never 0, which marks "no record"
}

// primaryEntry returns the sequence an entity or snapshot-model index entry
// names.
func (v *verifier) primaryEntry(k, val []byte) (uint64, bool) {
	_, _, seq, ok := splitTimeSeq(k)
	return seq, ok
}

// secondaryEntry returns the sequence a dedup or snapshot-id entry holds.
func (v *verifier) secondaryEntry(k, val []byte) (uint64, bool) {
	if len(val) != 8 {
		return 0, false
	}
	return uint64FromKey(append([]byte{0}, val...)), true
}

// checkIndex scans one index family and matches every entry against the
// entry its log record calls for.
func (v *verifier) checkIndex(prefix byte, entry func(k, val []byte) (uint64, bool)) {
	primary := prefix == prefixEntity || prefix == prefixSnapModel
	v.scan([]byte{prefix}, []byte{prefix + 1}, func(k, val []byte) {
		seq, ok := entry(k, val)
		if !ok || seq == 0 {
			v.find("index", k, 0, "malformed %s entry", indexName(prefix))
			return
		}
		want, seen := v.secondary, v.seenS
		if primary {
			want, seen = v.primary, v.seenP
		}
		i := seq - 1
		switch {
		case i >= uint64(len(want)) || want[i] == 0:
			v.find("index", k, seq, "%s entry names a sequence with no log record",
				indexName(prefix))
		case want[i] != entryHash(k, val):
			v.find("index", k, seq, "%s entry disagrees with log record %d", indexName(prefix), seq)
		default:
			seen[i] = true
		}
	})
}

func indexName(prefix byte) string {
	switch prefix {
	case prefixEntity:
		return "entity index"
	case prefixSnapModel:
		return "snapshot index"
	case prefixDedup:
		return "dedup index"
	default:
		return "snapshot id index"
	}
}

// checkMissing reports log records whose index entries were not found.
func (v *verifier) checkMissing() {
	for i := range v.primary {
		seq := uint64(i) + 1
		if v.primary[i] == 0 {
			continue
		}
		if !v.seenP[i] {
			v.find("index", logKey(seq), seq, "primary index entry of log record %d is missing",
				seq)
		}
		if !v.seenS[i] {
			v.find("index", logKey(seq), seq,
				"dedup or id index entry of log record %d is missing", seq)
		}
	}
	v.rep.Events, v.rep.Snapshots = v.counted.Events, v.counted.Snapshots
}

// checkSealed checks the checksums of the values no chain protects and the
// stored counts.
func (v *verifier) checkSealed() {
	for _, p := range []byte{prefixCheckpoint, prefixCoverage, prefixDeleted} {
		v.scan([]byte{p}, []byte{p + 1}, func(k, val []byte) {
			if body, ok := unseal(k, val); !ok || len(body) != 8 {
				v.find("checksum", k, 0, "value does not match its checksum")
			}
		})
	}
	val, closer, err := v.r.Get(keyCounts)
	if errors.Is(err, pebble.ErrNotFound) {
		if v.counted.Events+v.counted.Snapshots > 0 {
			v.find("counts", keyCounts, 0, "counts are missing")
		}
		return
	}
	if err != nil {
		v.find("store", keyCounts, 0, "reading counts: %v", err)
		return
	}
	defer closer.Close()
	body, ok := unseal(keyCounts, val)
	if !ok || len(body) != 24 {
		v.find("checksum", keyCounts, 0, "counts do not match their checksum")
		return
	}
	d := &decoder{b: body}
	ev, sn := d.uint64("events"), d.uint64("snapshots")
	if ev != v.counted.Events || sn != v.counted.Snapshots {
		v.find("counts", keyCounts, 0,
			"stored counts %d events, %d snapshots; the log holds %d and %d",
			ev, sn, v.counted.Events, v.counted.Snapshots)
	}
}
