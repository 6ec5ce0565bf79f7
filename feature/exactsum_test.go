package feature

import (
	"math"
	"testing"

	"pgregory.net/rapid"
)

func sumOf(xs ...float64) float64 {
	var s exactSum
	for _, x := range xs {
		s.add(x)
	}
	return s.float()
}

func numbers(xs ...float64) []Value {
	out := make([]Value, len(xs))
	for i, x := range xs {
		out[i] = Number(x)
	}
	return out
}

func TestExactSum(t *testing.T) {
	const max, tiny = math.MaxFloat64, 5e-324
	halfUlpOfMax := math.Ldexp(1, 970)
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"negative zero is +0", []float64{math.Copysign(0, -1)}, 0},
		{"tenths", []float64{0.1, 0.2, 0.3}, 0.6},
		{"cancels without loss", []float64{1, 1e-300, -1}, 1e-300},
		{"no overflow on the way", []float64{1e308, 1e308, -1e308}, 1e308},
		{"overflow", []float64{1e308, 1e308}, math.Inf(1)},
		{"negative overflow", []float64{-max, -max}, math.Inf(-1)},
		{"subnormals", []float64{tiny, tiny, tiny}, 3 * tiny},
		{"huge cancels, tiny stays", []float64{max, tiny, -max}, tiny},
		{"tie to even, down", []float64{1 << 53, 1}, 1 << 53},
		{"tie to even, up", []float64{1<<53 + 2, 1}, 1<<53 + 4},
		{"above the tie rounds up", []float64{1 << 53, 1, 1e-10}, 1<<53 + 2},
		{"max plus half an ulp overflows", []float64{max, halfUlpOfMax}, math.Inf(1)},
		{"max plus less stays", []float64{max, halfUlpOfMax / 2}, max},
		{"smallest normal", []float64{2.2250738585072014e-308, -tiny}, 2.225073858507201e-308},
		{"negative result", []float64{-3.5, 1.25}, -2.25},
	}
	for _, tt := range tests {
		got := sumOf(tt.xs...)
		if math.Float64bits(got) != math.Float64bits(tt.want) {
			t.Errorf("%s: sum = %v, want %v", tt.name, got, tt.want)
		}
		if ref := bigSum(numbers(tt.xs...)); math.Float64bits(got) != math.Float64bits(ref) {
			t.Errorf("%s: sum = %v, math/big says %v", tt.name, got, ref)
		}
	}
}

// anyFinite draws finite floats of every magnitude and the awkward ones.
var anyFinite = rapid.OneOf(
	rapid.Float64(),
	rapid.Map(rapid.Uint64(), func(b uint64) float64 {
		f := math.Float64frombits(b)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return 0
		}
		return f
	}),
	rapid.SampledFrom([]float64{0, math.Copysign(0, -1), 5e-324, -5e-324, 1, -1, 0.1,
		math.MaxFloat64, -math.MaxFloat64, 2.2250738585072014e-308, 1 << 53}),
)

// TestExactSumProperty adds values, takes some back out, and checks the
// rounded result against math/big over what remains.
func TestExactSumProperty(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		xs := rapid.SliceOfN(anyFinite, 0, 50).Draw(t, "xs")
		var s exactSum
		for _, x := range xs {
			s.add(x)
		}
		var kept []Value
		for i, x := range xs {
			if rapid.Bool().Draw(t, "remove") {
				s.sub(x)
				continue
			}
			kept = append(kept, Number(xs[i]))
		}
		got, want := s.float(), bigSum(kept)
		if math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("sum = %v (%#x), math/big says %v (%#x)", got, math.Float64bits(got),
				want, math.Float64bits(want))
		}
	})
}
