package replay

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
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
// and calls fn on the caller's goroutine in that sorted order. Each worker
// reads and folds a chunk of consecutive entities (at most 1,024) at a
// time and holds one entity's events at a time; at most a few chunks'
// results wait for fn, so memory is bounded by the largest entity's events
// and the chunks' vectors, not by the ledger. Every vector equals
// Replayer.Vector at the point's instant on the same view.
func (r *Replayer) Backfill(points []Point, opts BackfillOptions,
	fn func(Point, feature.Vector) error) error {
	opts = opts.withDefaults()
	if opts.View != Truth && opts.View != Knowable {
		return fmt.Errorf("%w: %s", ErrBackfillView, opts.View)
	}
	sortIndexOrder(points)
	reach := func(at time.Time) (time.Time, time.Time) { return r.windowStart(at), at }
	work := func(j *entityJob[feature.Vector], f *folder) error {
		f.convert(j.events)
		if opts.View == Truth {
			f.truth(r.spec, j)
		} else {
			f.knowable(r.spec, j)
		}
		return nil
	}
	return inOrder(r, points, opts, reach, r.spec.Relevant, work, fn)
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
	reach := func(at time.Time) (time.Time, time.Time) { return at, at.Add(horizon) }
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
	return inOrder(r, points, opts, reach, relevant, work, func(p Point, l labels) error {
		return fn(p, l.values, l.complete)
	})
}

