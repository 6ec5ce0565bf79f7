package ledger

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"os"
	"sort"
	"strconv"
	"sync"

	"github.com/cespare/xxhash/v2"
	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/hashicorp/go-hclog"
)

// FormatVersion is the version of the key layout and encodings that this
// version of asof writes. Open refuses a ledger with a higher version.
const FormatVersion = 1

const formatPrefix = "asof-ledger/"

// Options configures a ledger. The zero value is usable: every field says
// its default.
type Options struct {
	// Logger receives the ledger's own log lines and Pebble's. Default: a
	// logger that discards everything.
	Logger hclog.Logger

	// ReadOnly opens an existing ledger for reading only; Append fails.
	// Default: false.
	ReadOnly bool

	// CacheSize is the size in bytes of Pebble's block cache. Default 64 MiB.
	CacheSize int64

	// MemTableSize is the size in bytes of one Pebble memtable. Default 64 MiB.
	MemTableSize uint64
}

// withDefaults returns a copy of o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	if o.CacheSize == 0 {
		o.CacheSize = 64 << 20
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 64 << 20
	}
	return o
}

// Validate reports an option that cannot be used.
func (o Options) Validate() error {
	if o.CacheSize < 0 {
		return errors.New("ledger: options: negative CacheSize")
	}
	return nil
}

// pebbleOptions returns the Pebble options the ledger runs with; the raw
// Pebble benchmark uses the same.
func (o Options) pebbleOptions(cache *pebble.Cache) *pebble.Options {
	po := &pebble.Options{
		Cache:              cache,
		MemTableSize:       o.MemTableSize,
		ReadOnly:           o.ReadOnly,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             pebbleLogger{o.Logger.Named("pebble")},
	}
	// Bloom filters in every table, L0 included, keep look-ups by id cheap:
	// a dedup look-up for a new key then reads no data block.
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	return po
}

// Ledger is an append-only log of events and snapshots with its indexes,
// stored in one Pebble database. All methods are safe for concurrent use.
type Ledger struct {
	db   *pebble.DB
	dir  string
	opts Options
	log  hclog.Logger

	// closeMu is held for reading by every operation and for writing by
	// Close, so that Close waits for operations in flight.
	closeMu sync.RWMutex
	closed  bool

	// mu guards the write state below and serialises the preparation of
	// batches, so that sequences and the chain follow commit order.
	mu       sync.Mutex
	failed   error
	lastSeq  uint64   // the highest ledger sequence written
	batchSeq uint64   // the number of the last batch record
	chain    [32]byte // the chained digest after the last batch
	counts   Counts
	coverage map[string]SeqRange // per stream, the range with the highest First
	filter   *keyFilter          // every dedup and snapshot-id key stored
	w        writer              // the batch being prepared, its buffers reused
}

// Counts are the ledger's running totals.
type Counts struct {
	Events     uint64 // events stored
	Snapshots  uint64 // snapshots stored
	Duplicates uint64 // events and snapshots skipped as already stored
}

// Open opens the ledger in dir, creating it when dir holds none (unless
// ReadOnly).
func Open(dir string, opts Options) (*Ledger, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	if opts.ReadOnly {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
		}
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}

	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	db, err := openPebble(dir, opts.pebbleOptions(cache))
	if err != nil {
		return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
	}
	l := &Ledger{db: db, dir: dir, opts: opts, log: opts.Logger.Named("ledger"),
		filter: newKeyFilter(0), coverage: map[string]SeqRange{}}
	if err := l.load(); err != nil {
		var ce *CorruptionError
		if !errors.As(err, &ce) {
			_ = db.Close()
			return nil, fmt.Errorf("ledger: open %s: %w", dir, err)
		}
		// Damaged bookkeeping: keep the ledger readable so that Verify can
		// report it, but refuse writes that would build on it.
		l.failed = err
		l.log.Error("ledger is damaged; appends are refused until it is repaired", "error", err)
	}
	l.log.Debug("opened", "dir", dir, "last_seq", l.lastSeq, "batches", l.batchSeq,
		"events", l.counts.Events, "snapshots", l.counts.Snapshots)
	return l, nil
}

// openPebble opens Pebble, turning a panic on a damaged store into an error.
func openPebble(dir string, po *pebble.Options) (db *pebble.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("pebble: %v", r)
		}
	}()
	return pebble.Open(dir, po)
}

