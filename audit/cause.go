package audit

import (
	"cmp"
	"fmt"
	"slices"

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
	var causes []Cause
	otherSpec := rec.SpecVersion != a.spec.Version
	if otherSpec {
		causes = append(causes, Definition)
		f.Notes = append(f.Notes, fmt.Sprintf("snapshot computed with spec %s, replay with %s",
			rec.SpecVersion, a.spec.Version))
	}
	w := vp.Vector(replay.Watermark)
	if rec.InputCount == uint64(w.Count) && rec.InputDigest == w.Digest {
		if !otherSpec {
			causes = append(causes, Unexplained)
		}
		return causes
	}
	inputs := bySeq(vp.Inputs(replay.Watermark))
	x, ok := explainInputs(inputs, int(rec.InputCount)-w.Count, rec.InputDigest-w.Digest)
	switch {
	case ok:
		return append(causes, a.nameExplained(f, inputs, x)...)
	case otherSpec:
		// Another spec may define the input set otherwise: the definition
		// change is the evidence, the inputs are not.
		f.Notes = append(f.Notes,
			"the input set differs too, which the other spec version may explain")
		return causes
	case rec.InputCount < uint64(w.Count):
		f.Notes = append(f.Notes,
			fmt.Sprintf("dropped: %d events missing from the snapshot's input set; "+
				"no combination searched matches the digest difference",
				uint64(w.Count)-rec.InputCount))
		return append(causes, Dropped)
	case rec.InputCount > uint64(w.Count):
		f.Notes = append(f.Notes,
			fmt.Sprintf("duplicated: %d extra events in the snapshot's input set; "+
				"no combination searched matches the digest difference",
				rec.InputCount-uint64(w.Count)))
		return append(causes, Duplicated)
	}
	f.Notes = append(f.Notes, "input digest differs from the watermark view's at the same count, "+
		"and no combination of missing and extra events searched explains it")
	return append(causes, Unexplained)
}

// nameExplained names the missing and extra events an explanation found
// and returns their causes.
func (a *auditor) nameExplained(f *Finding, inputs []ledger.Indexed[ledger.Event],
	x explanation) []Cause {
	var causes []Cause
	if x.prefix > 0 || len(x.missing) > 0 {
		lost := append([]ledger.Indexed[ledger.Event](nil), inputs[:x.prefix]...)
		for _, i := range x.missing {
			lost = append(lost, inputs[i])
		}
		if x.prefix > 2 { // fewer look like any other missing events
			f.Notes = append(f.Notes,
				fmt.Sprintf("dropped: the snapshot lacks the %d oldest inputs "+
					"(broker sequence %d and below), as a loss of the online state leaves it",
					x.prefix, inputs[x.prefix-1].Record.BrokerSeq))
		}
		a.name(f, Dropped, lost, nil)
		causes = append(causes, Dropped)
	}
	if len(x.extra) > 0 {
		es := make([]ledger.Indexed[ledger.Event], len(x.extra))
		copies := make([]int, len(x.extra))
		for i, p := range x.extra {
			es[i], copies[i] = inputs[p.i], p.times
		}
		a.name(f, Duplicated, es, copies)
		causes = append(causes, Duplicated)
	}
	return causes
}

// bySeq returns the inputs ordered by broker sequence.
func bySeq(in []ledger.Indexed[ledger.Event]) []ledger.Indexed[ledger.Event] {
	out := slices.Clone(in)
	slices.SortFunc(out, func(a, b ledger.Indexed[ledger.Event]) int {
		return cmp.Compare(a.Record.BrokerSeq, b.Record.BrokerSeq)
	})
	return out
}