// folder is one worker's reusable buffers.
type folder struct {
	conv   converter
	fes    []feature.Event
	events []ledger.Event // the entity's events, reused entity after entity
	state  *feature.State // reset entity after entity
	spans  []ledger.Span  // the spans of the entity being read
	cursor *feature.Cursor
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

// reset empties the worker's state, creating it on first use.
func (f *folder) reset(spec *feature.Spec) {
	if f.state == nil {
		f.state = feature.NewState(spec)
		f.cursor = f.state.Cursor()
	}
	f.state.Reset()
}

// truth holds every event of the entity and moves a cursor through the
// instants. The ledger stores each event once, so no dedup is needed.
func (f *folder) truth(spec *feature.Spec, j *entityJob[feature.Vector]) {
	f.reset(spec)
	f.state.ApplyUnique(f.fes)
	c := f.cursor
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
	f.reset(spec)
	state := f.state
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
// (by the length of the name, then its bytes), then by instant and Ref.
//
// It sorts small fixed-size keys rather than the points: the name's length,
// the eight bytes of the name that follow the prefix every name shares
// (zero-padded) and the instant in Unix nanoseconds, read once per point,
// decide most comparisons without touching the points again; only names
// longer than the shared prefix plus eight bytes are compared in full on a
// tie, and Refs on a tie of entity and instant. With two cores or more, a
// large set's two halves are sorted at once and merged.
func sortIndexOrder(points []Point) {
	if len(points) < 2 {
		return
	}
	if len(points) > math.MaxInt32 || !nanosHold(points) {
		// Too many for the keys' 32-bit indexes, or instants beyond
		// Unix nanoseconds: sort the points as they are.
		slices.SortFunc(points, func(a, b Point) int {
			return cmp.Or(compareEntities(a.Entity, b.Entity), a.At.Compare(b.At),
				cmp.Compare(a.Ref, b.Ref))
		})
		return
	}
	shared := sharedPrefix(points)
	keys := make([]sortKey, len(points))
	for i := range points {
		e := points[i].Entity
		var pre [8]byte
		copy(pre[:], e[shared:])
		keys[i] = sortKey{n: uint32(len(e)), pre: binary.BigEndian.Uint64(pre[:]),
			t: points[i].At.UnixNano(), idx: int32(i)}
	}
	cmpKeys := func(a, b sortKey) int {
		if a.n != b.n {
			return cmp.Compare(a.n, b.n)
		}
		if a.pre != b.pre {
			return cmp.Compare(a.pre, b.pre)
		}
		if int(a.n) > shared+8 {
			if c := strings.Compare(points[a.idx].Entity[shared+8:],
				points[b.idx].Entity[shared+8:]); c != 0 {
				return c
			}
		}
		if a.t != b.t {
			return cmp.Compare(a.t, b.t)
		}
		return cmp.Compare(points[a.idx].Ref, points[b.idx].Ref)
	}
	order := sortedOrder(keys, cmpKeys)
	permute(points, order)
}

// nanosHold reports whether every point's instant is within Unix
// nanoseconds.
func nanosHold(points []Point) bool {
	lo, hi := time.Unix(0, math.MinInt64), time.Unix(0, math.MaxInt64)
	for i := range points {
		if at := points[i].At; at.Before(lo) || at.After(hi) {
			return false
		}
	}
	return true
}

// sortKey is a point's place in index order, for sortIndexOrder.
type sortKey struct {
	pre uint64 // eight bytes of the name after the shared prefix
	t   int64  // the instant in Unix nanoseconds
	n   uint32 // length of the entity name
	idx int32  // the point's index
}

// permute moves points[order[i]] to points[i] for every i, in place,
// following the permutation's cycles; it consumes order.
func permute(points []Point, order []int32) {
	for i := range order {
		if order[i] < 0 {
			continue
		}
		tmp := points[i]
		j := i
		for {
			k := int(order[j])
			order[j] = -1
			if k == i {
				points[j] = tmp
				break
			}
			points[j] = points[k]
			j = k
		}
	}
}

// sharedPrefix returns the length of the prefix all points' entities share.
func sharedPrefix(points []Point) int {
	p := points[0].Entity
	for i := 1; i < len(points) && p != ""; i++ {
		e := points[i].Entity
		n := 0
		for n < len(p) && n < len(e) && p[n] == e[n] {
			n++
		}
		p = p[:n]
	}
	return len(p)
}

// sortedOrder sorts keys, in two halves at once when they are many and
// there are two cores, and returns their idx fields in the order the sorted
// halves merge into.
func sortedOrder(keys []sortKey, cmpFn func(a, b sortKey) int) []int32 {
	const minShare = 1 << 14
	half := len(keys)
	if len(keys) >= 2*minShare && runtime.GOMAXPROCS(0) >= 2 {
		half = len(keys) / 2
	}
	var wg sync.WaitGroup
	wg.Go(func() { slices.SortFunc(keys[half:], cmpFn) })
	slices.SortFunc(keys[:half], cmpFn)
	wg.Wait()
	order := make([]int32, 0, len(keys))
	a, b := keys[:half], keys[half:]
	for len(a) > 0 && len(b) > 0 {
		if cmpFn(b[0], a[0]) < 0 {
			order, b = append(order, b[0].idx), b[1:]
		} else {
			order, a = append(order, a[0].idx), a[1:]
		}
	}
	for _, rest := range [][]sortKey{a, b} {
		for _, k := range rest {
			order = append(order, k.idx)
		}
	}
	return order
}

// compareEntities orders entity names as the entity index does.
func compareEntities(a, b string) int {
	return cmp.Or(cmp.Compare(len(a), len(b)), strings.Compare(a, b))
}

// entityJob is one entity's points and, while it is folded, its events;
// out holds one result per point.
type entityJob[R any] struct {
	ps     []Point
	events []ledger.Event
	out    []R
}

// chunk is a run of consecutive entities of the sorted points: one worker
// reads and folds them, and the consumer hands their results on whole.
type chunk[R any] struct {
	jobs []entityJob[R]
	to   string // the next chunk's first entity; "" for the last chunk
	err  error
	done chan struct{}
}

// A sweep reads the entity index by ranges, one chunk of entities at a
// time, when its points name at least one entity per scanRatio events of
// the ledger, and seeks to each entity otherwise: a range read steps over
// every entity in its range, a seek costs an iterator.
const scanRatio = 256

// maxChunk bounds the entities in a chunk, and with it the results held
// per chunk.
const maxChunk = 1024

// inOrder reads each entity's events that some point can reach (see
// reach) and of a type keep accepts, runs work on them on opts.Workers goroutines and
// hands the results to fn in the order of points, on the caller's
// goroutine. points must be sorted by sortIndexOrder. The points are cut
// into chunks of consecutive entities; each worker reads and folds whole
// chunks, so reading uses every core too, and at most 2 × opts.Workers
// chunks wait for the consumer at a time. The first error, from reading,
// work or fn, stops everything.
func inOrder[R any](r *Replayer, points []Point, opts BackfillOptions,
	reach func(at time.Time) (after, until time.Time), keep func(string) bool,
	work func(*entityJob[R], *folder) error, fn func(Point, R) error) error {
	runs := entityRuns(points)
	if len(runs) == 0 {
		return nil
	}
	wide := uint64(len(runs))*scanRatio >= r.l.Counts().Events
	rd := chunkReader[R]{r: r, reach: reach, keep: keep, work: work,
		scan: opts.read == readScan || opts.read == readAuto && wide}
	size := min(max(len(runs)/(opts.Workers*8), 1), maxChunk)

	todo := make(chan *chunk[R])
	ordered := make(chan *chunk[R], 2*opts.Workers)
	stop := make(chan struct{})
	go func() {
		defer close(todo)
		defer close(ordered)
		for lo := 0; lo < len(runs); lo += size {
			hi := min(lo+size, len(runs))
			c := &chunk[R]{jobs: make([]entityJob[R], hi-lo), done: make(chan struct{})}
			for i, ps := range runs[lo:hi] {
				c.jobs[i].ps = ps
			}
			if hi < len(runs) {
				c.to = runs[hi][0].Entity
			}
			select {
			case ordered <- c:
			case <-stop:
				return
			}
			select {
			case todo <- c:
			case <-stop:
				return
			}
		}
	}()
	var wg sync.WaitGroup
	for range opts.Workers {
		wg.Go(func() {
			var f folder
			for c := range todo {
				c.err = rd.read(c, &f)
				close(c.done)
			}
		})
	}
	defer wg.Wait()
	defer close(stop)

	done := 0
	for c := range ordered {
		<-c.done
		if c.err != nil {
			return c.err
		}
		for i := range c.jobs {
			j := &c.jobs[i]
			for k, p := range j.ps {
				if err := fn(p, j.out[k]); err != nil {
					return err
				}
			}
			j.out = nil
			done += len(j.ps)
			if opts.Progress != nil {
				opts.Progress(done)
			}
		}
	}
	return nil
}

// entityRuns cuts sorted points into runs of one entity.
func entityRuns(points []Point) [][]Point {
	var runs [][]Point
	for start := 0; start < len(points); {
		end := start + 1
		for end < len(points) && points[end].Entity == points[start].Entity {
			end++
		}
		runs = append(runs, points[start:end])
		start = end
	}
	return runs
}

// chunkReader reads and folds the entities of a chunk.
type chunkReader[R any] struct {
	r *Replayer
	// reach gives the event times, (after, until], that the vector at an
	// instant depends on; after and until must not fall as at rises, and
	// a zero after leaves that side open.
	reach func(at time.Time) (after, until time.Time)
	keep  func(string) bool
	work  func(*entityJob[R], *folder) error
	scan  bool // read the chunk's range of the index, rather than seek
}

// span is the event times that any of ps, sorted by instant, can reach.
func (rd *chunkReader[R]) span(ps []Point) (after, until time.Time) {
	after, _ = rd.reach(ps[0].At)
	_, until = rd.reach(ps[len(ps)-1].At)
	return after, until
}

// spans appends to buf the event times ps, sorted by instant, can reach,
// as disjoint sorted spans: events between two points' reaches are of no
// use to either.
func (rd *chunkReader[R]) spans(buf []ledger.Span, ps []Point) []ledger.Span {
	for _, p := range ps {
		after, until := rd.reach(p.At)
		if n := len(buf); n > 0 && (after.IsZero() || !after.After(buf[n-1].Until)) {
			buf[n-1].Until = until
			continue
		}
		buf = append(buf, ledger.Span{After: after, Until: until})
	}
	return buf
}

// read reads the events of each of c's entities and folds them, one
// entity at a time, reusing f's event buffer.
func (rd *chunkReader[R]) read(c *chunk[R], f *folder) error {
	fold := func(j *entityJob[R]) error {
		j.events = f.events
		err := rd.work(j, f)
		f.events, j.events = j.events[:0], nil
		return err
	}
	if !rd.scan {
		for i := range c.jobs {
			j := &c.jobs[i]
			lo, hi := rd.span(j.ps)
			events, err := rd.r.entityEvents(f.events[:0], j.ps[0].Entity, lo, hi, rd.keep)
			if err != nil {
				return err
			}
			f.events = events
			if err := fold(j); err != nil {
				return err
			}
		}
		return nil
	}
	// The window walks the chunk's entities as the range read reaches
	// them, in the same order; g is the one the events now read belong to.
	g := 0
	window := func(entity string) []ledger.Span {
		for g < len(c.jobs) && compareEntities(c.jobs[g].ps[0].Entity, entity) < 0 {
			g++
		}
		if g == len(c.jobs) || c.jobs[g].ps[0].Entity != entity {
			return nil
		}
		f.spans = rd.spans(f.spans[:0], c.jobs[g].ps)
		return f.spans
	}
	next := 0 // the entities before next are folded
	foldTo := func(end int) error {
		for ; next < end; next++ {
			if err := fold(&c.jobs[next]); err != nil {
				return err
			}
		}
		return nil
	}
	from := c.jobs[0].ps[0].Entity
	for ie, err := range rd.r.l.EntityEventsInWindow(from, c.to, window) {
		if err != nil {
			return fmt.Errorf("replay backfill: %w", err)
		}
		if err := foldTo(g); err != nil {
			return err
		}
		if rd.keep(ie.Record.Type) {
			f.events = append(f.events, ie.Record)
		}
	}
	return foldTo(len(c.jobs))
}

// entityEvents appends to events one entity's events with event time in
// (after, until] whose type keep accepts.
func (r *Replayer) entityEvents(events []ledger.Event, entity string, after, until time.Time,
	keep func(string) bool) ([]ledger.Event, error) {
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
