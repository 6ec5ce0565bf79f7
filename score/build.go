package score

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/internal/convert"
	"github.com/asofdev/asof/ledger"
)

// build returns a table of spec holding every event of the events stream
// at or below watermark: those the ledger holds, up to its checkpoint, from
// its entity index; those above the checkpoint straight from the stream.
// No injector is consulted: a rebuild sees what the ledger and the stream
// hold. The caller holds applyMu.
func (o *Online) build(ctx context.Context, spec *feature.Spec, watermark uint64) (*table, error) {
	cp, err := o.l.Checkpoint(o.opts.Stream)
	if err != nil {
		return nil, fmt.Errorf("%w: read checkpoint of %s: %w", ErrLedger, o.opts.Stream, err)
	}
	upTo := min(cp, watermark)
	t := newTable(spec, watermark)
	if err := o.loadLedger(t, upTo); err != nil {
		return nil, err
	}
	if upTo < watermark {
		if err := o.fill(ctx, t, upTo+1, watermark, nil); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// loadLedger adds the ledger's events of the stream at or below upTo to t,
// entity by entity.
func (o *Online) loadLedger(t *table, upTo uint64) error {
	var (
		entity string
		batch  []feature.Event
	)
	for ie, err := range o.l.AllEntityEvents() {
		if err != nil {
			return fmt.Errorf("%w: read entity index: %w", ErrLedger, err)
		}
		e := &ie.Record
		if e.Stream != o.opts.Stream || e.BrokerSeq > upTo {
			continue
		}
		if e.Entity != entity {
			t.load(entity, batch)
			entity, batch = e.Entity, batch[:0]
		}
		if t.take(e) && t.spec.Relevant(e.Type) {
			batch = append(batch, convert.Event(e))
		}
	}
	t.load(entity, batch)
	return nil
}

// fill applies the stream's messages from..to (inclusive) to t, read one by
// one from the stream: the part of a rebuild above the ledger's
// checkpoint, or messages the consumer skipped. A message the stream no
// longer holds is counted and passed over. apply, when not nil, applies each
// decoded event instead of t.apply. The watermark of t ends at to.
func (o *Online) fill(ctx context.Context, t *table, from, to uint64,
	apply func(e *ledger.Event)) error {
	stream, err := o.js.Stream(ctx, o.opts.Stream)
	if err != nil {
		return fmt.Errorf("score: stream %s: %w", o.opts.Stream, err)
	}
	for seq := from; seq <= to; seq++ {
		raw, err := stream.GetMsg(ctx, seq)
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			o.m.skipped.WithLabelValues("missing").Inc()
			o.log.Warn("stream no longer holds a message below the watermark", "seq", seq)
			continue
		}
		if err != nil {
			return fmt.Errorf("score: get message %d of %s: %w", seq, o.opts.Stream, err)
		}
		e, ok := o.decode(raw.Subject, raw.Data, raw.Time, seq)
		switch {
		case !ok:
		case apply != nil:
			apply(&e)
		default:
			if t.take(&e) {
				t.apply(&e, false)
			}
		}
	}
	return nil
}

// decode decodes one event message, filling the broker fields and the
// content hash as the ledger does. An event that cannot be decoded is
// counted by reason and reported as not ok: the ledger's ingester
// dead-letters it.
func (o *Online) decode(subject string, data []byte, arrival time.Time,
	seq uint64) (ledger.Event, bool) {
	e, err := ledger.DecodeEvent(subject, data, o.opts.MaxPayload)
	if err != nil {
		reason := "invalid"
		var we *ledger.WireError
		if errors.As(err, &we) {
			reason = we.Reason
		}
		o.m.skipped.WithLabelValues(reason).Inc()
		o.log.Debug("skipping an event that cannot be decoded", "seq", seq, "error", err)
		return ledger.Event{}, false
	}
	e.Arrival, e.Stream, e.BrokerSeq = arrival.UTC(), o.opts.Stream, seq
	e.Hash = xxhash.Sum64(data)
	return e, true
}
