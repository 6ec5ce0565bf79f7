// Package score keeps the online feature state, scores requests with
// models and records a snapshot of every answer.
//
// # Online pipeline
//
// Online consumes the events stream (EVENTS) through its own durable pull
// consumer, asof-online, separate from the ledger's. It decodes each
// message as the ledger's ingester does (ledger.DecodeEvent, the same size
// limit, the content hash of the payload, the arrival time and sequence
// from the JetStream metadata) and applies it to the entity's
// feature.State, in stream order, then acknowledges it. Like the ledger it
// keeps the first arrival of each dedup key (the event id, else the content
// hash) across all entities, so that both hold the same events. An event
// that cannot be decoded is counted and skipped: the ledger's ingester
// dead-letters it. It never stops the pipeline.
//
// The watermark is the highest stream sequence applied. Every message at or
// below it has been applied, skipped as undecodable, or dropped by an
// injector: a redelivered message at or below it is acknowledged without
// being applied, and a message above the next expected sequence makes the
// pipeline fetch the ones in between from the stream first.
//
// # Restart
//
// The online state is never written to a file: the ledger is the system of
// record, so a restart rebuilds from it. At start Online reads the ledger's
// checkpoint cp of the events stream, loads every event of that stream with
// broker sequence at or below cp from the ledger's entity index, sets the
// watermark to cp, then deletes the durable consumer and creates it again
// to deliver from cp+1. Deleting it is deliberate: a consumer left by an
// earlier run remembers where that run stopped, which is neither cp (the
// ledger may be behind or ahead of it) nor changeable in place, so keeping
// it would skip or apply twice the events between the two. Recreating it
// at cp+1 applies each event exactly once. The rebuild costs one scan of
// the entity index; events the ledger has not reached yet come from the
// stream. The same rebuild serves SetSpec.
//
// # Consistency of a snapshot
//
// Online.View takes the request time T, reads the entity's vector as of T
// and reads the watermark under one shared lock; applying an event holds
// the same lock exclusively. So the vector holds exactly the events at or
// below the watermark (less injected faults), and since an event is applied
// only after the broker stored it, every one of them arrived before T: the
// snapshot equals replay's watermark view as of T with that watermark, and
// its knowable view when the pipeline has no lag.
//
// A view leaves a feature.Memo of its vector in a slot of the entity's
// name hash, 16,384 slots in all, and a later view of the same State that
// falls in the memo's span (until an event enters or leaves one of its
// windows) takes the vector from it instead of folding the windows: the
// vector is the same, as a memo knows its State and the State's changes.
//
// # Scoring
//
// Service answers requests on score.<model> (queue group asof-score) and
// on POST /v1/score/{model}. A request is {"entity": "user:42",
// "request_id": "r-1"}, request_id optional. The reply is
//
//	{"request_id": "r-1", "snapshot_id": "s-...", "model": "fraud",
//	 "model_version": "...", "spec_version": "...", "entity": "user:42",
//	 "time": "2026-12-03T10:00:00.123456789Z", "score": 0.12,
//	 "decision": false, "features": {"events_1h": 3, ...},
//	 "empty": false, "watermark": 1042}
//
// or {"request_id": ..., "error": {"code": ..., "message": ...}} with code
// unknown_model, bad_request, too_large or unavailable. An entity with no
// events gets the empty vector (counts 0, the rest null), a score, and
// "empty": true. Every reply with a score has a snapshot: it is encoded
// with ledger.AppendSnapshot, published on snapshots.<model> with its id as
// Nats-Msg-Id, and the reply is sent only after the stream acknowledged
// that very message. Anything else turns the reply into unavailable, with
// the reason: an acknowledgement with an error, one that reports a
// duplicate (each snapshot id is published once, so a stream that already
// holds the id holds another message under it), an answer that is no
// acknowledgement, or none within PublishTimeout. A snapshot that no stream
// took (no responders) is published twice more, 250 ms apart, as package
// jetstream does, each time only if PublishTimeout leaves more than those
// 250 ms. JetStream's duplicate window and the ledger's snapshot index make
// a republished snapshot harmless.
//
// Over NATS no goroutine waits for an acknowledgement. The subscription's
// goroutine reads, scores and encodes a request and publishes its snapshot
// with a reply subject of the service's own (an inbox and the snapshot
// id); the handler of those subjects checks the acknowledgement and sends
// the reply. At most Concurrency requests are in flight, between their
// arrival and their reply; the next waits for one to finish. Score and the
// HTTP form publish and wait in the caller's goroutine. With
// ServiceOptions.SnapshotConn, snapshots and their acknowledgements travel
// on a connection of their own, beside requests and replies instead of
// behind them; asof serve gives the service one.
//
// # Fault injection
//
// For demonstrations and tests, an Injector decides per event whether to
// apply it, drop it or apply it twice; Pause stalls applying, Reset loses
// the state as a crash would, SetSpec switches definitions. Each creates a
// difference of a known cause (dropped, duplicated, lag, definition) that
// the audit must find. None is active unless asked for.
//
// # Known shortcomings
//
// The dedup set grows with every event ever applied (a 64-bit hash each),
// even after Prune drops the event itself: it is what lets the pipeline
// agree with the ledger about a late copy of an old event. SetSpec and a
// restart read the whole entity index, which is slow for a large ledger.
package score
