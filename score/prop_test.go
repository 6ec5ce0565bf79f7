package score

import (
	"fmt"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/asofdev/asof/replay"
)

// TestOnlineMatchesReplay is the property the audit relies on: with no
// fault injected and no lag, the online vector of every entity, with its
// count and digest, equals replay's knowable vector as of the same instant,
// whatever the events: late, out of order, duplicated ids, no ids, types no
// feature reads, payloads that cannot be decoded. rapid prints the seed of
// a failure. Views read from a memo are held to the same.
func TestOnlineMatchesReplay(t *testing.T) {
	f := newFixture(t, true)
	o, _ := f.startOnline(OnlineOptions{})
	check := 0
	rapid.Check(t, func(rt *rapid.T) {
		check++
		prefix := fmt.Sprintf("c%d-", check)
		entities := []string{prefix + "a", prefix + "b", prefix + "c"}
		n := rapid.IntRange(1, 15).Draw(rt, "events")
		var last uint64
		for i := range n {
			if rapid.IntRange(0, 19).Draw(rt, fmt.Sprintf("bad%d", i)) == 0 {
				last = f.publishRaw("events.payment", []byte(`{"entity": "x"}`))
				continue
			}
			e := drawEvent(rt, i, prefix, entities)
			last = f.publish(e)
		}
		f.waitSettled(o, last, true)
		// Each entity twice: the second view, at a later instant, is read
		// from the first one's memo unless an event entered or left a
		// window in between.
		for _, entity := range append(entities, entities...) {
			v, err := o.View(entity)
			if err != nil {
				rt.Fatal(err)
			}
			want := replayAt(t, f.l, f.spec, entity, v.Vector.At, replay.Knowable, 0)
			if v.Vector.Hash(f.spec) != want.Hash(f.spec) || v.Vector.Count != want.Count ||
				v.Vector.Digest != want.Digest {
				rt.Fatalf("%s: online %v count %d, replay %v count %d", entity,
					v.Vector.Map(f.spec), v.Vector.Count, want.Map(f.spec), want.Count)
			}
		}
	})
	if value(t, o.m.memoHits) == 0 {
		t.Fatal("no view was read from a memo")
	}
}

// drawEvent draws one event of one of entities.
func drawEvent(rt *rapid.T, i int, prefix string, entities []string) event {
	s := fmt.Sprint(i)
	entity := rapid.SampledFrom(entities).Draw(rt, "entity"+s)
	age := time.Duration(rapid.Int64Range(0, int64(9*24*time.Hour)).Draw(rt, "age"+s))
	id := ""
	if k := rapid.IntRange(0, 5).Draw(rt, "id"+s); k > 0 {
		id = fmt.Sprintf("%sid-%d", prefix, k) // few ids: duplicates are common
	}
	amount := float64(rapid.IntRange(-100, 1000).Draw(rt, "amount"+s)) / 4
	label := rapid.SampledFrom([]string{"m-1", "m-2", "d-1", "d-2"}).Draw(rt, "label"+s)
	switch rapid.IntRange(0, 2).Draw(rt, "type"+s) {
	case 0:
		return payment(id, entity, age, amount, label)
	case 1:
		return login(id, entity, age, label, label)
	}
	return event{id: id, entity: entity, typ: "refund", at: time.Now().Add(-age),
		fields: map[string]any{"amount": amount}}
}
