package replay

import (
	"cmp"
	"fmt"
	"runtime"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// ViewPoint is one point's answer from SweepViews: its vectors on the three
// views, and the entity's events that the sweep read, from which Inputs
// lists any view's input set. A ViewPoint is valid only during the call of
// the function it is handed to. Views that agree share one vector, so the
// vectors' Values must be treated as read-only.
type ViewPoint struct {
	Point   Point
	Vectors [3]feature.Vector // indexed by View: Truth, Knowable, Watermark

	spec   *feature.Spec
	events []ledger.Indexed[ledger.Event] // relevant events, by event time
}

// Vector returns the point's vector on view v.
func (vp *ViewPoint) Vector(v View) feature.Vector { return vp.Vectors[v] }

// Inputs returns the input set of view v at the point: the events whose
// count and content hashes make Vector(v).Count and Vector(v).Digest, in
// event time order. It walks the entity's events, so callers ask for it
// only when they need to name events.
func (vp *ViewPoint) Inputs(v View) []ledger.Indexed[ledger.Event] {
	at := vp.Point.At
	d, unbounded := vp.spec.Horizon()
	var out []ledger.Indexed[ledger.Event]
	for _, ie := range vp.events {
		e := &ie.Record
		if !unbounded && !e.Time.After(at.Add(-d)) {
			continue
		}
		if Sees(e, v, at, vp.Point.Watermark) {
			out = append(out, ie)
		}
	}
	return out
}

// SweepViews computes the vectors of every point on all three views and
// calls fn with each. It reads each entity's events once for all views and
// points, and spreads entities over workers goroutines (GOMAXPROCS when
// workers <= 0). fn is called concurrently from different workers, with the
// worker's number in [0, workers) so that callers can keep per-worker state
// without locks; one entity's points go to one worker, in order of instant
// (then watermark). The first error fn or a read returns stops the sweep
// and is returned.
//
// When the points' entities are many next to the ledger's events, one scan
// of the whole entity index, skipping the entities without points, costs
// less than a range read per entity, and SweepViews does that instead.
func (r *Replayer) SweepViews(points []Point, workers int,
	fn func(worker int, vp *ViewPoint) error) error {
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	ps, groups := entityGroups(points)
	if len(groups) == 0 {
		return nil
	}
	workers = max(1, min(workers, len(groups)))
	if uint64(len(groups))*scanPerRead >= r.l.Counts().Events {
		return r.sweepScan(ps, groups, workers, fn)
	}
	return r.sweepReads(ps, groups, workers, fn)
}

// scanPerRead is about how many events a scan of the entity index reads in
// the time one range read of an entity takes (a new iterator and its seek).
const scanPerRead = 32

// firstError keeps the first error of concurrent workers and tells the
// others to stop.
type firstError struct {
	once    sync.Once
	err     error
	stopped atomic.Bool
}

func (f *firstError) set(err error) {
	f.once.Do(func() { f.err = err })
	f.stopped.Store(true)
}

// sweepReads gives each worker entities to read one range at a time.
func (r *Replayer) sweepReads(ps []Point, groups [][2]int, workers int,
	fn func(int, *ViewPoint) error) error {
	var (
		next atomic.Int64
		fe   firstError
		wg   sync.WaitGroup
	)
	const chunk = 16 // entities taken at a time, to keep contention low
	for w := range workers {
		wg.Go(func() {
			mv := &multiView{r: r}
			for !fe.stopped.Load() {
				lo := int(next.Add(chunk)) - chunk
				if lo >= len(groups) {
					return
				}
				for _, g := range groups[lo:min(lo+chunk, len(groups))] {
					if err := mv.entity(ps[g[0]:g[1]], w, fn); err != nil {
						fe.set(err)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	return fe.err
}

// viewsJob is one entity's points and the events the scan read for it.
type viewsJob struct {
	ps     []Point
	events []ledger.Indexed[ledger.Event]
}

// sweepScan reads the whole entity index on one goroutine and hands each
// entity with points, with its events, to the workers.
func (r *Replayer) sweepScan(ps []Point, groups [][2]int, workers int,
	fn func(int, *ViewPoint) error) error {
	jobs := make(chan viewsJob, 4*workers)
	var (
		fe firstError
		wg sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			mv := &multiView{r: r}
			for j := range jobs {
				if fe.stopped.Load() {
					continue // drain until the reader stops
				}
				mv.load(j.events)
				if err := mv.answer(j.ps, w, fn); err != nil {
					fe.set(err)
				}
			}
		})
	}
	if err := r.scanParts(ps, groups, jobs, &fe, workers); err != nil {
		fe.set(err)
	}
	close(jobs)
	wg.Wait()
	return fe.err
}

// scanParts scans the entity index in as many parts as the ledger's
// tables allow, up to one per worker, each on its own goroutine, and then
// sends the groups the ledger has no events for.
func (r *Replayer) scanParts(ps []Point, groups [][2]int, jobs chan<- viewsJob,
	fe *firstError, workers int) error {
	index := make(map[string]int, len(groups))
	for i, g := range groups {
		index[ps[g[0]].Entity] = i
	}
	sent := make([]bool, len(groups)) // each part writes its own entities' entries
	splits, err := r.l.EntitySplits(workers)
	if err != nil {
		return fmt.Errorf("replay: scan entities: %w", err)
	}
	bounds := append(append([]string{""}, splits...), "")
	var g errgroup.Group
	for i := 0; i+1 < len(bounds); i++ {
		from, to := bounds[i], bounds[i+1]
		g.Go(func() error { return r.scanEntities(ps, groups, jobs, fe, index, sent, from, to) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i, g := range groups {
		if !sent[i] && !fe.stopped.Load() {
			jobs <- viewsJob{ps[g[0]:g[1]], nil}
		}
	}
	return nil
}

// scanEntities sends a job for every group whose entity lies in [from, to)
// of the entity index: the entity's relevant events that its points can
// see. It marks the groups it sent.
func (r *Replayer) scanEntities(ps []Point, groups [][2]int, jobs chan<- viewsJob,
	fe *firstError, index map[string]int, sent []bool, from, to string) error {
	var (
		cur    = -1
		name   string
		lo, hi time.Time
		arena  []ledger.Indexed[ledger.Event] // jobs' events are cut from it
		start  int                            // the current entity's are arena[start:]
	)
	flush := func() {
		if cur >= 0 && !fe.stopped.Load() {
			jobs <- viewsJob{ps[groups[cur][0]:groups[cur][1]], arena[start:len(arena):len(arena)]}
			sent[cur] = true
		}
		cur, start = -1, len(arena)
	}
	// Events outside every point's reach are skipped undecoded.
	var span [1]ledger.Span
	window := func(entity string) []ledger.Span {
		i, ok := index[entity]
		if !ok {
			return nil
		}
		span[0] = ledger.Span{After: r.windowStart(ps[groups[i][0]].At),
			Until: ps[groups[i][1]-1].At}
		return span[:]
	}
	for ie, err := range r.kept.EventsInWindow(from, to, window) {
		if err != nil {
			return fmt.Errorf("replay: scan entities: %w", err)
		}
		e := &ie.Record
		if e.Entity != name {
			flush()
			if fe.stopped.Load() {
				return nil
			}
			name = e.Entity
			if i, ok := index[name]; ok {
				cur, lo, hi = i, r.windowStart(ps[groups[i][0]].At), ps[groups[i][1]-1].At
			}
		}
		if cur < 0 || e.Time.After(hi) || (!lo.IsZero() && !e.Time.After(lo)) {
			continue
		}
		if len(arena) == cap(arena) { // a new chunk, taking the entity's events so far
			n := len(arena) - start
			chunk := make([]ledger.Indexed[ledger.Event], 0, max(4096, 2*n))
			arena, start = append(chunk, arena[start:]...), 0
		}
		arena = append(arena, ie)
	}
	flush()
	return nil
}

// multiView is one worker's scratch space, reused from entity to entity.
type multiView struct {
	r       *Replayer
	events  []ledger.Indexed[ledger.Event]
	fes     []feature.Event
	arrival []int // indexes into events, in arrival order
	conv    converter
	vp      ViewPoint
	read    []ledger.Indexed[ledger.Event] // the events entity reads
	know    arrivals
	mark    arrivals
	truth   *feature.State  // every event, reset from entity to entity
	cur     *feature.Cursor // truth's cursor
}

// entity reads one entity's events and answers its points, sorted by
// instant.
func (m *multiView) entity(ps []Point, worker int, fn func(int, *ViewPoint) error) error {
	entity := ps[0].Entity
	clear(m.read) // drop the last entity's events before reading the next
	events := m.read[:0]
	for ie, err := range m.r.kept.Events(entity, m.r.windowStart(ps[0].At), ps[len(ps)-1].At) {
		if err != nil {
			return fmt.Errorf("replay %s: %w", entity, err)
		}
		events = append(events, ie) // the projection yields relevant types only
	}
	m.read = events
	m.load(events)
	return m.answer(ps, worker, fn)
}

// load takes an entity's relevant events, in event time order, and
// prepares their fold events and their arrival order.
func (m *multiView) load(events []ledger.Indexed[ledger.Event]) {
	clear(m.fes) // drop references to the last entity's fields
	m.events, m.fes, m.arrival = events, m.fes[:0], m.arrival[:0]
	m.conv.Reset() // the last entity's fold events are no longer used
	for i := range m.events {
		m.fes = append(m.fes, m.conv.Event(&m.events[i].Record))
		m.arrival = append(m.arrival, i)
	}
	slices.SortStableFunc(m.arrival, func(a, b int) int {
		ea, eb := &m.events[a].Record, &m.events[b].Record
		return cmp.Or(ea.Arrival.Compare(eb.Arrival), cmp.Compare(ea.BrokerSeq, eb.BrokerSeq))
	})
}

// answer computes the three vectors at each point, sorted by instant, over
// the loaded events. The views often agree: when no event of a point's
// input set arrived after the instant, knowable is truth, and when none of
// the knowable ones is above the watermark, the watermark view is
// knowable. A point then shares the vector rather than folding again, and
// the arrival-order states only fold when some point needs them.
func (m *multiView) answer(ps []Point, worker int, fn func(int, *ViewPoint) error) error {
	spec := m.r.spec
	if m.truth == nil {
		m.truth = feature.NewState(spec)
		m.cur = m.truth.Cursor()
	}
	m.truth.Reset()
	m.truth.ApplyUnique(m.fes) // the ledger holds each event once
	cur := m.cur
	know, mark := &m.know, &m.mark
	know.reset(spec, m.fes, m.arrival, m.events)
	mark.reset(spec, m.fes, m.arrival, m.events)

	m.vp = ViewPoint{spec: spec, events: m.events}
	for _, p := range ps {
		m.vp.Point = p
		v := cur.At(p.At)
		m.vp.Vectors[Truth] = v
		late, lag := m.exposure(p)
		if late {
			v = know.at(p.At, ^uint64(0))
		}
		m.vp.Vectors[Knowable] = v
		if lag {
			v = mark.at(p.At, p.Watermark)
		}
		m.vp.Vectors[Watermark] = v
		if err := fn(worker, &m.vp); err != nil {
			return err
		}
	}
	return nil
}

// exposure reports whether some event of the point's truth input set
// arrived after the instant (late), and whether some that arrived by then
// is above the point's watermark (lag).
func (m *multiView) exposure(p Point) (late, lag bool) {
	es := m.events
	hi := sort.Search(len(es), func(i int) bool { return es[i].Record.Time.After(p.At) })
	lo := 0
	if d, unbounded := m.r.spec.Horizon(); !unbounded {
		from := p.At.Add(-d)
		lo = sort.Search(hi, func(i int) bool { return es[i].Record.Time.After(from) })
	}
	for i := lo; i < hi; i++ {
		e := &es[i].Record
		if e.Arrival.After(p.At) {
			late = true
		} else if e.BrokerSeq > p.Watermark {
			lag = true
		}
	}
	return late, lag
}

// arrivals folds an entity's events in arrival order as instants pass, as
// the online pipeline does, holding back those above a watermark until the
// watermark passes them. A watermark lower than the last one starts over.
// Its state is made on first use: most entities never need it.
type arrivals struct {
	spec    *feature.Spec
	fes     []feature.Event
	order   []int // indexes in arrival order
	events  []ledger.Indexed[ledger.Event]
	started bool  // the state holds this entity's events
	next    int   // order[:next] have arrived
	pending []int // arrived but above the watermark so far
	w       uint64

	// state and cur are made on first use, most entities never need them,
	// and kept from entity to entity.
	state *feature.State
	cur   *feature.Cursor
}

// reset starts over on another entity's events, keeping the state and the
// pending buffer for reuse.
func (a *arrivals) reset(spec *feature.Spec, fes []feature.Event, order []int,
	events []ledger.Indexed[ledger.Event]) {
	*a = arrivals{spec: spec, fes: fes, order: order, events: events, pending: a.pending[:0],
		state: a.state, cur: a.cur}
}

// at returns the vector as of at over the events arrived by at with broker
// sequence at or below w. Instants must not decrease between calls.
func (a *arrivals) at(at time.Time, w uint64) feature.Vector {
	if !a.started || w < a.w {
		if a.state == nil {
			a.state = feature.NewState(a.spec)
			a.cur = a.state.Cursor()
		}
		a.state.Reset()
		a.started, a.next, a.pending = true, 0, a.pending[:0]
	}
	a.w = w
	for ; a.next < len(a.order); a.next++ {
		i := a.order[a.next]
		if a.events[i].Record.Arrival.After(at) {
			break
		}
		a.pending = append(a.pending, i)
	}
	kept := a.pending[:0]
	for _, i := range a.pending {
		if a.events[i].Record.BrokerSeq > w {
			kept = append(kept, i)
			continue
		}
		a.state.Apply(a.fes[i])
	}
	a.pending = kept
	return a.cur.At(at)
}

// entityGroups sorts a copy of points by entity, instant, watermark and
// Ref, and returns it with the [start, end) ranges that share an entity.
func entityGroups(points []Point) ([]Point, [][2]int) {
	ps := slices.Clone(points)
	slices.SortFunc(ps, func(a, b Point) int {
		return cmp.Or(cmp.Compare(a.Entity, b.Entity), a.At.Compare(b.At),
			cmp.Compare(a.Watermark, b.Watermark), cmp.Compare(a.Ref, b.Ref))
	})
	var gs [][2]int
	for start := 0; start < len(ps); {
		end := start + 1
		for end < len(ps) && ps[end].Entity == ps[start].Entity {
			end++
		}
		gs = append(gs, [2]int{start, end})
		start = end
	}
	return ps, gs
}
