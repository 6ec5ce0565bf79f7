package ledger

import "github.com/cockroachdb/pebble/v2"

// A View is the ledger as it was when the view was taken: reads through it
// (EntityReader.In) see every batch appended before and none appended
// after, so that several scans agree with each other while appends go on.
// A View holds off Close until it is closed itself; close it soon. It may be
// read from several goroutines, but not closed while reads are under way.
type View struct {
	l    *Ledger
	snap *pebble.Snapshot
}

// View takes a view of the ledger.
func (l *Ledger) View() (*View, error) {
	if err := l.acquire(); err != nil {
		return nil, err
	}
	return &View{l: l, snap: l.db.NewSnapshot()}, nil
}

// Close releases the view. Reads through it fail afterwards.
func (v *View) Close() error {
	if v.snap == nil {
		return ErrClosed
	}
	err := v.snap.Close()
	v.snap = nil
	v.l.release()
	return err
}

// In returns a reader like r that reads through v, which must be a view of
// r's ledger.
func (r EntityReader) In(v *View) EntityReader {
	r.v = v
	return r
}

// newIter opens an iterator over [lo, hi) of v, or of l when v is nil, and
// returns the function that ends the read. A read of the ledger itself
// holds off Close until it ends; a read through a view needs not, the view
// does.
func (l *Ledger) newIter(v *View, lo, hi []byte) (*pebble.Iterator, func(), error) {
	opts := &pebble.IterOptions{LowerBound: lo, UpperBound: hi}
	if v != nil {
		if v.snap == nil {
			return nil, nil, ErrClosed
		}
		it, err := v.snap.NewIter(opts)
		if err != nil {
			return nil, nil, err
		}
		return it, func() { _ = it.Close() }, nil
	}
	if err := l.acquire(); err != nil {
		return nil, nil, err
	}
	it, err := l.db.NewIter(opts)
	if err != nil {
		l.release()
		return nil, nil, err
	}
	return it, func() { _ = it.Close(); l.release() }, nil
}
