package ledger

import "github.com/cespare/xxhash/v2"

// keyFilter is an in-memory Bloom filter over every dedup and snapshot-id
// key in the ledger. Append asks it first: a key it has never seen is new for
// certain, and most keys are new, so most appends skip the Pebble look-up.
// A "maybe" is settled by a look-up, so false positives cost time, never
// correctness.
//
// The filter grows in generations: when the newest one holds as many keys as
// it was sized for, a new one four times as large is added. Each generation
// uses 16 bits per key and 11 probes, for a false-positive rate near 0.05%
// at capacity: a look-up in Pebble costs tens of microseconds when it has to
// read a table's filter from disk, so the filter's 2 bytes per key pay.
type keyFilter struct {
	gens []*bloomGen
}

type bloomGen struct {
	bits     []uint64
	capacity int // keys it was sized for
	n        int // keys added
}

const (
	bloomBitsPerKey = 16
	bloomProbes     = 11
	bloomMinKeys    = 1 << 16
)

func newBloom(capacity int) *bloomGen {
	words := (capacity*bloomBitsPerKey + 63) / 64
	return &bloomGen{bits: make([]uint64, words), capacity: capacity}
}

// add sets the probe bits of h, derived from its two halves by double
// hashing.
func (b *bloomGen) add(h uint64) {
	m := uint64(len(b.bits) * 64)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := uint64(0); i < bloomProbes; i++ {
		bit := (h1 + i*h2) % m
		b.bits[bit/64] |= 1 << (bit % 64)
	}
	b.n++
}

func (b *bloomGen) has(h uint64) bool {
	m := uint64(len(b.bits) * 64)
	h1, h2 := h&0xffffffff, h>>32|1
	for i := uint64(0); i < bloomProbes; i++ {
		bit := (h1 + i*h2) % m
		if b.bits[bit/64]&(1<<(bit%64)) == 0 {
			return false
		}
	}
	return true
}

// newKeyFilter returns a filter sized for about n keys.
func newKeyFilter(n int) *keyFilter {
	return &keyFilter{gens: []*bloomGen{newBloom(max(2*n, bloomMinKeys))}}
}

func (f *keyFilter) add(key []byte) { f.addHash(xxhash.Sum64(key)) }

// addHash adds a key by its xxhash64.
func (f *keyFilter) addHash(h uint64) {
	g := f.gens[len(f.gens)-1]
	if g.n >= g.capacity {
		g = newBloom(4 * g.capacity)
		f.gens = append(f.gens, g)
	}
	g.add(h)
}

// mayHaveHash reports whether the key with xxhash64 h may have been added;
// false is certain.
func (f *keyFilter) mayHaveHash(h uint64) bool {
	for _, g := range f.gens {
		if g.has(h) {
			return true
		}
	}
	return false
}
