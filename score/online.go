package score

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

// OnlineOptions configures an Online pipeline. Zero fields take the
// defaults each one names.
type OnlineOptions struct {
	// Stream is the events stream. Default "EVENTS".
	Stream string

	// Durable is the name of the pipeline's own durable consumer. Default
	// "asof-online".
	Durable string

	// MaxPayload is the largest event accepted, in bytes; larger ones are
	// skipped as too_large, as the ledger's ingester dead-letters them.
	// Keep it equal to the ingester's. Default 1 MiB.
	MaxPayload int

	// MaxAckPending is the most messages the broker hands out without an
	// acknowledgement. Default 4096.
	MaxAckPending int

	// AckWait is how long the broker waits for an acknowledgement before it
	// delivers a message again. Default 30 s.
	AckWait time.Duration

	// SampleInterval is how often the lag behind the stream is sampled for
	// the metrics. Default 1 s.
	SampleInterval time.Duration

	// PruneInterval is how often events that no window can hold any more
	// are dropped from the state. Default 1 minute.
	PruneInterval time.Duration

	// PruneMargin is kept below the wall clock when pruning, so that a
	// request whose time lags the clock still finds its events. Default
	// 1 hour.
	PruneMargin time.Duration

	// Injector, when set, decides the fate of every event: a testing tool
	// for fault injection. Default: none, every event is applied.
	Injector Injector

	// Registerer receives the pipeline's metrics. Default: a private
	// registry that nobody reads.
	Registerer prometheus.Registerer

	// Logger receives the pipeline's log lines. Default: discard.
	Logger hclog.Logger
}

