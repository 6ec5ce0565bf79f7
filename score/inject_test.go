package score

import (
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/replay"
)

// TestInjector checks that dropped and doubled events change the online
// vector, count and digest by exactly the event concerned.
func TestInjector(t *testing.T) {
	f := newFixture(t, true)
	inj := InjectorFunc(func(e *ledger.Event) Action {
		switch e.ID {
		case "drop-1":
			return Drop
		case "twice-1":
			return Twice
		}
		return Apply
	})
	o, _ := f.startOnline(OnlineOptions{Injector: inj})
	last := f.publish(
		payment("p-a", "user:5", 2*time.Minute, 10, "m-1"),
		payment("drop-1", "user:5", time.Minute, 20, "m-2"),
		payment("p-b", "user:6", 2*time.Minute, 30, "m-3"),
		payment("twice-1", "user:6", time.Minute, 40, "m-4"),
	)
	f.waitSettled(o, last, true)

	tests := []struct {
		entity, id string
		delta      int
		sum        float64
	}{
		{"user:5", "drop-1", -1, 10},
		{"user:6", "twice-1", +1, 110},
	}
	for _, tt := range tests {
		v, err := o.View(tt.entity)
		if err != nil {
			t.Fatal(err)
		}
		want := replayAt(t, f.l, f.spec, tt.entity, v.Vector.At, replay.Knowable, 0)
		ev, err := f.l.Event(tt.id)
		if err != nil {
			t.Fatal(err)
		}
		h := ev.Record.Hash
		if tt.delta < 0 {
			h = -h
		}
		if v.Vector.Count != want.Count+tt.delta || v.Vector.Digest != want.Digest+h {
			t.Errorf("%s: online count %d digest %016x, replay %d %016x, want a change of %d",
				tt.entity, v.Vector.Count, v.Vector.Digest, want.Count, want.Digest, tt.delta)
		}
		sum := v.Vector.Map(f.spec)["amount_sum_24h"]
		if sum != tt.sum {
			t.Errorf("%s: amount_sum_24h %v, want %v", tt.entity, sum, tt.sum)
		}
	}
	for _, a := range []Action{Drop, Twice} {
		if n := value(t, o.m.injected.WithLabelValues(a.String())); n != 1 {
			t.Errorf("injected %s %v, want 1", a, n)
		}
	}
}

// TestPauseResetSetSpec checks the pipeline's other fault hooks: a pause
// holds the watermark and shows as lag, a reset loses the state but keeps
// the watermark, and a new spec rebuilds every vector under it.
func TestPauseResetSetSpec(t *testing.T) {
	f := newFixture(t, true)
	o, _ := f.startOnline(OnlineOptions{})
	last := f.publish(demoEvents()...)
	f.waitSettled(o, last, true)

	// Pause: the event reaches the ledger, not the online state.
	o.Pause(time.Hour)
	late := f.publish(payment("p-late", "user:7", time.Minute, 1, "m-1"))
	f.waitLedger(late)
	time.Sleep(50 * time.Millisecond)
	if w := o.Watermark(); w != last {
		t.Errorf("paused watermark %d, want %d", w, last)
	}
	msgs, age, err := o.Lag(t.Context())
	if err != nil || msgs != 1 || age <= 0 {
		t.Errorf("lag while paused: %d messages, %v, %v", msgs, age, err)
	}
	o.sample(t.Context())
	if n := value(t, o.m.lagMessages); n != 1 {
		t.Errorf("lag metric %v, want 1", n)
	}
	if v, _ := o.View("user:7"); !v.Empty {
		t.Error("paused pipeline applied an event")
	}
	o.Pause(0)
	f.waitSettled(o, late, false)
	if v, _ := o.View("user:7"); v.Empty || v.Vector.Count != 1 {
		t.Errorf("after the pause: %+v", v)
	}

	// Reset: state gone, watermark kept, new events applied.
	o.Reset()
	if s := o.Stats(); s.Entities != 0 || s.Held != 0 || s.Watermark != late {
		t.Errorf("after reset: %+v", s)
	}
	next := f.publish(payment("p-after", "user:1", time.Minute, 3, "m-3"))
	f.waitSettled(o, next, true)
	v, _ := o.View("user:1")
	want := replayAt(t, f.l, f.spec, "user:1", v.Vector.At, replay.Knowable, 0)
	if v.Vector.Count != 1 || want.Count <= 1 {
		t.Errorf("after reset: online count %d, replay %d", v.Vector.Count, want.Count)
	}

	// SetSpec: every vector computed again under the new spec.
	spec2, err := feature.ParseSpec("two.yaml", []byte(
		"features:\n  - name: payments\n    event: payment\n    agg: count\n"))
	if err != nil {
		t.Fatal(err)
	}
	if err := o.SetSpec(t.Context(), spec2); err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"user:1", "user:2", "user:7"} {
		v, _ := o.View(e)
		want := replayAt(t, f.l, spec2, e, v.Vector.At, replay.Knowable, 0)
		if v.Spec != spec2 || v.Vector.Hash(spec2) != want.Hash(spec2) ||
			v.Vector.Count != want.Count || v.Vector.Digest != want.Digest {
			t.Errorf("%s under the new spec: %+v, replay %+v", e, v.Vector, want)
		}
	}
}

// TestRebuildFromStream checks the part of a rebuild that the ledger has
// not reached: with no ingester the ledger is empty, so SetSpec reads every
// event below the watermark from the stream, and skips a bad one.
func TestRebuildFromStream(t *testing.T) {
	f := newFixture(t, false)
	o, _ := f.startOnline(OnlineOptions{})
	f.publish(demoEvents()...)
	last := f.publishRaw("events.payment", []byte("not json"))
	f.waitSettled(o, last, false)
	before, _ := o.View("user:1")
	if err := o.SetSpec(t.Context(), f.spec); err != nil {
		t.Fatal(err)
	}
	after, _ := o.View("user:1")
	if after.Watermark != last || after.Vector.Count != before.Vector.Count ||
		after.Vector.Digest != before.Vector.Digest || after.Vector.Count == 0 {
		t.Errorf("rebuilt from the stream: %+v, before %+v", after, before)
	}
	if n := value(t, o.m.skipped.WithLabelValues(ledger.ReasonNotJSON)); n != 2 {
		t.Errorf("not_json skipped %v times, want 2 (consumer, then rebuild)", n)
	}
	if s := o.Stats(); s.Bytes <= 0 || s.Held == 0 {
		t.Errorf("stats %+v", s)
	}
}