// findTriple handles three missing events with at most one extra copy, or
// three extra copies with at most one missing event: it enumerates the
// lone event and one of the three, and looks the other two up as a pair.
func (s *search) findTriple(k, nd, nm int, r uint64, x *explanation,
	lookPair func(uint64, []int) ([2]int, bool)) bool {
	threeMissing := nm == 3
	lone := nm
	if threeMissing {
		lone = nd
	}
	return s.each(k, lone, func(o []int) bool {
		var rest uint64 // what the three must sum to, less h(a)
		for _, i := range o {
			rest += s.hash(i)
		}
		if threeMissing { // missing = extra - r
			rest -= r
		} else { // extra = r + missing
			rest += r
		}
		for a := k; a < len(s.inputs); a++ {
			if slices.Contains(o, a) {
				continue
			}
			p, ok := lookPair(rest-s.hash(a), append([]int{a}, o...))
			if !ok {
				continue
			}
			three := []int{a, p[0], p[1]}
			if threeMissing {
				x.missing = three
				for _, i := range o {
					x.extra = append(x.extra, pick{i, 1})
				}
			} else {
				x.missing = o
				for _, i := range three {
					x.extra = append(x.extra, pick{i, 1})
				}
			}
			return true
		}
		return false
	})
}

// explanation is a set of changes to the watermark view's input set that
// turns its count and digest into the snapshot's: the first prefix inputs
// by broker sequence missing (as a loss of the online state leaves them),
// a few others missing, and a few held more than once.
type explanation struct {
	prefix  int
	missing []int
	extra   []pick
}

// maxSearch bounds the input sets searched for pairs of missing or extra
// events; larger ones are searched for single events only.
const maxSearch = 2048

