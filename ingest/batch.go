package ingest

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/nats-io/nats.go/jetstream"
	"golang.org/x/sync/errgroup"

	"github.com/asofdev/asof/ledger"
)

// work is one batch of messages on its way into the ledger.
type work struct {
	events  []ledger.Event
	snaps   []ledger.Snapshot
	records []jetstream.Msg   // the message of each record, in the same order
	dead    []deadLetter      // refused messages to send to the dead stream
	deleted []ledger.SeqRange // sequences the broker skipped because it deleted them
	deadOK  []deadLetter      // dead letters the broker stored
	ack     []jetstream.Msg   // messages to acknowledge once the batch is appended
	retry   []jetstream.Msg   // messages to hand back for another delivery
}

// commitsInFlight is how many batches of one stream may be in the ledger's
// Append at once: one, so that batches are appended in the broker's order
// and the first of two events with one id is the one kept, as online. The
// next batch is collected and decoded meanwhile.
const commitsInFlight = 1

// errCommitFailed stops the collecting loop after a committer failed; the
// committer's error is the one returned.
var errCommitFailed = errors.New("ingest: a commit failed")

// committers run the commits of one subscription.
type committers struct {
	work   chan *work
	failed chan struct{} // closed at the first failure
	g      errgroup.Group
}

// startCommitters starts the goroutines that append and acknowledge the
// prepared batches.
func (c *consumer) startCommitters() *committers {
	p := &committers{work: make(chan *work), failed: make(chan struct{})}
	var once sync.Once
	for range commitsInFlight {
		p.g.Go(func() error {
			for w := range p.work {
				if err := c.commit(w); err != nil {
					once.Do(func() { close(p.failed) })
					return err
				}
			}
			return nil
		})
	}
	return p
}

// submit hands w to a committer. It returns false when a committer has
// failed: w is then left unacknowledged.
func (p *committers) submit(w *work) bool {
	select {
	case p.work <- w:
		return true
	case <-p.failed:
		return false
	}
}

// wait lets the committers finish the batches handed to them and returns
// the first failure.
func (p *committers) wait() error {
	close(p.work)
	return p.g.Wait()
}

// raiseCheckpoint moves the checkpoint up to seq, never down.
func (c *consumer) raiseCheckpoint(seq uint64) {
	for {
		cur := c.checkpoint.Load()
		if seq <= cur || c.checkpoint.CompareAndSwap(cur, seq) {
			return
		}
	}
}

// prepare decodes each message, setting aside redeliveries the ledger has
// already accounted for and messages that cannot be decoded.
func (c *consumer) prepare(msgs []jetstream.Msg) (*work, error) {
	w := &work{}
	var covered []ledger.SeqRange
	loaded := false
	for _, m := range msgs {
		meta, err := m.Metadata()
		if err != nil {
			c.log.Error("message without JetStream metadata", "subject", m.Subject(), "error", err)
			w.retry = append(w.retry, m)
			continue
		}
		seq := meta.Sequence.Stream
		if meta.NumDelivered == 1 && seq > c.next {
			w.deleted = append(w.deleted, c.deletedBetween(c.next, seq-1)...)
		}
		c.next = max(c.next, seq+1)

		// A message at or below the checkpoint may have been accounted for
		// already: then the coverage holds its sequence.
		seen := false
		if seq <= c.checkpoint.Load() {
			if !loaded {
				if covered, err = c.in.ledger.Coverage(c.stream); err != nil {
					return nil, fmt.Errorf("%w: read coverage of %s: %w", ErrLedger, c.stream, err)
				}
				loaded = true
			}
			seen = isCovered(covered, seq)
		}

		derr := c.decode(w, m, meta)
		switch {
		case derr != nil && seen:
			// Dead-lettered before.
			c.in.m.redelivered.Inc()
			w.ack = append(w.ack, m)
		case derr != nil:
			w.dead = append(w.dead, c.newDeadLetter(m, seq, derr))
		case seen:
			if err := c.dropIfStored(w, m); err != nil {
				return nil, err
			}
		}
	}
	return w, nil
}

