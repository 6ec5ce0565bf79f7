package score

import (
	"strconv"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/internal/jsonw"
)

// The helpers here write and read JSON without reflection, in the hot path
// of every request: the values of replies, requests, and through
// plainObject and plainString also the stream's acknowledgements of
// snapshots (parsePlainAck in ack.go). Each handles the common forms
// itself and leaves the rest to encoding/json, so that the bytes written
// and the values read are exactly those of json.Marshal and json.Unmarshal.
// Strings and numbers are written by package jsonw, which the snapshot's
// encoder in package ledger shares.

// appendValue appends a feature value as json.Marshal writes Value.Any of
// it. It reports false for a number that JSON cannot hold.
func appendValue(b []byte, v feature.Value) ([]byte, bool) {
	switch v.Kind {
	case feature.KindNumber:
		return jsonw.AppendFloat(b, v.Num)
	case feature.KindString:
		return jsonw.AppendString(b, v.Str), true
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
	ok := plainObject(p, func(key []byte, i int) (int, bool) {
		val, j, ok := plainString(p, i)
		switch {
		case !ok:
			return i, false
		case string(key) == "entity":
			req.Entity = string(val)
		case string(key) == "request_id":
			req.RequestID = string(val)
		default:
			return i, false
		}
		return j, true
	})
	return req, ok
}

// plainObject walks p, which must be one JSON object whose keys are plain
// strings: for each key it calls value with the position of its value,
// which reads it and returns the position after it, or false to give up.
// It reports whether p was such an object and every value was read.
func plainObject(p []byte, value func(key []byte, i int) (int, bool)) bool {
	i := skipSpace(p, 0)
	if i == len(p) || p[i] != '{' {
		return false
	}
	if i = skipSpace(p, i+1); i < len(p) && p[i] == '}' {
		return skipSpace(p, i+1) == len(p)
	}
	for {
		key, j, ok := plainString(p, i)
		if !ok {
			return false
		}
		if i = skipSpace(p, j); i == len(p) || p[i] != ':' {
			return false
		}
		if i, ok = value(key, skipSpace(p, i+1)); !ok {
			return false
		}
		switch i = skipSpace(p, i); {
		case i < len(p) && p[i] == '}':
			return skipSpace(p, i+1) == len(p)
		case i == len(p) || p[i] != ',':
			return false
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
		case !jsonw.PlainByte(p[j]):
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
