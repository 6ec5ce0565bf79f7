package audit

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
	"github.com/asofdev/asof/replay"
	"github.com/hashicorp/go-hclog"
)

// Options configure an audit. Run copies them; the caller's struct is never
// changed.
type Options struct {
	// Spec is the spec replay computes with. Required.
	Spec *feature.Spec

	// From and To bound the snapshots' request times: [From, To). Required.
	From, To time.Time

	// Model restricts the audit to one model's snapshots. Default "": every
	// model.
	Model string

	// Models are used to re-score truth vectors: a snapshot is re-scored
	// with the model whose Version equals its ModelVersion, and counted as
	// not re-scored when none does. Default none.
	Models []*model.Model

	// Tolerance is the relative tolerance numbers are compared with (see
	// feature.Value.Equal). Default feature.DefaultTolerance when zero.
	Tolerance float64

	// Thresholds judge the report. Default DefaultThresholds() when nil.
	Thresholds *Thresholds

	// Workers is how many goroutines replay and compare. Default
	// GOMAXPROCS. The report does not depend on it, except for the last
	// bits of the mean differences, which are sums in another order.
	Workers int

	// MaxEvents caps the events a finding names per cause. Default 20.
	MaxEvents int

	// WorstEntities is how many entities the report ranks. Default 10.
	WorstEntities int

	// Progress, when set, is called about five times a second and once at
	// the end with the snapshots audited so far and the total. It is called
	// from one goroutine at a time.
	Progress func(done, total int)

	// Logger receives the audit's progress. Default: no logging.
	Logger hclog.Logger
}

// withDefaults returns a copy of o with zero fields filled.
func (o Options) withDefaults() Options {
	if o.Tolerance == 0 {
		o.Tolerance = feature.DefaultTolerance
	}
	th := DefaultThresholds()
	if o.Thresholds != nil {
		th = o.Thresholds.clone()
	}
	o.Thresholds = &th
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	if o.MaxEvents <= 0 {
		o.MaxEvents = 20
	}
	if o.WorstEntities <= 0 {
		o.WorstEntities = 10
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// Validate reports the first field of o that is missing or wrong.
func (o Options) Validate() error {
	bad := func(msg string) error { return fmt.Errorf("%w: %s", ErrInvalidOptions, msg) }
	switch {
	case o.Spec == nil:
		return bad("spec is missing")
	case o.From.IsZero() || o.To.IsZero():
		return bad("the window needs both from and to")
	case !o.From.Before(o.To):
		return bad("the window's from is not before its to")
	case o.Tolerance < 0 || math.IsNaN(o.Tolerance):
		return bad("tolerance is negative")
	}
	if o.Thresholds != nil {
		return o.Thresholds.Validate()
	}
	return nil
}

// auditor holds one audit's inputs while it runs.
type auditor struct {
	opts   Options
	spec   *feature.Spec
	models map[string]*model.Model // by version
	snaps  snapList
	done   atomic.Int64
}

// snapList holds the window's snapshots in blocks, so that reading many
// neither copies nor reallocates those already read.
type snapList struct {
	blocks [][]snap
	n      int
}

// snapBlock is how many snapshots a block holds.
const snapBlock = 4096

func (l *snapList) len() int       { return l.n }
func (l *snapList) at(i int) *snap { return &l.blocks[i/snapBlock][i%snapBlock] }

// add appends an empty snapshot and returns it.
func (l *snapList) add() *snap {
	if l.n%snapBlock == 0 {
		l.blocks = append(l.blocks, make([]snap, snapBlock))
	}
	l.n++
	return l.at(l.n - 1)
}

// snap is what the audit keeps of a snapshot: its vector aligned with the
// spec's features.
type snap struct {
	rec     ledger.Indexed[ledger.Snapshot]
	values  []feature.Value // by spec feature
	present []bool          // the snapshot's vector holds the feature
}

// Run audits the snapshots of l in the options' window against replay and
// returns the report. It reads each snapshot entity's events once for all
// three views (replay.SweepViews). Canceling ctx stops it with ctx's error.
func Run(ctx context.Context, l *ledger.Ledger, opts Options) (*Report, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	start := time.Now()
	a := &auditor{opts: opts, spec: opts.Spec, models: map[string]*model.Model{}}
	for _, m := range opts.Models {
		a.models[m.Version] = m
	}
	if err := a.load(l); err != nil {
		return nil, err
	}
	opts.Logger.Info("auditing", "snapshots", a.snaps.len(), "from", opts.From, "to", opts.To,
		"spec_version", a.spec.Version)

	tallies := make([]*tally, opts.Workers)
	for i := range tallies {
		tallies[i] = newTally(len(a.spec.Features), opts.From)
	}
	points := make([]replay.Point, a.snaps.len())
	for i := range points {
		s := &a.snaps.at(i).rec.Record
		points[i] = replay.Point{Entity: s.Entity, At: s.Time, Watermark: s.Watermark, Ref: i}
	}
	stop := a.reportProgress()
	sweep := func(w int, vp *replay.ViewPoint) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		t := tallies[w]
		a.check(a.snaps.at(vp.Point.Ref), vp, t)
		// Workers count progress in batches: one shared counter touched
		// per snapshot would bounce between their cores.
		if t.snapshots%progressBatch == 0 {
			a.done.Add(progressBatch)
		}
		return nil
	}
	err := replay.New(l, a.spec).SweepViews(points, opts.Workers, sweep)
	done := 0
	for _, t := range tallies {
		done += t.snapshots
	}
	a.done.Store(int64(done))
	stop()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	for _, t := range tallies[1:] {
		tallies[0].merge(t)
	}
	r, err := a.report(l, tallies[0])
	if err != nil {
		return nil, err
	}
	r.GeneratedAt = time.Now().UTC()
	r.Elapsed = time.Since(start).Seconds()
	opts.Logger.Info("audit done", "snapshots", r.Snapshots, "differing", r.Differing,
		"verdict", r.Verdict, "elapsed", time.Since(start))
	return r, nil
}

// progressBatch is how many snapshots a worker checks between updates of
// the shared progress count.
const progressBatch = 64

// load reads the window's snapshots and aligns their vectors with the spec.
func (a *auditor) load(l *ledger.Ledger) error {
	nf := len(a.spec.Features)
	// Snapshots' aligned vectors are cut from blocks of many at a time.
	const perBlock = 1024
	var values []feature.Value
	var present []bool
	for ie, err := range l.Snapshots(a.opts.Model, a.opts.From, a.opts.To) {
		if err != nil {
			return fmt.Errorf("audit: read snapshots: %w", err)
		}
		if len(values)+nf > cap(values) {
			values = make([]feature.Value, 0, perBlock*nf)
			present = make([]bool, 0, perBlock*nf)
		}
		n := len(values)
		values, present = values[:n+nf], present[:n+nf]
		s := a.snaps.add()
		s.values, s.present = values[n:n+nf:n+nf], present[n:n+nf:n+nf]
		for _, f := range ie.Record.Vector {
			if i, ok := a.spec.Index(f.Name); ok && !s.present[i] {
				s.values[i] = replay.FeatureValue(f.Value)
				s.present[i] = true
			}
		}
		ie.Record.Vector = nil // aligned above; the copy is not needed
		s.rec = ie
	}
	return nil
}

// reportProgress calls Options.Progress and logs until the returned stop
// is called.
func (a *auditor) reportProgress() (stop func()) {
	total := a.snaps.len()
	quit, finished := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(finished)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		logged := time.Now()
		for {
			select {
			case <-quit:
				if a.opts.Progress != nil {
					a.opts.Progress(int(a.done.Load()), total)
				}
				return
			case <-tick.C:
				done := int(a.done.Load())
				if a.opts.Progress != nil {
					a.opts.Progress(done, total)
				}
				if time.Since(logged) >= 10*time.Second {
					a.opts.Logger.Info("audit progress", "done", done, "total", total)
					logged = time.Now()
				}
			}
		}
	}()
	return func() { close(quit); <-finished }
}

