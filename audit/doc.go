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
// equals truth, and differing otherwise; only differing snapshots get
// causes and a finding.
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
//     Counts and digests are not compared then: windows may differ.
//   - dropped: the snapshot's input count is below the watermark view's.
//     The missing events' hashes sum to the digest difference; one missing
//     event, or a pair, is searched among the watermark view's inputs and
//     named.
//   - duplicated: the count is above the watermark view's; the extra
//     copies' hashes sum to the digest difference, and one event (or a
//     pair, or one event twice) is searched and named with its copies.
//   - dropped and duplicated: at equal count with another digest, one event
//     missing and another held twice are searched and both named.
//   - unexplained: same spec, same count and digest as the watermark view,
//     different values: a defect in the fold or the online pipeline. An
//     equal count whose digest difference no such swap explains is
//     unexplained too, with a note.
//
// A snapshot may have several causes, one per link its features differ
// across; each is counted once per snapshot. Searches for larger sets of
// missing or extra events are not made: they would be subset-sum
// searches, and a note says how many events could not be named.
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
// score impact, ingest gaps from ledger.Gaps, an hourly series in UTC, the
// worst entities, thresholds, breaches and verdict), findings.jsonl (one
// Finding per differing snapshot, by request time then id), report.md and
// report.html (self-contained: inline CSS and SVG, no network).
//
// # Thresholds
//
// The verdict is fail when a cause's share of audited snapshots, a
// feature's mismatch rate or the share of re-scored snapshots whose
// decision flips is above its limit (see Thresholds for the defaults).
package audit
