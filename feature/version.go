package feature

import (
	"encoding/binary"
	"slices"
	"strings"

	"github.com/cespare/xxhash/v2"
)

// specFormat opens the canonical form; change it if the form ever changes.
const specFormat = "asof.spec.v1\n"

// version returns the spec's content hash: 16 lower-case hex digits of the
// xxhash64 of its canonical form (see canonical).
func (s *Spec) version() string {
	return hex16(xxhash.Sum64(s.canonical()))
}

// canonical encodes the definitions in a form that does not depend on how
// the YAML was written. Features, then labels, each sorted by name; each
// definition in fixed field order: tag byte ('F' or 'L'), name, number of
// event types and the types sorted, field, aggregation name, and the window
// or horizon in nanoseconds (8 bytes big-endian, 0 when unbounded). Strings
// are a uvarint length followed by the bytes.
func (s *Spec) canonical() []byte {
	b := []byte(specFormat)
	feats := slices.Clone(s.Features)
	slices.SortFunc(feats, func(a, b Feature) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range feats {
		b = appendDef(b, 'F', f.Name, f.Events, f.Field, f.Agg, int64(f.Window))
	}
	labels := slices.Clone(s.Labels)
	slices.SortFunc(labels, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	for _, l := range labels {
		b = appendDef(b, 'L', l.Name, l.Events, l.Field, l.Agg, int64(l.Horizon))
	}
	return b
}

func appendDef(b []byte, tag byte, name string, events []string, field string,
	agg Agg, nanos int64) []byte {
	b = append(b, tag)
	b = appendString(b, name)
	sorted := slices.Sorted(slices.Values(events))
	b = binary.AppendUvarint(b, uint64(len(sorted)))
	for _, e := range sorted {
		b = appendString(b, e)
	}
	b = appendString(b, field)
	b = appendString(b, agg.String())
	return binary.BigEndian.AppendUint64(b, uint64(nanos))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
