package replay

import (
	"cmp"
	"fmt"
	"slices"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// Point is one instant to replay an entity at. Watermark is used by the
// watermark view; Ref is the caller's, handed back with the vector.
type Point struct {
	Entity    string
	At        time.Time
	Watermark uint64
	Ref       int
}

// Sweep computes the vector at every point on view and calls fn with each,
// entity by entity and, within an entity, in order of instant (then
// watermark). It reads each entity's events once. fn may stop the sweep by
// returning an error, which Sweep returns.
func (r *Replayer) Sweep(points []Point, view View, fn func(Point, feature.Vector) error) error {
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b Point) int {
		return cmp.Or(cmp.Compare(a.Entity, b.Entity), a.At.Compare(b.At),
			cmp.Compare(a.Watermark, b.Watermark), cmp.Compare(a.Ref, b.Ref))
	})
	for start := 0; start < len(ps); {
		end := start + 1
		for end < len(ps) && ps[end].Entity == ps[start].Entity {
			end++
		}
		if err := r.sweepEntity(ps[start:end], view, fn); err != nil {
			return err
		}
		start = end
	}
	return nil
}

// sweepEntity answers the points of one entity, sorted by instant.
func (r *Replayer) sweepEntity(ps []Point, view View, fn func(Point, feature.Vector) error) error {
	entity := ps[0].Entity
	last := ps[len(ps)-1].At
	var events []ledger.Event
	for ie, err := range r.kept.Events(entity, r.windowStart(ps[0].At), last) {
		if err != nil {
			return fmt.Errorf("replay %s: %w", entity, err)
		}
		events = append(events, ie.Record) // the projection yields relevant types only
	}
	if view == Truth {
		return r.sweepTruth(ps, events, fn)
	}
	return r.sweepArrivals(ps, events, view, fn)
}

// sweepTruth holds every event and moves a cursor through the instants.
func (r *Replayer) sweepTruth(ps []Point, events []ledger.Event, fn func(Point,
	feature.Vector) error) error {
	state := feature.NewState(r.spec)
	fes := make([]feature.Event, len(events))
	var conv converter
	for i := range events {
		fes[i] = conv.Event(&events[i])
	}
	state.ApplyUnique(fes) // the ledger holds each event once
	c := state.Cursor()
	for _, p := range ps {
		if err := fn(p, c.At(p.At)); err != nil {
			return err
		}
	}
	return nil
}

// sweepArrivals applies events in arrival order as the instants pass, as the
// online pipeline does, and for the watermark view only those at or below
// each point's watermark. A watermark lower than the previous point's starts
// the state over.
func (r *Replayer) sweepArrivals(ps []Point, events []ledger.Event, view View,
	fn func(Point, feature.Vector) error) error {
	slices.SortStableFunc(events, func(a, b ledger.Event) int {
		return cmp.Or(a.Arrival.Compare(b.Arrival), cmp.Compare(a.BrokerSeq, b.BrokerSeq))
	})
	state := feature.NewState(r.spec)
	var conv converter
	var pending []ledger.Event // arrived, but above the watermark so far
	next, w := 0, uint64(0)
	for _, p := range ps {
		if view == Watermark && p.Watermark < w {
			state, pending, next = feature.NewState(r.spec), nil, 0
		}
		w = p.Watermark
		for ; next < len(events) && !events[next].Arrival.After(p.At); next++ {
			pending = append(pending, events[next])
		}
		kept := pending[:0]
		for i := range pending {
			if view == Watermark && pending[i].BrokerSeq > w {
				kept = append(kept, pending[i])
				continue
			}
			state.Apply(conv.Event(&pending[i]))
		}
		pending = kept
		if err := fn(p, state.Vector(p.At)); err != nil {
			return err
		}
	}
	return nil
}
