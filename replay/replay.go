package replay

import (
	"errors"
	"fmt"
	"iter"
	"sync"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/internal/convert"
	"github.com/asofdev/asof/ledger"
)

// View selects which of the ledger's events a replay sees as of T.
type View uint8

// The views; see the package documentation.
const (
	Truth View = iota
	Knowable
	Watermark
)

// Views lists every view, in order.
var Views = []View{Truth, Knowable, Watermark}

func (v View) String() string {
	switch v {
	case Truth:
		return "truth"
	case Knowable:
		return "knowable"
	case Watermark:
		return "watermark"
	}
	return fmt.Sprintf("view(%d)", uint8(v))
}

// ErrUnknownView is returned by ParseView.
var ErrUnknownView = errors.New("replay: unknown view (want truth, knowable or watermark)")

// ParseView parses a view name.
func ParseView(s string) (View, error) {
	for _, v := range Views {
		if v.String() == s {
			return v, nil
		}
	}
	return 0, fmt.Errorf("%w: %q", ErrUnknownView, s)
}

// Sees reports whether an event belongs to view v as of at, given the
// watermark w (used by the watermark view only).
func Sees(e *ledger.Event, v View, at time.Time, w uint64) bool {
	return !e.Time.After(at) && v.admits(!e.Arrival.After(at), e.BrokerSeq, w)
}

// seesBrief is Sees for an event read briefly, with at in Unix nanoseconds;
// the scan already bounds its event time.
func seesBrief(b *ledger.Brief, v View, at int64, w uint64) bool {
	return v.admits(b.Arrival <= at, b.BrokerSeq, w)
}

// admits reports whether the view holds an event of event time at or
// before the instant that had arrived by it (arrived) and has broker
// sequence seq, for watermark w.
func (v View) admits(arrived bool, seq, w uint64) bool {
	switch v {
	case Knowable:
		return arrived
	case Watermark:
		return arrived && seq <= w
	}
	return true
}

// FeatureEvent converts a ledger event into the fold's event.
func FeatureEvent(e *ledger.Event) feature.Event { return convert.Event(e) }

// FeatureValue converts a ledger value into the fold's value.
func FeatureValue(v ledger.Value) feature.Value { return convert.Value(v) }

// LedgerValue converts a fold value into the ledger's value.
func LedgerValue(v feature.Value) ledger.Value { return convert.LedgerValue(v) }

// converter converts the events of a sweep; see convert.Converter.
type converter = convert.Converter

// Replayer computes vectors of one spec from one ledger. It is safe for
// concurrent use.
type Replayer struct {
	l    *ledger.Ledger
	spec *feature.Spec

	// folded reads only the event types and fields the spec's features
	// read, reusing each event's field memory: for scans that convert every
	// event they keep at once.
	folded ledger.EntityReader

	// kept reads the same, for scans that keep the events they read, and
	// briefly (EntityReader.Briefs) the events outside every bounded window
	// of a point replay when an Outside can stand in for them (outside is
	// then true; see feature.Outside): the brief scan's indexes of types and
	// fields are the projection's, the spec's own order, as Outside wants.
	kept    ledger.EntityReader
	outside bool

	// folds holds the *fold of point replays.
	folds sync.Pool
}

// New returns a replayer of spec over l.
func New(l *ledger.Ledger, spec *feature.Spec) *Replayer {
	p := ledger.Projection{Types: spec.EventTypes(), Fields: spec.Fields()}
	r := &Replayer{l: l, spec: spec, kept: l.EntityReader(p), outside: spec.Outside()}
	p.Reuse = true
	r.folded = l.EntityReader(p)
	r.folds.New = func() any {
		s := feature.NewState(spec)
		return &fold{state: s, cursor: s.Cursor()}
	}
	return r
}

// Spec returns the spec the replayer computes.
func (r *Replayer) Spec() *feature.Spec { return r.spec }

// Query asks for one entity's vector as of At on View; Watermark is the
// broker sequence bound of the watermark view.
type Query struct {
	Entity    string
	At        time.Time
	View      View
	Watermark uint64
}

// Vector returns the vector that q asks for.
func (r *Replayer) Vector(q Query) (feature.Vector, error) {
	v, _, err := r.vector(q, false)
	return v, err
}

// Explain returns the vector that q asks for and the events of its input
// set: the deduplicated events of the view, of the types the spec reads,
// within the spec's widest window, in event time order.
func (r *Replayer) Explain(q Query) (feature.Vector, []ledger.Indexed[ledger.Event], error) {
	return r.vector(q, true)
}

