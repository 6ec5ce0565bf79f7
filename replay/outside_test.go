package replay

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/cespare/xxhash/v2"
	"pgregory.net/rapid"
)

// outsideSpecs have unbounded counts, firsts and lasts, which an Outside
// stands in for, next to bounded features of several widths, or none.
var outsideSpecs = []string{testSpec, `
features:
  - name: first_merchant
    event: payment
    field: merchant
    agg: first
  - name: last_amount
    event: [payment, login]
    field: amount
    agg: last
  - name: payments
    event: payment
    agg: count
  - name: amounts
    event: payment
    field: amount
    agg: count
  - name: amount_sum_1h
    event: payment
    field: amount
    agg: sum
    window: 1h
`, `
features:
  - name: last_merchant
    event: [payment, login]
    field: merchant
    agg: last
  - name: first_amount
    event: payment
    field: amount
    agg: first
`, `
features:
  - name: payments
    event: payment
    agg: count
  - name: logins_1h
    event: login
    agg: count
    window: 1h
`}

// genOutsideEvents draws the events of one entity with what makes the
// outside path work hard: equal event times, equal payloads without ids
// (equal content hashes, which the ledger keeps once), equal payloads under
// different ids (a tie in time and hash that only the key breaks), fields
// that are missing, null or of the wrong type, and late arrivals.
func genOutsideEvents(t *rapid.T) []ledger.Event {
	n := rapid.IntRange(1, 50).Draw(t, "n")
	var es []ledger.Event
	for i := range n {
		at := time.Duration(rapid.IntRange(0, 40).Draw(t, "at")) * 5 * time.Minute
		arrived := at + time.Duration(rapid.IntRange(0, 3).Draw(t, "delay"))*time.Second
		if rapid.IntRange(0, 5).Draw(t, "late") == 0 {
			arrived += time.Duration(rapid.IntRange(1, 90).Draw(t, "lateBy")) * time.Minute
		}
		typ := rapid.SampledFrom([]string{"payment", "payment", "login", "other"}).Draw(t, "type")
		e := event("u1", fmt.Sprint("e", i), typ, at, arrived, 0,
			float64(rapid.IntRange(-20, 200).Draw(t, "amount"))/4,
			rapid.SampledFrom([]string{"m1", "m2", "m3"}).Draw(t, "merchant"))
		switch rapid.IntRange(0, 5).Draw(t, "fields") {
		case 0:
			e.Fields = e.Fields[:1] // no merchant
		case 1:
			e.Fields[0].Value = ledger.Value{Kind: ledger.KindString, Str: "n/a"}
		case 2:
			e.Fields[1].Value = ledger.Value{Kind: ledger.KindNumber, Num: 7}
		case 3:
			e.Fields[1].Value = ledger.Value{}
		}
		if rapid.IntRange(0, 3).Draw(t, "shared") == 0 {
			// A payload shared with other events at one of a few instants:
			// ties on event time and content hash.
			e.Payload = fmt.Appendf(nil, `{"shared":%d}`, rapid.IntRange(0, 2).Draw(t, "which"))
			e.Hash = xxhash.Sum64(e.Payload)
			e.Time = t0.Add(time.Duration(rapid.IntRange(0, 2).Draw(t, "tie")) * time.Hour)
			e.Arrival = e.Time.Add(arrived - at)
			if rapid.Bool().Draw(t, "noid") {
				e.ID = ""
			}
		}
		es = append(es, e)
	}
	return inArrivalOrder(es)
}

// TestOutsideEqualsFull checks that a point replay that counts the events
// outside the bounded windows with a feature.Outside gives exactly the
// vector of the replay that folds every event: values, skip counts, and the
// input set's count and digest, on every view.
func TestOutsideEqualsFull(t *testing.T) {
	specs := make([]*feature.Spec, 0, len(outsideSpecs))
	for _, src := range outsideSpecs {
		spec := mustSpec(t, src)
		if !spec.Outside() {
			t.Fatalf("spec %q: an Outside should stand in for its unbounded features", src)
		}
		specs = append(specs, spec)
	}
	outsideSeen := 0 // instants with an event for the Outside to count
	rapid.Check(t, func(t *rapid.T) {
		es := genOutsideEvents(t)
		withLedger(t, es, func(l *ledger.Ledger) {
			spec := specs[rapid.IntRange(0, len(specs)-1).Draw(t, "spec")]
			split, full := New(l, spec), New(l, spec)
			full.outside = false
			for range rapid.IntRange(1, 6).Draw(t, "instants") {
				at := time.Duration(rapid.IntRange(0, 260).Draw(t, "T")) * time.Minute
				view := rapid.SampledFrom([]View{Truth, Knowable, Watermark}).Draw(t, "view")
				q := Query{Entity: "u1", At: t0.Add(at), View: view,
					Watermark: uint64(rapid.IntRange(0, len(es)).Draw(t, "W"))}
				got, err := split.Vector(q)
				if err != nil {
					t.Fatal(err)
				}
				want, err := full.Vector(q)
				if err != nil {
					t.Fatal(err)
				}
				if !sameVector(got, want) {
					t.Fatalf("%+v: with an Outside %v (n=%d, digest %x, skipped %v), "+
						"folding all %v (n=%d, digest %x, skipped %v)", q,
						got.Map(spec), got.Count, got.Digest, got.Skipped,
						want.Map(spec), want.Count, want.Digest, want.Skipped)
				}
				border := q.At.Add(-spec.BoundedHorizon())
				if slices.ContainsFunc(es, func(e ledger.Event) bool {
					return spec.Relevant(e.Type) && !e.Time.After(border) &&
						Sees(&e, q.View, q.At, q.Watermark)
				}) {
					outsideSeen++
				}
			}
		})
	})
	if outsideSeen == 0 {
		t.Fatal("no instant had an event outside its bounded windows")
	}
	t.Logf("%d instants had events outside their bounded windows", outsideSeen)
}

// TestOutsideReadsOneView replays while batches go in that each hold one
// event outside the bounded windows and one inside: every vector must count
// whole batches, which it does only if its scans read one view.
func TestOutsideReadsOneView(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	r := New(l, mustSpec(t, testSpec))
	if !r.outside {
		t.Fatal("the test spec should be replayed with an Outside")
	}
	const batches = 200
	done := make(chan error, 1)
	go func() {
		for i := range batches {
			old := event("user:0", fmt.Sprint("old", i), "payment", time.Duration(i)*time.Second,
				time.Duration(i)*time.Second, 0, 1, "m1")
			recent := event("user:0", fmt.Sprint("new", i), "payment",
				10*time.Hour+time.Duration(i)*time.Second, 10*time.Hour, 0, 1, "m2")
			if _, err := l.Append(&ledger.Batch{Events: []ledger.Event{old, recent}}); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	at := t0.Add(11 * time.Hour)
	for finished := false; !finished; {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			finished = true
		default:
		}
		v, err := r.Vector(Query{Entity: "user:0", At: at})
		if err != nil {
			t.Fatal(err)
		}
		if v.Count%2 != 0 {
			t.Fatalf("a vector counts %d events: half a batch", v.Count)
		}
	}
	if v, _ := r.Vector(Query{Entity: "user:0", At: at}); v.Count != 2*batches {
		t.Fatalf("after the appends: %d events, want %d", v.Count, 2*batches)
	}
}
