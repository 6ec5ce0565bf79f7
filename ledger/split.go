package ledger

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"slices"
)

// EntitySplits returns up to n-1 entities that cut the entity index into n
// parts of about equal size on disk, in index order, so that n goroutines
// can each read a part with EntityEventsIn. Boundaries come from the Pebble
// tables' key ranges, so data still in memory is not split: a small or
// freshly written ledger may give fewer parts than asked, or none.
func (l *Ledger) EntitySplits(n int) ([]string, error) {
	if n < 2 {
		return nil, nil
	}
	if err := l.acquire(); err != nil {
		return nil, err
	}
	defer l.release()
	levels, err := l.db.SSTables()
	if err != nil {
		return nil, fmt.Errorf("ledger: entity splits: %w", err)
	}
	// Each table that ends inside the entity index offers the entity it
	// ends in as a boundary, weighted by the table's size.
	type cand struct {
		entity string
		key    []byte
		size   uint64
	}
	var cands []cand
	var total uint64
	lo, hi := []byte{prefixEntity}, []byte{prefixEntity + 1}
	for _, level := range levels {
		for _, t := range level {
			small, large := t.Smallest.UserKey, t.Largest.UserKey
			if bytes.Compare(large, lo) < 0 || bytes.Compare(small, hi) >= 0 {
				continue
			}
			total += t.Size
			if name, _, _, ok := splitKeyTimeSeq(large); ok && large[0] == prefixEntity {
				cands = append(cands, cand{string(name), entityPrefix(string(name)), t.Size})
			}
		}
	}
	slices.SortFunc(cands, func(a, b cand) int { return bytes.Compare(a.key, b.key) })
	var out []string
	var used uint64
	next := 1
	for _, c := range cands {
		used += c.size
		if next < n && used*uint64(n) >= total*uint64(next) &&
			(len(out) == 0 || out[len(out)-1] != c.entity) {
			out = append(out, c.entity)
			for next < n && used*uint64(n) >= total*uint64(next) {
				next++
			}
		}
	}
	return out, nil
}

// EntityEventsIn iterates the entity index from entity from (included; ""
// means the start) to entity to (excluded; "" means the end), entity after
// entity in index order, each one's events by event time. With the
// boundaries of EntitySplits, the parts cover the index once.
func (l *Ledger) EntityEventsIn(from, to string) iter.Seq2[Indexed[Event], error] {
	lo, hi := []byte{prefixEntity}, []byte{prefixEntity + 1}
	if from != "" {
		lo = entityPrefix(from)
	}
	if to != "" {
		hi = entityPrefix(to)
	}
	return l.entityIter(lo, hi)
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