// dropIfStored takes the record just decoded out of w, to be acknowledged
// without being appended, if the ledger holds it. A covered sequence whose
// record the ledger lacks means the broker reused the sequence after losing
// messages; that record is appended like any other.
func (c *consumer) dropIfStored(w *work, m jetstream.Msg) error {
	var err error
	last := len(w.records) - 1
	if c.kind == kindEvents {
		e := &w.events[last]
		if e.ID != "" {
			_, err = c.in.ledger.Event(e.ID)
		} else {
			_, err = c.in.ledger.EventByHash(xxhash.Sum64(e.Payload))
		}
	} else {
		_, err = c.in.ledger.Snapshot(w.snaps[last].ID)
	}
	switch {
	case errors.Is(err, ledger.ErrNotFound):
		c.log.Warn("a covered stream sequence holds a message the ledger lacks; appending it",
			"seq", c.seqOf(w, last))
		return nil
	case err != nil:
		return fmt.Errorf("%w: look up a redelivered record: %w", ErrLedger, err)
	}
	w.records = w.records[:last]
	if c.kind == kindEvents {
		w.events = w.events[:last]
	} else {
		w.snaps = w.snaps[:last]
	}
	c.in.m.redelivered.Inc()
	w.ack = append(w.ack, m)
	return nil
}

// seqOf returns the stream sequence of record i of w.
func (c *consumer) seqOf(w *work, i int) uint64 {
	if c.kind == kindEvents {
		return w.events[i].BrokerSeq
	}
	return w.snaps[i].BrokerSeq
}

// decode adds the record a message holds to w.
func (c *consumer) decode(w *work, m jetstream.Msg, meta *jetstream.MsgMetadata) error {
	seq, arrival := meta.Sequence.Stream, meta.Timestamp.UTC()
	if c.kind == kindEvents {
		e, err := ledger.DecodeEvent(m.Subject(), m.Data(), c.in.opts.MaxPayload)
		if err != nil {
			return err
		}
		e.Arrival, e.Stream, e.BrokerSeq = arrival, c.stream, seq
		w.events = append(w.events, e)
	} else {
		if n := len(m.Data()); n > c.in.opts.MaxPayload {
			return &ledger.WireError{Reason: ledger.ReasonTooLarge,
				Msg: fmt.Sprintf("payload of %d bytes is over the limit of %d", n,
					c.in.opts.MaxPayload)}
		}
		s, err := ledger.DecodeSnapshot(m.Data())
		if err != nil {
			return err
		}
		s.Arrival, s.Stream, s.BrokerSeq = arrival, c.stream, seq
		w.snaps = append(w.snaps, s)
	}
	w.records = append(w.records, m)
	return nil
}

// isCovered reports whether seq lies in one of the sorted ranges.
func isCovered(rs []ledger.SeqRange, seq uint64) bool {
	i, _ := slices.BinarySearchFunc(rs, seq, func(r ledger.SeqRange, s uint64) int {
		if r.Last < s {
			return -1
		}
		if r.First > s {
			return 1
		}
		return 0
	})
	return i < len(rs) && rs[i].First <= seq && seq <= rs[i].Last
}

// commit stores w's dead letters, appends its records with the checkpoint
// and covered ranges, and then acknowledges its messages. A record the
// ledger refuses is dead-lettered and the rest appended again. It returns
// an error only for a ledger failure, with nothing acknowledged.
func (c *consumer) commit(w *work) error {
	c.sendDead(w)
	if err := c.appendBatch(w); err != nil {
		return err
	}
	c.acknowledge(w)
	return nil
}