func (o OnlineOptions) withDefaults() OnlineOptions {
	if o.Stream == "" {
		o.Stream = "EVENTS"
	}
	if o.Durable == "" {
		o.Durable = "asof-online"
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = 1 << 20
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = 4096
	}
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.SampleInterval == 0 {
		o.SampleInterval = time.Second
	}
	if o.PruneInterval == 0 {
		o.PruneInterval = time.Minute
	}
	if o.PruneMargin == 0 {
		o.PruneMargin = time.Hour
	}
	if o.Registerer == nil {
		o.Registerer = prometheus.NewRegistry()
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// Validate reports an option that cannot be used.
func (o OnlineOptions) Validate() error {
	switch {
	case o.MaxPayload < 0 || o.MaxAckPending < 0:
		return errors.New("score: online options: negative size")
	case o.MaxPayload > ledger.MaxPayload:
		return fmt.Errorf("score: online options: MaxPayload over the ledger's limit of %d",
			ledger.MaxPayload)
	case o.AckWait < 0 || o.SampleInterval < 0 || o.PruneInterval < 0 || o.PruneMargin < 0:
		return errors.New("score: online options: negative duration")
	}
	return nil
}

// Online is the online pipeline: per-entity feature states fed by its own
// durable consumer on the events stream, and the watermark up to which it
// has applied events. See the package comment for how it starts and what
// it promises. Scoring reads it concurrently through View.
type Online struct {
	js   jetstream.JetStream
	l    *ledger.Ledger
	opts OnlineOptions
	log  hclog.Logger
	m    *onlineMetrics

	ready     chan struct{} // closed once the state is rebuilt
	readyOnce sync.Once
	paused    atomic.Int64 // Unix nanoseconds until which nothing is applied

	// applyMu serialises the writers of the state: the consuming loop,
	// Reset and SetSpec. It is taken before mu.
	applyMu sync.Mutex

	// mu guards t, the state. Apply takes it exclusively and View shares
	// it, so that a vector and the watermark are always read together.
	mu sync.RWMutex
	t  *table
}

// NewOnline returns an online pipeline of spec that reads js's events
// stream and rebuilds from l when it starts. Call Run to start it.
func NewOnline(js jetstream.JetStream, l *ledger.Ledger, spec *feature.Spec,
	opts OnlineOptions) (*Online, error) {
	if spec == nil {
		return nil, errors.New("score: online: no spec")
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	m, err := newOnlineMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("score: register online metrics: %w", err)
	}
	return &Online{js: js, l: l, opts: opts, log: opts.Logger.Named("online"), m: m,
		ready: make(chan struct{}), t: newTable(spec, 0)}, nil
}

// Ready returns a channel closed once the state has been rebuilt at start
// and scoring can read it.
func (o *Online) Ready() <-chan struct{} { return o.ready }

// View is one entity's vector as the online pipeline holds it at one
// instant, with the watermark and spec it was computed with.
type View struct {
	Entity    string
	Vector    feature.Vector
	Spec      *feature.Spec
	Watermark uint64
	Empty     bool // the pipeline holds no event of the entity
}

// View returns the entity's vector as of now. The instant is taken, and the
// vector and watermark read, under one shared lock that every apply takes
// exclusively: every event applied so far arrived before the instant and
// lies at or below the watermark, and every event at or below the
// watermark has been applied (or skipped, or dropped by an injector).
// The vector's slices may be shared with other views: they are not to be
// modified.
func (o *Online) View(entity string) (View, error) {
	return o.viewWith(new(feature.Cursor), entity)
}

// viewWith is View computing the vector, when the entity's memo does not
// hold it, with c, which it resets, and leaving a memo of it.
func (o *Online) viewWith(c *feature.Cursor, entity string) (View, error) {
	select {
	case <-o.ready:
	default:
		return View{}, ErrNotReady
	}
	o.mu.RLock()
	defer o.mu.RUnlock()
	at := time.Now().UTC()
	st, ok := o.t.states[entity]
	if !ok {
		st = o.t.empty
	}
	slot := o.t.memo(entity)
	v, ok := slot.Load().At(st, at)
	if ok {
		o.m.memoHits.Inc()
	} else {
		o.m.memoMisses.Inc()
		c.Reset(st)
		v = c.At(at)
		slot.Store(c.Memo(v))
	}
	return View{Entity: entity, Vector: v, Spec: o.t.spec, Watermark: o.t.watermark,
		Empty: st.Len() == 0}, nil
}

// Watermark returns the highest events stream sequence applied.
func (o *Online) Watermark() uint64 {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.t.watermark
}

// Spec returns the spec the pipeline currently folds with.
func (o *Online) Spec() *feature.Spec {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return o.t.spec
}

// Stats is a summary of the online state.
type Stats struct {
	Entities  int
	Held      int    // events held
	Bytes     int    // estimated bytes of state
	Watermark uint64 // highest stream sequence applied
}

// Stats returns a summary of the online state.
func (o *Online) Stats() Stats {
	o.mu.RLock()
	defer o.mu.RUnlock()
	return Stats{Entities: len(o.t.states), Held: o.t.held, Bytes: o.t.bytes,
		Watermark: o.t.watermark}
}

// Run rebuilds the state from the ledger, then consumes the events stream
// until ctx is cancelled, returning nil then. A ledger failure during the
// rebuild returns an error wrapping ErrLedger. Lost connections and deleted
// consumers are recovered from, not returned.
func (o *Online) Run(ctx context.Context) error {
	if err := o.start(ctx); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	o.readyOnce.Do(func() { close(o.ready) })
	o.log.Info("online state rebuilt", "watermark", o.Watermark(), "entities", o.Stats().Entities)

	backoff := 100 * time.Millisecond
	for {
		err := o.session(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errConsumeEnded):
			o.log.Info("online subscription ended; starting it again")
			backoff = 100 * time.Millisecond
		default:
			o.log.Warn("online consumer failed; trying again", "error", err, "in", backoff)
			backoff = min(2*backoff, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// start rebuilds the state from the ledger's events at or below its
// checkpoint of the events stream, and sets the watermark to it.
func (o *Online) start(ctx context.Context) error {
	cp, err := o.l.Checkpoint(o.opts.Stream)
	if err != nil {
		return fmt.Errorf("%w: read checkpoint of %s: %w", ErrLedger, o.opts.Stream, err)
	}
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	t, err := o.build(ctx, o.Spec(), cp)
	if err != nil {
		return err
	}
	o.install(t)
	return nil
}
