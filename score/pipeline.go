package score

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// pipeline answers NATS requests without a goroutine waiting for each
// snapshot's acknowledgement. The subscription's goroutine reads, scores
// and encodes a request, publishes its snapshot with a reply subject of
// the pipeline's own, the prefix and the snapshot id, and goes on to the
// next request; the handler of those subjects checks the acknowledgement
// and only then sends the reply. Between the request's arrival and the
// reply being written out there are the hops NATS itself makes (into the
// subscription's goroutine, out through the connection's flusher, both
// for the snapshot and for the reply) and no other.
//
// A request is pending from its publication until its acknowledgement,
// a failure or PublishTimeout: whichever takes it out of the pending map
// first answers it, so that it is answered once.
type pipeline struct {
	s        *Service
	requests string             // SubjectPrefix + ".", before a request's model
	prefix   string             // of the acknowledgements' subjects
	acks     *nats.Subscription // on prefix + ">"
	wg       sync.WaitGroup     // requests in flight

	// idle holds Concurrency entries, each a pending to reuse or nil for
	// one not made yet: a request in flight has taken one out.
	idle chan *pending

	// mu guards pending and the pending fields it names.
	mu      sync.Mutex
	pending map[string]*pending // by snapshot id
}

// pending is one request in flight, made to be reused.
type pending struct {
	pl       *pipeline
	rec      *record
	a        answer // the answer once the snapshot is stored
	reply    string // the request's reply subject; "" when nobody waits
	counters *requestCounters
	start    time.Time
	timer    *time.Timer // fires at the deadline
	buf      []byte      // the reply's encoding

	// Guarded by pl.mu.
	id       string    // the snapshot id it is pending under
	deadline time.Time // when it is answered unavailable at the latest
	retries  int       // publications again after no stream took it
}

// newPipeline subscribes to the acknowledgements of a new pipeline.
func (s *Service) newPipeline() (*pipeline, error) {
	pl := &pipeline{s: s, requests: s.opts.SubjectPrefix + ".", prefix: s.snc.NewInbox() + ".",
		idle: make(chan *pending, s.opts.Concurrency), pending: make(map[string]*pending)}
	for range s.opts.Concurrency {
		pl.idle <- nil
	}
	var err error
	if pl.acks, err = s.snc.Subscribe(pl.prefix+">", pl.acked); err != nil {
		return nil, fmt.Errorf("score: subscribe to acknowledgements: %w", err)
	}
	return pl, nil
}

// stop waits until every request taken has been answered, then ends the
// acknowledgements' subscription. The caller stops taking requests first.
func (pl *pipeline) stop() {
	pl.wg.Wait()
	_ = pl.acks.Unsubscribe()
}

// serve takes one request: it waits while Concurrency requests are in
// flight, then scores it and publishes its snapshot, or answers it at once
// when it cannot be scored. The subscription calls it from one goroutine.
func (pl *pipeline) serve(m *nats.Msg) {
	p := <-pl.idle
	if p == nil {
		p = pl.newPending()
	}
	pl.wg.Add(1)
	p.start, p.reply = time.Now(), m.Reply
	var ready bool
	p.counters, p.a, ready = pl.s.begin(strings.TrimPrefix(m.Subject, pl.requests), m.Data,
		p.rec)
	if ready {
		pl.send(p)
		return
	}
	pl.finish(p, nil)
}

// send makes p pending under its snapshot id and publishes the snapshot
// with the id's acknowledgement subject as reply. Once the publication is
// under way, p belongs to whoever takes it out of the pending map.
func (pl *pipeline) send(p *pending) {
	id, timeout := p.rec.snap.ID, pl.s.opts.PublishTimeout
	p.rec.msg.Reply = pl.prefix + id
	pl.mu.Lock()
	p.id, p.deadline, p.retries = id, time.Now().Add(timeout), 0
	pl.pending[id] = p
	pl.mu.Unlock()
	p.timer.Reset(timeout)
	if err := pl.s.snc.PublishMsg(&p.rec.msg); err != nil && pl.take(p, id) {
		pl.finish(p, err)
	}
}

