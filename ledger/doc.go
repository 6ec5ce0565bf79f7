// Package ledger is asof's system of record: an append-only log of events
// and snapshots, with the indexes that replay and the audit read, stored in
// one Pebble database.
//
// # Records
//
// An event is one raw fact about one entity: its id (optional), entity, type,
// event time, arrival time (when the broker stored it), broker stream and
// sequence, the payload bytes exactly as received, the payload's content
// hash (xxhash64) and its decoded fields. A snapshot is the record of one
// scoring call: the vector the online side used, its hash, the model and
// spec versions, the input set's count and digest, the watermark, the score
// and the decision, with the snapshot message as received.
//
// # Appending
//
// Append takes a batch and writes it whole or not at all. It validates every
// record first, naming the record's index and field in a ValidationError,
// then gives each new record the next ledger sequence and writes, in one
// Pebble batch: the log records, their index entries, the consumer
// checkpoints (stream name to last broker sequence applied), the broker
// sequence ranges the batch accounts for, the running counts, and a batch
// record carrying the chained digest. Append returns once the batch is synced
// to disk. It applies the batch while holding the write lock and waits for
// the write-ahead log's fsync after releasing it, so batches that arrive
// during one fsync share the next.
//
// An event whose id is already stored, or, for an event without an id, whose
// content hash is, is skipped and counted rather than stored twice; so is a
// snapshot whose id is already stored. An in-memory Bloom filter over every
// stored key answers most of these questions without reading Pebble.
//
// # Key layout
//
// Every key starts with one byte naming its family. Integers in keys are
// big-endian so that byte order is numeric order; times are Unix nanoseconds
// with the sign bit flipped, so that byte order is time order. Strings inside
// keys are preceded by their length as a uvarint, so that one entity's range
// never runs into another's whose name extends it.
//
//	'l' seq                        log record (the system of record)
//	'e' len entity time seq        entity index: replay's read path
//	'd' 0x01 id | 0x02 hash        dedup index, to the event's sequence
//	's' len model time seq         snapshot index by model and request time
//	'n' id                         snapshot id index, to the sequence
//	'c' stream                     consumer checkpoint: last broker sequence
//	'r' len stream first           covered broker sequences: first..last
//	'x' len stream first           sequences the broker deleted: first..last
//	'b' n                          batch record: first, last, chained digest
//	'm' "format" | "counts"        format version; running counts
//
// # Values
//
// A log value starts with its kind (1 event, 2 snapshot) and the content
// hash, then the fixed-size times, then the variable fields (uvarints and
// length-prefixed strings), the decoded fields (count, then name, kind byte
// and value for each), and ends with the payload. An entity index value
// holds everything replay needs except the entity and event time, which are
// in its key: content hash, arrival time, broker sequence, stream, id, type
// and fields. Replay therefore never reads the log. A snapshot index value
// is the snapshot's log value without its payload.
//
// Checkpoints, coverage ranges, counts and batch records end with an
// xxhash64 of key and value, since no chain covers them.
//
// # Integrity
//
// Each batch record holds a chained digest: SHA-256 over the previous
// batch's digest, the batch number, and each record's sequence, length and
// log value. A cryptographic hash is used because the chain is meant to show
// that nothing was altered after the fact, and a non-cryptographic hash such
// as xxhash can be forged to collide on purpose; SHA-256 is in the standard
// library and runs on the CPU's SHA extensions, so it costs little next to
// the fsync. Content hashes stay xxhash64: they identify payloads and feed
// the order-independent digests of input sets, where speed matters and
// adversaries do not.
//
// Verify re-reads everything: it recomputes content hashes and the chain,
// checks that log sequences are contiguous and each belongs to one batch,
// cross-checks every index entry against the log in both directions (a
// missing entry, an entry that disagrees, an entry naming no record), checks
// the sealed values, and reports each finding with its key and sequence as a
// CorruptionError. It also lists gaps between covered broker sequences that
// the broker did not delete: messages the broker stored that never reached
// the ledger.
//
// A ledger whose checkpoints, coverage or counts are damaged still opens, so
// that Verify can report the damage, but refuses appends.
//
// # Format version
//
// The key "mformat" holds "asof-ledger/N". Open writes it into a new store
// and refuses a store whose version is newer than FormatVersion, or that is
// a Pebble database without the key.
//
// # Projected reads
//
// An EntityReader scans the entity index through a Projection: the event
// types and field names a reader wants. An entry of another type is passed
// over once its type is read, before its id is copied or its fields
// decoded; fields of other names are skipped by their length, and so is the
// stream name unless asked for. A replay of one spec reads only what its
// features use this way. A brief scan (EntityReader.Briefs) reads less
// still: each event's sequence, times, broker sequence, hash, the index of
// its type and, per projected field, whether it is present, a number, a
// finite number; no id, string or value is materialised. Parts of an entry
// a projection skips are not checked for damage; Verify reads everything.
//
// A View (Ledger.View) is a Pebble snapshot: scans through it
// (EntityReader.In) see the batches appended before it was taken and none
// after, so that a reader that scans an entity more than once sees whole
// batches only, while appends go on.
//
// # Parallel reads
//
// EntitySplits cuts the entity index into parts of about equal size on
// disk: it bisects the key space with Pebble's estimates of the bytes its
// tables hold in a key range (to the precision of a data block), then moves
// each cut to the start of the entity it falls in, so that each entity lies
// in one part. Data still in a memtable is not counted.
//
// # Reading a live ledger
//
// Pebble allows one process per directory. CopyTo takes a consistent copy
// of a ledger that stays open for writing (a Pebble checkpoint: hard links
// to the immutable tables plus the live logs); another process opens the
// copy with ReadOnly.
package ledger
