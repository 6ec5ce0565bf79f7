package ingest

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ledger"
)

// maxDeletedCheck bounds the sequences looked up one by one when a first
// delivery skips ahead. A longer skip above the stream's first sequence is
// left unconfirmed: those sequences then show as gaps until their messages
// arrive, which errs on the side of reporting.
const maxDeletedCheck = 10000

// deletedBetween asks the broker which of the sequences first..last it no
// longer holds. A durable consumer delivers every message it holds in order
// the first time, so a first delivery beyond the next expected sequence
// means the broker deleted the ones between (limits, purges, removal by
// hand), or that they were delivered to an earlier session and are still
// pending; the broker's answer tells them apart. The sequences it confirms
// deleted are not gaps.
func (c *consumer) deletedBetween(first, last uint64) []ledger.SeqRange {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.in.js.Stream(ctx, c.stream)
	if err != nil {
		c.log.Warn("cannot confirm skipped sequences", "stream", c.stream, "error", err)
		return nil
	}
	info, err := st.Info(ctx)
	if err != nil {
		c.log.Warn("cannot confirm skipped sequences", "stream", c.stream, "error", err)
		return nil
	}
	var out []ledger.SeqRange
	add := func(seq uint64) {
		if n := len(out); n > 0 && out[n-1].Last+1 == seq {
			out[n-1].Last = seq
			return
		}
		out = append(out, ledger.SeqRange{Stream: c.stream, First: seq, Last: seq})
	}
	// Below the stream's first sequence, every message is gone.
	for ; first <= last && first < info.State.FirstSeq; first++ {
		add(first)
	}
	if first <= last && last-first >= maxDeletedCheck {
		c.log.Warn("long skip left unconfirmed", "stream", c.stream, "first", first, "last", last)
		return out
	}
	for seq := first; seq <= last && first <= last; seq++ {
		_, err := st.GetMsg(ctx, seq)
		switch {
		case errors.Is(err, jetstream.ErrMsgNotFound):
			add(seq)
		case err != nil:
			c.log.Warn("cannot confirm a skipped sequence", "stream", c.stream, "seq", seq,
				"error", err)
		}
	}
	if len(out) > 0 {
		c.log.Info("broker deleted sequences before the ledger read them", "stream", c.stream,
			"ranges", len(out), "first", out[0].First, "last", out[len(out)-1].Last)
	}
	return out
}

// highestCovered returns the highest sequence of the stream the ledger
// has accounted for, stored or deleted, 0 when none.
func (c *consumer) highestCovered() (uint64, error) {
	var top uint64
	for _, f := range []func(string) ([]ledger.SeqRange, error){c.in.ledger.Coverage,
		c.in.ledger.Deleted} {
		rs, err := f(c.stream)
		if err != nil {
			return 0, err
		}
		for _, r := range rs {
			top = max(top, r.Last)
		}
	}
	return top, nil
}
