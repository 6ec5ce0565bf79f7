package feature

import (
	"math"
	"strconv"
)

// Kind tells which of its fields a Value holds.
type Kind uint8

// The kinds of Value. The zero Value is null.
const (
	KindNull Kind = iota
	KindNumber
	KindString
	KindBool
)

// String returns "null", "number", "string" or "bool".
func (k Kind) String() string {
	switch k {
	case KindNull:
		return "null"
	case KindNumber:
		return "number"
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one scalar: an event field or a feature value. Only the field
// named by Kind is meaningful; the zero Value is null.
type Value struct {
	Kind Kind
	Num  float64
	Str  string
	Bool bool
}

// Number returns a number Value.
func Number(f float64) Value { return Value{Kind: KindNumber, Num: f} }

// String returns a string Value.
func String(s string) Value { return Value{Kind: KindString, Str: s} }

// Bool returns a bool Value.
func Bool(b bool) Value { return Value{Kind: KindBool, Bool: b} }

// IsNull reports whether v is null.
func (v Value) IsNull() bool { return v.Kind == KindNull }

// Any returns nil, a float64, a string or a bool, ready for encoding/json.
// A sum or mean that overflowed float64 is ±Inf, which JSON cannot carry.
func (v Value) Any() any {
	switch v.Kind {
	case KindNumber:
		return v.Num
	case KindString:
		return v.Str
	case KindBool:
		return v.Bool
	}
	return nil
}

// String formats v for people: numbers in the shortest form that reads back
// exactly, strings quoted, and null as "null".
func (v Value) String() string {
	switch v.Kind {
	case KindNumber:
		return strconv.FormatFloat(v.Num, 'g', -1, 64)
	case KindString:
		return strconv.Quote(v.Str)
	case KindBool:
		return strconv.FormatBool(v.Bool)
	}
	return "null"
}

// Equal reports whether v and o are the same kind and value. Numbers are
// equal when they are identical, or when they differ by at most tol relative
// to the larger magnitude: |a-b| <= tol*max(|a|,|b|). With tol 0 numbers must
// compare equal with ==, so 0 and -0 are equal; NaN equals a NaN.
func (v Value) Equal(o Value, tol float64) bool {
	if v.Kind != o.Kind {
		return false
	}
	switch v.Kind {
	case KindNumber:
		return numbersClose(v.Num, o.Num, tol)
	case KindString:
		return v.Str == o.Str
	case KindBool:
		return v.Bool == o.Bool
	}
	return true
}

func numbersClose(a, b, tol float64) bool {
	if a == b || (math.IsNaN(a) && math.IsNaN(b)) {
		return true
	}
	if math.IsInf(a, 0) || math.IsInf(b, 0) {
		return false
	}
	return math.Abs(a-b) <= tol*math.Max(math.Abs(a), math.Abs(b))
}

// usable reports whether v can feed an aggregation at all: it is not null,
// and if it is a number, it is finite. Events decoded from JSON never carry
// NaN or ±Inf; treating them as unusable keeps sums exact and JSON-safe.
func (v Value) usable() bool {
	switch v.Kind {
	case KindNull:
		return false
	case KindNumber:
		return !math.IsInf(v.Num, 0) && !math.IsNaN(v.Num)
	}
	return true
}

// numLess is the total order that min and max use: the numeric order, with
// -0 before +0 so that the result does not depend on which zero came first.
// NaN never reaches it (see usable).
func numLess(a, b float64) bool {
	return a < b || (a == b && math.Signbit(a) && !math.Signbit(b))
}
