package score

import (
	"sync"

	"github.com/nats-io/nats.go"
)

// workers answer requests, at most max at once. A worker stays to take the
// next request instead of ending, so that it keeps the stack it grew:
// a goroutine per request would grow a new one every time. Workers start
// as requests find none idle, so there are only as many as were ever busy
// at once.
type workers struct {
	serve func(*nats.Msg)
	msgs  chan *nats.Msg // unbuffered: a send succeeds only to an idle worker
	max   int
	wg    sync.WaitGroup

	// started is only touched by dispatch, which the subscription calls
	// from one goroutine.
	started int
}

// dispatch hands m to an idle worker, else to a new one while fewer than
// max run, else waits for one to be idle.
func (w *workers) dispatch(m *nats.Msg) {
	select {
	case w.msgs <- m:
		return
	default:
	}
	if w.started == w.max {
		w.msgs <- m
		return
	}
	w.started++
	w.wg.Go(func() {
		w.serve(m)
		for m := range w.msgs {
			w.serve(m)
		}
	})
}

// stop ends the workers once they have answered every request handed to
// them. dispatch must not be called again.
func (w *workers) stop() {
	close(w.msgs)
	w.wg.Wait()
}
