package score

import (
	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// featureEvent converts a ledger event into the fold's event. Replay does
// the same conversion on its side; both must agree field for field, which
// the end-to-end tests check by comparing vectors.
func featureEvent(e *ledger.Event) feature.Event {
	fe := feature.Event{ID: e.ID, Type: e.Type, Time: e.Time, Hash: e.Hash}
	if len(e.Fields) > 0 {
		fe.Fields = make([]feature.Field, len(e.Fields))
		for i, f := range e.Fields {
			fe.Fields[i] = feature.Field{Name: f.Name, Value: feature.Value{
				Kind: feature.Kind(f.Value.Kind), Num: f.Value.Num,
				Str: f.Value.Str, Bool: f.Value.Bool}}
		}
	}
	return fe
}

// ledgerVector converts a vector's values into the snapshot's fields, in
// spec order.
func ledgerVector(spec *feature.Spec, v feature.Vector) []ledger.Field {
	out := make([]ledger.Field, 0, len(v.Values))
	for i, val := range v.Values {
		if i >= len(spec.Features) {
			break
		}
		out = append(out, ledger.Field{Name: spec.Features[i].Name, Value: ledger.Value{
			Kind: ledger.Kind(val.Kind), Num: val.Num, Str: val.Str, Bool: val.Bool}})
	}
	return out
}

// dedupKey is the key the ledger deduplicates an event by: its id, else
// its content hash. The online pipeline keeps the first arrival of each
// key, as the ledger does, so that the two hold the same events.
func dedupKey(e *ledger.Event) string {
	if e.ID != "" {
		return "i:" + e.ID
	}
	var b [18]byte
	b[0], b[1] = 'h', ':'
	const digits = "0123456789abcdef"
	h := e.Hash
	for i := 17; i >= 2; i-- {
		b[i] = digits[h&15]
		h >>= 4
	}
	return string(b[:])
}

// eventBytes estimates the memory a State spends on one held event: the
// entry, its running hash sum, its dedup key in the State's map and here,
// and the values of the fields the spec reads.
func eventBytes(e *feature.Event, fields int) int {
	const fixed = 96 + 8 + 64 + 16 // entry, sum, map entry, seen-set entry
	n := fixed + 2*len(e.Key()) + fields*40
	for _, f := range e.Fields {
		n += len(f.Value.Str)
	}
	return n
}