// explainInputs looks for the simplest explanation of a count difference dc
// (snapshot minus watermark view) and a digest difference dd: the first k
// inputs by broker sequence missing (as a loss of the online state leaves
// them), plus a few other events missing and a few extra copies, fewest
// events first (up to four, three on one side). With 64-bit content hashes
// a match by chance is negligible, so whatever matches is taken as the
// evidence. inputs are ordered by broker sequence.
func explainInputs(inputs []ledger.Indexed[ledger.Event], dc int, dd uint64) (explanation, bool) {
	// With k inputs missing as a prefix, the others change the count by
	// c = dc + k, between -3 and 3: only a few k are possible.
	kMin, kMax := max(0, -dc-3), min(len(inputs), -dc+3)
	prefix := make([]uint64, len(inputs)+1) // prefix[k]: sum of the first k hashes
	for i := range inputs {
		prefix[i+1] = prefix[i] + inputs[i].Record.Hash
	}
	s := newSearch(inputs, min(kMin, 0))
	try := func(k, size int) (explanation, bool) {
		c := dc + k
		if k < kMin || k > kMax || size < 0 || (size+c)%2 != 0 || size < abs(c) {
			return explanation{}, false
		}
		x, ok := s.find(k, (size+c)/2, (size-c)/2, dd+prefix[k])
		x.prefix = k
		return x, ok
	}
	// A missing prefix counts as one more event, so that a single missing
	// event is not read as a prefix of one.
	for cost := 0; cost <= 5; cost++ {
		if x, ok := try(0, cost); ok {
			return x, true
		}
		for k := max(kMin, 1); k <= kMax; k++ {
			if x, ok := try(k, cost-1); ok {
				return x, true
			}
		}
	}
	return explanation{}, false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// search finds nd extra copies and nm missing events among inputs[k:]
// whose hashes change a digest by r: sum(extra) - sum(missing) == r.
type search struct {
	inputs []ledger.Indexed[ledger.Event]
	single map[uint64][]int    // hash -> inputs with it
	pairs  map[uint64][][2]int // sum of two distinct inputs' hashes -> the pairs
}

func newSearch(inputs []ledger.Indexed[ledger.Event], from int) *search {
	s := &search{inputs: inputs, single: map[uint64][]int{}}
	for i := from; i < len(inputs); i++ {
		s.single[inputs[i].Record.Hash] = append(s.single[inputs[i].Record.Hash], i)
	}
	if len(inputs)-from <= maxSearch {
		s.pairs = map[uint64][][2]int{}
		for i := from; i < len(inputs); i++ {
			for j := i + 1; j < len(inputs); j++ {
				h := inputs[i].Record.Hash + inputs[j].Record.Hash
				s.pairs[h] = append(s.pairs[h], [2]int{i, j})
			}
		}
	}
	return s
}

func (s *search) hash(i int) uint64 { return s.inputs[i].Record.Hash }

// find returns an explanation with nd extra copies and nm missing events
// (each at most 2) among the inputs from k on.
func (s *search) find(k, nd, nm int, r uint64) (explanation, bool) {
	var x explanation
	ok := false
	switch {
	case nd == 0 && nm == 0:
		ok = r == 0
	case nd+nm == 1 || (nd == 1 && nm == 1):
		// Enumerate the missing event (if any), look the extra one up.
		ok = s.each(k, nm, func(m []int) bool {
			sum := r
			for _, i := range m {
				sum += s.hash(i)
			}
			if nd == 0 {
				if sum == 0 {
					x.missing = m
					return true
				}
				return false
			}
			for _, d := range s.single[sum] {
				if d >= k && !slices.Contains(m, d) {
					x.missing, x.extra = m, []pick{{d, 1}}
					return true
				}
			}
			return false
		})
		if !ok && nd == 0 && nm == 1 {
			for _, m := range s.single[-r] {
				if m >= k {
					x.missing, ok = []int{m}, true
					break
				}
			}
		}
	default:
		ok = s.findPairs(k, nd, nm, r, &x)
	}
	return x, ok
}

// each calls fn with every set of n (0 or 1) inputs from k on, until fn
// returns true.
func (s *search) each(k, n int, fn func([]int) bool) bool {
	if n == 0 {
		return fn(nil)
	}
	for i := k; i < len(s.inputs); i++ {
		if fn([]int{i}) {
			return true
		}
	}
	return false
}

// findPairs handles the cases with two extra copies or two missing events:
// it enumerates the smaller side and looks the pair side up in the pair
// sums. An extra pair may be one event held twice more.
func (s *search) findPairs(k, nd, nm int, r uint64, x *explanation) bool {
	if s.pairs == nil {
		return false
	}
	lookPair := func(sum uint64, avoid []int) ([2]int, bool) {
		for _, p := range s.pairs[sum] {
			if p[0] >= k && !slices.Contains(avoid, p[0]) && !slices.Contains(avoid, p[1]) {
				return p, true
			}
		}
		return [2]int{}, false
	}
	switch {
	case nd == 2 && nm <= 1: // extra pair = r + missing
		return s.each(k, nm, func(m []int) bool {
			sum := r
			for _, i := range m {
				sum += s.hash(i)
			}
			if p, ok := lookPair(sum, m); ok {
				x.missing, x.extra = m, []pick{{p[0], 1}, {p[1], 1}}
				return true
			}
			// One event held twice more: 2h == sum has two roots when sum
			// is even, h and h + 2^63.
			for _, h := range []uint64{sum / 2, sum/2 + 1<<63} {
				for _, d := range s.single[h] {
					if d >= k && 2*s.hash(d) == sum && !slices.Contains(m, d) {
						x.missing, x.extra = m, []pick{{d, 2}}
						return true
					}
				}
			}
			return false
		})
	case nm == 3 && nd <= 1, nd == 3 && nm <= 1:
		return s.findTriple(k, nd, nm, r, x, lookPair)
	case nm == 2 && nd <= 1: // missing pair = extra - r
		return s.each(k, nd, func(d []int) bool {
			sum := -r
			for _, i := range d {
				sum += s.hash(i)
			}
			if p, ok := lookPair(sum, d); ok {
				x.missing = []int{p[0], p[1]}
				for _, i := range d {
					x.extra = append(x.extra, pick{i, 1})
				}
				return true
			}
			return false
		})
	case nd == 2 && nm == 2: // extra pair - missing pair = r
		for sum, ps := range s.pairs {
			for _, d := range ps {
				if d[0] < k {
					continue
				}
				if p, ok := lookPair(sum-r, d[:]); ok {
					x.missing, x.extra = []int{p[0], p[1]}, []pick{{d[0], 1}, {d[1], 1}}
					return true
				}
			}
		}
	}
	return false
}

// pick is one event of an input set found to explain a digest difference,
// with how many times it counts.
type pick struct {
	i, times int
}
