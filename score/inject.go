package score

import (
	"context"
	"fmt"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// Action is what the online pipeline does with one event, as an Injector
// decides.
type Action uint8

// The actions. The zero Action applies the event.
const (
	Apply Action = iota // apply the event once, as normal
	Drop                // consume the event without applying it
	Twice               // apply the event, and a copy of it under another key
)

func (a Action) String() string {
	switch a {
	case Apply:
		return "apply"
	case Drop:
		return "drop"
	case Twice:
		return "twice"
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Injector decides the fate of every event the online pipeline consumes: a
// testing tool that injects the faults the audit must find. Decide is
// called once per event, in stream order, from the consuming goroutine,
// with the event decoded and its broker fields set; it must not keep e.
// A dropped event still moves the watermark, so that the audit sees an
// event at or below the watermark that the snapshot lacks. The copy applied
// by Twice has the same content under the key Key()+"#twice", so that the
// state counts it twice, as a duplicate delivery under a new id would.
// Events the pipeline's own deduplication drops are not offered twice.
type Injector interface {
	Decide(e *ledger.Event) Action
}

// InjectorFunc adapts a function to Injector.
type InjectorFunc func(e *ledger.Event) Action

// Decide calls f.
func (f InjectorFunc) Decide(e *ledger.Event) Action { return f(e) }

// Pause stops applying events for d from now, as a stalled consumer would:
// the watermark stands still and the lag grows. Scoring goes on meanwhile.
// A later call replaces the pause; Pause(0) ends it.
func (o *Online) Pause(d time.Duration) {
	o.paused.Store(time.Now().Add(d).UnixNano())
}

// waitPause waits while the pipeline is paused. It returns false when ctx
// ended first.
func (o *Online) waitPause(ctx context.Context) bool {
	for {
		wait := time.Duration(o.paused.Load() - time.Now().UnixNano())
		if wait <= 0 {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(min(wait, 100*time.Millisecond)):
		}
	}
}

// Reset drops the whole state, as a crash that lost it would, and keeps
// consuming from where it is: the watermark stays, the events below it are
// gone from the online side until a restart or SetSpec rebuilds them.
func (o *Online) Reset() {
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	o.mu.RLock()
	spec, wm := o.t.spec, o.t.watermark
	o.mu.RUnlock()
	o.install(newTable(spec, wm))
	o.log.Info("online state reset", "watermark", wm)
}

// SetSpec switches the pipeline to spec. The state of every entity is
// computed again under the new definitions from every event at or below
// the watermark, read from the ledger and the stream as a restart reads
// them; faults injected before are not carried over. Applying stops
// meanwhile; scoring goes on with the old spec until the switch.
func (o *Online) SetSpec(ctx context.Context, spec *feature.Spec) error {
	if spec == nil {
		return fmt.Errorf("score: set spec: no spec")
	}
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	t, err := o.build(ctx, spec, o.Watermark())
	if err != nil {
		return fmt.Errorf("score: set spec %s: %w", spec.Version, err)
	}
	o.install(t)
	o.log.Info("online spec switched", "spec_version", spec.Version, "watermark", t.watermark)
	return nil
}
