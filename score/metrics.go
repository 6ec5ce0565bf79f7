package score

import (
	"slices"
	"sync/atomic"

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
	memoHits      prometheus.Counter
	memoMisses    prometheus.Counter
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
	vectors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "asof_online_vectors_total",
		Help: "Vectors read from the online state, by whether a memo held them (memo) " +
			"or the windows were folded (folded).",
	}, []string{"from"})
	m.memoHits, m.memoMisses = vectors.WithLabelValues("memo"), vectors.WithLabelValues("folded")
	for _, c := range []prometheus.Collector{m.applied, m.skipped, m.redelivered, m.injected,
		m.watermark, m.lagMessages, m.lagSeconds, m.entities, m.held, m.bytesPerEnt,
		m.bytesPerEvent, vectors} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// serviceMetrics are the scoring service's Prometheus collectors. The
// requests counter of each model label and outcome is looked up through a
// requestCounters, not through the vector on every request.
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

// outcomes are the outcomes a request is counted under: ok or an error
// code.
var outcomes = [...]string{"ok", CodeUnknownModel, CodeBadRequest, CodeTooLarge, CodeUnavailable}

// requestCounters caches the requests counters of one model label, one per
// outcome. Each is made on first use, so that a series appears only once a
// request had its outcome, as with the vector alone. It is safe for
// concurrent use.
type requestCounters struct {
	vec   *prometheus.CounterVec
	label string
	made  [len(outcomes)]atomic.Pointer[prometheus.Counter] // by index in outcomes
}

func newRequestCounters(vec *prometheus.CounterVec, label string) *requestCounters {
	return &requestCounters{vec: vec, label: label}
}

// inc counts one request with outcome.
func (c *requestCounters) inc(outcome string) {
	i := slices.Index(outcomes[:], outcome)
	if i < 0 {
		c.vec.WithLabelValues(c.label, outcome).Inc()
		return
	}
	p := c.made[i].Load()
	if p == nil {
		// Racing first uses get the same child from the vector.
		m := c.vec.WithLabelValues(c.label, outcome)
		p = &m
		c.made[i].Store(p)
	}
	(*p).Inc()
}
