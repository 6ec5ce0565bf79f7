package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/score"
)

// System is what the demo drives: a running asof serve, in process.
type System interface {
	// Publish publishes one event and returns its stream sequence once
	// JetStream acknowledged it.
	Publish(ctx context.Context, subject string, data []byte, msgID string) (uint64, error)
	// Score sends one scoring request and returns the reply.
	Score(ctx context.Context, model, entity, requestID string) (score.Reply, error)
	// Watermark is the online pipeline's watermark.
	Watermark() uint64
	// Pause, Reset and SetSpec inject faults into the online pipeline.
	Pause(d time.Duration)
	Reset()
	SetSpec(ctx context.Context, spec *feature.Spec) error
}

// Plan is one demo run's load and faults.
type Plan struct {
	Duration   time.Duration // how long events and requests are sent
	Rate       int           // events per second
	ScoreRate  int           // scoring requests per second
	Users      int           // population size
	Seed       uint64
	Faults     Faults
	Model      string        // the model to score with
	Spec       *feature.Spec // the spec serve runs
	SpecChange *feature.Spec // the spec of the changed-definition periods
}

// Records are the demo's own account of a run: what it published, what
// it injected and what was scored.
type Records struct {
	Published []published
	Injected  []injection
	Replies   []score.Reply
	Start     time.Time
	End       time.Time
}

// driver sends the load of a plan and injects its faults.
type driver struct {
	sys  System
	plan Plan
	gen  *generator
	inj  *Injector
	rec  Records

	lastSeq    uint64    // the highest sequence published
	pauseUntil time.Time // the online pipeline is paused until then
	recent     []string  // entities of the latest events, to score
}

// schedule is when the plan's one-off faults happen, as fractions of the
// run: spec periods early, so that their rebuild of the online state does
// not erase the restart's damage, which comes later.
type schedule struct {
	specFrom, specTo []float64
	resets           []float64
}

func (p Plan) schedule() schedule {
	var s schedule
	for i := range p.Faults.SpecChange {
		from := 0.10 + 0.25*float64(i)/float64(p.Faults.SpecChange)
		s.specFrom = append(s.specFrom, from)
		s.specTo = append(s.specTo, from+0.12/float64(p.Faults.SpecChange))
	}
	for i := range p.Faults.Restart {
		s.resets = append(s.resets, 0.55+0.35*float64(i)/float64(p.Faults.Restart))
	}
	return s
}

// Drive runs the plan against sys and returns the records.
func Drive(ctx context.Context, sys System, plan Plan, inj *Injector) (*Records, error) {
	d := &driver{sys: sys, plan: plan, gen: newGenerator(plan.Seed, plan.Users), inj: inj}
	d.rec.Start = time.Now().UTC()
	if err := d.loop(ctx); err != nil {
		return nil, err
	}
	d.rec.End = time.Now().UTC()
	d.rec.Injected = inj.all()
	return &d.rec, nil
}

