package ingest

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the ingester's Prometheus collectors.
type metrics struct {
	events      prometheus.Counter
	snapshots   prometheus.Counter
	duplicates  prometheus.Counter
	dead        *prometheus.CounterVec // by reason
	redelivered prometheus.Counter
	ackFailures prometheus.Counter
	batchSize   prometheus.Histogram
	commit      prometheus.Histogram
	pending     *prometheus.GaugeVec // by stream
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asof_ingest_events_total",
			Help: "Events stored in the ledger.",
		}),
		snapshots: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asof_ingest_snapshots_total",
			Help: "Snapshots stored in the ledger.",
		}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asof_ingest_duplicates_total",
			Help: "Events and snapshots skipped because the ledger already held them.",
		}),
		dead: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asof_ingest_dead_letters_total",
			Help: "Messages sent to the dead-letter stream, by reason.",
		}, []string{"reason"}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asof_ingest_redelivered_acked_total",
			Help: "Redelivered messages the ledger had already accounted for, acknowledged again.",
		}),
		ackFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asof_ingest_ack_failures_total",
			Help: "Acknowledgements that could not be sent; the broker will redeliver.",
		}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "asof_ingest_batch_size",
			Help:    "Messages per ledger batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 7), // 1 to 4096
		}),
		commit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "asof_ingest_commit_seconds",
			Help:    "Time to append one batch to the ledger, fsync included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 12), // 0.5 ms to 1 s
		}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "asof_ingest_consumer_pending",
			Help: "Messages in the stream not yet delivered to the ledger's consumer (sampled).",
		}, []string{"stream"}),
	}
	for _, c := range []prometheus.Collector{m.events, m.snapshots, m.duplicates, m.dead,
		m.redelivered, m.ackFailures, m.batchSize, m.commit, m.pending} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
