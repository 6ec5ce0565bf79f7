package demo

import (
	"slices"
	"time"

	"github.com/asofdev/asof/feature"
)

// The causes of DESIGN's taxonomy, as the audit names them.
const (
	causeLate        = "late"
	causeLag         = "lag"
	causeDropped     = "dropped"
	causeDuplicated  = "duplicated"
	causeDefinition  = "definition"
	causeUnexplained = "unexplained"
)

// Causes lists the causes in report order.
var Causes = []string{causeLate, causeLag, causeDropped, causeDuplicated, causeDefinition,
	causeUnexplained}

// published is the demo's record of one event it published: sent before
// the publish call, acked after JetStream acknowledged it, so the event's
// arrival time lies between the two.
type published struct {
	ID     string
	Entity string
	Type   string
	Time   time.Time // event time
	Seq    uint64    // stream sequence from the acknowledgement
	Sent   time.Time
	Acked  time.Time
}

// injection is the injector's record of one fault it caused in the online
// pipeline.
type injection struct {
	Kind      string    // "drop", "twice", "pause", "reset" or "rebuild"
	Seq       uint64    // the event's stream sequence (drop, twice)
	Entity    string    // the event's entity (drop, twice)
	At        time.Time // when it happened (for a pause, when it began)
	Until     time.Time // end of a pause
	Watermark uint64    // the pipeline's watermark at a reset or rebuild
	Spec      string    // the spec version a rebuild switched to
}

// served is the demo's record of one snapshot the scoring service made.
type served struct {
	ID          string
	Entity      string
	T           time.Time
	Watermark   uint64
	SpecVersion string
}

// truthLine is one line of ground-truth.jsonl: the causes a snapshot must
// be given, and the events behind each, from the demo's own records.
type truthLine struct {
	SnapshotID string              `json:"snapshot_id"`
	Entity     string              `json:"entity"`
	T          time.Time           `json:"time"`
	Causes     []string            `json:"causes"`
	Events     map[string][]string `json:"events,omitempty"`
}

// groundTruth works out, for every snapshot, which faults affected it. An
// event affects a snapshot of its entity at T when it is of a type the spec
// reads and lies in the spec's widest window ending at T; then:
//   - published after T with event time at or before T: late;
//   - acknowledged by T with a sequence above the snapshot's watermark: lag;
//   - at or below the watermark but dropped, or lost by a reset of the
//     online state before T: dropped;
//   - at or below the watermark, applied twice, not reset since: duplicated.
//
// A snapshot served with another spec version is a definition change.
func groundTruth(spec *feature.Spec, pubs []published, inj []injection,
	snaps []served) []truthLine {
	byEntity := map[string][]published{}
	for _, p := range pubs {
		if spec.Relevant(p.Type) {
			byEntity[p.Entity] = append(byEntity[p.Entity], p)
		}
	}
	dropped, twice := map[uint64]bool{}, map[uint64]bool{}
	var wipes []injection // resets and rebuilds, in time order
	for _, in := range inj {
		switch in.Kind {
		case "drop":
			dropped[in.Seq] = true
		case "twice":
			twice[in.Seq] = true
		case "reset", "rebuild":
			wipes = append(wipes, in)
		}
	}
	slices.SortStableFunc(wipes, func(a, b injection) int { return a.At.Compare(b.At) })
	horizon, unbounded := spec.Horizon()

	out := make([]truthLine, 0, len(snaps))
	for _, s := range snaps {
		line := truthLine{SnapshotID: s.ID, Entity: s.Entity, T: s.T, Events: map[string][]string{}}
		if s.SpecVersion != spec.Version {
			line.Events[causeDefinition] = nil
		}
		for _, p := range byEntity[s.Entity] {
			if p.Time.After(s.T) || (!unbounded && !p.Time.After(s.T.Add(-horizon))) {
				continue
			}
			if c := eventCause(p, s, dropped, twice, wipes); c != "" {
				line.Events[c] = append(line.Events[c], p.ID)
			}
		}
		for _, c := range Causes {
			if _, ok := line.Events[c]; ok {
				line.Causes = append(line.Causes, c)
			}
		}
		if len(line.Events) == 0 {
			line.Events = nil
		}
		out = append(out, line)
	}
	return out
}

// eventCause returns the cause by which event p makes snapshot s differ
// from truth, or "". The state an event left at or below the watermark is
// decided by the last reset or rebuild before T that covered it: a reset
// lost it, a rebuild (a spec switch recomputes every state from the ledger)
// restored it; without either, what the injector did to it stands.
func eventCause(p published, s served, dropped, twice map[uint64]bool, wipes []injection) string {
	switch {
	case p.Sent.After(s.T):
		return causeLate
	case p.Seq > s.Watermark:
		return causeLag
	}
	for i := len(wipes) - 1; i >= 0; i-- {
		w := wipes[i]
		if !w.At.Before(s.T) || w.Watermark < p.Seq {
			continue
		}
		if w.Kind == "reset" {
			return causeDropped
		}
		return ""
	}
	switch {
	case dropped[p.Seq]:
		return causeDropped
	case twice[p.Seq]:
		return causeDuplicated
	}
	return ""
}

// causeScore is one cause's agreement between the audit and the ground truth,
// over (snapshot, cause) pairs.
type causeScore struct {
	Cause     string  `json:"cause"`
	Truth     int     `json:"truth"`
	Audit     int     `json:"audit"`
	Both      int     `json:"both"`
	Precision float64 `json:"precision"`
	Recall    float64 `json:"recall"`
}

// compare scores the audit's causes per snapshot against the ground truth.
// A cause with nothing to find and nothing found has precision and recall 1.
func compare(truth []truthLine, audit map[string][]string) []causeScore {
	var out []causeScore
	for _, c := range Causes {
		sc := causeScore{Cause: c}
		want := map[string]bool{}
		for _, t := range truth {
			if slices.Contains(t.Causes, c) {
				want[t.SnapshotID] = true
				sc.Truth++
			}
		}
		for id, cs := range audit {
			if slices.Contains(cs, c) {
				sc.Audit++
				if want[id] {
					sc.Both++
				}
			}
		}
		sc.Precision, sc.Recall = ratio(sc.Both, sc.Audit), ratio(sc.Both, sc.Truth)
		out = append(out, sc)
	}
	return out
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 1
	}
	return float64(a) / float64(b)
}
