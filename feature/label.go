package feature

import (
	"slices"
	"time"
)

// Labeler computes the labels of a spec for one entity at many instants. A
// label as of T aggregates the entity's events with event time in
// (T, T+horizon]: T excluded, T+horizon included.
//
// That forward window is the backward window of a feature of width horizon
// taken as of T+horizon, so a Labeler holds a fold of its own: one feature
// per label, with the label's horizon as its window, and reads each label
// at T plus its horizon. Dedup, canonical order and exact sums are
// therefore the fold's own, and labels obey every rule of doc.go. Labels
// with one horizon share a State and a Cursor.
//
// A Labeler is not safe for concurrent use.
type Labeler struct {
	spec   *Spec
	groups []labelGroup
}

// labelGroup is the labels of one horizon: label indexes into Spec.Labels
// and the fold that computes them, whose features follow idx.
type labelGroup struct {
	horizon time.Duration
	idx     []int
	fold    *Spec
	state   *State
	cur     *Cursor
}

// NewLabeler returns a labeler for the labels of spec, with no events.
func NewLabeler(spec *Spec) *Labeler {
	lb := &Labeler{spec: spec}
	for i, l := range spec.Labels {
		g := slices.IndexFunc(lb.groups, func(g labelGroup) bool { return g.horizon == l.Horizon })
		if g < 0 {
			g = len(lb.groups)
			lb.groups = append(lb.groups, labelGroup{horizon: l.Horizon, fold: &Spec{}})
		}
		grp := &lb.groups[g]
		grp.idx = append(grp.idx, i)
		grp.fold.Features = append(grp.fold.Features, Feature{
			Name: l.Name, Events: l.Events, Field: l.Field, Agg: l.Agg, Window: l.Horizon,
		})
	}
	for i := range lb.groups {
		lb.groups[i].fold.compile()
	}
	lb.Reset()
	return lb
}

// Reset forgets every event, ready for another entity.
func (lb *Labeler) Reset() {
	for i := range lb.groups {
		g := &lb.groups[i]
		g.state = NewState(g.fold)
		g.cur = g.state.Cursor()
	}
}

// Relevant reports whether some label reads events of this type.
func (lb *Labeler) Relevant(eventType string) bool {
	for i := range lb.groups {
		if lb.groups[i].fold.Relevant(eventType) {
			return true
		}
	}
	return false
}

// Horizon returns the longest horizon of the spec's labels, 0 without
// labels: the events a sweep must read reach that far past its last instant.
func (lb *Labeler) Horizon() time.Duration {
	var h time.Duration
	for _, g := range lb.groups {
		h = max(h, g.horizon)
	}
	return h
}

// ApplyAll adds events, in any order and with any duplicates, as
// State.ApplyAll does. Events of types no label reads are left out.
func (lb *Labeler) ApplyAll(events []Event) {
	for i := range lb.groups {
		lb.groups[i].state.ApplyAll(events)
	}
}

// At returns the label values as of at, in Spec.Labels order. A label whose
// window ends after cutoff (at+horizon > cutoff) is not yet known: its value
// is null and complete is false. Callers pass as cutoff the newest instant
// the events are known to reach; a zero cutoff takes every label as known.
// Instants should not decrease from one call to the next: the labeler is a
// sweep, and starts over (correct, but slower) when one does.
func (lb *Labeler) At(at, cutoff time.Time) (values []Value, complete bool) {
	values = make([]Value, len(lb.spec.Labels))
	complete = true
	for i := range lb.groups {
		g := &lb.groups[i]
		end := at.Add(g.horizon)
		if !cutoff.IsZero() && end.After(cutoff) {
			complete = false
			continue
		}
		v := g.cur.At(end)
		for k, li := range g.idx {
			values[li] = v.Values[k]
		}
	}
	return values, complete
}

// Labels returns the label values of spec as of at over a batch of events,
// in any order and with any duplicates; see Labeler.At for cutoff.
func Labels(spec *Spec, events []Event, at, cutoff time.Time) ([]Value, bool) {
	lb := NewLabeler(spec)
	lb.ApplyAll(events)
	return lb.At(at, cutoff)
}