// load checks the format key and reads the write state.
func (l *Ledger) load() error {
	if err := l.checkFormat(); err != nil {
		return err
	}
	if err := l.loadHead(); err != nil {
		return err
	}
	v, err := l.getSealed(keyCounts)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return err
	}
	if err == nil {
		d := &decoder{b: v}
		l.counts = Counts{d.uint64("events"), d.uint64("snapshots"), d.uint64("duplicates")}
		if d.err != nil {
			return fmt.Errorf("counts: %w", d.err)
		}
	}
	if err := l.loadCoverage(); err != nil {
		return err
	}
	return l.loadFilter()
}

// loadFilter fills the dedup filter from the dedup and snapshot-id indexes.
func (l *Ledger) loadFilter() error {
	l.filter = newKeyFilter(int(l.counts.Events + l.counts.Snapshots))
	for _, p := range []byte{prefixDedup, prefixSnapID} {
		if err := l.scan([]byte{p}, func(k, _ []byte) error {
			l.filter.add(k)
			return nil
		}); err != nil {
			return err
		}
	}
	return nil
}

// checkFormat reads the format key, writing it into a new empty database.
func (l *Ledger) checkFormat() error {
	v, closer, err := l.db.Get(keyFormat)
	if errors.Is(err, pebble.ErrNotFound) {
		empty, err := l.isEmpty()
		if err != nil {
			return err
		}
		if !empty {
			return ErrUnknownFormat
		}
		if l.opts.ReadOnly {
			return fmt.Errorf("%w: empty database", ErrUnknownFormat)
		}
		val := []byte(formatPrefix + strconv.Itoa(FormatVersion))
		return l.db.Set(keyFormat, val, pebble.Sync)
	}
	if err != nil {
		return err
	}
	s := string(v)
	_ = closer.Close()
	if len(s) <= len(formatPrefix) || s[:len(formatPrefix)] != formatPrefix {
		return fmt.Errorf("%w: format key holds %q", ErrUnknownFormat, s)
	}
	n, err := strconv.Atoi(s[len(formatPrefix):])
	if err != nil || n < 1 {
		return fmt.Errorf("%w: format key holds %q", ErrUnknownFormat, s)
	}
	if n > FormatVersion {
		return fmt.Errorf("%w: version %d, this asof reads up to %d", ErrFormatTooNew, n,
			FormatVersion)
	}
	return nil
}

func (l *Ledger) isEmpty() (bool, error) {
	it, err := l.db.NewIter(nil)
	if err != nil {
		return false, err
	}
	empty := !it.First()
	return empty, it.Close()
}

// loadHead reads the last batch record: sequence, batch number and chain.
func (l *Ledger) loadHead() error {
	it, err := l.db.NewIter(&pebble.IterOptions{
		LowerBound: []byte{prefixBatch}, UpperBound: []byte{prefixBatch + 1},
	})
	if err != nil {
		return err
	}
	defer it.Close()
	if !it.Last() {
		return it.Error()
	}
	br, err := decodeBatchRecord(it.Key(), it.Value())
	if err != nil {
		return err
	}
	l.batchSeq, l.lastSeq, l.chain = br.n, br.last, br.chain
	return nil
}

func (l *Ledger) loadCoverage() error {
	l.coverage = make(map[string]SeqRange)
	return l.eachCoverage("", func(r SeqRange) error {
		if cur, ok := l.coverage[r.Stream]; !ok || r.First > cur.First {
			l.coverage[r.Stream] = r
		}
		return nil
	})
}

// Dir returns the directory the ledger is stored in.
func (l *Ledger) Dir() string { return l.dir }

// Close waits for operations in flight and closes the database.
func (l *Ledger) Close() error {
	l.closeMu.Lock()
	defer l.closeMu.Unlock()
	if l.closed {
		return ErrClosed
	}
	l.closed = true
	return l.db.Close()
}

// acquire holds off Close for the duration of an operation.
func (l *Ledger) acquire() error {
	l.closeMu.RLock()
	if l.closed {
		l.closeMu.RUnlock()
		return ErrClosed
	}
	return nil
}

func (l *Ledger) release() { l.closeMu.RUnlock() }

// CopyTo writes a consistent copy of the ledger to dir, which must not
// exist, while the ledger stays open for writing. Another process can then
// open the copy with ReadOnly.
func (l *Ledger) CopyTo(dir string) error {
	if err := l.acquire(); err != nil {
		return err
	}
	defer l.release()
	if err := l.db.Checkpoint(dir, pebble.WithFlushedWAL()); err != nil {
		return fmt.Errorf("ledger: copy to %s: %w", dir, err)
	}
	return nil
}