// take takes p, pending under id, out of the pending map and reports
// whether it was still there.
func (pl *pipeline) take(p *pending, id string) bool {
	pl.mu.Lock()
	defer pl.mu.Unlock()
	if pl.pending[id] != p {
		return false
	}
	delete(pl.pending, id)
	return true
}

// acked handles the answer to a snapshot's publication. A snapshot no
// stream took is published again while retries are left and its deadline
// is more than publishRetryWait away. An answer that comes after its
// request was answered is not read.
func (pl *pipeline) acked(m *nats.Msg) {
	id := strings.TrimPrefix(m.Subject, pl.prefix)
	pl.mu.Lock()
	p := pl.pending[id]
	if p == nil {
		pl.mu.Unlock()
		return // answered already, by its deadline
	}
	err := checkAck(m)
	if retryNoStream(err, p.retries) && time.Until(p.deadline) > publishRetryWait {
		p.retries++
		pl.mu.Unlock()
		time.AfterFunc(publishRetryWait, func() { pl.republish(p, id) })
		return
	}
	delete(pl.pending, id)
	pl.mu.Unlock()
	pl.finish(p, err)
}

// republish publishes p's snapshot again if p is still pending under id.
// It holds the lock throughout, so that p cannot be answered meanwhile.
func (pl *pipeline) republish(p *pending, id string) {
	pl.mu.Lock()
	if pl.pending[id] != p {
		pl.mu.Unlock()
		return
	}
	err := pl.s.snc.PublishMsg(&p.rec.msg)
	if err != nil {
		delete(pl.pending, id)
	}
	pl.mu.Unlock()
	if err != nil {
		pl.finish(p, err)
	}
}

// expire answers p unavailable if it is still pending past its deadline.
// It is p's timer's function: a timer of an earlier use of p may fire
// late, and finds p pending under another id or with a later deadline.
func (p *pending) expire() {
	pl := p.pl
	pl.mu.Lock()
	id := p.id
	if pl.pending[id] != p || time.Now().Before(p.deadline) {
		pl.mu.Unlock()
		return
	}
	delete(pl.pending, id)
	pl.mu.Unlock()
	pl.finish(p, errAckTimeout)
}

// finish answers p: with its answer when err is nil, else unavailable. It
// counts the request, sends the reply and gives p back to idle.
func (pl *pipeline) finish(p *pending, err error) {
	s := pl.s
	p.timer.Stop()
	switch {
	case err != nil:
		err = s.notRecorded(p.rec, err)
		p.a = answer{Reply: failed(p.a.RequestID, CodeUnavailable, "%v", err)}
	case p.a.Error == nil:
		pl.recorded(p)
	}
	if p.reply != "" {
		p.buf = p.a.appendReply(p.buf[:0])
	}
	s.count(p.counters, p.a.Error, p.start)

	// The reply goes out last: the connection's flusher that writes it runs
	// once this goroutine has nothing left to do.
	if p.reply != "" {
		if err := s.nc.Publish(p.reply, p.buf); err != nil {
			s.log.Warn("reply not sent", "subject", p.reply, "error", err)
		}
	}
	p.a, p.reply, p.counters = answer{}, "", nil // keeping the buffers
	pl.idle <- p
	pl.wg.Done()
}

// recorded hands p's snapshot to OnSnapshot. A panic there answers p
// unavailable, as it would a synchronous request.
func (pl *pipeline) recorded(p *pending) {
	defer func() {
		if r := recover(); r != nil {
			pl.s.log.Error("OnSnapshot panicked", "snapshot_id", p.rec.snap.ID, "panic", r)
			p.a = answer{Reply: failed(p.a.RequestID, CodeUnavailable, "internal error")}
		}
	}()
	pl.s.recorded(p.rec)
}

// newPending returns a new pending of pl, its timer stopped.
func (pl *pipeline) newPending() *pending {
	p := &pending{pl: pl, rec: newRecord().(*record)}
	p.timer = time.AfterFunc(time.Hour, p.expire)
	p.timer.Stop()
	return p
}
