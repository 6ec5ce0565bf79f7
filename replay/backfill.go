package replay

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// ErrBackfillView is returned by Backfill for the watermark view: a
// training row has no watermark.
var ErrBackfillView = errors.New("replay: backfill takes the truth or knowable view")

// BackfillOptions configures Backfill and Labels.
type BackfillOptions struct {
	// View is the view vectors are computed on: Truth or Knowable.
	// Default: Truth (the zero View).
	View View

	// Workers is the number of entities folded at once. Default:
	// runtime.GOMAXPROCS(0).
	Workers int

	// Progress, when set, is called from the caller's goroutine after the
	// rows of each entity have been handed to fn, with the number of rows
	// handed so far. Default: nil.
	Progress func(rows int)

	// read forces a way of reading in tests: readScan or readSeek.
	read int
}

// Ways of reading the entity index (see scanRatio).
const (
	readAuto = iota
	readScan
	readSeek
)

func (o BackfillOptions) withDefaults() BackfillOptions {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// Backfill computes the vector as of each point on opts.View and calls fn
// with each, like Sweep, for training sets with many rows. It sorts points
// in place, in the order of the ledger's entity index (entity name length,
// then bytes; within an entity by instant, then Ref), reads each entity's
// events once, folds several entities at once on opts.Workers goroutines
// and calls fn on the caller's goroutine in that sorted order. At most a
// few entities per worker are held at a time, so memory is bounded by the
// largest entities' events, not by the ledger. Every vector equals
// Replayer.Vector at the point's instant on the same view.
func (r *Replayer) Backfill(points []Point, opts BackfillOptions,
	fn func(Point, feature.Vector) error) error {
	opts = opts.withDefaults()
	if opts.View != Truth && opts.View != Knowable {
		return fmt.Errorf("%w: %s", ErrBackfillView, opts.View)
	}
	sortIndexOrder(points)
	span := func(ps []Point) (time.Time, time.Time) {
		return r.windowStart(ps[0].At), ps[len(ps)-1].At
	}
	work := func(j *entityJob[feature.Vector], f *folder) error {
		f.convert(j.events)
		if opts.View == Truth {
			f.truth(r.spec, j)
		} else {
			f.knowable(r.spec, j)
		}
		return nil
	}
	return inOrder(r, points, opts, span, r.spec.Relevant, work, fn)
}

// Labels computes the labels of the replayer's spec as of each point and
// calls fn with each, in the order Backfill uses (it sorts points in place
// alike). Labels read every event, however late it arrived: they are what
// happened after the point. A label whose window ends after cutoff is null
// and its row incomplete (see feature.Labeler.At). opts.View is ignored.
func (r *Replayer) Labels(points []Point, cutoff time.Time, opts BackfillOptions,
	fn func(p Point, values []feature.Value, complete bool) error) error {
	opts = opts.withDefaults()
	sortIndexOrder(points)
	type labels struct {
		values   []feature.Value
		complete bool
	}
	horizon := feature.NewLabeler(r.spec).Horizon()
	span := func(ps []Point) (time.Time, time.Time) {
		return ps[0].At,
			ps[len(ps)-1].At.Add(horizon)
	}
	work := func(j *entityJob[labels], f *folder) error {
		lb := feature.NewLabeler(r.spec)
		lb.ApplyAll(f.convert(j.events))
		j.out = make([]labels, len(j.ps))
		for i, p := range j.ps {
			j.out[i].values, j.out[i].complete = lb.At(p.At, cutoff)
		}
		return nil
	}
	relevant := feature.NewLabeler(r.spec).Relevant
	return inOrder(r, points, opts, span, relevant, work, func(p Point, l labels) error {
		return fn(p, l.values, l.complete)
	})
}

// folder is one worker's reusable buffers.
type folder struct {
	conv converter
	fes  []feature.Event
}

// convert turns ledger events into fold events, reusing the buffers.
func (f *folder) convert(events []ledger.Event) []feature.Event {
	f.conv.Reset()
	f.fes = f.fes[:0]
	for i := range events {
		f.fes = append(f.fes, f.conv.Event(&events[i]))
	}
	return f.fes
}

// truth holds every event of the entity and moves a cursor through the
// instants. The ledger stores each event once, so no dedup is needed.
func (f *folder) truth(spec *feature.Spec, j *entityJob[feature.Vector]) {
	state := feature.NewState(spec)
	state.ApplyUnique(f.fes)
	c := state.Cursor()
	j.out = make([]feature.Vector, len(j.ps))
	for i, p := range j.ps {
		j.out[i] = c.At(p.At)
	}
}

// knowable applies the events in arrival order as the instants pass, as
// the online pipeline does, and computes each vector from what had arrived.
func (f *folder) knowable(spec *feature.Spec, j *entityJob[feature.Vector]) {
	order := make([]int, len(j.events))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int {
		ea, eb := &j.events[a], &j.events[b]
		return cmp.Or(ea.Arrival.Compare(eb.Arrival), cmp.Compare(ea.BrokerSeq, eb.BrokerSeq))
	})
	state := feature.NewState(spec)
	j.out = make([]feature.Vector, len(j.ps))
	next := 0
	for i, p := range j.ps {
		for ; next < len(order) && !j.events[order[next]].Arrival.After(p.At); next++ {
			state.Apply(f.fes[order[next]])
		}
		j.out[i] = state.Vector(p.At)
	}
}

