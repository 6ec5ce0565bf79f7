// Package replay rebuilds feature vectors from the ledger as of any instant,
// with the same fold (package feature) that the online pipeline runs.
//
// # Views
//
// Every event carries an event time and an arrival time, and replay answers
// on three views of the ledger as of an instant T:
//
//   - truth: every event with event time at or before T, however late it
//     arrived. This is what a batch job run the next morning computes.
//   - knowable: those events that had also arrived by T (arrival time at or
//     before T). This is the best any online system could have served at T.
//   - watermark: those knowable events whose broker sequence is also at or
//     below a watermark W, the sequence up to which the online pipeline had
//     applied events when it scored. This is what a correct online pipeline
//     that had read exactly that far would have served.
//
// A window of length w as of T holds the events with event time in
// (T - w, T]; the fold applies it, replay only chooses the events.
//
// # Reading
//
// Replay reads the ledger's entity index, never the whole log: one range
// scan per entity, from T minus the spec's widest window (or from the start
// when a feature is unbounded) to T. The index holds arrival time, broker
// sequence and fields, so no payload is decoded. A replayer reads through a
// projection of its spec (ledger.Projection): entries of event types no
// feature reads are skipped undecoded, and only the fields features read
// are decoded.
//
// A point replay (Vector) of a spec whose unbounded features are all
// counts, firsts and lasts reads the events older than the spec's widest
// bounded window briefly (ledger.EntityReader.Briefs: type, times, hash and
// which fields are present, no values) and counts them with a
// feature.Outside. It reads in full only the events of the bounded windows
// and the few Outside keeps as candidates for a first or last value, each
// by a scan of its own instant, all through one ledger.View, so that the
// scans agree while appends go on. The vector is the same as folding every
// event, as a property test checks on every view; each old event costs
// about half as much.
//
// Sweep answers many instants at once: it groups them by entity, reads each
// entity's events once, and moves the fold's windows forward from instant to
// instant (truth), or applies events in arrival order as the instants pass
// (knowable and watermark), which is exactly what the online pipeline does.
// The audit and backfill use it so that their cost grows with the events and
// instants, not with their product.
//
// SweepViews gives the audit all three views at once per point, and All
// the vector of every entity. Backfill and Labels serve training sets:
// they sort the rows into the entity index's order, read each entity once
// (one scan of the whole index when the rows name many entities, one seek
// per entity otherwise), fold on every core, and hand results back in row
// order, holding a bounded queue of entities. All and SweepViews read the
// index in parts of about equal size on disk (ledger.EntitySplits): All a
// few parts per core, taken one after another by one goroutine per core,
// SweepViews one part per worker. A ledger too small or too fresh to split
// is read in one part.
package replay
