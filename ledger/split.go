package ledger

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"math/big"
	"slices"

	"github.com/cockroachdb/pebble/v2"
)

// EntitySplits returns up to n-1 entities that cut the entity index into n
// parts of about equal size on disk, in index order, so that n goroutines
// can each read a part with EntityEventsIn. Sizes are Pebble's estimates
// from its tables' block indexes, so data still in memory is not split: a
// small or freshly written ledger may give fewer parts than asked, or none.
func (l *Ledger) EntitySplits(n int) ([]string, error) {
	if n < 2 {
		return nil, nil
	}
	if err := l.acquire(); err != nil {
		return nil, err
	}
	defer l.release()
	lo, hi := entityRange("", "")
	total, err := l.db.EstimateDiskUsage(lo, hi)
	if err != nil {
		return nil, fmt.Errorf("ledger: entity splits: %w", err)
	}
	first, _, err := l.entityFrom(lo, hi)
	if err != nil {
		return nil, fmt.Errorf("ledger: entity splits: %w", err)
	}
	var out []string
	for i := 1; i < n; i++ {
		k, err := l.keyAtUsage(lo, hi, total*uint64(i)/uint64(n))
		if err != nil {
			return nil, fmt.Errorf("ledger: entity splits: %w", err)
		}
		entity, ok, err := l.entityFrom(k, hi)
		if err != nil {
			return nil, fmt.Errorf("ledger: entity splits: %w", err)
		}
		// The first entity starts the first part anyway; a repeated one
		// would make an empty part.
		if ok && entity != first {
			out = append(out, entity)
		}
	}
	// Estimates should grow with the range, which keeps the cuts in order;
	// sorting makes sure, and a repeated cut would make an empty part.
	slices.SortFunc(out, func(a, b string) int {
		return bytes.Compare(entityPrefix(a), entityPrefix(b))
	})
	return slices.Compact(out), nil
}

// keyAtUsage bisects [lo, hi) for a key k such that the tables' data in
// [lo, k) is about target bytes, to the precision of Pebble's estimates
// (a data block).
func (l *Ledger) keyAtUsage(lo, hi []byte, target uint64) ([]byte, error) {
	a, b := keyNumber(lo), keyNumber(hi)
	// Each step leaves b-a at most half of it, rounded up; as b-a starts
	// below 2^(8*splitKeyLen), the loop ends within 8*splitKeyLen steps.
	for new(big.Int).Sub(b, a).Cmp(big.NewInt(1)) > 0 {
		mid := new(big.Int).Rsh(new(big.Int).Add(a, b), 1)
		used, err := l.db.EstimateDiskUsage(lo, numberKey(mid))
		if err != nil {
			return nil, err
		}
		if used < target {
			a = mid
		} else {
			b = mid
		}
	}
	return numberKey(b), nil
}

// splitKeyLen is how many bytes of a key the bisection distinguishes.
const splitKeyLen = 24

// keyNumber reads the first splitKeyLen bytes of k, zero-padded, as a
// big-endian number: byte order and numeric order then agree.
func keyNumber(k []byte) *big.Int {
	var b [splitKeyLen]byte
	copy(b[:], k)
	return new(big.Int).SetBytes(b[:])
}

// numberKey is the key whose first splitKeyLen bytes are x, trailing zero
// bytes dropped.
func numberKey(x *big.Int) []byte {
	var b [splitKeyLen]byte
	x.FillBytes(b[:])
	return bytes.TrimRight(b[:], "\x00")
}

// entityFrom returns the entity of the first entity index key at or after
// k, below hi.
func (l *Ledger) entityFrom(k, hi []byte) (string, bool, error) {
	it, err := l.db.NewIter(&pebble.IterOptions{LowerBound: k, UpperBound: hi})
	if err != nil {
		return "", false, err
	}
	defer it.Close()
	if !it.First() {
		return "", false, it.Error()
	}
	name, _, _, ok := splitKeyTimeSeq(it.Key())
	return string(name), ok, nil
}

// EntityEventsIn iterates the entity index from entity from (included; ""
// means the start) to entity to (excluded; "" means the end), entity after
// entity in index order, each one's events by event time. With the
// boundaries of EntitySplits, the parts cover the index once.
func (l *Ledger) EntityEventsIn(from, to string) iter.Seq2[Indexed[Event], error] {
	return EntityReader{l: l}.EventsIn(from, to)
}

// Compact compacts the whole store: after a bulk load, it leaves the
// indexes in few tables side by side, which reads and EntitySplits prefer.
func (l *Ledger) Compact(ctx context.Context) error {
	if err := l.acquire(); err != nil {
		return err
	}
	defer l.release()
	if err := l.db.Compact(ctx, []byte{0}, []byte{0xff}, true); err != nil {
		return fmt.Errorf("ledger: compact: %w", err)
	}
	return nil
}
