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
// is a blocked Bloom filter: a key sets one bit in each of the eight 32-bit
// words of one 256-bit block, so adding or asking costs one cache miss
// rather than one per probe. At 24 bits per key the false-positive rate is
// about 0.016% at capacity (0.13% at 16 bits). Every full generation keeps
// answering, so the rates of the generations add up; and a look-up in Pebble
// for a key it does not hold costs about 200 microseconds when it has to read
// tables' filters from disk. At 16 bits a batch of 1,000 new events paid two
// such look-ups, at 24 one in four batches, for 3 bytes a key instead of 2.
type keyFilter struct {
	gens []*bloomGen
}

type bloomGen struct {
	blocks   [][8]uint32
	capacity int // keys it was sized for
	n        int // keys added
}

const (
	bloomBitsPerKey = 24
	bloomMinKeys    = 1 << 16
)

// bloomSalts spread the low half of a key's hash over a block's words:
// word i gets the bit named by the top five bits of the half times salt i.
var bloomSalts = [8]uint32{0xbb08d0dd, 0x7d81d545, 0x020173e1, 0x5a486531,
	0x1534f73b, 0x3440b085, 0xc51a1991, 0x2c21a4b7}

func newBloom(capacity int) *bloomGen {
	blocks := max((capacity*bloomBitsPerKey+255)/256, 1)
	return &bloomGen{blocks: make([][8]uint32, blocks), capacity: capacity}
}

// block returns the block of h, chosen by its high half.
func (b *bloomGen) block(h uint64) *[8]uint32 {
	hi := h >> 32
	return &b.blocks[hi*uint64(len(b.blocks))>>32] // hi scaled to [0, len)
}

// add sets h's bit in each word of its block.
func (b *bloomGen) add(h uint64) {
	blk, lo := b.block(h), uint32(h)
	for i, salt := range bloomSalts {
		blk[i] |= 1 << (lo * salt >> 27)
	}
	b.n++
}

// has reports whether every bit add would set for h is set.
func (b *bloomGen) has(h uint64) bool {
	blk, lo := b.block(h), uint32(h)
	for i, salt := range bloomSalts {
		if blk[i]&(1<<(lo*salt>>27)) == 0 {
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

// mayHaveHashes sets maybe in every probe whose hash may have been added.
// Asking one generation at a time about the whole slice keeps the loop
// tight, so that the cache misses of different probes overlap.
func (f *keyFilter) mayHaveHashes(ps []probe) {
	for _, g := range f.gens {
		for i := range ps {
			if !ps[i].maybe && g.has(ps[i].hash) {
				ps[i].maybe = true
			}
		}
	}
}
