package score

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestRequestCounters checks that cached counters count into the vector's
// series and that a series appears only once its outcome happened.
func TestRequestCounters(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := newServiceMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	c := newRequestCounters(m.requests, "fraud")
	for range 3 {
		c.inc("ok")
	}
	c.inc(CodeBadRequest)
	c.inc("not_a_code")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	series := 0
	for _, f := range families {
		if f.GetName() == "asof_score_requests_total" {
			series = len(f.Metric)
		}
	}
	if series != 3 {
		t.Errorf("%d series, want 3", series)
	}
	for outcome, want := range map[string]float64{"ok": 3, CodeBadRequest: 1, "not_a_code": 1} {
		if got := value(t, m.requests.WithLabelValues("fraud", outcome)); got != want {
			t.Errorf("%s: %v requests, want %v", outcome, got, want)
		}
	}
}
