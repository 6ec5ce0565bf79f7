package audit

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/asofdev/asof/ledger"
)

// Cause names why a snapshot differs from its replay (see the package
// documentation for the evidence behind each).
type Cause string

// The causes, in the order reports list them.
const (
	Late        Cause = "late"
	Lag         Cause = "lag"
	Dropped     Cause = "dropped"
	Duplicated  Cause = "duplicated"
	Definition  Cause = "definition"
	Unexplained Cause = "unexplained"
)

// Causes lists every cause, in report order.
var Causes = []Cause{Late, Lag, Dropped, Duplicated, Definition, Unexplained}

func (c Cause) valid() bool { return slices.Contains(Causes, c) }

func (c Cause) index() int { return slices.Index(Causes, c) }

// Verdicts.
const (
	VerdictPass = "pass"
	VerdictFail = "fail"
)

// Report is the result of an audit: counts with causes over a window of
// snapshots, and the findings behind them. It is what report.json holds,
// Findings apart (findings.jsonl).
type Report struct {
	Window      Window  `json:"window"`
	Model       string  `json:"model,omitempty"` // "" when every model was audited
	SpecVersion string  `json:"spec_version"`
	Tolerance   float64 `json:"tolerance"`

	GeneratedAt time.Time `json:"generated_at,omitzero"`
	Elapsed     float64   `json:"elapsed_seconds,omitzero"`

	Snapshots  int `json:"snapshots"`  // audited
	Consistent int `json:"consistent"` // equal to truth within the tolerance
	Differing  int `json:"differing"`  // Snapshots - Consistent

	Causes        map[Cause]CauseStat     `json:"causes"`
	Features      map[string]FeatureStats `json:"features"`
	ScoreImpact   ScoreImpact             `json:"score_impact"`
	Ingest        Ingest                  `json:"ingest"`
	Hours         []Hour                  `json:"hours"`
	WorstEntities []EntityStat            `json:"worst_entities"`

	Thresholds Thresholds `json:"thresholds"`
	Breaches   []Breach   `json:"breaches"`
	Verdict    string     `json:"verdict"` // VerdictPass or VerdictFail

	// Findings holds one entry per differing snapshot, ordered by request
	// time, then snapshot id.
	Findings []Finding `json:"-"`
}

// Window is the span of request times audited: [From, To).
type Window struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// CauseStat counts the snapshots a cause affects. A snapshot may have more
// than one cause.
type CauseStat struct {
	Snapshots int     `json:"snapshots"`
	Rate      float64 `json:"rate"` // of audited snapshots
}

// FeatureStats compares one feature of the snapshots with truth.
type FeatureStats struct {
	Compared   int     `json:"compared"`
	Mismatched int     `json:"mismatched"`
	Rate       float64 `json:"rate"` // Mismatched / Compared

	// MeanAbsDiff is the mean of |snapshot - truth| over the compared
	// snapshots where both values are finite numbers, equal ones included;
	// MaxAbsDiff the largest.
	MeanAbsDiff float64 `json:"mean_abs_diff"`
	MaxAbsDiff  float64 `json:"max_abs_diff"`
}

// ScoreImpact is what the differences did to scores: each snapshot's truth
// vector re-scored with the model version the snapshot names.
type ScoreImpact struct {
	Rescored     int     `json:"rescored"`
	NotRescored  int     `json:"not_rescored"` // model version not given
	MeanAbsDelta float64 `json:"mean_abs_delta"`
	MaxAbsDelta  float64 `json:"max_abs_delta"`
	Flips        int     `json:"flips"`
	FlipRate     float64 `json:"flip_rate"` // of re-scored snapshots
	Histogram    []Bin   `json:"delta_histogram"`
}

// Bin counts score deltas (truth score minus served score) in [Lo, Hi).
type Bin struct {
	Lo    float64 `json:"lo"`
	Hi    float64 `json:"hi"`
	Count int     `json:"count"`
}

// deltaEdges are the histogram's bin edges; deltas lie in [-1, 1].
var deltaEdges = []float64{-1, -0.5, -0.2, -0.1, -0.05, -0.01, -0.001,
	0.001, 0.01, 0.05, 0.1, 0.2, 0.5, 1.000001}

