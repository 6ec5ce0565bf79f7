// Package ingest moves events and snapshots from NATS JetStream into the
// ledger, exactly once, and runs the embedded NATS server that asof starts
// when it is given none.
//
// # Streams
//
// Services publish events on events.<type> into the stream EVENTS; the
// scoring service publishes snapshots on snapshots.<model> into SNAPSHOTS.
// Messages the ingester cannot decode go to DEAD, on asof.dead.<original
// subject>. EnsureStreams creates the three streams or updates them, with a
// duplicate window (two minutes by default) in which JetStream drops a
// message whose Nats-Msg-Id it has already stored.
//
// # Exactly once
//
// One durable pull consumer per stream (AckExplicit, unlimited deliveries)
// hands messages to the ingester, which gathers them into batches of up to
// BatchSize. For each batch it:
//
//  1. decodes every message (ledger.DecodeEvent, ledger.DecodeSnapshot),
//     taking the arrival time, the stream and its sequence from the
//     JetStream metadata;
//  2. publishes each message it cannot decode to the dead stream, with the
//     message id <stream>-<seq> so that a second try is dropped as a
//     duplicate, and waits until the broker has stored it;
//  3. appends the records to the ledger in one batch together with the
//     stream's checkpoint (the highest sequence of the batch) and the
//     covered ranges: the sequences of the stored records and of the stored
//     dead letters. Append returns after fsync;
//  4. acknowledges the batch's messages, and only then.
//
// While one batch waits for its fsync, the next is collected and decoded.
// A stream's batches enter Append one at a time, in the broker's order, so
// that of two events with one id the ledger keeps the earlier in the
// stream, as the online pipeline does; the events and snapshots streams
// append concurrently and share fsyncs.
//
// A crash or a lost acknowledgement anywhere in between leads to the
// message being delivered again. A redelivered message at or below the
// checkpoint whose sequence the ledger's coverage holds is acknowledged
// without being appended when the ledger holds its record (looked up by
// event id, else content hash, or by snapshot id) or, for a message that
// cannot be decoded, because it was dead-lettered then. Any other message is
// appended again, and the ledger's deduplication skips it if it was stored.
// So nothing acknowledged is lost, and nothing is stored twice, even when
// the broker loses messages in a crash and hands their sequences to new
// ones. Plain acknowledgements suffice: one lost on the way costs only a
// redelivery.
//
// A consumer that is deleted is created again, starting at the first
// sequence the ledger has not accounted for. A lost connection is
// recovered by the NATS client, which reconnects for ever.
//
// # Failures
//
// Bad input never stops the ingester: it goes to the dead stream with the
// headers Asof-Dead-Reason (a short code such as not_json), Asof-Dead-Error,
// Asof-Source-Stream, Asof-Source-Seq and Asof-Source-Subject, and is counted
// by reason. A dead letter the broker does not store is handed back
// (negative acknowledgement) and tried again. A ledger failure stops the
// ingester with an error wrapping ErrLedger and leaves the batch
// unacknowledged. Cancelling Run's context lets the batch in flight finish,
// appended and acknowledged.
//
// Dead letters are deduplicated by JetStream only within its duplicate
// window: a message dead-lettered, then redelivered after the window
// because the process died before appending the batch, is stored twice in
// the dead stream. The ledger itself is not affected.
//
// Two cases trust the coverage without looking at the record, because the
// message leaves no record to look up: a redelivered message that cannot
// be decoded is taken as dead-lettered before, and a recreated consumer
// starts after the first covered range. Should the broker lose messages in
// a crash and give their sequences to new ones, a new bad message under
// such a sequence misses the dead stream, and new messages under covered
// sequences are not delivered to a consumer recreated afterwards.
package ingest
