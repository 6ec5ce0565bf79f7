package audit

import (
	"fmt"
	"math"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
)

// Stages of the chain from truth to the snapshot, as bits: a feature that
// differs from truth differs across at least one of them.
const (
	stageOnline uint8 = 1 << iota // snapshot against the watermark view
	stageLag                      // watermark view against knowable
	stageLate                     // knowable against truth
)

// diff is one feature of a snapshot that differs from truth.
type diff struct {
	i      int
	stages uint8
	abs    float64 // the numeric difference, when hasAbs
	hasAbs bool
}

// missing stands for a feature the snapshot's vector does not hold.
const missing = "<missing>"

// check compares one snapshot with its replays and counts it in t.
func (a *auditor) check(s *snap, vp *replay.ViewPoint, t *tally) {
	rec := &s.rec.Record
	t.snapshots++
	h := t.hour(rec.Time)
	h.snapshots++
	score, rescored := a.rescore(rec, vp.Vector(replay.Truth), t)
	diffs, maxAbs := a.compare(s, vp, t)
	if cap(diffs) > cap(t.diffs) {
		t.diffs = diffs[:0] // reused by the next snapshot
	}
	// A snapshot is consistent when its values equal truth, it was computed
	// with the audited spec, and its input set is the watermark view's: an
	// online fault that another difference happens to cancel out is still a
	// fault, and its evidence is in the input count and digest.
	w := vp.Vector(replay.Watermark)
	faithful := rec.InputCount == uint64(w.Count) && rec.InputDigest == w.Digest
	if len(diffs) == 0 && rec.SpecVersion == a.spec.Version && faithful {
		t.consistent++
		return
	}

	f := a.explain(s, vp, diffs, !faithful)
	if rescored {
		sd := score
		f.Score = &sd
	}
	h.differing++
	for _, c := range f.Causes {
		t.causes[c.index()]++
		h.causes[c.index()]++
	}
	e := t.entities[rec.Entity]
	if e == nil {
		e = &entityTally{}
		t.entities[rec.Entity] = e
	}
	e.differing++
	e.maxAbs = max(e.maxAbs, maxAbs)
	t.findings = append(t.findings, f)
}

// compare counts each feature of the snapshot against truth and returns
// those that differ, with the stages they differ across, and the largest
// numeric difference.
func (a *auditor) compare(s *snap, vp *replay.ViewPoint, t *tally) ([]diff, float64) {
	tol := a.opts.Tolerance
	truth, know := vp.Vector(replay.Truth), vp.Vector(replay.Knowable)
	mark := vp.Vector(replay.Watermark)
	diffs := t.diffs[:0]
	maxAbs := 0.0
	for i := range a.spec.Features {
		ft := &t.features[i]
		ft.compared++
		sv, tv := s.values[i], truth.Values[i]
		var abs float64
		hasAbs := false
		if s.present[i] && sv.Kind == feature.KindNumber && tv.Kind == feature.KindNumber {
			if d := math.Abs(sv.Num - tv.Num); !math.IsInf(d, 0) && !math.IsNaN(d) {
				ft.numeric++
				ft.sumAbs += d
				ft.maxAbs = max(ft.maxAbs, d)
				abs, hasAbs = d, true
			}
		}
		if s.present[i] && sv.Equal(tv, tol) {
			continue
		}
		ft.mismatched++
		if hasAbs {
			maxAbs = max(maxAbs, abs)
		}
		d := diff{i: i, abs: abs, hasAbs: hasAbs}
		if !s.present[i] || !sv.Equal(mark.Values[i], tol) {
			d.stages |= stageOnline
		}
		if !mark.Values[i].Equal(know.Values[i], tol) {
			d.stages |= stageLag
		}
		if !know.Values[i].Equal(tv, tol) {
			d.stages |= stageLate
		}
		if d.stages == 0 {
			// Each step is within the tolerance but the ends are not: the
			// snapshot itself is what is off.
			d.stages = stageOnline
		}
		diffs = append(diffs, d)
	}
	return diffs, maxAbs
}

// rescore scores the truth vector with the snapshot's model version; ok is
// false when no model has that version.
func (a *auditor) rescore(rec *ledger.Snapshot, truth feature.Vector,
	t *tally) (d ScoreDelta, ok bool) {
	m := a.models[rec.ModelVersion]
	if m == nil {
		t.notRescored++
		return d, false
	}
	score, decision := m.Score(a.spec, truth)
	d = ScoreDelta{Served: rec.Score, Truth: score, Delta: score - rec.Score,
		Flip: decision != rec.Decision, Decision: decision}
	t.score(d.Delta, d.Flip)
	return d, true
}

