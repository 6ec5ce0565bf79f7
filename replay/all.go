package replay

import (
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/asofdev/asof/feature"
)

// All computes the vector as of at of every entity in the ledger that has
// an event of a type the spec reads, on view (with watermark w for the
// watermark view), calling fn once per entity. It
// reads the entity index once, cut into parts of about equal size
// (EntitySplits), a few per core: one goroutine per core takes part after
// part, so entities reach fn in no particular order across parts. fn is
// called from one goroutine at a time; the first error it returns stops
// every part and is returned. Memory holds one entity's events per
// goroutine.
func (r *Replayer) All(at time.Time, view View, w uint64, fn func(entity string,
	v feature.Vector) error) error {
	workers := runtime.GOMAXPROCS(0)
	splits, err := r.l.EntitySplits(partsPerWorker * workers)
	if err != nil {
		return fmt.Errorf("replay all: %w", err)
	}
	var (
		mu     sync.Mutex
		failed error // the first error fn returned
	)
	locked := func(entity string, v feature.Vector) error {
		mu.Lock()
		defer mu.Unlock()
		if failed == nil {
			failed = fn(entity, v)
		}
		return failed
	}
	bounds := append(append([]string{""}, splits...), "")
	var next atomic.Int32 // the next part to take
	var g errgroup.Group
	for range min(workers, len(bounds)-1) {
		g.Go(func() error {
			for i := int(next.Add(1)) - 1; i+1 < len(bounds); i = int(next.Add(1)) - 1 {
				if err := r.allPart(at, view, w, bounds[i], bounds[i+1], locked); err != nil {
					return err
				}
			}
			return nil
		})
	}
	return g.Wait()
}

// partsPerWorker is how many parts All cuts the index into per goroutine:
// parts of equal size on disk take unequal time, and a goroutine that
// finishes early takes another rather than idling.
const partsPerWorker = 4

// allPart reads and folds the entities in [from, to) on one goroutine. Each
// event goes into the fold as it is read, so no entity's events are held
// but in the fold's state.
func (r *Replayer) allPart(at time.Time, view View, w uint64, from, to string,
	fn func(string, feature.Vector) error) error {
	var (
		entity string // the entity being read
		conv   converter
		lo     = r.windowStart(at)
		state  = feature.NewState(r.spec)
		load   feature.Loader
		// One cursor serves every entity: it starts over when the state
		// changes.
		cursor = state.Cursor()
	)
	flush := func() error {
		if entity == "" {
			return nil
		}
		load.Done() // the ledger holds each event once
		return fn(entity, cursor.At(at))
	}
	for ie, err := range r.folded.EventsIn(from, to) {
		if err != nil {
			return fmt.Errorf("replay all: %w", err)
		}
		e := &ie.Record
		if e.Entity != entity {
			if err := flush(); err != nil {
				return err
			}
			entity = e.Entity
			state.Reset()
			load = state.Loader()
		}
		// The projected scan yields relevant events only.
		if (!lo.IsZero() && !e.Time.After(lo)) || !Sees(e, view, at, w) {
			continue
		}
		load.Add(conv.Transient(e))
	}
	return flush()
}
