// Package jsonw writes JSON strings and numbers without reflection, byte
// for byte as encoding/json writes them, for the encoders in the hot path
// of a scoring call: the reply and the snapshot. It handles the common
// forms itself and leaves the rest to encoding/json.
package jsonw

import (
	"encoding/json"
	"math"
	"strconv"
)

// AppendString appends s as a JSON string, escaped as json.Marshal escapes
// it. Printable ASCII without the characters json.Marshal escapes ("\<>&)
// is copied as it is; any other string goes through json.Marshal.
func AppendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !PlainByte(s[i]) || s[i] == '<' || s[i] == '>' || s[i] == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// PlainByte reports whether c stands for itself inside a JSON string that
// json.Unmarshal reads: printable ASCII but the quote and the backslash.
func PlainByte(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
}

// AppendFloat appends f as json.Marshal writes a float64: the shortest
// decimal that reads back exactly, in exponent form below 1e-6 and from
// 1e21 on. It reports false for NaN and infinities, which JSON cannot hold.
func AppendFloat(b []byte, f float64) ([]byte, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return b, false
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		// A one-digit negative exponent has no leading zero: 1e-7, not 1e-07.
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b, true
}
