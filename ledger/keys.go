package ledger

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"time"
)

// Key prefixes. Each family of keys starts with one byte; doc.go describes
// the layout of each.
const (
	prefixMeta       = 'm'
	prefixLog        = 'l'
	prefixEntity     = 'e'
	prefixDedup      = 'd'
	prefixSnapModel  = 's'
	prefixSnapID     = 'n'
	prefixCheckpoint = 'c'
	prefixCoverage   = 'r'
	prefixBatch      = 'b'
	prefixDeleted    = 'x'
)

var (
	keyFormat = []byte("mformat")
	keyCounts = []byte("mcounts")
)

func logKey(seq uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixLog
	putUint64(k[1:], seq)
	return k
}

func batchKey(n uint64) []byte {
	k := make([]byte, 9)
	k[0] = prefixBatch
	putUint64(k[1:], n)
	return k
}

// appendPrefixed appends prefix, then s with its length as a uvarint, so
// that no string is a prefix of another's key range.
func appendPrefixed(b []byte, prefix byte, s string) []byte {
	b = append(b, prefix)
	return appendString(b, s)
}

func entityPrefix(entity string) []byte {
	return appendPrefixed(make([]byte, 0, len(entity)+20), prefixEntity, entity)
}

func entityKey(entity string, t time.Time, seq uint64) []byte {
	return appendEntityKey(make([]byte, 0, len(entity)+20), entity, t, seq)
}

func appendEntityKey(b []byte, entity string, t time.Time, seq uint64) []byte {
	b = appendPrefixed(b, prefixEntity, entity)
	b = appendTime(b, t)
	return appendUint64(b, seq)
}

func snapModelPrefix(model string) []byte {
	return appendPrefixed(make([]byte, 0, len(model)+20), prefixSnapModel, model)
}

func snapModelKey(model string, t time.Time, seq uint64) []byte {
	k := snapModelPrefix(model)
	k = appendTime(k, t)
	return appendUint64(k, seq)
}

func dedupKey(e *Event) []byte { return appendDedupKey(nil, e) }

// appendDedupKey appends the dedup index key of e: the id, or the content
// hash when e has none.
func appendDedupKey(b []byte, e *Event) []byte {
	if e.ID != "" {
		b = append(b, prefixDedup, dedupByID)
		return append(b, e.ID...)
	}
	b = append(b, prefixDedup, dedupByHash)
	return appendUint64(b, e.Hash)
}

func snapIDKey(id string) []byte { return appendSnapIDKey(nil, id) }

func appendSnapIDKey(b []byte, id string) []byte { return append(append(b, prefixSnapID), id...) }

func checkpointKey(stream string) []byte { return append([]byte{prefixCheckpoint}, stream...) }

func coverageKey(stream string, first uint64) []byte {
	k := appendPrefixed(nil, prefixCoverage, stream)
	return appendUint64(k, first)
}

func deletedKey(stream string, first uint64) []byte {
	k := appendPrefixed(nil, prefixDeleted, stream)
	return appendUint64(k, first)
}

// splitTimeSeq parses an entity or snapshot index key: the length-prefixed
// name after the prefix byte, then time and sequence.
func splitTimeSeq(k []byte) (name string, t time.Time, seq uint64, ok bool) {
	b, t, seq, ok := splitKeyTimeSeq(k)
	return string(b), t, seq, ok
}

// splitKeyTimeSeq is splitTimeSeq without copying the name out of k.
func splitKeyTimeSeq(k []byte) (name []byte, t time.Time, seq uint64, ok bool) {
	if len(k) < 1 {
		return nil, time.Time{}, 0, false
	}
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || uint64(len(k)) != 1+uint64(w)+n+16 {
		return nil, time.Time{}, 0, false
	}
	name = k[1+w : 1+w+int(n)]
	rest := k[1+w+int(n):]
	t = bitsTime(binary.BigEndian.Uint64(rest))
	seq = binary.BigEndian.Uint64(rest[8:])
	return name, t, seq, true
}

// splitKeyBits is splitKeyTimeSeq for a scan's filter: the name and the
// time as the key stores it.
func splitKeyBits(k []byte) (name []byte, t uint64, ok bool) {
	if len(k) < 1 {
		return nil, 0, false
	}
	n, w := binary.Uvarint(k[1:])
	if w <= 0 || uint64(len(k)) != 1+uint64(w)+n+16 {
		return nil, 0, false
	}
	return k[1+w : 1+w+int(n)], binary.BigEndian.Uint64(k[1+w+int(n):]), true
}

// upperBound returns the smallest key greater than every key with prefix p.
func upperBound(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}

// FormatKey renders a ledger key for people: its family and its parts.
func FormatKey(k []byte) string {
	if len(k) == 0 {
		return "(empty)"
	}
	switch k[0] {
	case prefixLog, prefixBatch:
		if len(k) == 9 {
			name := map[byte]string{prefixLog: "log", prefixBatch: "batch"}[k[0]]
			return name + "/" + strconv.FormatUint(binary.BigEndian.Uint64(k[1:]), 10)
		}
	case prefixEntity, prefixSnapModel:
		if name, t, seq, ok := splitTimeSeq(k); ok {
			fam := map[byte]string{prefixEntity: "entity", prefixSnapModel: "snapshot-model"}[k[0]]
			return fmt.Sprintf("%s/%q/%s/%d", fam, name, t.Format(time.RFC3339Nano), seq)
		}
	case prefixDedup:
		if len(k) == 10 && k[1] == dedupByHash {
			return fmt.Sprintf("dedup/hash/%016x", binary.BigEndian.Uint64(k[2:]))
		}
		if len(k) > 1 && k[1] == dedupByID {
			return fmt.Sprintf("dedup/id/%q", k[2:])
		}
	case prefixSnapID:
		return fmt.Sprintf("snapshot-id/%q", k[1:])
	case prefixCheckpoint:
		return fmt.Sprintf("checkpoint/%q", k[1:])
	case prefixMeta:
		return fmt.Sprintf("meta/%s", k[1:])
	case prefixCoverage, prefixDeleted:
		n, w := binary.Uvarint(k[1:])
		if w > 0 && uint64(len(k)) == 1+uint64(w)+n+8 {
			fam := map[byte]string{prefixCoverage: "coverage", prefixDeleted: "deleted"}[k[0]]
			return fmt.Sprintf("%s/%q/%d", fam, k[1+w:1+w+int(n)],
				binary.BigEndian.Uint64(k[len(k)-8:]))
		}
	}
	return fmt.Sprintf("%q", k)
}