// sortIndexOrder sorts points as the ledger's entity index orders entities
// (by the length of the name, then its bytes), then by instant and Ref. It
// sorts the distinct entities once and places the points by a counting
// sort, so that names are compared per entity rather than per point.
func sortIndexOrder(points []Point) {
	rank := make(map[string]int)
	for _, p := range points {
		rank[p.Entity] = 0
	}
	names := make([]string, 0, len(rank))
	for n := range rank {
		names = append(names, n)
	}
	slices.SortFunc(names, compareEntities)
	for i, n := range names {
		rank[n] = i
	}
	ranks := make([]int, len(points))
	start := make([]int, len(names)+1)
	for i, p := range points {
		ranks[i] = rank[p.Entity]
		start[ranks[i]+1]++
	}
	for i := 1; i < len(start); i++ {
		start[i] += start[i-1]
	}
	sorted := make([]Point, len(points))
	next := slices.Clone(start[:len(names)])
	for i, p := range points {
		sorted[next[ranks[i]]] = p
		next[ranks[i]]++
	}
	copy(points, sorted)
	for i := range names {
		slices.SortFunc(points[start[i]:start[i+1]], func(a, b Point) int {
			return cmp.Or(a.At.Compare(b.At), cmp.Compare(a.Ref, b.Ref))
		})
	}
}

// compareEntities orders entity names as the entity index does.
func compareEntities(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// entityJob is one entity's points and events on their way through the
// workers; out holds one result per point.
type entityJob[R any] struct {
	ps     []Point
	events []ledger.Event
	out    []R
	err    error
	done   chan struct{}
}

// A sweep reads the whole entity index in one scan when its points name
// at least one entity per scanRatio events of the ledger, and seeks to each
// entity otherwise: a scan decodes every entity, a seek costs an iterator.
const scanRatio = 256

// inOrder reads each entity's events with event time in span(points) and
// of a type keep accepts, runs work on them on opts.Workers goroutines and
// hands the results to fn in the order of points, on the caller's
// goroutine. points must be sorted by sortIndexOrder. The first error, from
// reading, work or fn, stops everything.
func inOrder[R any](r *Replayer, points []Point, opts BackfillOptions,
	span func([]Point) (time.Time, time.Time), keep func(string) bool,
	work func(*entityJob[R], *folder) error, fn func(Point, R) error) error {
	jobs := make(chan *entityJob[R], opts.Workers*4)
	ordered := make(chan *entityJob[R], opts.Workers*16)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() {
			var f folder
			for j := range jobs {
				j.err = work(j, &f)
				j.events = nil
				close(j.done)
			}
		})
	}
	readErr := make(chan error, 1)
	go func() {
		defer close(ordered)
		defer close(jobs)
		f := feeder[R]{r: r, span: span, keep: keep, jobs: jobs, ordered: ordered, stop: stop,
			read: opts.read}
		readErr <- f.feed(points)
	}()
	defer wg.Wait()
	defer close(stop)

	done := 0
	for j := range ordered {
		<-j.done
		if j.err != nil {
			return j.err
		}
		for i, p := range j.ps {
			if err := fn(p, j.out[i]); err != nil {
				return err
			}
		}
		j.out = nil
		done += len(j.ps)
		if opts.Progress != nil {
			opts.Progress(done)
		}
	}
	return <-readErr
}

