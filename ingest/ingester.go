package ingest

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"

	"github.com/asofdev/asof/ledger"
)

// Options configures an Ingester. Zero fields take the defaults each one
// names.
type Options struct {
	// Streams names the streams; see StreamConfig for its defaults.
	Streams StreamConfig

	// Durable is the prefix of the durable consumers' names, one per
	// stream: Durable-<stream>. Default "asof-ledger".
	Durable string

	// BatchSize is the most messages appended to the ledger in one batch.
	// Default 1000.
	BatchSize int

	// MaxWait is how long a batch waits to fill once its first message has
	// arrived. Default 1 ms.
	MaxWait time.Duration

	// MaxAckPending is the most messages the broker hands out without an
	// acknowledgement. Default 8 × BatchSize.
	MaxAckPending int

	// AckWait is how long the broker waits for an acknowledgement before it
	// delivers a message again. Default 30 s.
	AckWait time.Duration

	// MaxPayload is the largest event or snapshot accepted, in bytes;
	// larger ones are dead-lettered as too_large. Default 1 MiB, at most
	// ledger.MaxPayload.
	MaxPayload int

	// DeadTimeout bounds the wait for the broker to store a batch's dead
	// letters. Default 10 s.
	DeadTimeout time.Duration

	// PendingInterval is how often the consumers' pending counts are
	// sampled for the metrics. Default 5 s.
	PendingInterval time.Duration

	// Registerer receives the ingester's metrics. Default: a private
	// registry that nobody reads.
	Registerer prometheus.Registerer

	// Logger receives the ingester's log lines. Default: discard.
	Logger hclog.Logger
}

const defaultBatchSize = 1000

func (o Options) withDefaults() Options {
	o.Streams = o.Streams.withDefaults()
	if o.Durable == "" {
		o.Durable = "asof-ledger"
	}
	if o.BatchSize == 0 {
		o.BatchSize = defaultBatchSize
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Millisecond
	}
	if o.MaxAckPending == 0 {
		o.MaxAckPending = 8 * o.BatchSize
	}
	if o.AckWait == 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = 1 << 20
	}
	if o.DeadTimeout == 0 {
		o.DeadTimeout = 10 * time.Second
	}
	if o.PendingInterval == 0 {
		o.PendingInterval = 5 * time.Second
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
func (o Options) Validate() error {
	switch {
	case o.BatchSize < 0 || o.MaxAckPending < 0 || o.MaxPayload < 0:
		return errors.New("ingest: options: negative size")
	case o.MaxPayload > ledger.MaxPayload:
		return fmt.Errorf("ingest: options: MaxPayload over the ledger's limit of %d",
			ledger.MaxPayload)
	case o.MaxAckPending != 0 && o.MaxAckPending < cmp.Or(o.BatchSize, defaultBatchSize):
		return errors.New("ingest: options: MaxAckPending below BatchSize")
	case o.MaxWait < 0 || o.AckWait < 0 || o.DeadTimeout < 0 || o.PendingInterval < 0:
		return errors.New("ingest: options: negative duration")
	}
	return nil
}

// Ingester moves events and snapshots from JetStream into the ledger,
// exactly once. See the package comment for how.
type Ingester struct {
	js     jetstream.JetStream
	ledger *ledger.Ledger
	opts   Options
	log    hclog.Logger
	m      *metrics

	// store appends a batch; it is the ledger's Append but for tests and
	// the ack-only benchmark.
	store func(*ledger.Batch) (ledger.Result, error)

	// dropAck, when set by a test, tells which stream sequences to leave
	// unacknowledged after their batch was appended, as if the ack were
	// lost on the way.
	dropAck func(seq uint64) bool
}

// New returns an ingester that appends to l what js's streams hold.
func New(js jetstream.JetStream, l *ledger.Ledger, opts Options) (*Ingester, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, fmt.Errorf("ingest: register metrics: %w", err)
	}
	return &Ingester{js: js, ledger: l, opts: opts, log: opts.Logger.Named("ingest"), m: m,
		store: l.Append}, nil
}

// Run creates or updates the streams and their durable consumers, then
// ingests until ctx is cancelled or the ledger fails. On cancel it finishes
// the batch in flight, appended and acknowledged, and returns nil. A ledger
// failure returns an error wrapping ErrLedger, with the failed batch left
// unacknowledged. Lost connections and deleted consumers are recovered
// from, not returned.
func (in *Ingester) Run(ctx context.Context) error {
	if err := EnsureStreams(ctx, in.js, in.opts.Streams); err != nil {
		if ctx.Err() != nil {
			return nil // cancelled before anything was read
		}
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range []*consumer{
		in.newConsumer(kindEvents, in.opts.Streams.Events.Name),
		in.newConsumer(kindSnapshots, in.opts.Streams.Snapshots.Name),
	} {
		g.Go(func() error { return c.run(gctx) })
	}
	err := g.Wait()

	// Push the last acknowledgements out before the caller closes the
	// connection; one that is lost is only delivered again.
	if ferr := in.js.Conn().FlushTimeout(5 * time.Second); ferr != nil && err == nil {
		in.log.Warn("flushing acknowledgements", "error", ferr)
	}
	return err
}