// loop sends events and requests at the plan's rates until the duration
// has passed, triggering the scheduled faults on the way.
func (d *driver) loop(ctx context.Context) error {
	sched := d.plan.schedule()
	start := time.Now()
	nextPause := start.Add(time.Second)
	sentEvents, sentScores := 0, 0
	for {
		elapsed := time.Since(start)
		if elapsed >= d.plan.Duration {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		frac := float64(elapsed) / float64(d.plan.Duration)
		if err := d.scheduled(ctx, &sched, frac); err != nil {
			return err
		}
		if d.plan.Faults.Lag > 0 && time.Now().After(nextPause) {
			d.pause()
			nextPause = time.Now().Add(2 * time.Second)
		}
		for ; float64(sentEvents) < elapsed.Seconds()*float64(d.plan.Rate); sentEvents++ {
			if err := d.publish(ctx); err != nil {
				return err
			}
		}
		for ; float64(sentScores) < elapsed.Seconds()*float64(d.plan.ScoreRate); sentScores++ {
			if err := d.score(ctx, sentScores); err != nil {
				return err
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// scheduled triggers the spec switches and resets whose time has come.
func (d *driver) scheduled(ctx context.Context, s *schedule, frac float64) error {
	switch {
	case len(s.specFrom) > 0 && frac >= s.specFrom[0]:
		s.specFrom = s.specFrom[1:]
		return d.switchSpec(ctx, d.plan.SpecChange)
	case len(s.specTo) > 0 && len(s.specTo) > len(s.specFrom) && frac >= s.specTo[0]:
		s.specTo = s.specTo[1:]
		return d.switchSpec(ctx, d.plan.Spec)
	case len(s.resets) > 0 && frac >= s.resets[0]:
		s.resets = s.resets[1:]
		d.catchUp(ctx)
		wm := d.sys.Watermark()
		d.sys.Reset()
		d.inj.record(injection{Kind: "reset", At: time.Now().UTC(), Watermark: wm})
	}
	return nil
}

// switchSpec moves serve to spec; the switch rebuilds every state from the
// ledger, which the ground truth must know.
func (d *driver) switchSpec(ctx context.Context, spec *feature.Spec) error {
	d.catchUp(ctx)
	if err := d.sys.SetSpec(ctx, spec); err != nil {
		return fmt.Errorf("demo: switch spec: %w", err)
	}
	d.inj.record(injection{Kind: "rebuild", At: time.Now().UTC(), Watermark: d.sys.Watermark(),
		Spec: spec.Version})
	return nil
}

func (d *driver) pause() {
	now := time.Now()
	d.pauseUntil = now.Add(d.plan.Faults.Lag)
	d.sys.Pause(d.plan.Faults.Lag)
	d.inj.record(injection{Kind: "pause", At: now.UTC(), Until: d.pauseUntil.UTC()})
}

// catchUp waits, up to two seconds, until the online pipeline has applied
// everything published, unless it is paused on purpose. Without it a
// scoring request could race an event in flight, a lag nobody injected.
func (d *driver) catchUp(ctx context.Context) {
	deadline := time.Now().Add(2 * time.Second)
	for d.sys.Watermark() < d.lastSeq && time.Now().Before(deadline) && ctx.Err() == nil {
		if time.Now().Before(d.pauseUntil) {
			return
		}
		time.Sleep(200 * time.Microsecond)
	}
}

// publish sends the next event; a share of events are late: they happened
// up to eight seconds before they are published.
func (d *driver) publish(ctx context.Context) error {
	now := time.Now().UTC()
	e := d.gen.event(now)
	if d.plan.Faults.Late > 0 && d.gen.rng.Float64() < d.plan.Faults.Late {
		e.Time = now.Add(-time.Duration(500+d.gen.rng.IntN(7500)) * time.Millisecond)
	}
	data, err := json.Marshal(map[string]any{"id": e.ID, "entity": e.Entity, "type": e.Type,
		"time": e.Time.Format(time.RFC3339Nano), "fields": e.Fields})
	if err != nil {
		return err
	}
	p := published{ID: e.ID, Entity: e.Entity, Type: e.Type, Time: e.Time, Sent: time.Now().UTC()}
	p.Seq, err = d.sys.Publish(ctx, "events."+e.Type, data, e.ID)
	if err != nil {
		return fmt.Errorf("demo: publish %s: %w", e.ID, err)
	}
	p.Acked = time.Now().UTC()
	d.lastSeq = max(d.lastSeq, p.Seq)
	d.rec.Published = append(d.rec.Published, p)
	if e.Type != "chargeback" {
		d.recent = append(d.recent, e.Entity)
		if len(d.recent) > 200 {
			d.recent = d.recent[len(d.recent)-200:]
		}
	}
	return nil
}

// score sends one scoring request, after the online pipeline caught up.
func (d *driver) score(ctx context.Context, n int) error {
	d.catchUp(ctx)
	entity := d.gen.scoreTarget(d.recent)
	r, err := d.sys.Score(ctx, d.plan.Model, entity, fmt.Sprintf("req-%d", n))
	if err != nil {
		return fmt.Errorf("demo: score %s: %w", entity, err)
	}
	if r.Error != nil {
		return fmt.Errorf("demo: score %s: %s: %s", entity, r.Error.Code, r.Error.Message)
	}
	d.rec.Replies = append(d.rec.Replies, r)
	return nil
}