// Ingest reports on the events stream as the ledger recorded it.
type Ingest struct {
	// Gaps are broker sequences that never reached the ledger, from
	// ledger.Gaps; Missing is how many sequences they span.
	Gaps    []ledger.SeqRange `json:"gaps"`
	Missing uint64            `json:"missing"`
}

// Hour counts one hour of request times. Hours are counted from the
// window's start, so that they line up with a night in any time zone, and
// Start is in the zone the window's start was given in.
type Hour struct {
	Start     time.Time     `json:"start"`
	Snapshots int           `json:"snapshots"`
	Differing int           `json:"differing"`
	Rate      float64       `json:"rate"`
	Causes    map[Cause]int `json:"causes"`
}

// EntityStat is one of the entities with the most differing snapshots.
type EntityStat struct {
	Entity     string  `json:"entity"`
	Snapshots  int     `json:"snapshots"`
	Differing  int     `json:"differing"`
	MaxAbsDiff float64 `json:"max_abs_diff"`
}

// Finding explains one differing snapshot.
type Finding struct {
	Snapshot    string    `json:"snapshot"`
	Model       string    `json:"model"`
	Entity      string    `json:"entity"`
	Time        time.Time `json:"time"`
	Watermark   uint64    `json:"watermark"`
	SpecVersion string    `json:"spec_version"`
	Causes      []Cause   `json:"causes"`

	Features []FeatureDiff `json:"features"`
	Inputs   InputSets     `json:"inputs"`

	// Events names, per cause, the events the evidence identifies.
	Events map[Cause][]EventRef `json:"events,omitempty"`
	Score  *ScoreDelta          `json:"score,omitempty"`
	Notes  []string             `json:"notes,omitempty"`
}

// FeatureDiff is one feature whose snapshot value differs from truth, with
// its value on every view and the causes of the difference.
type FeatureDiff struct {
	Feature   string   `json:"feature"`
	Snapshot  any      `json:"snapshot"` // absent from the snapshot: "<missing>"
	Watermark any      `json:"watermark"`
	Knowable  any      `json:"knowable"`
	Truth     any      `json:"truth"`
	AbsDiff   *float64 `json:"abs_diff,omitempty"` // when both are finite numbers
	Causes    []Cause  `json:"causes"`
}

// InputSets gives the input set's count and digest as the snapshot recorded
// it and on each view.
type InputSets struct {
	Snapshot  InputSet `json:"snapshot"`
	Watermark InputSet `json:"watermark"`
	Knowable  InputSet `json:"knowable"`
	Truth     InputSet `json:"truth"`
}

// InputSet is an input set's size and digest (16 hex digits).
type InputSet struct {
	Count  uint64 `json:"count"`
	Digest string `json:"digest"`
}

// EventRef names one event of the ledger.
type EventRef struct {
	Seq       uint64    `json:"seq"` // ledger sequence
	ID        string    `json:"id,omitempty"`
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	Arrival   time.Time `json:"arrival"`
	BrokerSeq uint64    `json:"broker_seq"`
	Hash      string    `json:"hash"`
	Copies    int       `json:"copies,omitempty"` // extra copies, for duplicated
}

// ScoreDelta is one snapshot's score against its truth vector's.
type ScoreDelta struct {
	Served   float64 `json:"served"`
	Truth    float64 `json:"truth"`
	Delta    float64 `json:"delta"` // Truth - Served
	Flip     bool    `json:"flip"`
	Decision bool    `json:"truth_decision"`
}

// tally is one worker's running counts; tallies merge into a Report.
type tally struct {
	snapshots, consistent int
	causes                [6]int
	features              []featureTally
	rescored, notRescored int
	sumAbsDelta, maxDelta float64
	flips                 int
	bins                  []int
	from                  time.Time            // the window's start: hour 0 begins there
	hours                 map[int64]*hourTally // by hours since from
	entities              map[string]*entityTally
	findings              []Finding
	diffs                 []diff // scratch for compare, reused from snapshot to snapshot

	// Each worker writes its own tally for every snapshot: the padding
	// keeps the next tally off this one's cache lines.
	_ [128]byte
}

type featureTally struct {
	compared, mismatched, numeric int
	sumAbs, maxAbs                float64
}

type hourTally struct {
	snapshots, differing int
	causes               [6]int
}

type entityTally struct {
	differing int
	maxAbs    float64
}