// explain builds the finding of a differing snapshot: the cause of each
// feature's difference and the events the evidence names.
//
// With unfaithful set, the snapshot's input set differs from the watermark
// view's, and the online side is examined even where no value shows it.
func (a *auditor) explain(s *snap, vp *replay.ViewPoint, diffs []diff, unfaithful bool) Finding {
	rec := &s.rec.Record
	f := Finding{Snapshot: rec.ID, Model: rec.Model, Entity: rec.Entity, Time: rec.Time.UTC(),
		Watermark: rec.Watermark, SpecVersion: rec.SpecVersion, Inputs: inputSets(rec, vp),
		Events: map[Cause][]EventRef{}}
	var stages uint8
	for _, d := range diffs {
		stages |= d.stages
	}
	// The input sets are evidence too: a late or lagging event that no
	// value shows (another fault cancelled it out) still had its effect.
	inputs := stages
	if differ(vp.Vector(replay.Knowable), vp.Vector(replay.Truth)) {
		inputs |= stageLate
	}
	if differ(vp.Vector(replay.Watermark), vp.Vector(replay.Knowable)) {
		inputs |= stageLag
	}
	extra := inputs &^ stages // links only the input sets show
	stages = inputs
	var online []Cause
	if stages&stageOnline != 0 || unfaithful {
		online = a.onlineCause(s, vp, &f)
	}
	if stages&stageLag != 0 {
		var lagged []ledger.Indexed[ledger.Event]
		for _, ie := range vp.Inputs(replay.Knowable) {
			if ie.Record.BrokerSeq > rec.Watermark {
				lagged = append(lagged, ie)
			}
		}
		a.name(&f, Lag, lagged, nil)
	}
	if stages&stageLate != 0 {
		var late []ledger.Indexed[ledger.Event]
		for _, ie := range vp.Inputs(replay.Truth) {
			if ie.Record.Arrival.After(rec.Time) {
				late = append(late, ie)
			}
		}
		a.name(&f, Late, late, nil)
	}

	seen := map[Cause]bool{Late: extra&stageLate != 0, Lag: extra&stageLag != 0}
	if stages&stageOnline == 0 {
		// No value shows the online side's fault; its evidence still
		// counts.
		for _, c := range online {
			seen[c] = true
		}
		if rec.SpecVersion != a.spec.Version && !seen[Definition] {
			seen[Definition] = true
			f.Notes = append(f.Notes, fmt.Sprintf("snapshot computed with spec %s, replay with %s",
				rec.SpecVersion, a.spec.Version))
		}
	}
	for _, d := range diffs {
		fd := a.featureDiff(s, vp, d)
		if d.stages&stageLate != 0 {
			fd.Causes = append(fd.Causes, Late)
		}
		if d.stages&stageLag != 0 {
			fd.Causes = append(fd.Causes, Lag)
		}
		if d.stages&stageOnline != 0 {
			fd.Causes = append(fd.Causes, online...)
		}
		for _, c := range fd.Causes {
			seen[c] = true
		}
		f.Features = append(f.Features, fd)
	}
	for _, c := range Causes {
		if seen[c] {
			f.Causes = append(f.Causes, c)
		}
	}
	if len(f.Events) == 0 {
		f.Events = nil
	}
	return f
}

// differ reports whether two vectors' input sets differ.
func differ(a, b feature.Vector) bool { return a.Count != b.Count || a.Digest != b.Digest }

// featureDiff shows one differing feature on every view.
func (a *auditor) featureDiff(s *snap, vp *replay.ViewPoint, d diff) FeatureDiff {
	fd := FeatureDiff{Feature: a.spec.Features[d.i].Name, Snapshot: missing,
		Watermark: jsonValue(vp.Vector(replay.Watermark).Values[d.i]),
		Knowable:  jsonValue(vp.Vector(replay.Knowable).Values[d.i]),
		Truth:     jsonValue(vp.Vector(replay.Truth).Values[d.i])}
	if d.hasAbs {
		abs := d.abs
		fd.AbsDiff = &abs
	}
	if s.present[d.i] {
		fd.Snapshot = jsonValue(s.values[d.i])
	}
	return fd
}

// jsonValue returns v for encoding/json, which cannot carry ±Inf: those
// become the strings "+Inf" and "-Inf".
func jsonValue(v feature.Value) any {
	if v.Kind == feature.KindNumber && (math.IsInf(v.Num, 0) || math.IsNaN(v.Num)) {
		return fmt.Sprintf("%+v", v.Num)
	}
	return v.Any()
}

// inputSets gives the input set's count and digest on every side.
func inputSets(rec *ledger.Snapshot, vp *replay.ViewPoint) InputSets {
	set := func(v feature.Vector) InputSet {
		return InputSet{Count: uint64(v.Count), Digest: fmt.Sprintf("%016x", v.Digest)}
	}
	return InputSets{
		Snapshot:  InputSet{Count: rec.InputCount, Digest: fmt.Sprintf("%016x", rec.InputDigest)},
		Watermark: set(vp.Vector(replay.Watermark)),
		Knowable:  set(vp.Vector(replay.Knowable)),
		Truth:     set(vp.Vector(replay.Truth)),
	}
}

// name lists the events of a cause in the finding, at most MaxEvents of
// them; copies, when given, says how many extra copies of each there were.
func (a *auditor) name(f *Finding, c Cause, es []ledger.Indexed[ledger.Event], copies []int) {
	if len(es) == 0 {
		return
	}
	n := min(len(es), a.opts.MaxEvents)
	for i, ie := range es[:n] {
		e := &ie.Record
		ref := EventRef{Seq: ie.Seq, ID: e.ID, Type: e.Type, Time: e.Time.UTC(),
			Arrival: e.Arrival.UTC(), BrokerSeq: e.BrokerSeq, Hash: fmt.Sprintf("%016x", e.Hash)}
		if copies != nil {
			ref.Copies = copies[i]
		}
		f.Events[c] = append(f.Events[c], ref)
	}
	if n < len(es) {
		f.Notes = append(f.Notes, fmt.Sprintf("%s: %d more events not listed", c, len(es)-n))
	}
}
