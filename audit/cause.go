package audit

import (
	"fmt"

	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
)

// onlineCause explains a difference between the snapshot and the watermark
// view, the events the online pipeline should have held: another spec
// version, or an input set that lacks events or holds some twice, or, with
// the same inputs and spec, a defect. It names the events it can identify
// in f and returns the causes.
func (a *auditor) onlineCause(s *snap, vp *replay.ViewPoint, f *Finding) []Cause {
	rec := &s.rec.Record
	if rec.SpecVersion != a.spec.Version {
		f.Notes = append(f.Notes, fmt.Sprintf("snapshot computed with spec %s, replay with %s",
			rec.SpecVersion, a.spec.Version))
		return []Cause{Definition}
	}
	w := vp.Vector(replay.Watermark)
	wc, wd := uint64(w.Count), w.Digest
	switch {
	case rec.InputCount == wc && rec.InputDigest == wd:
		return []Cause{Unexplained}

	case rec.InputCount < wc:
		k := int(wc - rec.InputCount)
		inputs := vp.Inputs(replay.Watermark)
		picks := findSum(inputs, k, wd-rec.InputDigest, false)
		a.nameOrNote(f, Dropped, inputs, picks, k, "missing from")
		return []Cause{Dropped}

	case rec.InputCount > wc:
		k := int(rec.InputCount - wc)
		inputs := vp.Inputs(replay.Watermark)
		picks := findSum(inputs, k, rec.InputDigest-wd, true)
		a.nameOrNote(f, Duplicated, inputs, picks, k, "extra in")
		return []Cause{Duplicated}
	}

	// Same count, other digest: one event missing and another held twice
	// would do it.
	inputs := vp.Inputs(replay.Watermark)
	drop, dup, ok := findSwap(inputs, rec.InputDigest-wd)
	if !ok {
		f.Notes = append(f.Notes, "input digest differs from the watermark view's at the same "+
			"count, and no one missing event with one extra copy explains it")
		return []Cause{Unexplained}
	}
	a.name(f, Dropped, inputs[drop:drop+1], nil)
	a.name(f, Duplicated, inputs[dup:dup+1], []int{1})
	return []Cause{Dropped, Duplicated}
}

// pick is one event of an input set found to explain a digest difference,
// with how many times it counts.
type pick struct {
	i, times int
}

// nameOrNote names the picked events of a cause in f, or notes that the
// k events could not be identified.
func (a *auditor) nameOrNote(f *Finding, c Cause, inputs []ledger.Indexed[ledger.Event],
	picks []pick, k int, where string) {
	if picks == nil {
		searched := "no event"
		if k == 2 {
			searched = "no pair"
		} else if k > 2 {
			searched = "more than two events are not searched; none"
		}
		f.Notes = append(f.Notes, fmt.Sprintf("%s: %d events %s the snapshot's input set; "+
			"%s of the watermark view's inputs matches the digest difference", c, k, where, searched))
		return
	}
	es := make([]ledger.Indexed[ledger.Event], len(picks))
	copies := make([]int, len(picks))
	for i, p := range picks {
		es[i] = inputs[p.i]
		copies[i] = p.times
	}
	if c != Duplicated {
		copies = nil
	}
	a.name(f, c, es, copies)
}

// findSum looks for k events of inputs (k of 1 or 2; larger k are not
// searched) whose content hashes sum to sum, with wrapping arithmetic. With
// repeat, one event may count twice. It returns nil when none is found.
func findSum(inputs []ledger.Indexed[ledger.Event], k int, sum uint64, repeat bool) []pick {
	switch k {
	case 1:
		for i := range inputs {
			if inputs[i].Record.Hash == sum {
				return []pick{{i, 1}}
			}
		}
	case 2:
		at := make(map[uint64]int, len(inputs))
		for i := range inputs {
			h := inputs[i].Record.Hash
			if repeat && 2*h == sum {
				return []pick{{i, 2}}
			}
			if j, ok := at[sum-h]; ok {
				return []pick{{j, 1}, {i, 1}}
			}
			at[h] = i
		}
	}
	return nil
}

// findSwap looks for one input event missing and one held twice whose
// hashes move the digest by diff: hash(dup) - hash(drop) == diff.
func findSwap(inputs []ledger.Indexed[ledger.Event], diff uint64) (drop, dup int, ok bool) {
	at := make(map[uint64]int, len(inputs))
	for i := range inputs {
		at[inputs[i].Record.Hash] = i
	}
	for i := range inputs {
		if j, found := at[inputs[i].Record.Hash-diff]; found && j != i {
			return j, i, true
		}
	}
	return 0, 0, false
}
