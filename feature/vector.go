package feature

import (
	"encoding/binary"
	"math"
	"time"

	"github.com/cespare/xxhash/v2"
)

// DefaultTolerance is the relative tolerance the audit uses to compare
// numbers (see Value.Equal). The fold itself is exact: equal inputs give
// bit-identical vectors, online or in replay. The tolerance is for vectors
// that went through other hands, such as a batch job in another language
// that sums in its own order, where rounding alone moves a sum by about
// n*2^-53 relative (1e-10 for a million values); 1e-9 stays above that and
// far below any difference worth reporting.
const DefaultTolerance = 1e-9

// Vector is the value of every feature of a spec for one entity at one
// instant, with what is needed to compare it with another computation.
type Vector struct {
	At      time.Time
	Values  []Value // in Spec.Features order
	Count   int     // input set size
	Digest  uint64  // order-independent digest of the input set
	Skipped []int   // per feature: events skipped for a missing or wrong field
}

// Map returns the values by feature name, as nil, float64, string or bool.
func (v Vector) Map(spec *Spec) map[string]any {
	m := make(map[string]any, len(spec.Features))
	for i, f := range spec.Features {
		if i < len(v.Values) {
			m[f.Name] = v.Values[i].Any()
		}
	}
	return m
}

// vectorFormat opens the canonical encoding that Hash hashes.
const vectorFormat = "asof.vector.v1\n"

// Hash returns the xxhash64 of the vector's canonical encoding, which holds
// the values only (not At, Count or Digest): the format tag, then for each
// feature in ascending byte order of name, the name (uvarint length and
// bytes), a kind byte (0 null, 1 number, 2 string, 3 bool) and the value:
// nothing for null, the 8 IEEE 754 bytes big-endian for a number, uvarint
// length and bytes for a string, one byte 0 or 1 for a bool. Feature order
// in the file does not change it, as it does not change the spec version. A
// vector is hashed with the spec it was computed with; features beyond its
// values are left out.
func (v Vector) Hash(spec *Spec) uint64 {
	var buf [256]byte
	b := append(buf[:0], vectorFormat...)
	for _, i := range spec.byName {
		if i < len(v.Values) {
			b = appendString(b, spec.Features[i].Name)
			b = appendValue(b, v.Values[i])
		}
	}
	return xxhash.Sum64(b)
}

func appendValue(b []byte, v Value) []byte {
	b = append(b, byte(v.Kind))
	switch v.Kind {
	case KindNumber:
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(v.Num))
	case KindString:
		b = appendString(b, v.Str)
	case KindBool:
		if v.Bool {
			b = append(b, 1)
		} else {
			b = append(b, 0)
		}
	}
	return b
}

// Equal returns the indexes of the features whose values differ (see
// Value.Equal for tol). A value present in one vector only differs.
func (v Vector) Equal(o Vector, tol float64) (diffs []int) {
	for i := range max(len(v.Values), len(o.Values)) {
		if i >= len(v.Values) || i >= len(o.Values) || !v.Values[i].Equal(o.Values[i], tol) {
			diffs = append(diffs, i)
		}
	}
	return diffs
}
