package score

import (
	"github.com/prometheus/client_golang/prometheus"
)

// onlineMetrics are the online pipeline's Prometheus collectors.
type onlineMetrics struct {
	applied       prometheus.Counter
	skipped       *prometheus.CounterVec // by reason
	redelivered   prometheus.Counter
	injected      *prometheus.CounterVec // by action
	watermark     prometheus.Gauge
	lagMessages   prometheus.Gauge
	lagSeconds    prometheus.Gauge
	entities      prometheus.Gauge
	held          prometheus.Gauge
	bytesPerEnt   prometheus.Gauge
	bytesPerEvent prometheus.Gauge
}

func newOnlineMetrics(reg prometheus.Registerer) (*onlineMetrics, error) {
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Name: name, Help: help})
	}
	m := &onlineMetrics{
		applied: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asof_online_events_applied_total",
			Help: "Events the online pipeline applied to its state.",
		}),
		skipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asof_online_events_skipped_total",
			Help: "Events the online pipeline could not decode or no longer found, by reason.",
		}, []string{"reason"}),
		redelivered: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "asof_online_redelivered_total",
			Help: "Messages at or below the watermark delivered again and acknowledged unapplied.",
		}),
		injected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asof_online_injected_total",
			Help: "Events an injected fault dropped or applied twice, by action.",
		}, []string{"action"}),
		watermark: g("asof_online_watermark",
			"Highest EVENTS stream sequence the online pipeline has applied."),
		lagMessages: g("asof_online_lag_messages",
			"Messages in the EVENTS stream above the watermark (sampled)."),
		lagSeconds: g("asof_online_lag_seconds",
			"Age of the oldest message above the watermark, 0 when none (sampled)."),
		entities: g("asof_online_entities", "Entities with online state."),
		held:     g("asof_online_events_held", "Events held in the online state."),
		bytesPerEnt: g("asof_online_state_bytes_per_entity",
			"Estimated bytes of online state per entity."),
		bytesPerEvent: g("asof_online_state_bytes_per_event",
			"Estimated bytes of online state per held event."),
	}
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.redelivered, m.injected,
		m.watermark, m.lagMessages, m.lagSeconds, m.entities, m.held, m.bytesPerEnt,
		m.bytesPerEvent} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// serviceMetrics are the scoring service's Prometheus collectors.
type serviceMetrics struct {
	requests *prometheus.CounterVec // by model and outcome
	latency  prometheus.Histogram
}

func newServiceMetrics(reg prometheus.Registerer) (*serviceMetrics, error) {
	m := &serviceMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "asof_score_requests_total",
			Help: "Scoring requests answered, by model and outcome (ok or an error code).",
		}, []string{"model", "outcome"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "asof_score_seconds",
			Help: "Time to answer a scoring request, snapshot acknowledgement included.",
			// 50 µs to about 0.8 s
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 15),
		}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
