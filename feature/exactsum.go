package feature

import (
	"math"
	"math/bits"
)

// sumWords is the size of an exactSum in 64-bit words. Every finite float64
// is a whole multiple of 2^-1074 below 2^1024, so it fits in 2098 bits; 2176
// bits leave 77 bits of headroom for carries, enough for 2^76 additions.
const sumWords = 34

// exactSum is a sum of finite float64 values held exactly, as a
// two's-complement fixed-point integer in units of 2^-1074 (the smallest
// subnormal). Adding and subtracting are exact, so the sum does not depend on
// the order of the values, and a value subtracted leaves no trace: a sliding
// window and a fresh sum over the same values give identical bits.
type exactSum struct {
	w [sumWords]uint64
}

// split returns the magnitude of f as mant * 2^shift units of 2^-1074.
func split(f float64) (mant uint64, shift uint, neg bool) {
	b := math.Float64bits(f)
	exp := uint(b>>52) & 0x7ff
	mant = b & (1<<52 - 1)
	if exp == 0 {
		exp = 1 // subnormal: no implicit bit
	} else {
		mant |= 1 << 52
	}
	return mant, exp - 1, b>>63 != 0
}

// add adds a finite f.
func (s *exactSum) add(f float64) {
	mant, shift, neg := split(f)
	if neg {
		s.subMag(mant, shift)
	} else {
		s.addMag(mant, shift)
	}
}

// sub subtracts a finite f.
func (s *exactSum) sub(f float64) {
	mant, shift, neg := split(f)
	if neg {
		s.addMag(mant, shift)
	} else {
		s.subMag(mant, shift)
	}
}

// addMag adds mant<<shift. mant has at most 53 bits, so it spans at most
// two words; when b is 0, mant>>64 is 0 in Go and the second word gets only
// the carry.
func (s *exactSum) addMag(mant uint64, shift uint) {
	i, b := shift/64, shift%64
	var c uint64
	s.w[i], c = bits.Add64(s.w[i], mant<<b, 0)
	s.w[i+1], c = bits.Add64(s.w[i+1], mant>>(64-b), c)
	for j := i + 2; c != 0 && j < sumWords; j++ {
		s.w[j], c = bits.Add64(s.w[j], 0, c)
	}
}

// subMag subtracts mant<<shift, borrowing as far up as needed.
func (s *exactSum) subMag(mant uint64, shift uint) {
	i, b := shift/64, shift%64
	var c uint64
	s.w[i], c = bits.Sub64(s.w[i], mant<<b, 0)
	s.w[i+1], c = bits.Sub64(s.w[i+1], mant>>(64-b), c)
	for j := i + 2; c != 0 && j < sumWords; j++ {
		s.w[j], c = bits.Sub64(s.w[j], 0, c)
	}
}

// float returns the sum rounded once to the nearest float64, ties to even;
// ±Inf when it is beyond float64's range. An exact zero is +0.
func (s *exactSum) float() float64 {
	m := s.w
	neg := m[sumWords-1]>>63 != 0
	if neg {
		var c uint64 = 1
		for i := range m {
			m[i], c = bits.Add64(^m[i], 0, c)
		}
	}
	top := sumWords - 1
	for top >= 0 && m[top] == 0 {
		top--
	}
	if top < 0 {
		return 0
	}
	msb := top*64 + 63 - bits.LeadingZeros64(m[top])
	f := roundUnits(&m, msb)
	if neg {
		f = -f
	}
	return f
}

// roundUnits rounds the positive integer m (in units of 2^-1074, highest
// set bit msb) to a float64.
func roundUnits(m *[sumWords]uint64, msb int) float64 {
	if msb < 53 {
		// n * 2^-1074 with n < 2^53 is exact, and its IEEE bits are n itself:
		// a subnormal below 2^52, exponent field 1 from 2^52 on.
		return math.Float64frombits(m[0])
	}
	// Take the 64 bits below and including msb, and note whether any bit
	// under them is set.
	low := msb - 63
	var x uint64
	sticky := false
	if low < 0 {
		x = m[0] << uint(-low)
	} else {
		wi, b := low/64, uint(low%64)
		x = m[wi] >> b
		if b > 0 && wi+1 < sumWords {
			x |= m[wi+1] << (64 - b)
		}
		sticky = m[wi]&(1<<b-1) != 0
		for j := 0; j < wi && !sticky; j++ {
			sticky = m[j] != 0
		}
	}
	mant, rest := x>>11, x&0x7ff
	if rest > 0x400 || rest == 0x400 && (sticky || mant&1 == 1) {
		mant++
	}
	// The value is mant * 2^(low+11) units; its biased exponent is msb-51.
	exp := uint64(msb - 51)
	if mant == 1<<53 {
		mant, exp = 1<<52, exp+1
	}
	if exp >= 0x7ff {
		return math.Inf(1)
	}
	return math.Float64frombits(exp<<52 | mant&(1<<52-1))
}
