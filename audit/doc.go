// Package audit compares the snapshots the online side recorded with what
// replay computes from the ledger, and gives every difference a cause from
// evidence in the ledger.
//
// # What is compared
//
// For each snapshot with request time in the window, the audit replays the
// snapshot's entity as of the snapshot's time T on the three views (package
// replay): truth (event time at or before T), knowable (also arrived by T)
// and watermark (also at or below the snapshot's watermark W). Each feature
// of the audited spec is compared with the snapshot's value of the same
// name within a relative tolerance (feature.Value.Equal); a feature missing
// from the snapshot differs. A snapshot is consistent when every feature
// equals truth, it was computed with the audited spec version, and its
// input count and digest equal the watermark view's; it is differing
// otherwise, and only differing snapshots get causes and a finding. The
// last two conditions catch an online fault that another difference
// happens to cancel out in the values: a duplicate that makes up for a
// late event, a definition whose windows agree on this data.
//
// # Causes
//
// The watermark, knowable and truth views form a chain from what a correct
// online pipeline would have served to what a batch job computes. A feature
// that differs from truth differs across at least one link, and each link
// has its cause:
//
//   - late (knowable differs from truth): events with event time at or
//     before T that arrived after T. They are named.
//   - lag (watermark view differs from knowable): events that had arrived
//     by T with a broker sequence above W. They are named.
//
// The last link, the snapshot against the watermark view, is the online
// pipeline's own fault. The snapshot's spec version, input count and input
// digest (the wrapping sum of its input events' content hashes) tell which:
//
//   - definition: the snapshot's spec version is not the audited spec's.
//   - dropped: events of the watermark view are missing from the snapshot's
//     input set.
//   - duplicated: the snapshot's input set holds events of the watermark
//     view more than once.
//   - unexplained: same spec, same count and digest as the watermark view,
//     different values: a defect in the fold or the online pipeline.
//
// Dropped and duplicated events are named by arithmetic on the digest: the
// snapshot's digest minus the watermark view's is the sum of the extra
// copies' hashes minus the missing events' hashes, and the count
// difference is their number. The audit searches, fewest events first, for
// the oldest inputs missing as a prefix by broker sequence (a loss of the
// online state leaves exactly that), plus up to four other events missing
// or held again (at most three on one side). With 64-bit hashes a match by
// chance is negligible, so a match is evidence. When nothing matches, a
// lower count is still dropped and a higher one duplicated, with a note; an
// equal count is unexplained. With another spec version the input set may
// be defined otherwise, so only a match adds dropped or duplicated to
// definition.
//
// A snapshot may have several causes, one per link its features differ
// across, or whose input sets differ (a late or lagging event whose effect
// on the values another fault cancelled out still counts); each is counted
// once per snapshot.
//
// # Score impact
//
// A snapshot whose model version is among the given models is re-scored on
// its truth vector: the delta is the truth score minus the score served,
// and a flip is a decision that differs. Other snapshots are counted as not
// re-scored.
//
// # Cost
//
// Snapshots are grouped by entity and each entity's events are read once
// for all three views and all of its snapshots (replay.SweepViews), spread
// over worker goroutines that each keep their own counts, merged at the
// end. Input sets are listed only for differing snapshots. Memory holds the
// window's snapshots, one entity's events per worker, and the findings.
//
// # Report
//
// WriteReport writes report.json (counts, rates, per-feature statistics,
// score impact, ingest gaps from ledger.Gaps, an hourly series counted from
// the window's start and in its time zone, the worst entities, thresholds,
// breaches and verdict), findings.jsonl (one
// Finding per differing snapshot, by request time then id), report.md and
// report.html (self-contained: inline CSS and SVG, no network).
//
// # Thresholds
//
// The verdict is fail when a cause's share of audited snapshots, a
// feature's mismatch rate or the share of re-scored snapshots whose
// decision flips is above its limit (see Thresholds for the defaults).
package audit