// seal appends a checksum of key and value to value, for the keys that no
// chain protects (checkpoints, coverage, counts, batch records).
func seal(key, val []byte) []byte {
	d := xxhash.New()
	_, _ = d.Write(key)
	_, _ = d.Write(val)
	return appendUint64(val, d.Sum64())
}

// unseal checks and strips the checksum that seal appended.
func unseal(key, val []byte) ([]byte, bool) {
	if len(val) < 8 {
		return nil, false
	}
	body := val[:len(val)-8]
	d := xxhash.New()
	_, _ = d.Write(key)
	_, _ = d.Write(body)
	sum := d.Sum64()
	got := uint64(0)
	for _, c := range val[len(val)-8:] {
		got = got<<8 | uint64(c)
	}
	return body, got == sum
}

// getSealed reads a sealed value, copied.
func (l *Ledger) getSealed(key []byte) ([]byte, error) {
	v, closer, err := l.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	body, ok := unseal(key, v)
	if !ok {
		return nil, &CorruptionError{Kind: "checksum", Key: key,
			Msg: "value does not match its checksum"}
	}
	return append([]byte(nil), body...), nil
}

// batchRecord is the decoded value of a batch key.
type batchRecord struct {
	n           uint64
	first, last uint64 // ledger sequences of the batch's records
	chain       [32]byte
}

func (br *batchRecord) encode() (key, val []byte) {
	key = batchKey(br.n)
	val = appendUint64(nil, br.first)
	val = appendUint64(val, br.last)
	val = append(val, br.chain[:]...)
	return key, seal(key, val)
}

func decodeBatchRecord(key, val []byte) (batchRecord, error) {
	var br batchRecord
	body, ok := unseal(key, val)
	if !ok || len(key) != 9 || len(body) != 48 {
		return br, &CorruptionError{Kind: "batch", Key: append([]byte(nil), key...),
			Msg: "batch record does not match its checksum"}
	}
	d := &decoder{b: body}
	br.n = uint64FromKey(key)
	br.first = d.uint64("batch first")
	br.last = d.uint64("batch last")
	copy(br.chain[:], d.b)
	return br, nil
}

func uint64FromKey(k []byte) uint64 {
	var v uint64
	for _, c := range k[1:9] {
		v = v<<8 | uint64(c)
	}
	return v
}

// chainHasher computes one step of the chained digest, record by record:
// SHA-256 of the previous batch's digest, the batch number, and each
// record's sequence, length and log value. It gathers its input and hashes
// it in large pieces, when flushed or when the gathered input grows large.
type chainHasher struct {
	h       hash.Hash
	pending []byte
}

// chainFlushSize bounds the input a chainHasher gathers before hashing it.
const chainFlushSize = 1 << 20

func newChainHasher(prev [32]byte, n uint64) *chainHasher {
	c := &chainHasher{}
	c.reset(prev, n)
	return c
}

// reset starts the step after prev, of batch number n.
func (c *chainHasher) reset(prev [32]byte, n uint64) {
	if c.h == nil {
		c.h = sha256.New()
	}
	c.h.Reset()
	c.pending = append(c.pending[:0], prev[:]...)
	c.pending = appendUint64(c.pending, n)
}

func (c *chainHasher) add(seq uint64, val []byte) {
	c.pending = appendUint64(c.pending, seq)
	c.pending = appendUint64(c.pending, uint64(len(val)))
	c.pending = append(c.pending, val...)
	if len(c.pending) >= chainFlushSize {
		c.flush()
	}
}

// flush hashes the gathered input.
func (c *chainHasher) flush() {
	c.h.Write(c.pending)
	c.pending = c.pending[:0]
}

func (c *chainHasher) sum() [32]byte {
	c.flush()
	var out [32]byte
	c.h.Sum(out[:0])
	return out
}

// sortedStreams returns the keys of m in order, so batches are built the
// same way every time.
func sortedStreams(m map[string]uint64) []string {
	out := make([]string, 0, len(m))
	for s := range m {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// pebbleLogger routes Pebble's log lines to hclog.
type pebbleLogger struct{ l hclog.Logger }

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug(fmt.Sprintf(format, args...))
}

func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error(fmt.Sprintf(format, args...))
}

// Fatalf is called by Pebble on damage it cannot go on from, such as a
// table whose checksum fails. It panics rather than exit the process:
// Verify and Open recover and report the damage as an error naming the
// file.
func (p pebbleLogger) Fatalf(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error(msg)
	panic("pebble: " + msg)
}
