package feature

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Agg is an aggregation.
type Agg uint8

// The aggregations a feature can use. Labels use count, sum, max and last.
const (
	AggCount         Agg = iota + 1 // events (with the field present, if named)
	AggSum                          // exact sum of a numeric field
	AggMean                         // exact sum divided by the count of values
	AggMin                          // smallest numeric value
	AggMax                          // largest numeric value
	AggFirst                        // value of the first event in canonical order
	AggLast                         // value of the last event in canonical order
	AggCountDistinct                // number of distinct values, exact
)

var aggNames = [...]string{
	AggCount:         "count",
	AggSum:           "sum",
	AggMean:          "mean",
	AggMin:           "min",
	AggMax:           "max",
	AggFirst:         "first",
	AggLast:          "last",
	AggCountDistinct: "count_distinct",
}

// String returns the aggregation's name as written in a spec.
func (a Agg) String() string {
	if a > 0 && int(a) < len(aggNames) {
		return aggNames[a]
	}
	return "agg(" + strconv.Itoa(int(a)) + ")"
}

// aggByName returns the aggregation with the given spec name.
func aggByName(name string) (Agg, bool) {
	for a, n := range aggNames {
		if n != "" && n == name {
			return Agg(a), true
		}
	}
	return 0, false
}

// numeric reports whether the aggregation always yields a number.
func (a Agg) numeric() bool { return a != AggFirst && a != AggLast }

// needsNumber reports whether the aggregation reads only numeric values.
func (a Agg) needsNumber() bool {
	return a == AggSum || a == AggMean || a == AggMin || a == AggMax
}

// Feature is one named aggregate over an entity's events in a window.
type Feature struct {
	Name   string
	Events []string      // event types read, as written in the spec
	Field  string        // field read; may be empty for count
	Agg    Agg           // aggregation
	Window time.Duration // 0 means unbounded: all events up to the instant
}

// Label is a forward-window target for training sets: the aggregate of an
// entity's events in (T, T+Horizon]. Aggregations: count, sum, max, last.
type Label struct {
	Name    string
	Events  []string
	Field   string
	Agg     Agg
	Horizon time.Duration // > 0
}

// Spec is a parsed and validated spec. Build it with ParseSpec or LoadSpec
// and treat it as read-only: the fold relies on tables derived at parse time.
// A Spec is safe for concurrent use.
type Spec struct {
	Features []Feature // in file order; vectors follow this order
	Labels   []Label   // in file order
	Version  string    // 16 hex digits of xxhash64 of the canonical form
	File     string    // the name the spec was parsed under

	index     map[string]int // feature name -> index
	types     map[string]int // event type read by some feature -> type index
	slots     []string       // distinct field names read by features
	plans     []plan         // per feature: how the fold reads it
	byName    []int          // feature indexes in ascending name order
	horizon   int64          // widest window in nanoseconds
	unbounded bool           // some feature has no window
}

// plan is what the fold needs to know about one feature.
type plan struct {
	agg     Agg
	reads   []bool // by type index: the feature reads this event type
	slot    int    // index into entry.vals, or -1 for count without a field
	number  bool   // only numeric values are used
	window  int64  // nanoseconds; 0 when unbounded
	bounded bool
}

// LoadSpec reads and parses the spec file at path.
func LoadSpec(path string) (*Spec, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feature: load spec: %w", err)
	}
	return ParseSpec(path, data)
}

// ParseSpec parses and validates a spec. file names the source in errors.
// Every problem found is reported as a *SpecError (see SpecError).
func ParseSpec(file string, data []byte) (*Spec, error) {
	p := &specParser{file: file}
	s := p.parse(data)
	if err := p.err(); err != nil {
		return nil, err
	}
	s.File = file
	s.compile()
	s.Version = s.version()
	return s, nil
}

// compile derives the tables the fold uses from Features.
func (s *Spec) compile() {
	s.index = make(map[string]int, len(s.Features))
	s.types = make(map[string]int)
	s.plans = make([]plan, len(s.Features))
	for i, f := range s.Features {
		s.index[f.Name] = i
		for _, t := range f.Events {
			if _, ok := s.types[t]; !ok {
				s.types[t] = len(s.types)
			}
		}
	}
	for i, f := range s.Features {
		p := plan{
			agg: f.Agg, slot: -1, number: f.Agg.needsNumber(),
			window: int64(f.Window), bounded: f.Window > 0,
		}
		p.reads = make([]bool, len(s.types))
		for _, t := range f.Events {
			p.reads[s.types[t]] = true
		}
		if f.Field != "" {
			p.slot = slices.Index(s.slots, f.Field)
			if p.slot < 0 {
				p.slot = len(s.slots)
				s.slots = append(s.slots, f.Field)
			}
		}
		s.plans[i] = p
		if !p.bounded {
			s.unbounded = true
		}
		s.horizon = max(s.horizon, p.window)
	}
	s.byName = make([]int, len(s.Features))
	for i := range s.byName {
		s.byName[i] = i
	}
	slices.SortFunc(s.byName, func(a, b int) int {
		return strings.Compare(s.Features[a].Name, s.Features[b].Name)
	})
}

// Relevant reports whether some feature reads events of this type. Types
// read only by labels are not relevant: a State does not hold them.
func (s *Spec) Relevant(eventType string) bool {
	_, ok := s.types[eventType]
	return ok
}

// EventTypes returns the event types some feature reads, the relevant ones,
// in the order the spec first names them.
func (s *Spec) EventTypes() []string {
	out := make([]string, len(s.types))
	for t, i := range s.types {
		out[i] = t
	}
	return out
}

// Fields returns the names of the event fields some feature reads, in the
// order the spec first names them; empty, not nil, when none reads a field.
func (s *Spec) Fields() []string { return append([]string{}, s.slots...) }

// Horizon returns the widest window of the spec, or unbounded true when some
// feature has no window (it then reads all history up to the instant).
func (s *Spec) Horizon() (d time.Duration, unbounded bool) {
	return time.Duration(s.horizon), s.unbounded
}

// ByName returns the index in Features of the k-th feature in ascending
// byte order of name, for k from 0 to len(Features)-1: the order of
// Vector.Hash, and of a JSON object of the features.
func (s *Spec) ByName(k int) int { return s.byName[k] }

// Index returns the position of the named feature in Features.
func (s *Spec) Index(name string) (int, bool) {
	i, ok := s.index[name]
	return i, ok
}

// Numeric reports whether the named feature always yields a number (or
// null): count, count_distinct, sum, mean, min and max. first and last yield
// whatever the field holds. An unknown name is not numeric.
func (s *Spec) Numeric(name string) bool {
	i, ok := s.index[name]
	return ok && s.Features[i].Agg.numeric()
}
