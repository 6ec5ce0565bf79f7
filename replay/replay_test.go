package replay

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/cespare/xxhash/v2"
)

var t0 = time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)

const testSpec = `
features:
  - name: payments_1h
    event: payment
    agg: count
    window: 1h
  - name: amount_sum_2h
    event: payment
    field: amount
    agg: sum
    window: 2h
  - name: amount_max_1h
    event: payment
    field: amount
    agg: max
    window: 1h
  - name: last_merchant
    event: payment
    field: merchant
    agg: last
  - name: logins_30m
    event: login
    agg: count
    window: 30m
`

func mustSpec(t testing.TB, src string) *feature.Spec {
	t.Helper()
	s, err := feature.ParseSpec("test.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// event builds a ledger event; at and arrived are offsets from t0.
func event(entity, id, typ string, at, arrived time.Duration, seq uint64, amount float64,
	merchant string) ledger.Event {
	payload := fmt.Appendf(nil,
		`{"id":%q,"entity":%q,"type":%q,"time":%q,"amount":%g,"merchant":%q}`,
		id, entity, typ, t0.Add(at).Format(time.RFC3339Nano), amount, merchant)
	return ledger.Event{
		ID: id, Entity: entity, Type: typ, Time: t0.Add(at), Arrival: t0.Add(arrived),
		Stream: "EVENTS", BrokerSeq: seq, Hash: xxhash.Sum64(payload), Payload: payload,
		Fields: []ledger.Field{
			{Name: "amount", Value: ledger.Value{Kind: ledger.KindNumber, Num: amount}},
			{Name: "merchant", Value: ledger.Value{Kind: ledger.KindString, Str: merchant}},
		},
	}
}

func openLedger(t testing.TB, dir string) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(dir, ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

func TestViews(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	spec := mustSpec(t, testSpec)
	m := time.Minute
	_, err := l.Append(&ledger.Batch{Events: []ledger.Event{
		event("u", "a", "payment", 0, 1*m, 1, 10, "m1"),
		event("u", "b", "payment", 10*m, 11*m, 2, 20, "m2"),
		event("u", "late", "payment", 20*m, 90*m, 5, 40, "m-late"), // arrives long after
		event("u", "c", "payment", 25*m, 26*m, 3, 5, "m3"),
		event("u", "login", "login", 28*m, 28*m, 4, 0, ""),
		event("other", "x", "payment", 25*m, 25*m, 6, 1000, "mx"),
	}})
	if err != nil {
		t.Fatal(err)
	}
	r := New(l, spec)
	at := t0.Add(30 * m)
	get := func(v View, w uint64) map[string]any {
		vec, err := r.Vector(Query{Entity: "u", At: at, View: v, Watermark: w})
		if err != nil {
			t.Fatal(err)
		}
		return vec.Map(spec)
	}
	truth, knowable, wm := get(Truth, 0), get(Knowable, 0), get(Watermark, 2)
	if truth["payments_1h"] != 4.0 || truth["amount_sum_2h"] != 75.0 ||
		truth["last_merchant"] != "m3" {
		t.Fatalf("truth %v", truth)
	}
	if knowable["payments_1h"] != 3.0 || knowable["amount_sum_2h"] != 35.0 ||
		knowable["logins_30m"] != 1.0 {
		t.Fatalf("knowable %v", knowable)
	}
	if wm["payments_1h"] != 2.0 || wm["last_merchant"] != "m2" || wm["logins_30m"] != 0.0 {
		t.Fatalf("watermark %v", wm)
	}

	vec, used, err := r.Explain(Query{Entity: "u", At: at, View: Knowable})
	if err != nil {
		t.Fatal(err)
	}
	if vec.Count != 4 || len(used) != 4 || used[0].Record.ID != "a" {
		t.Fatalf("explain: count %d, used %d", vec.Count, len(used))
	}
	var digest uint64
	for _, u := range used {
		digest += u.Record.Hash
	}
	if digest != vec.Digest {
		t.Fatalf("digest %x is not the sum of the used events' hashes %x", vec.Digest, digest)
	}
}

func TestEmptyEntity(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	spec := mustSpec(t, testSpec)
	vec, err := New(l, spec).Vector(Query{Entity: "nobody", At: t0})
	if err != nil {
		t.Fatal(err)
	}
	m := vec.Map(spec)
	if vec.Count != 0 || m["payments_1h"] != 0.0 || m["last_merchant"] != nil ||
		m["amount_sum_2h"] != nil {
		t.Fatalf("empty vector %v count %d", m, vec.Count)
	}
	if _, err := ParseView("sideways"); err == nil {
		t.Fatal("ParseView accepted a bad view")
	}
}

func TestSweepEqualsPointReplay(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	spec := mustSpec(t, testSpec)
	var es []ledger.Event
	for i := range 300 {
		at := time.Duration(i*7%240) * time.Minute
		arrived := at + time.Duration(i%5)*time.Minute
		if i%13 == 0 {
			arrived += 3 * time.Hour // late
		}
		typ := "payment"
		if i%4 == 0 {
			typ = "login"
		}
		es = append(es, event(fmt.Sprint("u", i%3), fmt.Sprint("e", i), typ, at, arrived,
			uint64(i+1), float64(i%17)+0.1, fmt.Sprint("m", i%5)))
	}
	if _, err := l.Append(&ledger.Batch{Events: es}); err != nil {
		t.Fatal(err)
	}
	r := New(l, spec)
	var points []Point
	for i := range 60 {
		points = append(points, Point{Entity: fmt.Sprint("u", i%4),
			At:        t0.Add(time.Duration(i*5) * time.Minute),
			Watermark: uint64(300 - i*3), Ref: i})
	}
	for _, view := range Views {
		t.Run(view.String(), func(t *testing.T) {
			seen := 0
			err := r.Sweep(points, view, func(p Point, got feature.Vector) error {
				seen++
				want, err := r.Vector(Query{Entity: p.Entity, At: p.At, View: view,
					Watermark: p.Watermark})
				if err != nil {
					return err
				}
				if d := got.Equal(want, 0); len(d) > 0 || got.Count != want.Count ||
					got.Digest != want.Digest {
					t.Errorf("point %d (%s at %s): sweep %v, replay %v", p.Ref, p.Entity, p.At,
						got.Map(spec), want.Map(spec))
				}
				return nil
			})
			if err != nil || seen != len(points) {
				t.Fatalf("sweep: %v, %d of %d points", err, seen, len(points))
			}
		})
	}
}

func TestMain(m *testing.M) { os.Exit(m.Run()) }

func TestAllEqualsPointReplay(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	spec := mustSpec(t, testSpec)
	var es []ledger.Event
	for i := range 400 {
		at := time.Duration(i*11%300) * time.Minute
		es = append(es, event(fmt.Sprint("u", i%7), fmt.Sprint("e", i), []string{"payment",
			"login"}[i%2],
			at, at+time.Duration(i%90)*time.Minute, uint64(i+1), float64(i%23), fmt.Sprint("m",
				i%4)))
	}
	if _, err := l.Append(&ledger.Batch{Events: es}); err != nil {
		t.Fatal(err)
	}
	r := New(l, spec)
	at := t0.Add(200 * time.Minute)
	for _, view := range []View{Truth, Knowable, Watermark} {
		n := 0
		err := r.All(at, view, 250, func(entity string, got feature.Vector) error {
			n++
			want, err := r.Vector(Query{Entity: entity, At: at, View: view, Watermark: 250})
			if err != nil {
				return err
			}
			if len(got.Equal(want, 0)) > 0 || got.Count != want.Count || got.Digest != want.Digest {
				t.Errorf("%s %s: All %v, Vector %v", view, entity, got.Map(spec), want.Map(spec))
			}
			return nil
		})
		if err != nil || n != 7 {
			t.Fatalf("%s: %v, %d entities", view, err, n)
		}
	}
	// An error from fn stops the sweep and comes back.
	stopErr := fmt.Errorf("enough")
	if err := r.All(at, Truth, 0, func(string,
		feature.Vector) error {
		return stopErr
	}); err != stopErr {
		t.Fatalf("All returned %v, want the callback's error", err)
	}
}

// TestAllOverSplitIndex runs All where the ledger's tables let it read the
// entity index in parts on several goroutines.
func TestAllOverSplitIndex(t *testing.T) {
	l := openLedger(t, t.TempDir())
	defer l.Close()
	spec := mustSpec(t, testSpec)
	for b := range 20 {
		var es []ledger.Event
		for i := range 3000 {
			n := b*3000 + i
			at := time.Duration(n%500) * time.Minute
			es = append(es, event(fmt.Sprint("user:", i), fmt.Sprint("e", n), "payment", at, at,
				uint64(n+1), float64(n%31), fmt.Sprint("m", n%3)))
		}
		if _, err := l.Append(&ledger.Batch{Events: es}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	if s, err := l.EntitySplits(2); err != nil || len(s) == 0 {
		t.Fatalf("the compacted index did not split: %v %v", s, err)
	}
	r := New(l, spec)
	at := t0.Add(400 * time.Minute)
	seen := map[string]bool{}
	err := r.All(at, Truth, 0, func(entity string, got feature.Vector) error {
		if seen[entity] {
			t.Errorf("entity %s twice", entity)
		}
		seen[entity] = true
		if len(seen)%97 == 0 {
			want, err := r.Vector(Query{Entity: entity, At: at})
			if err != nil {
				return err
			}
			if len(got.Equal(want, 0)) > 0 || got.Count != want.Count || got.Digest != want.Digest {
				t.Errorf("%s: All %v, Vector %v", entity, got.Map(spec), want.Map(spec))
			}
		}
		return nil
	})
	if err != nil || len(seen) != 3000 {
		t.Fatalf("All: %v, %d entities", err, len(seen))
	}
}
