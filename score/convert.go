package score

import (
	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// dedupKey is the key the ledger deduplicates an event by: its id, else
// its content hash. The online pipeline keeps the first arrival of each
// key, as the ledger does, so that the two hold the same events.
func dedupKey(e *ledger.Event) string {
	if e.ID != "" {
		return "i:" + e.ID
	}
	b := [18]byte{'h', ':'}
	putHex16(b[2:], e.Hash)
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
