package replay

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"pgregory.net/rapid"
)

// genEvents draws events over a few entities with out-of-order event times,
// random arrival delays (some very late), duplicate deliveries of the same
// event (same id and payload, a later arrival and broker sequence) and
// events without id. They come back in arrival order with broker sequences
// assigned in that order, as JetStream would.
func genEvents(t *rapid.T) []ledger.Event {
	n := rapid.IntRange(1, 60).Draw(t, "n")
	var es []ledger.Event
	for i := range n {
		at := time.Duration(rapid.IntRange(0, 180).Draw(t, "at")) * time.Minute
		delay := time.Duration(rapid.IntRange(0, 5).Draw(t, "delay")) * time.Second
		if rapid.IntRange(0, 9).Draw(t, "late") == 0 {
			delay += time.Duration(rapid.IntRange(1, 120).Draw(t, "lateBy")) * time.Minute
		}
		typ := rapid.SampledFrom([]string{"payment", "payment", "login", "other"}).Draw(t, "type")
		id := fmt.Sprint("e", i)
		if rapid.IntRange(0, 5).Draw(t, "noid") == 0 {
			id = ""
		}
		amount := float64(rapid.IntRange(-50, 500).Draw(t, "amount")) / 4
		e := event(rapid.SampledFrom([]string{"u1", "u2", "u3"}).Draw(t, "entity"), id, typ,
			at, at+delay, 0, amount, rapid.SampledFrom([]string{"m1", "m2", "m3"}).Draw(t,
				"merchant"))
		es = append(es, e)
		if rapid.IntRange(0, 6).Draw(t, "dup") == 0 {
			d := e
			d.Arrival = d.Arrival.Add(time.Duration(rapid.IntRange(1, 600).Draw(t,
				"redeliver")) * time.Second)
			es = append(es, d)
		}
	}
	return inArrivalOrder(es)
}

// inArrivalOrder sorts es by arrival and numbers them in that order, as
// JetStream assigns broker sequences.
func inArrivalOrder(es []ledger.Event) []ledger.Event {
	slices.SortStableFunc(es, func(a, b ledger.Event) int { return a.Arrival.Compare(b.Arrival) })
	for i := range es {
		es[i].BrokerSeq = uint64(i + 1)
	}
	return es
}

func withLedger(t *rapid.T, es []ledger.Event, fn func(*ledger.Ledger)) {
	dir, err := os.MkdirTemp("", "asof-replay-prop")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, ledger.Options{MemTableSize: 4 << 20, CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// Ingest appends in arrival order, in batches of a few messages.
	for start := 0; start < len(es); start += 7 {
		if _, err := l.Append(&ledger.Batch{Events: es[start:min(start+7, len(es))]}); err != nil {
			t.Fatal(err)
		}
	}
	fn(l)
}

func sameVector(a, b feature.Vector) bool {
	return len(a.Equal(b, 0)) == 0 && a.Count == b.Count && a.Digest == b.Digest &&
		slices.Equal(a.Skipped, b.Skipped)
}

// TestOnlineEqualsKnowable is the promise asof is built on: the online fold,
// fed events in arrival order and asked at T after applying everything that
// had arrived by T, equals replay's knowable view at T from the ledger.
func TestOnlineEqualsKnowable(t *testing.T) {
	spec := mustSpec(t, testSpec)
	rapid.Check(t, func(t *rapid.T) {
		es := genEvents(t)
		withLedger(t, es, func(l *ledger.Ledger) {
			r := New(l, spec)
			online := map[string]*feature.State{}
			next := 0
			for range rapid.IntRange(1, 8).Draw(t, "instants") {
				at := t0.Add(time.Duration(rapid.IntRange(0, 300).Draw(t, "T")) * time.Minute)
				if next > 0 && at.Before(es[next-1].Arrival) {
					continue // the online side only moves forward
				}
				for ; next < len(es) && !es[next].Arrival.After(at); next++ {
					s := online[es[next].Entity]
					if s == nil {
						s = feature.NewState(spec)
						online[es[next].Entity] = s
					}
					s.Apply(FeatureEvent(&es[next]))
				}
				for _, entity := range []string{"u1", "u2", "u3"} {
					want := feature.NewState(spec).Vector(at)
					if s := online[entity]; s != nil {
						want = s.Vector(at)
					}
					got, err := r.Vector(Query{Entity: entity, At: at, View: Knowable})
					if err != nil {
						t.Fatal(err)
					}
					if !sameVector(got, want) {
						t.Fatalf("%s at %s: replay knowable %v (n=%d), online %v (n=%d)",
							entity, at,
							got.Map(spec), got.Count, want.Map(spec), want.Count)
					}
				}
			}
		})
	})
}

// TestTruthIgnoresArrival checks that replay's truth view does not depend on
// the order events arrived in, nor on duplicate deliveries.
func TestTruthIgnoresArrival(t *testing.T) {
	spec := mustSpec(t, testSpec)
	rapid.Check(t, func(t *rapid.T) {
		es := genEvents(t)
		shuffled := slices.Clone(es)
		rng := rand.New(rand.NewPCG(rapid.Uint64().Draw(t, "shuffle"), 1))
		rng.Shuffle(len(shuffled), func(i, j int) {
			shuffled[i], shuffled[j] = shuffled[j],
				shuffled[i]
		})
		// Deliver some events again, in the new order.
		for i := range shuffled {
			if i%5 == 0 {
				shuffled = append(shuffled, shuffled[i])
			}
		}
		instants := rapid.SliceOfN(rapid.IntRange(0, 300), 1, 6).Draw(t, "instants")
		vectors := func(es []ledger.Event) (out []feature.Vector) {
			withLedger(t, es, func(l *ledger.Ledger) {
				r := New(l, spec)
				for _, m := range instants {
					for _, entity := range []string{"u1", "u2", "u3"} {
						v, err := r.Vector(Query{Entity: entity,
							At: t0.Add(time.Duration(m) * time.Minute)})
						if err != nil {
							t.Fatal(err)
						}
						out = append(out, v)
					}
				}
			})
			return out
		}
		a, b := vectors(es), vectors(shuffled)
		for i := range a {
			if !sameVector(a[i], b[i]) {
				t.Fatalf("vector %d differs with another arrival order: %v vs %v", i,
					a[i].Map(spec), b[i].Map(spec))
			}
		}
	})
}