// feeder reads the events of each entity that has points and queues a job
// per entity, to the workers and, in the same order, to the consumer.
type feeder[R any] struct {
	r       *Replayer
	span    func([]Point) (time.Time, time.Time)
	keep    func(string) bool
	jobs    chan *entityJob[R]
	ordered chan *entityJob[R]
	stop    chan struct{}
	read    int
}

// feed cuts sorted points into runs of one entity and reads their events,
// by one scan of the entity index or by one seek per entity.
func (f *feeder[R]) feed(points []Point) error {
	var runs [][]Point
	for start := 0; start < len(points); {
		end := start + 1
		for end < len(points) && points[end].Entity == points[start].Entity {
			end++
		}
		runs = append(runs, points[start:end])
		start = end
	}
	if len(runs) == 0 {
		return nil
	}
	wide := uint64(len(runs))*scanRatio >= f.r.l.Counts().Events
	if f.read == readScan || f.read == readAuto && wide {
		return f.scan(runs)
	}
	for _, ps := range runs {
		lo, hi := f.span(ps)
		events, err := f.r.entityEvents(ps[0].Entity, lo, hi, f.keep)
		if err != nil {
			return err
		}
		if !f.send(&entityJob[R]{ps: ps, events: events}) {
			return nil
		}
	}
	return nil
}

// scan reads the whole entity index once, merging it with the runs.
func (f *feeder[R]) scan(runs [][]Point) error {
	g := 0
	cur := &entityJob[R]{ps: runs[0]}
	lo, hi := f.span(cur.ps)
	for ie, err := range f.r.l.AllEntityEvents() {
		if err != nil {
			return fmt.Errorf("replay backfill: %w", err)
		}
		e := &ie.Record
		c := compareEntities(e.Entity, cur.ps[0].Entity)
		for c > 0 {
			if !f.send(cur) {
				return nil
			}
			if g++; g == len(runs) {
				return nil
			}
			cur = &entityJob[R]{ps: runs[g]}
			lo, hi = f.span(cur.ps)
			c = compareEntities(e.Entity, cur.ps[0].Entity)
		}
		if c == 0 && e.Time.After(lo) && !e.Time.After(hi) && f.keep(e.Type) {
			cur.events = append(cur.events, *e)
		}
	}
	for {
		if !f.send(cur) {
			return nil
		}
		if g++; g == len(runs) {
			return nil
		}
		cur = &entityJob[R]{ps: runs[g]}
	}
}

// send queues a job; it returns false when the consumer has stopped.
func (f *feeder[R]) send(j *entityJob[R]) bool {
	j.done = make(chan struct{})
	select {
	case f.ordered <- j:
	case <-f.stop:
		return false
	}
	select {
	case f.jobs <- j:
		return true
	case <-f.stop:
		return false
	}
}

// entityEvents reads one entity's events with event time in (after, until]
// whose type keep accepts.
func (r *Replayer) entityEvents(entity string, after, until time.Time,
	keep func(string) bool) ([]ledger.Event, error) {
	var events []ledger.Event
	for ie, err := range r.l.EntityEvents(entity, after, until) {
		if err != nil {
			return nil, fmt.Errorf("replay %s: %w", entity, err)
		}
		if keep(ie.Record.Type) {
			events = append(events, ie.Record)
		}
	}
	return events, nil
}
