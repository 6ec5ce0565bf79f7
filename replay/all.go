package replay

import (
	"fmt"
	"time"

	"github.com/asofdev/asof/feature"
)

// All computes the vector as of at of every entity in the ledger, on view
// (with watermark w for the watermark view), calling fn entity by entity. It
// reads the entity index once from end to end, holding one entity's events
// at a time.
func (r *Replayer) All(at time.Time, view View, w uint64, fn func(entity string, v feature.Vector) error) error {
	var (
		entity string
		events []feature.Event
		state  = feature.NewState(r.spec)
	)
	flush := func() error {
		if entity == "" {
			return nil
		}
		state = feature.NewState(r.spec)
		state.ApplyAll(events)
		events = events[:0]
		return fn(entity, state.Vector(at))
	}
	lo := r.windowStart(at)
	for ie, err := range r.l.AllEntityEvents() {
		if err != nil {
			return fmt.Errorf("replay all: %w", err)
		}
		e := &ie.Record
		if e.Entity != entity {
			if err := flush(); err != nil {
				return err
			}
			entity = e.Entity
		}
		if (!lo.IsZero() && !e.Time.After(lo)) || !Sees(e, view, at, w) || !r.spec.Relevant(e.Type) {
			continue
		}
		events = append(events, FeatureEvent(e))
	}
	return flush()
}
