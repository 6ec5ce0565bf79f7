package replay

import (
	"fmt"
	"runtime"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/asofdev/asof/feature"
)

// entityEvents is one entity's events of a view, handed from the reader
// to the folder.
type entityEvents struct {
	entity string
	events []feature.Event
}

// All computes the vector as of at of every entity in the ledger, on view
// (with watermark w for the watermark view), calling fn once per entity. It
// reads the entity index once. When the ledger's tables let it split the
// index (EntitySplits), one goroutine per core reads and folds a part, and
// entities reach fn in no particular order; otherwise one goroutine reads
// while another folds, in index order. Either way fn is called from one
// goroutine at a time, and memory holds a bounded number of entities.
func (r *Replayer) All(at time.Time, view View, w uint64, fn func(entity string, v feature.Vector) error) error {
	splits, err := r.l.EntitySplits(runtime.GOMAXPROCS(0))
	if err != nil {
		return fmt.Errorf("replay all: %w", err)
	}
	if len(splits) == 0 {
		return r.allPipelined(at, view, w, fn)
	}
	var mu sync.Mutex
	locked := func(entity string, v feature.Vector) error {
		mu.Lock()
		defer mu.Unlock()
		return fn(entity, v)
	}
	bounds := append(append([]string{""}, splits...), "")
	var g errgroup.Group
	for i := 0; i+1 < len(bounds); i++ {
		from, to := bounds[i], bounds[i+1]
		g.Go(func() error { return r.allPart(at, view, w, from, to, locked) })
	}
	return g.Wait()
}

// allPart reads and folds the entities in [from, to) on one goroutine.
func (r *Replayer) allPart(at time.Time, view View, w uint64, from, to string,
	fn func(string, feature.Vector) error) error {
	var (
		cur   entityEvents
		conv  converter
		lo    = r.windowStart(at)
		state = feature.NewState(r.spec)
	)
	flush := func() error {
		if cur.entity == "" {
			return nil
		}
		state.Reset()
		state.ApplyUnique(cur.events) // the ledger holds each event once
		cur.events = cur.events[:0]
		conv.Reset()
		return fn(cur.entity, state.Vector(at))
	}
	for ie, err := range r.l.EntityEventsIn(from, to) {
		if err != nil {
			return fmt.Errorf("replay all: %w", err)
		}
		e := &ie.Record
		if e.Entity != cur.entity {
			if err := flush(); err != nil {
				return err
			}
			cur.entity = e.Entity
		}
		if (!lo.IsZero() && !e.Time.After(lo)) || !Sees(e, view, at, w) || !r.spec.Relevant(e.Type) {
			continue
		}
		cur.events = append(cur.events, conv.Event(e))
	}
	return flush()
}

// allPipelined is All over an index it cannot split: one goroutine reads
// and decodes, this one folds, in index order.
func (r *Replayer) allPipelined(at time.Time, view View, w uint64, fn func(string, feature.Vector) error) error {
	queue := make(chan entityEvents, 64)
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		readErr <- r.readAll(at, view, w, queue, stop)
	}()

	var foldErr error
	state := feature.NewState(r.spec)
	for b := range queue {
		if foldErr != nil {
			continue // drain until the reader sees stop
		}
		state.Reset()
		state.ApplyUnique(b.events) // the ledger holds each event once
		if err := fn(b.entity, state.Vector(at)); err != nil {
			foldErr = err
			close(stop)
		}
	}
	if err := <-readErr; err != nil && foldErr == nil {
		return err
	}
	return foldErr
}

// readAll scans the entity index and queues each entity's events of the
// view, until the end or until stop is closed.
func (r *Replayer) readAll(at time.Time, view View, w uint64, queue chan<- entityEvents,
	stop <-chan struct{}) error {
	var (
		cur  entityEvents
		conv converter
		lo   = r.windowStart(at)
	)
	send := func() bool {
		if cur.entity == "" {
			return true
		}
		select {
		case queue <- cur:
			cur = entityEvents{}
			return true
		case <-stop:
			return false
		}
	}
	for ie, err := range r.l.AllEntityEvents() {
		if err != nil {
			return fmt.Errorf("replay all: %w", err)
		}
		e := &ie.Record
		if e.Entity != cur.entity {
			if !send() {
				return nil
			}
			cur.entity = e.Entity
		}
		if (!lo.IsZero() && !e.Time.After(lo)) || !Sees(e, view, at, w) || !r.spec.Relevant(e.Type) {
			continue
		}
		cur.events = append(cur.events, conv.Event(e))
	}
	send()
	return nil
}
