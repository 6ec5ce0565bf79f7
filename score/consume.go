package score

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ledger"
)

// install makes t the state. The caller holds applyMu.
func (o *Online) install(t *table) {
	o.mu.Lock()
	o.t = t
	o.mu.Unlock()
	o.m.watermark.Set(float64(t.watermark))
	o.publishSizes()
}

// pullExpiry is the life of one pull request; it also sets the heartbeat
// interval (half of it), and so how soon a silent subscription is noticed.
const pullExpiry = 5 * time.Second

// recreateConsumer deletes the pipeline's durable consumer, if any, and
// creates it again to deliver from the stream sequence start on. A consumer
// left from an earlier run cannot be trusted to start where the rebuilt
// state ends, and its start cannot be changed in place.
func (o *Online) recreateConsumer(ctx context.Context, start uint64) (jetstream.Consumer, error) {
	err := o.js.DeleteConsumer(ctx, o.opts.Stream, o.opts.Durable)
	if err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, fmt.Errorf("delete consumer %s: %w", o.opts.Durable, err)
	}
	cfg := jetstream.ConsumerConfig{
		Durable:       o.opts.Durable,
		Description:   "asof: online feature state",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.opts.AckWait,
		MaxAckPending: o.opts.MaxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if start > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	o.log.Debug("creating consumer", "durable", o.opts.Durable, "start_seq", start)
	return o.js.CreateConsumer(ctx, o.opts.Stream, cfg)
}

// session consumes until ctx is done or the subscription ends.
func (o *Online) session(ctx context.Context) error {
	cons, err := o.recreateConsumer(ctx, o.Watermark()+1)
	if err != nil {
		return err
	}
	msgs := make(chan jetstream.Msg, 256)
	errs := make(chan error, 16)
	done := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		select {
		case msgs <- m:
		case <-done:
		}
	}, jetstream.PullMaxMessages(512), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			select {
			case errs <- err:
			default:
			}
		}))
	if err != nil {
		return fmt.Errorf("consume %s: %w", o.opts.Durable, err)
	}
	defer func() { close(done); cc.Stop() }()

	sample := time.NewTicker(o.opts.SampleInterval)
	defer sample.Stop()
	prune := time.NewTicker(o.opts.PruneInterval)
	defer prune.Stop()
	for {
		select {
		case m := <-msgs:
			if err := o.handle(ctx, m); err != nil {
				return err
			}
		case <-cc.Closed():
			return errConsumeEnded
		case err := <-errs:
			if errors.Is(err, jetstream.ErrConsumerDeleted) ||
				errors.Is(err, jetstream.ErrConsumerNotFound) {
				return errConsumeEnded
			}
			o.log.Debug("consumer error", "error", err)
		case <-sample.C:
			o.sample(ctx)
		case <-prune.C:
			o.prune()
		case <-ctx.Done():
			return nil
		}
	}
}

// handle applies one message and acknowledges it. A message at or below
// the watermark was applied before and is only acknowledged. A message
// above the next expected sequence means the consumer skipped some (they
// are fetched from the stream first), so that the watermark never passes
// an event that was not applied.
func (o *Online) handle(ctx context.Context, m jetstream.Msg) error {
	meta, err := m.Metadata()
	if err != nil {
		o.log.Error("message without JetStream metadata", "subject", m.Subject(), "error", err)
		_ = m.Nak()
		return nil
	}
	if !o.waitPause(ctx) {
		_ = m.Nak()
		return nil
	}
	o.applyMu.Lock()
	defer o.applyMu.Unlock()
	seq := meta.Sequence.Stream
	wm := o.Watermark()
	if seq <= wm {
		o.m.redelivered.Inc()
		_ = m.Ack()
		return nil
	}
	if seq > wm+1 {
		if err := o.fill(ctx, nil, wm+1, seq-1, o.applyLive); err != nil {
			_ = m.Nak()
			return err
		}
	}
	if e, ok := o.decode(m.Subject(), m.Data(), meta.Timestamp, seq); ok {
		o.applyLive(&e)
	} else {
		o.advance(seq)
	}
	if err := m.Ack(); err != nil {
		o.log.Debug("ack failed; the message will be delivered again", "error", err)
	}
	return nil
}

// applyLive applies one event to the live state as the injector decides,
// and moves the watermark to it. The caller holds applyMu.
func (o *Online) applyLive(e *ledger.Event) {
	act := Apply
	if inj := o.opts.Injector; inj != nil {
		act = inj.Decide(e)
	}
	o.mu.Lock()
	first := o.t.take(e)
	took := false
	if first && act != Drop {
		took = o.t.apply(e, act == Twice)
	}
	o.t.watermark = max(o.t.watermark, e.BrokerSeq)
	o.mu.Unlock()

	o.m.watermark.Set(float64(e.BrokerSeq))
	if took {
		o.m.applied.Inc()
	}
	if first && act != Apply {
		o.m.injected.WithLabelValues(act.String()).Inc()
	}
}

// advance moves the watermark past a message that holds no event.
func (o *Online) advance(seq uint64) {
	o.mu.Lock()
	o.t.watermark = max(o.t.watermark, seq)
	o.mu.Unlock()
	o.m.watermark.Set(float64(seq))
}

// prune drops the events no window can hold any more.
func (o *Online) prune() {
	at := time.Now().Add(-o.opts.PruneMargin)
	o.mu.Lock()
	n := o.t.prune(at)
	o.mu.Unlock()
	if n > 0 {
		o.log.Debug("pruned online state", "events", n)
	}
}

// Lag returns how far the pipeline is behind the events stream: the
// messages above the watermark, and the age of the oldest of them (0 when
// there is none).
func (o *Online) Lag(ctx context.Context) (messages uint64, age time.Duration, err error) {
	stream, err := o.js.Stream(ctx, o.opts.Stream)
	if err != nil {
		return 0, 0, fmt.Errorf("score: stream %s: %w", o.opts.Stream, err)
	}
	wm := o.Watermark()
	last := stream.CachedInfo().State.LastSeq
	if last <= wm {
		return 0, 0, nil
	}
	raw, err := stream.GetMsg(ctx, wm+1)
	if err != nil {
		return last - wm, 0, fmt.Errorf("score: get message %d of %s: %w", wm+1,
			o.opts.Stream, err)
	}
	return last - wm, max(0, time.Since(raw.Time)), nil
}

// sample updates the lag and size metrics.
func (o *Online) sample(ctx context.Context) {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	msgs, age, err := o.Lag(ictx)
	if err != nil {
		o.log.Debug("sampling lag", "error", err)
	}
	o.m.lagMessages.Set(float64(msgs))
	o.m.lagSeconds.Set(age.Seconds())
	o.publishSizes()
}

// publishSizes updates the size metrics.
func (o *Online) publishSizes() {
	s := o.Stats()
	o.m.entities.Set(float64(s.Entities))
	o.m.held.Set(float64(s.Held))
	perEntity, perEvent := 0.0, 0.0
	if s.Entities > 0 {
		perEntity = float64(s.Bytes) / float64(s.Entities)
	}
	if s.Held > 0 {
		perEvent = float64(s.Bytes) / float64(s.Held)
	}
	o.m.bytesPerEnt.Set(perEntity)
	o.m.bytesPerEvent.Set(perEvent)
}
