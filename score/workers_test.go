package score

import (
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestWorkersBound checks that workers answer at most max requests at
// once and answer every request handed to them before stop returns.
func TestWorkersBound(t *testing.T) {
	const max, requests = 3, 50
	var busy, most, served atomic.Int64
	release := make(chan struct{})
	w := &workers{msgs: make(chan *nats.Msg), max: max, serve: func(*nats.Msg) {
		n := busy.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		busy.Add(-1)
		served.Add(1)
	}}
	dispatched := make(chan struct{})
	go func() {
		for range requests {
			w.dispatch(&nats.Msg{})
		}
		close(dispatched)
	}()

	// With every worker held, the dispatcher waits rather than start more.
	waitFor(t, 5*time.Second, "busy workers", func() bool { return busy.Load() == max })
	time.Sleep(20 * time.Millisecond)
	if n := busy.Load(); n != max {
		t.Fatalf("%d requests answered at once, want %d", n, max)
	}
	close(release)
	<-dispatched
	w.stop()
	if served.Load() != requests || most.Load() != max || w.started != max {
		t.Errorf("served %d of %d by %d workers, at most %d at once, want %d", served.Load(),
			requests, w.started, most.Load(), max)
	}
}