func (r *Replayer) vector(q Query, explain bool) (feature.Vector,
	[]ledger.Indexed[ledger.Event], error) {
	if q.At.IsZero() {
		return feature.Vector{}, nil, errors.New("replay: zero instant")
	}
	if r.outside && !explain {
		v, err := r.vectorOutside(q)
		return v, nil, err
	}
	// The ledger holds each event once, so every relevant event of the view
	// is in the input set, and no duplicate check is needed. The scan stops
	// at q.At, so the state holds no later event.
	f := r.folds.Get().(*fold)
	defer r.folds.Put(f)
	defer f.state.Reset() // drop references to the events before the state is reused
	load := f.state.Loader()
	var used []ledger.Indexed[ledger.Event]
	from := r.windowStart(q.At)
	var scan iter.Seq2[ledger.Indexed[ledger.Event], error]
	if explain {
		scan = r.l.EntityEvents(q.Entity, from, q.At)
	} else {
		scan = r.folded.Events(q.Entity, from, q.At)
	}
	for ie, err := range scan {
		if err != nil {
			return feature.Vector{}, nil, fmt.Errorf("replay %s: %w", q.Entity, err)
		}
		// The projected scan yields relevant events only; the plain one
		// yields every type, and the loader skips those no feature reads.
		if !Sees(&ie.Record, q.View, q.At, q.Watermark) {
			continue
		}
		if explain {
			if !r.spec.Relevant(ie.Record.Type) {
				continue
			}
			used = append(used, ie)
		}
		load.Add(f.conv.Transient(&ie.Record))
	}
	load.Done()
	return f.cursor.At(q.At), used, nil // the cursor starts over on the changed state
}

// vectorOutside is vector for a spec whose unbounded features are counts,
// firsts and lasts. The events outside every bounded window are read
// briefly and counted by a feature.Outside; only those it keeps and the
// events of the bounded windows are read in full and folded.
func (r *Replayer) vectorOutside(q Query) (feature.Vector, error) {
	f := r.folds.Get().(*fold)
	defer r.folds.Put(f)
	defer f.state.Reset() // drop references to the events before the state is reused
	f.outside.Reset(r.spec)
	border := q.At.Add(-r.spec.BoundedHorizon())
	fail := func(err error) (feature.Vector, error) {
		return feature.Vector{}, fmt.Errorf("replay %s: %w", q.Entity, err)
	}
	// The scans read one view of the ledger, so that they agree while
	// appends go on.
	view, err := r.l.View()
	if err != nil {
		return fail(err)
	}
	defer view.Close()
	brief, folded := r.kept.In(view), r.folded.In(view)
	at := q.At.UnixNano()
	for b, err := range brief.Briefs(q.Entity, time.Time{}, border) {
		if err != nil {
			return fail(err)
		}
		if seesBrief(b, q.View, at, q.Watermark) {
			fb := convert.Brief(b)
			f.outside.Add(&fb)
		}
	}
	load := f.state.Loader()
	for _, h := range f.outside.Kept() {
		// The events at h's instant; the one of sequence h.Seq is kept.
		t := h.Time()
		for ie, err := range folded.Events(q.Entity, t.Add(-1), t) {
			if err != nil {
				return fail(err)
			}
			if ie.Seq == h.Seq {
				load.Add(f.conv.Transient(&ie.Record))
			}
		}
	}
	if border.Before(q.At) {
		for ie, err := range folded.Events(q.Entity, border, q.At) {
			if err != nil {
				return fail(err)
			}
			if Sees(&ie.Record, q.View, q.At, q.Watermark) {
				load.Add(f.conv.Transient(&ie.Record))
			}
		}
	}
	load.Done()
	return f.cursor.AtOutside(q.At, &f.outside), nil
}

// fold is what a point replay folds with, reused from one to the next: a
// State, its cursor, the converter that feeds it, and the Outside of specs
// that have one.
type fold struct {
	state   *feature.State
	cursor  *feature.Cursor
	conv    converter
	outside feature.Outside
}

// windowStart returns the exclusive lower bound of the event times any
// feature can see as of at: at minus the widest window, or zero (the start
// of the ledger) when some feature is unbounded.
func (r *Replayer) windowStart(at time.Time) time.Time {
	d, unbounded := r.spec.Horizon()
	if unbounded {
		return time.Time{}
	}
	return at.Add(-d)
}
