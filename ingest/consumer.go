package ingest

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
)

// kind tells what a stream carries.
type kind int

const (
	kindEvents kind = iota
	kindSnapshots
)

// consumer moves one stream into the ledger through one durable consumer.
type consumer struct {
	in      *Ingester
	kind    kind
	stream  string
	durable string
	log     hclog.Logger

	// checkpoint is the ledger's checkpoint for stream: the highest stream
	// sequence appended. Messages at or below it may already be accounted
	// for and are checked against the ledger's coverage first. Committers
	// raise it; the collecting loop reads it.
	checkpoint atomic.Uint64

	// next is the stream sequence the next first delivery should carry;
	// a higher one means the broker skipped sequences it no longer holds.
	// Only the collecting loop uses it.
	next uint64
}

// errConsumeEnded tells run that the subscription ended (the consumer was
// deleted, or the connection closed) and must be started again.
var errConsumeEnded = errors.New("ingest: consumer subscription ended")

func (in *Ingester) newConsumer(k kind, stream string) *consumer {
	return &consumer{in: in, kind: k, stream: stream, durable: in.opts.Durable + "-" + stream,
		log: in.log.With("stream", stream)}
}

// run ingests until ctx is done or the ledger fails, starting the
// subscription again whenever it ends for another reason.
func (c *consumer) run(ctx context.Context) error {
	cp, err := c.in.ledger.Checkpoint(c.stream)
	if err != nil {
		return fmt.Errorf("%w: read checkpoint of %s: %w", ErrLedger, c.stream, err)
	}
	c.checkpoint.Store(cp)
	c.log.Debug("consumer starting", "durable", c.durable, "checkpoint", cp)

	backoff := 100 * time.Millisecond
	for {
		err := c.session(ctx)
		switch {
		case errors.Is(err, ErrLedger):
			return err
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, errConsumeEnded):
			c.log.Info("consumer subscription ended; starting it again")
			backoff = 100 * time.Millisecond
		default:
			c.log.Warn("consumer failed; trying again", "error", err, "in", backoff)
			backoff = min(2*backoff, 30*time.Second)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
	}
}

// ensureConsumer returns the durable consumer, creating it when missing. A
// new consumer starts at the first stream sequence the ledger has not
// accounted for, so that a deleted consumer does not replay the stream.
func (c *consumer) ensureConsumer(ctx context.Context) (jetstream.Consumer, error) {
	o := c.in.opts
	cfg := jetstream.ConsumerConfig{
		Durable:       c.durable,
		Description:   "asof: append to the ledger",
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       o.AckWait,
		MaxAckPending: o.MaxAckPending,
		MaxDeliver:    -1,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	cons, err := c.in.js.Consumer(ctx, c.stream, c.durable)
	if err == nil {
		// Where a consumer starts cannot be changed; keep it.
		old := cons.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq = old.DeliverPolicy, old.OptStartSeq
		return c.in.js.UpdateConsumer(ctx, c.stream, cfg)
	}
	if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return nil, err
	}
	start, err := c.firstUncovered()
	if err != nil {
		return nil, err
	}
	if start > 1 {
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, start
	}
	c.log.Info("creating consumer", "durable", c.durable, "start_seq", start)
	return c.in.js.CreateConsumer(ctx, c.stream, cfg)
}

// firstUncovered returns the lowest stream sequence the ledger has not
// accounted for.
func (c *consumer) firstUncovered() (uint64, error) {
	cov, err := c.in.ledger.Coverage(c.stream)
	if err != nil {
		return 0, fmt.Errorf("%w: read coverage of %s: %w", ErrLedger, c.stream, err)
	}
	if len(cov) == 0 || cov[0].First > 1 {
		return 1, nil
	}
	return cov[0].Last + 1, nil
}

// pullExpiry is the life of one pull request. It also sets the heartbeat
// interval (half of it), and so how soon a silent subscription is noticed.
const pullExpiry = 5 * time.Second

// subscription is one running Consume call and what it hands over.
type subscription struct {
	cons   jetstream.Consumer
	cc     jetstream.ConsumeContext
	msgs   chan jetstream.Msg
	errs   chan error
	done   chan struct{}
	timer  *time.Timer
	sample *time.Ticker
	failed <-chan struct{} // closed when a committer failed
}

// close stops the subscription and hands back the messages it delivered
// that no batch took, so that the broker need not wait AckWait to deliver
// them again.
func (s *subscription) close() {
	close(s.done)
	s.cc.Stop()
	s.timer.Stop()
	s.sample.Stop()
	for {
		select {
		case m := <-s.msgs:
			_ = m.Nak()
		default:
			return
		}
	}
}

