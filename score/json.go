package score

import (
	"encoding/json"
	"math"
	"strconv"

	"github.com/asofdev/asof/feature"
)

// The helpers here write and read the JSON of requests and replies without
// reflection, in the hot path of every request. Each handles the common
// forms itself and leaves the rest to encoding/json, so that the bytes
// written and the values read are exactly those of json.Marshal and
// json.Unmarshal.

// appendString appends s as a JSON string, escaped as json.Marshal escapes
// it. Printable ASCII without the characters json.Marshal escapes ("\<>&)
// is copied as it is; any other string goes through json.Marshal.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !plainByte(s[i]) || s[i] == '<' || s[i] == '>' || s[i] == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// plainByte reports whether c stands for itself inside a JSON string that
// json.Unmarshal reads: printable ASCII but the quote and the backslash.
func plainByte(c byte) bool {
	return c >= 0x20 && c < 0x80 && c != '"' && c != '\\'
}

// appendFloat appends f as json.Marshal writes a float64: the shortest
// decimal that reads back exactly, in exponent form below 1e-6 and from
// 1e21 on. It reports false for NaN and infinities, which JSON cannot hold.
func appendFloat(b []byte, f float64) ([]byte, bool) {
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

// appendValue appends a feature value as json.Marshal writes Value.Any of
// it. It reports false for a number that JSON cannot hold.
func appendValue(b []byte, v feature.Value) ([]byte, bool) {
	switch v.Kind {
	case feature.KindNumber:
		return appendFloat(b, v.Num)
	case feature.KindString:
		return appendString(b, v.Str), true
	case feature.KindBool:
		return strconv.AppendBool(b, v.Bool), true
	}
	return append(b, "null"...), true
}

// parsePlainRequest decodes a request in its usual form: one object whose
// keys are entity or request_id, spelt so, each with a string of printable
// ASCII without escapes. It reports false for anything else, even valid
// JSON, and leaves that to json.Unmarshal, which reads the usual form
// alike.
func parsePlainRequest(p []byte) (Request, bool) {
	var req Request
	i := skipSpace(p, 0)
	if i == len(p) || p[i] != '{' {
		return req, false
	}
	if i = skipSpace(p, i+1); i < len(p) && p[i] == '}' {
		return req, skipSpace(p, i+1) == len(p)
	}
	for {
		key, j, ok := plainString(p, i)
		if !ok {
			return req, false
		}
		if i = skipSpace(p, j); i == len(p) || p[i] != ':' {
			return req, false
		}
		val, j, ok := plainString(p, skipSpace(p, i+1))
		switch {
		case !ok:
			return req, false
		case string(key) == "entity":
			req.Entity = string(val)
		case string(key) == "request_id":
			req.RequestID = string(val)
		default:
			return req, false
		}
		switch i = skipSpace(p, j); {
		case i < len(p) && p[i] == '}':
			return req, skipSpace(p, i+1) == len(p)
		case i == len(p) || p[i] != ',':
			return req, false
		}
		i = skipSpace(p, i+1)
	}
}

// plainString reads a JSON string at p[i] made of plain bytes only and
// returns its contents and the position after it.
func plainString(p []byte, i int) ([]byte, int, bool) {
	if i == len(p) || p[i] != '"' {
		return nil, i, false
	}
	for j := i + 1; j < len(p); j++ {
		switch {
		case p[j] == '"':
			return p[i+1 : j], j + 1, true
		case !plainByte(p[j]):
			return nil, i, false
		}
	}
	return nil, i, false
}

// skipSpace returns the position of the first byte from i on that is not
// JSON white space.
func skipSpace(p []byte, i int) int {
	for i < len(p) && (p[i] == ' ' || p[i] == '\t' || p[i] == '\n' || p[i] == '\r') {
		i++
	}
	return i
}