// report turns the merged tally into the report.
func (a *auditor) report(l *ledger.Ledger, t *tally) (*Report, error) {
	r := &Report{
		Window: Window{From: a.opts.From.UTC(), To: a.opts.To.UTC()}, Model: a.opts.Model,
		SpecVersion: a.spec.Version, Tolerance: a.opts.Tolerance,
		Snapshots: t.snapshots, Consistent: t.consistent, Differing: t.snapshots - t.consistent,
		Causes: map[Cause]CauseStat{}, Features: map[string]FeatureStats{},
		Hours: t.hourSeries(), Thresholds: *a.opts.Thresholds,
	}
	for i, c := range Causes {
		r.Causes[c] = CauseStat{Snapshots: t.causes[i], Rate: rate(t.causes[i], t.snapshots)}
	}
	for i, f := range a.spec.Features {
		ft := t.features[i]
		fs := FeatureStats{Compared: ft.compared, Mismatched: ft.mismatched,
			Rate: rate(ft.mismatched, ft.compared), MaxAbsDiff: ft.maxAbs}
		if ft.numeric > 0 {
			fs.MeanAbsDiff = ft.sumAbs / float64(ft.numeric)
		}
		r.Features[f.Name] = fs
	}
	r.ScoreImpact = ScoreImpact{Rescored: t.rescored, NotRescored: t.notRescored,
		MaxAbsDelta: t.maxDelta, Flips: t.flips, FlipRate: rate(t.flips, t.rescored)}
	if t.rescored > 0 {
		r.ScoreImpact.MeanAbsDelta = t.sumAbsDelta / float64(t.rescored)
	}
	for i, n := range t.bins {
		r.ScoreImpact.Histogram = append(r.ScoreImpact.Histogram,
			Bin{Lo: deltaEdges[i], Hi: min(deltaEdges[i+1], 1), Count: n})
	}
	r.WorstEntities = a.worst(t)

	gaps, err := l.Gaps("")
	if err != nil {
		return nil, fmt.Errorf("audit: read coverage: %w", err)
	}
	r.Ingest.Gaps = append([]ledger.SeqRange{}, gaps...)
	for _, g := range gaps {
		r.Ingest.Missing += g.Last - g.First + 1
	}
	sortFindings(t.findings)
	r.Findings = t.findings
	r.judge()
	return r, nil
}

// worst ranks the entities and counts their audited snapshots.
func (a *auditor) worst(t *tally) []EntityStat {
	ws := t.worst(a.opts.WorstEntities)
	idx := make(map[string]int, len(ws))
	for i, w := range ws {
		idx[w.Entity] = i
	}
	for i := range a.snaps.len() {
		if k, ok := idx[a.snaps.at(i).rec.Record.Entity]; ok {
			ws[k].Snapshots++
		}
	}
	return ws
}
