// Package feature holds the spec, the deterministic fold, vectors and their
// digests. It is pure: apart from LoadSpec reading a file, it does no I/O,
// and it knows nothing of NATS or Pebble. The online pipeline (package score)
// and replay (package replay) both call it, so online and batch vectors
// differ only where their inputs differ.
//
// # Spec
//
// A spec is a YAML file with a features: list and an optional labels: list:
//
//	features:
//	  - name: payments_1h
//	    event: payment          # or a list: [payment, refund]
//	    agg: count
//	    window: 1h
//	  - name: amount_sum_24h
//	    event: payment
//	    field: amount
//	    agg: sum
//	    window: 24h
//	labels:
//	  - name: chargebacks_30d
//	    event: chargeback
//	    agg: count
//	    horizon: 30d
//
// A feature has a name (letters, digits, '_', '-', '.'), one or more event
// types (no spaces, '*' or '>': they name NATS subjects), an aggregation, a
// field (required by every aggregation but count) and an optional window. A
// window or horizon is a Go duration with an optional leading whole number of
// days ("90s", "1h30m", "7d", "1d12h") and must be greater than zero; a
// feature without a window reads all history up to the instant. A label is a
// forward-window target for training sets, over (T, T+horizon]; it takes
// count, sum, max or last and needs a horizon. Features and labels share one
// namespace. Unknown keys, wrong shapes, YAML anchors, aliases and tags are
// refused. ParseSpec reports every problem it finds as a *SpecError,
// "file:line:col: what is wrong", at the position of the offending node.
//
// The spec's Version is the xxhash64, as 16 lower-case hex digits, of a
// canonical form: features then labels, each sorted by name, each with its
// fields in a fixed order, event types sorted, durations in nanoseconds (see
// Spec.canonical). Reordering keys or definitions, whitespace, comments, flow
// or block style, and spelling a duration differently ("60m" for "1h") leave
// it unchanged; changing any definition changes it.
//
// # Events and their order
//
// An event has a dedup key (Event.Key: its ID, or "h:" and its content hash
// in hex) and an event time. The canonical order of events is by event time,
// then content hash, then key. A State holds one event per key; of two events
// with one key it keeps the one first in canonical order, whichever came
// first, so the result never depends on the order of application. Two events
// with the same key, event time and content hash are taken to be the same
// event. Events of types no feature reads are not held. Event times are held
// as Unix nanoseconds; times before 1678 or after 2262 are clamped to the
// ends of that range, alike online and in replay.
//
// # Windows and aggregations
//
// A window of length w as of instant T holds the events with event time in
// (T-w, T]: T included, T-w excluded. An unbounded window holds all events
// with event time at or before T. A feature reads the events of its types in
// its window, takes its field's value from each (the first field of that
// name), and aggregates:
//
//	count           events; with a field, events whose field is usable
//	sum             exact sum of the numeric values, rounded once
//	mean            that rounded sum divided by the number of values
//	min, max        smallest, largest numeric value (-0 sorts before +0)
//	first, last     value of the first, last event in canonical order
//	count_distinct  number of distinct values: same kind and value, so 1
//	                and "1" are two values, 0 and -0 one
//
// With nothing to aggregate, count and count_distinct are 0 and the others
// null. A value is usable when it is not null and, if a number, finite;
// sum, mean, min and max also need a number. An event of the feature's types
// in its window whose field is absent or unusable is skipped by that feature
// and counted in Vector.Skipped, never an error.
//
// Sums are exact: values are added into a fixed-point accumulator wide
// enough for any float64 (see exactSum) and the total is rounded once to the
// nearest float64, ties to even. The result is therefore the same bits
// whatever the order of the values, and a sliding window that adds and
// removes values gives what a fresh sum of the same values gives. A sum
// beyond float64's range is ±Inf. Every aggregation is order-independent in
// this sense, so the fold needs no tolerance: online, replay, a sweep and a
// batch give identical vectors from identical inputs. DefaultTolerance exists
// for comparing with vectors computed elsewhere.
//
// # Input set
//
// The input set of a vector is the events the State holds whose event time
// lies in the widest window of the spec ending at T, or all held events at or
// before T when some feature is unbounded. Vector.Count is its size and
// Vector.Digest the wrapping uint64 sum of their content hashes: a digest of
// the set that does not depend on order. Snapshots record the pair, and the
// audit compares it with replay's: a missing event lowers the count and
// moves the digest by its hash, a duplicate (the same content under another
// key) raises both.
//
// # Vector hash
//
// Vector.Hash is the xxhash64 of the canonical encoding of the values: the
// tag "asof.vector.v1\n", then for each feature in ascending byte order of
// name, the name as a uvarint length and its bytes, a kind byte (0 null, 1
// number, 2 string, 3 bool) and the value: nothing for null, the 8 IEEE 754
// bytes big-endian for a number, a uvarint length and the bytes for a string,
// one byte 0 or 1 for a bool. At, Count, Digest and Skipped are not part of
// it.
//
// # Cost
//
// A State keeps its events in canonical order. Apply appends an event that
// arrives in order and inserts a late one (a copy of the tail). Vector
// computes a vector from scratch in a logarithmic search plus one step per
// event in each feature's window; the input set costs a search, thanks to
// running sums of hashes. VectorsAt and Cursor sweep non-decreasing instants,
// each event entering and leaving each window once; Cursor.Reset moves a
// cursor to another State with its memory, for a caller that computes one
// vector after another of many entities; a Memo keeps one vector with the
// span of instants until an event enters or leaves a window, over which it
// stays the vector. Prune drops events that
// no later window can hold, for long-running online states. ApplyAll loads
// many events with one sort; ApplyUnique and a Loader (one event at a time,
// for a reader that reuses each event's memory) do the same for events
// known to be distinct, such as an entity's events read from the ledger,
// and skip the duplicate check.
//
// A vector for one instant T needs, of the events at or before T minus the
// widest bounded window (Spec.BoundedHorizon), only their count, their
// hashes and what the unbounded features make of them. When the unbounded
// features are all counts, firsts and lasts (Spec.Outside), an Outside
// stands in for those events: a reader offers each as a Brief (type, time,
// hash and which fields it holds, not their values), and puts into the
// State only the events of the bounded windows and the few that Outside
// keeps, the candidates for a first or last value. Cursor.AtOutside then
// gives exactly the vector of a State holding every event, for the cost of
// a brief read of the old ones.
//
// # Concurrency
//
// A Spec is safe for concurrent use. A State is not: Apply, ApplyAll,
// ApplyUnique, a Loader and Prune need exclusive access, while Vector and
// VectorsAt only read it and may run together. A Cursor belongs to one
// goroutine, and so does an Outside.
package feature