// newTally returns an empty tally of a window starting at from.
func newTally(features int, from time.Time) *tally {
	return &tally{features: make([]featureTally, features), bins: make([]int, len(deltaEdges)-1),
		from: from, hours: map[int64]*hourTally{}, entities: map[string]*entityTally{}}
}

// hour returns the tally of the hour since the window's start that at lies
// in. at is in the window, at or after its start: the audit reads only the
// snapshots of [From, To).
func (t *tally) hour(at time.Time) *hourTally {
	k := int64(at.Sub(t.from) / time.Hour)
	h := t.hours[k]
	if h == nil {
		h = &hourTally{}
		t.hours[k] = h
	}
	return h
}

// score adds one re-scored snapshot's delta.
func (t *tally) score(delta float64, flip bool) {
	t.rescored++
	a := math.Abs(delta)
	t.sumAbsDelta += a
	t.maxDelta = max(t.maxDelta, a)
	if flip {
		t.flips++
	}
	i, _ := slices.BinarySearch(deltaEdges, delta)
	if i < len(deltaEdges) && deltaEdges[i] == delta {
		i++
	}
	t.bins[min(max(i-1, 0), len(t.bins)-1)]++
}

// merge adds o into t.
func (t *tally) merge(o *tally) {
	t.snapshots += o.snapshots
	t.consistent += o.consistent
	for i := range t.causes {
		t.causes[i] += o.causes[i]
	}
	for i := range t.features {
		f, g := &t.features[i], o.features[i]
		f.compared += g.compared
		f.mismatched += g.mismatched
		f.numeric += g.numeric
		f.sumAbs += g.sumAbs
		f.maxAbs = max(f.maxAbs, g.maxAbs)
	}
	t.rescored += o.rescored
	t.notRescored += o.notRescored
	t.sumAbsDelta += o.sumAbsDelta
	t.maxDelta = max(t.maxDelta, o.maxDelta)
	t.flips += o.flips
	for i := range t.bins {
		t.bins[i] += o.bins[i]
	}
	for k, h := range o.hours {
		th := t.hours[k]
		if th == nil {
			t.hours[k] = h
			continue
		}
		th.snapshots += h.snapshots
		th.differing += h.differing
		for i := range th.causes {
			th.causes[i] += h.causes[i]
		}
	}
	for k, e := range o.entities {
		te := t.entities[k]
		if te == nil {
			t.entities[k] = e
			continue
		}
		te.differing += e.differing
		te.maxAbs = max(te.maxAbs, e.maxAbs)
	}
	t.findings = append(t.findings, o.findings...)
}

// rate returns n/d, 0 when d is 0.
func rate(n, d int) float64 {
	if d == 0 {
		return 0
	}
	return float64(n) / float64(d)
}

// hourSeries returns the per-hour series in time order, each hour's start in
// the time zone of the window's start.
func (t *tally) hourSeries() []Hour {
	keys := make([]int64, 0, len(t.hours))
	for k := range t.hours {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]Hour, 0, len(keys))
	for _, k := range keys {
		h := t.hours[k]
		hr := Hour{Start: t.from.Add(time.Duration(k) * time.Hour), Snapshots: h.snapshots,
			Differing: h.differing, Rate: rate(h.differing, h.snapshots), Causes: map[Cause]int{}}
		for i, c := range Causes {
			hr.Causes[c] = h.causes[i]
		}
		out = append(out, hr)
	}
	return out
}

// worst returns the n entities with the most differing snapshots (then the
// largest difference, then by name).
func (t *tally) worst(n int) []EntityStat {
	out := make([]EntityStat, 0, len(t.entities))
	for name, e := range t.entities {
		out = append(out, EntityStat{Entity: name, Differing: e.differing, MaxAbsDiff: e.maxAbs})
	}
	slices.SortFunc(out, func(a, b EntityStat) int {
		return cmp.Or(cmp.Compare(b.Differing, a.Differing), cmp.Compare(b.MaxAbsDiff,
			a.MaxAbsDiff),
			cmp.Compare(a.Entity, b.Entity))
	})
	return out[:min(n, len(out))]
}

// sortFindings orders findings by request time, then snapshot id.
func sortFindings(fs []Finding) {
	slices.SortFunc(fs, func(a, b Finding) int {
		return cmp.Or(a.Time.Compare(b.Time), cmp.Compare(a.Snapshot, b.Snapshot))
	})
}
