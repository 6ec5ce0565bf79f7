package audit

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
	"github.com/asofdev/asof/replay"
	"github.com/cespare/xxhash/v2"
	"pgregory.net/rapid"
)

// propEvents draws events over a few entities, in broker sequence order,
// with some arriving late, each with a unique payload.
func propEvents(t *rapid.T) []ledger.Event {
	n := rapid.IntRange(1, 40).Draw(t, "events")
	var es []ledger.Event
	for i := range n {
		at := day.Add(10*time.Hour + time.Duration(rapid.IntRange(0, 120).Draw(t,
			"at"))*time.Minute)
		arrival := at.Add(time.Second)
		if rapid.IntRange(0, 5).Draw(t, "late") == 0 {
			arrival = at.Add(time.Duration(rapid.IntRange(1, 90).Draw(t, "lateBy")) * time.Minute)
		}
		amount := float64(rapid.IntRange(1, 100).Draw(t, "amount"))
		merchant := rapid.SampledFrom([]string{"m1", "m2", "m3"}).Draw(t, "merchant")
		entity := rapid.SampledFrom([]string{"u1", "u2"}).Draw(t, "entity")
		e := ledger.Event{ID: fmt.Sprint("e", i), Entity: entity,
			Type: "payment", Time: at, Arrival: arrival, Stream: "EVENTS",
			Fields: []ledger.Field{
				{Name: "amount", Value: ledger.Value{Kind: ledger.KindNumber, Num: amount}},
				{Name: "merchant", Value: ledger.Value{Kind: ledger.KindString, Str: merchant}},
			}}
		e.Payload = fmt.Appendf(nil, `{"id":"e%d","amount":%g,"merchant":%q,"t":%d}`,
			i, amount, merchant, at.Unix())
		e.Hash = xxhash.Sum64(e.Payload)
		es = append(es, e)
	}
	slices.SortStableFunc(es, func(a, b ledger.Event) int { return a.Arrival.Compare(b.Arrival) })
	for i := range es {
		es[i].BrokerSeq = uint64(i + 1)
	}
	return es
}

// TestOnlineFaultsNamed audits random ledgers whose snapshots are computed
// from exactly the watermark view, some with one event dropped or applied
// twice. A fault-free snapshot never gets an online cause (dropped,
// duplicated, definition, unexplained), and it differs exactly when its
// watermark view differs from truth; a faulty snapshot that differs from
// its watermark view gets the fault's cause with the right event named.
func TestOnlineFaultsNamed(t *testing.T) {
	fx := loadFixture(t)
	rapid.Check(t, func(t *rapid.T) {
		es := propEvents(t)
		s := &script{events: es}
		faults := map[string]string{}
		for i := range rapid.IntRange(1, 12).Draw(t, "snapshots") {
			entity := rapid.SampledFrom([]string{"u1", "u2"}).Draw(t, "entity")
			at := time.Duration(rapid.IntRange(0, 150).Draw(t, "T")) * time.Minute
			ss := scriptSnapshot{id: fmt.Sprintf("s%02d", i), entity: entity,
				at: day.Add(10*time.Hour + at), watermark: uint64(rapid.IntRange(0,
					len(es)).Draw(t, "W"))}
			var inputs []string
			for _, e := range es {
				if e.Entity == ss.entity && replay.Sees(&e, replay.Watermark, ss.at,
					ss.watermark) &&
					e.Time.After(ss.at.Add(-2*time.Hour)) {
					inputs = append(inputs, e.ID)
				}
			}
			if len(inputs) > 0 && rapid.Bool().Draw(t, "faulty") {
				kind := rapid.SampledFrom([]string{"drop", "dup"}).Draw(t, "fault")
				ss.faults = []string{kind + ":" + rapid.SampledFrom(inputs).Draw(t, "victim")}
				faults[ss.id] = ss.faults[0]
			}
			s.snapshots = append(s.snapshots, ss)
		}
		dir, err := os.MkdirTemp("", "asof-audit-prop")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		l := fx.buildIn(t, dir, s)
		defer l.Close()
		r, err := Run(context.Background(), l, Options{Spec: fx.spec, From: day,
			To:     day.AddDate(0, 0, 1),
			Models: []*model.Model{fx.model}, Workers: 2})
		if err != nil {
			t.Fatal(err)
		}
		checkFaults(t, fx, s, r, faults)
	})
}

func checkFaults(t *rapid.T, fx fixture, s *script, r *Report, faults map[string]string) {
	byID := map[string]*Finding{}
	for i := range r.Findings {
		byID[r.Findings[i].Snapshot] = &r.Findings[i]
	}
	for _, ss := range s.snapshots {
		f := byID[ss.id]
		fault := faults[ss.id]
		if fault == "" {
			mark := computeView(fx.spec, s.events, ss, replay.Watermark)
			truth := computeView(fx.spec, s.events, ss, replay.Truth)
			if differs := len(mark.Equal(truth, 0)) > 0; differs != (f != nil) {
				t.Fatalf("%s: watermark view differs from truth: %v, finding: %v", ss.id,
					differs, f != nil)
			}
			online := func(c Cause) bool { return c != Late && c != Lag }
			if f != nil && slices.ContainsFunc(f.Causes, online) {
				t.Fatalf("%s: fault-free snapshot has causes %v", ss.id, f.Causes)
			}
			continue
		}
		if f == nil || !slices.ContainsFunc(f.Features, func(d FeatureDiff) bool {
			return d.Snapshot != d.Watermark
		}) {
			continue // the fault moved no value, or moved it back to truth
		}
		cause, want := Dropped, fault[len("drop:"):]
		if fault[:3] == "dup" {
			cause, want = Duplicated, fault[len("dup:"):]
		}
		evs := f.Events[cause]
		if !slices.Contains(f.Causes, cause) || len(evs) != 1 || evs[0].ID != want {
			t.Fatalf("%s with fault %s: causes %v, events %v", ss.id, fault, f.Causes, f.Events)
		}
	}
}

// computeView folds the events a view holds at a snapshot, independently of
// package replay's sweep.
func computeView(spec *feature.Spec, es []ledger.Event, ss scriptSnapshot,
	v replay.View) feature.Vector {
	var fes []feature.Event
	for i := range es {
		if es[i].Entity == ss.entity && replay.Sees(&es[i], v, ss.at, ss.watermark) {
			fes = append(fes, replay.FeatureEvent(&es[i]))
		}
	}
	return feature.Compute(spec, fes, ss.at)
}