// session subscribes and ingests batches until ctx is done or the
// subscription ends.
func (c *consumer) session(ctx context.Context) error {
	cons, err := c.ensureConsumer(ctx)
	if err != nil {
		return err
	}
	if c.next, err = c.highestCovered(); err != nil {
		return err
	}
	c.next++
	s, err := c.subscribe(cons)
	if err != nil {
		return err
	}
	defer s.close()
	if err := c.samplePending(ctx, s); err != nil {
		return err
	}

	// This loop collects and decodes batches; committers append them to
	// the ledger and acknowledge them, several at a time so that their
	// fsyncs are shared.
	p := c.startCommitters()
	s.failed = p.failed
	for {
		batch, err := c.collect(ctx, s, make([]jetstream.Msg, 0, c.in.opts.BatchSize))
		if len(batch) > 0 && err == nil {
			var w *work
			if w, err = c.prepare(batch); err == nil && !p.submit(w) {
				err = errCommitFailed
			}
		}
		if err != nil || ctx.Err() != nil {
			if werr := p.wait(); werr != nil {
				return werr // the committer's failure explains errCommitFailed
			}
			return err
		}
	}
}

// subscribe starts consuming. Messages are handed over one at a time on
// s.msgs, which holds up to a batch; the client buffers twice that.
func (c *consumer) subscribe(cons jetstream.Consumer) (*subscription, error) {
	o := c.in.opts
	s := &subscription{
		cons: cons,
		msgs: make(chan jetstream.Msg, o.BatchSize),
		errs: make(chan error, 16),
		done: make(chan struct{}),
	}
	var err error
	s.cc, err = cons.Consume(func(m jetstream.Msg) {
		select {
		case s.msgs <- m:
		case <-s.done:
		}
	}, jetstream.PullMaxMessages(2*o.BatchSize), jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			select {
			case s.errs <- err:
			default:
			}
		}))
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", c.durable, err)
	}
	s.timer = time.NewTimer(o.MaxWait)
	s.sample = time.NewTicker(o.PendingInterval)
	return s, nil
}

// collect waits for a first message, then gathers more until the batch is
// full or MaxWait has passed. It returns early, with what it has, when ctx
// is done.
func (c *consumer) collect(ctx context.Context, s *subscription,
	batch []jetstream.Msg) ([]jetstream.Msg, error) {
	for len(batch) == 0 {
		select {
		case m := <-s.msgs:
			batch = append(batch, m)
		case <-ctx.Done():
			return nil, nil
		case <-s.cc.Closed():
			return nil, errConsumeEnded
		case <-s.failed:
			return nil, errCommitFailed
		case err := <-s.errs:
			if err := c.consumeError(ctx, s, err); err != nil {
				return nil, err
			}
		case <-s.sample.C:
			if err := c.samplePending(ctx, s); err != nil {
				return nil, err
			}
		}
	}
	s.timer.Reset(c.in.opts.MaxWait)
	for len(batch) < cap(batch) {
		select {
		case m := <-s.msgs:
			batch = append(batch, m)
		case <-s.timer.C:
			return batch, nil
		case <-ctx.Done():
			return batch, nil
		}
	}
	return batch, nil
}

// consumeError decides what an error of the subscription means: the end of
// the consumer, or a passing trouble that Consume recovers from itself.
func (c *consumer) consumeError(ctx context.Context, s *subscription, err error) error {
	switch {
	case errors.Is(err, jetstream.ErrConsumerDeleted),
		errors.Is(err, jetstream.ErrConsumerNotFound):
		return errConsumeEnded
	case errors.Is(err, jetstream.ErrNoHeartbeat):
		// Heartbeats also stop when the consumer was deleted while no
		// request was waiting; ask.
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		if _, ierr := s.cons.Info(ictx); errors.Is(ierr, jetstream.ErrConsumerNotFound) {
			return errConsumeEnded
		}
	}
	c.log.Debug("consumer error", "error", err)
	return nil
}

// samplePending records how many messages wait for the consumer. It
// returns errConsumeEnded when the consumer is gone: a consumer deleted while
// no pull request was waiting sends no notice.
func (c *consumer) samplePending(ctx context.Context, s *subscription) error {
	ictx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := s.cons.Info(ictx)
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		return errConsumeEnded
	}
	if err != nil {
		c.log.Debug("consumer info", "error", err)
		return nil
	}
	c.in.m.pending.WithLabelValues(c.stream).Set(float64(info.NumPending))
	return nil
}