// appendBatch appends the records of w with the checkpoint and covered
// ranges.
func (c *consumer) appendBatch(w *work) error {
	for {
		b := c.ledgerBatch(w)
		if len(b.Covered) == 0 && len(b.Deleted) == 0 {
			return nil // nothing new: only redeliveries and failed dead letters
		}
		start := time.Now()
		res, err := c.in.store(b)
		var ve *ledger.ValidationError
		if errors.As(err, &ve) && ve.Index < len(w.records) {
			c.refused(w, ve)
			continue
		}
		if err != nil {
			return fmt.Errorf("%w: append %d records of %s: %w", ErrLedger,
				len(w.records), c.stream, err)
		}
		c.in.m.commit.Observe(time.Since(start).Seconds())
		c.in.m.batchSize.Observe(float64(len(w.records) + len(w.deadOK)))
		c.in.m.events.Add(float64(res.Events))
		c.in.m.snapshots.Add(float64(res.Snapshots))
		c.in.m.duplicates.Add(float64(len(res.DuplicateEvents) + len(res.DuplicateSnapshots)))
		c.raiseCheckpoint(b.Checkpoints[c.stream])
		w.ack = append(w.ack, w.records...)
		for _, d := range w.deadOK {
			w.ack = append(w.ack, d.msg)
		}
		return nil
	}
}

// ledgerBatch builds the ledger batch of w: its records, and as covered
// ranges the sequences of its records and of its stored dead letters.
func (c *consumer) ledgerBatch(w *work) *ledger.Batch {
	seqs := make([]uint64, 0, len(w.records)+len(w.deadOK))
	for i := range w.events {
		seqs = append(seqs, w.events[i].BrokerSeq)
	}
	for i := range w.snaps {
		seqs = append(seqs, w.snaps[i].BrokerSeq)
	}
	for _, d := range w.deadOK {
		seqs = append(seqs, d.seq)
	}
	b := &ledger.Batch{Events: w.events, Snapshots: w.snaps, Deleted: w.deleted}
	if len(seqs) == 0 {
		return b
	}
	slices.Sort(seqs)
	seqs = slices.Compact(seqs)
	b.Checkpoints = map[string]uint64{c.stream: seqs[len(seqs)-1]}
	r := ledger.SeqRange{Stream: c.stream, First: seqs[0], Last: seqs[0]}
	for _, s := range seqs[1:] {
		if s == r.Last+1 {
			r.Last = s
			continue
		}
		b.Covered = append(b.Covered, r)
		r.First, r.Last = s, s
	}
	b.Covered = append(b.Covered, r)
	return b
}

// refused takes a record the ledger refused out of w and dead-letters it.
// Decoding should have refused it already; this keeps one bad record from
// stopping ingest.
func (c *consumer) refused(w *work, ve *ledger.ValidationError) {
	i := ve.Index
	m := w.records[i]
	w.records = slices.Delete(w.records, i, i+1)
	seq := c.seqOf(w, i)
	if c.kind == kindEvents {
		w.events = slices.Delete(w.events, i, i+1)
	} else {
		w.snaps = slices.Delete(w.snaps, i, i+1)
	}
	c.log.Warn("ledger refused a decoded record", "seq", seq, "error", ve)
	w.dead = append(w.dead[:0], c.newDeadLetter(m, seq,
		&ledger.WireError{Reason: "refused", Msg: ve.Error()}))
	c.sendDead(w)
}

// acknowledge acks what w accounts for and hands back what it could not.
func (c *consumer) acknowledge(w *work) {
	for _, m := range w.ack {
		if c.in.dropAck != nil {
			if meta, err := m.Metadata(); err == nil && c.in.dropAck(meta.Sequence.Stream) {
				continue
			}
		}
		if err := m.Ack(); err != nil {
			c.in.m.ackFailures.Inc()
			c.log.Debug("ack failed; the message will be delivered again", "error", err)
		}
	}
	for _, m := range w.retry {
		if err := m.NakWithDelay(time.Second); err != nil {
			c.log.Debug("nak failed", "error", err)
		}
	}
}
