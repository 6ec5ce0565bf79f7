package replay

import (
	"fmt"
	"time"

	"github.com/asofdev/asof/feature"
)

// entityEvents is one entity's events of a view, handed from the reader
// to the folder.
type entityEvents struct {
	entity string
	events []feature.Event
}

// All computes the vector as of at of every entity in the ledger, on view
// (with watermark w for the watermark view), calling fn entity by entity in
// the ledger's entity order. It reads the entity index once from end to end.
// One goroutine reads and decodes while another folds, so a sweep keeps two
// cores busy; fn runs on the folding goroutine, one call at a time. Memory
// holds a bounded queue of entities.
func (r *Replayer) All(at time.Time, view View, w uint64, fn func(entity string, v feature.Vector) error) error {
	queue := make(chan entityEvents, 64)
	stop := make(chan struct{})
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		readErr <- r.readAll(at, view, w, queue, stop)
	}()

	var foldErr error
	for b := range queue {
		if foldErr != nil {
			continue // drain until the reader sees stop
		}
		state := feature.NewState(r.spec)
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
		cur.events = append(cur.events, conv.event(e))
	}
	send()
	return nil
}
