// Package jsonwtest holds what the tests of hand-written JSON encoders
// share: random inputs that reach the edges of encoding/json's output.
package jsonwtest

import (
	"math"
	"math/rand/v2"
)

// edges are numbers where encoding/json changes form (plain or exponent),
// rounds, or refuses (NaN and the infinities).
var edges = []float64{0, math.Copysign(0, -1), 1e-6, 1e-7, 9.999999e-7, 1e21, 1e20,
	999999999999999999999, math.MaxFloat64, math.SmallestNonzeroFloat64, math.NaN(),
	math.Inf(1), math.Inf(-1), 0.1, 1.5, 123456789}

// Float returns a number of any magnitude: sometimes one of the edges of
// encoding/json's two forms, a negative zero, NaN or an infinity, sometimes
// any bit pattern, an integer, or a decimal of a random scale.
func Float(r *rand.Rand) float64 {
	switch r.IntN(5) {
	case 0:
		return edges[r.IntN(len(edges))]
	case 1:
		return math.Float64frombits(r.Uint64())
	case 2:
		return float64(r.IntN(2000) - 1000)
	}
	return (r.Float64() - 0.5) * math.Pow(10, float64(r.IntN(60)-30))
}

// oddChars are the characters and bytes at the edges of encoding/json's
// strings: those it escapes (the quote, the backslash, <, > and &, control
// characters with a short escape and without, the line and paragraph
// separators), those it replaces with U+FFFD (invalid bytes, and an encoded
// surrogate half, which are three invalid bytes to it), and those it copies
// though they are not printable ASCII (DEL, runes of two, three and four
// bytes, U+FFFD itself).
var oddChars = []string{`"`, `\`, "<", ">", "&", "\x00", "\b", "\t", "\n", "\f", "\r", "\x1f",
	"\x7f", "\u00e9", "\u65e5", "\u2028", "\u2029", "\ufffd", "\U0001F600", "\xff", "\xc3",
	"\xed\xa0\x80"}

// String returns a short string mostly of printable ASCII, sometimes with
// one or more of the characters and bytes at the edges of encoding/json's
// strings, apart or next to each other; sometimes it is empty.
func String(r *rand.Rand) string {
	b := make([]byte, 0, 16)
	for range r.IntN(12) {
		if r.IntN(8) == 0 {
			b = append(b, oddChars[r.IntN(len(oddChars))]...)
			continue
		}
		b = append(b, byte(0x20+r.IntN(0x5f)))
	}
	return string(b)
}
