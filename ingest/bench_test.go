package ingest

import (
	"flag"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/asofdev/asof/ledger"
)

var benchEvents = flag.Int("ingest.events", 100_000, "events per iteration of BenchmarkIngest")

// benchEvent returns event i as a payload of 200 bytes.
func benchEvent(i int) []byte {
	p := fmt.Appendf(nil, `{"id":"bench-%09d","entity":"user:%06d","type":"payment",`+
		`"time":"2026-12-02T10:00:00.123Z","fields":{"amount":%d.25,"merchant":"m-%04d",`+
		`"note":"`, i, i%10000, i%1000, i%997)
	for len(p) < 197 {
		p = append(p, 'x')
	}
	return append(p, `"}}`...)
}

// storeFunc makes the store an ingester appends its batches with.
type storeFunc func(*ledger.Ledger) func(*ledger.Batch) (ledger.Result, error)

// ackOnly acknowledges batches without storing them.
func ackOnly(*ledger.Ledger) func(*ledger.Batch) (ledger.Result, error) {
	return func(b *ledger.Batch) (ledger.Result, error) {
		return ledger.Result{Events: len(b.Events)}, nil
	}
}

// appendToLedger appends batches to the ledger, fsync included.
func appendToLedger(l *ledger.Ledger) func(*ledger.Batch) (ledger.Result, error) {
	return l.Append
}

// BenchmarkIngest measures events per second through the ingester, with
// "ack-only" acknowledging each batch without storing it and "ledger"
// appending it to the ledger first (fsync included). In "live", events are
// published asynchronously to the embedded server while the ingester
// consumes them, all in this process; in "backlog", they are published
// first, untimed, and the ingester drains them. Each "ledger" sub-benchmark
// reports its throughput as a ratio of the "ack-only" one run just before.
func BenchmarkIngest(b *testing.B) {
	for _, mode := range []string{"live", "backlog"} {
		var peer float64
		b.Run(mode+"/ack-only", func(b *testing.B) { peer = benchIngest(b, mode, ackOnly) })
		b.Run(mode+"/ledger", func(b *testing.B) {
			rate := benchIngest(b, mode, appendToLedger)
			if peer > 0 {
				b.ReportMetric(rate/peer, "ratio-to-ack-only")
			}
		})
	}
}

// benchIngest runs one sub-benchmark and returns its events per second.
func benchIngest(b *testing.B, mode string, store storeFunc) float64 {
	f := newFixture(b)
	_, pubJS := connect(b, f.srv.ClientURL())
	var stored atomic.Int64
	inner := store(f.l)
	var last *running
	startIngester := func() *running {
		last = start(b, f, Options{}, func(in *Ingester) {
			in.store = func(bt *ledger.Batch) (ledger.Result, error) {
				res, err := inner(bt)
				stored.Add(int64(res.Events + len(res.DuplicateEvents)))
				return res, err
			}
		})
		return last
	}
	if mode == "live" {
		startIngester()
	}
	n := *benchEvents
	payloads := make([][]byte, n)

	b.ReportAllocs()
	b.SetBytes(int64(n * len(benchEvent(0))))
	next := 0
	for b.Loop() {
		for i := range payloads {
			payloads[i] = benchEvent(next + i)
		}
		next += n
		if mode == "backlog" {
			b.StopTimer()
			if err := publishPayloads(pubJS, payloads); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			r := startIngester()
			waitStored(&stored, next)
			b.StopTimer()
			if err := r.stop(b); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			continue
		}
		if err := publishPayloads(pubJS, payloads); err != nil {
			b.Fatal(err)
		}
		waitStored(&stored, next)
	}
	rate := float64(next) / b.Elapsed().Seconds()
	b.ReportMetric(rate, "events/s")
	b.ReportMetric(mean(last.in.m.batchSize), "msgs/batch")
	b.ReportMetric(mean(last.in.m.commit)*1e3, "ms/commit")
	return rate
}

func waitStored(stored *atomic.Int64, n int) {
	for stored.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
}

// mean returns the mean of a histogram's observations.
func mean(h prometheus.Histogram) float64 {
	var d dto.Metric
	if err := h.Write(&d); err != nil || d.Histogram.GetSampleCount() == 0 {
		return 0
	}
	return d.Histogram.GetSampleSum() / float64(d.Histogram.GetSampleCount())
}
