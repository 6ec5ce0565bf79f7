package ingest

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ledger"
)

// TestIngestDroppedAcks withholds the acknowledgement of every third message
// on its first delivery: the broker delivers those again after AckWait, and
// the ledger must still hold each event once.
func TestIngestDroppedAcks(t *testing.T) {
	f := newFixture(t)
	const n = 3000
	var mu sync.Mutex
	dropped := make(map[uint64]bool)
	r := start(t, f, Options{AckWait: 500 * time.Millisecond, BatchSize: 200},
		func(in *Ingester) {
			in.dropAck = func(seq uint64) bool {
				mu.Lock()
				defer mu.Unlock()
				if seq%3 != 0 || dropped[seq] {
					return false
				}
				dropped[seq] = true
				return true
			}
		})

	publish(t, f.js, 0, n)
	waitEvents(t, f.l, n)
	waitAcked(t, f.js)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactly(t, f.l, n)
	if got := value(r.in.m.redelivered); got < n/3 {
		t.Errorf("%v redeliveries acknowledged again, want at least %d", got, n/3)
	}
	if got := value(r.in.m.events); got != n {
		t.Errorf("events metric %v, want %d", got, n)
	}
}

// TestIngestConsumerRecreated deletes the ledger's consumer mid-stream, once
// to be recreated by the ingester and once recreated by someone else from
// the start of the stream.
func TestIngestConsumerRecreated(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const n = 2000
	r := start(t, f, Options{BatchSize: 100, PendingInterval: 200 * time.Millisecond}, nil)

	publish(t, f.js, 0, n/2)
	waitEvents(t, f.l, n/4)
	if err := f.js.DeleteConsumer(ctx, "EVENTS", "asof-ledger-EVENTS"); err != nil {
		t.Fatal(err)
	}
	publish(t, f.js, n/2, 3*n/4)
	waitEvents(t, f.l, 3*n/4)
	waitAcked(t, f.js)

	// Someone recreates the consumer to deliver the whole stream again.
	if err := f.js.DeleteConsumer(ctx, "EVENTS", "asof-ledger-EVENTS"); err != nil {
		t.Fatal(err)
	}
	_, err := f.js.CreateConsumer(ctx, "EVENTS", jetstream.ConsumerConfig{
		Durable: "asof-ledger-EVENTS", AckPolicy: jetstream.AckExplicitPolicy,
	})
	if err != nil {
		t.Fatal(err)
	}
	before := value(r.in.m.redelivered)
	publish(t, f.js, 3*n/4, n)
	waitEvents(t, f.l, n)
	waitAcked(t, f.js)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactly(t, f.l, n)
	if got := value(r.in.m.redelivered) - before; got < 3*n/4 {
		t.Errorf("%v old messages acknowledged again, want at least %d", got, 3*n/4)
	}
}

// TestIngestRestarts stops and starts the ingester several times while
// events are being published.
func TestIngestRestarts(t *testing.T) {
	f := newFixture(t)
	const n = 4000
	pubErr := make(chan error, 1)
	go func() {
		for i := 0; i < n; i += 500 {
			if err := publishErr(f.js, i, i+500); err != nil {
				pubErr <- err
				return
			}
		}
		pubErr <- nil
	}()
	for i := range 4 {
		r := start(t, f, Options{BatchSize: 100, AckWait: time.Second}, nil)
		waitEvents(t, f.l, uint64(i+1)*n/5)
		if err := r.stop(t); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-pubErr; err != nil {
		t.Fatal(err)
	}
	start(t, f, Options{BatchSize: 100, AckWait: time.Second}, nil)
	waitEvents(t, f.l, n)
	waitAcked(t, f.js)
	checkExactly(t, f.l, n)
}

// TestIngestStopFinishesBatch cancels the ingester while a batch is inside
// Append: Run must return only once that batch is stored and acknowledged.
func TestIngestStopFinishesBatch(t *testing.T) {
	f := newFixture(t)
	inAppend := make(chan struct{})
	var once sync.Once
	r := start(t, f, Options{BatchSize: 50, MaxWait: 50 * time.Millisecond},
		func(in *Ingester) {
			in.store = func(b *ledger.Batch) (ledger.Result, error) {
				once.Do(func() { close(inAppend) })
				time.Sleep(200 * time.Millisecond) // the cancel lands meanwhile
				return f.l.Append(b)
			}
		})
	publish(t, f.js, 0, 50)
	<-inAppend
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	stored := f.l.Counts().Events
	if stored == 0 {
		t.Fatal("the batch in flight was not appended")
	}
	c, err := f.js.Consumer(context.Background(), "EVENTS", "asof-ledger-EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "acks of the stored batch", func() bool {
		info, err := c.Info(context.Background())
		return err == nil && info.AckFloor.Stream >= stored
	})
}

// TestIngestLedgerFailure makes Append fail: the ingester stops with
// ErrLedger and acknowledges nothing, and a new ingester stores everything.
func TestIngestLedgerFailure(t *testing.T) {
	f := newFixture(t)
	const n = 300
	publish(t, f.js, 0, n)
	var calls atomic.Int32
	r := start(t, f, Options{BatchSize: 100, AckWait: time.Second}, func(in *Ingester) {
		in.store = func(*ledger.Batch) (ledger.Result, error) {
			calls.Add(1)
			return ledger.Result{}, errTestLedger
		}
	})
	var err error
	select {
	case err = <-r.done:
		close(r.done)
	case <-time.After(10 * time.Second):
		t.Fatal("the ingester did not stop on a ledger failure")
	}
	if !errors.Is(err, ErrLedger) || !errors.Is(err, errTestLedger) {
		t.Fatalf("Run returned %v, want ErrLedger wrapping the cause", err)
	}
	c, err := f.js.Consumer(context.Background(), "EVENTS", "asof-ledger-EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if info.AckFloor.Stream != 0 || calls.Load() == 0 {
		t.Fatalf("ack floor %d after %d failed appends, want 0",
			info.AckFloor.Stream, calls.Load())
	}

	start(t, f, Options{AckWait: time.Second}, nil)
	waitEvents(t, f.l, n)
	waitAcked(t, f.js)
	checkExactly(t, f.l, n)
}

// TestIngestExternalServerRestart runs against a NATS server of its own, on
// its own port with a persistent store, and restarts it during ingest.
func TestIngestExternalServerRestart(t *testing.T) {
	storeDir := t.TempDir()
	listen := "127.0.0.1:" + strconv.Itoa(freePort(t))
	srv, err := StartServer(ServerOptions{StoreDir: storeDir, Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown) // a second shutdown does nothing
	url := srv.ClientURL()
	_, js := connect(t, url)
	_, pubJS := connect(t, url)
	f := &fixture{js: js, l: openLedger(t, t.TempDir())}
	const n = 3000
	r := start(t, f, Options{BatchSize: 200, AckWait: time.Second}, nil)

	publish(t, pubJS, 0, n/2)
	waitEvents(t, f.l, n/4)
	srv.Shutdown()
	time.Sleep(300 * time.Millisecond)
	startServer(t, storeDir, listen) // stopped by the test's cleanup

	// The publisher may see its first tries fail while it reconnects.
	waitFor(t, 20*time.Second, "publishing after the restart", func() bool {
		return publishErr(pubJS, n/2, n) == nil
	})
	waitEvents(t, f.l, n)
	waitAcked(t, js)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactly(t, f.l, n)
}

// TestIngestDeletedMessages checks that messages the broker deleted before
// the ledger read them are recorded as deleted, not reported as gaps, while
// the rest is stored exactly once.
func TestIngestDeletedMessages(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	publish(t, f.js, 0, 20)
	st, err := f.js.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	for _, seq := range []uint64{1, 2, 7, 8, 9, 15} {
		if err := st.DeleteMsg(ctx, seq); err != nil {
			t.Fatal(err)
		}
	}
	r := start(t, f, Options{BatchSize: 4}, nil)
	publish(t, f.js, 20, 30)
	waitEvents(t, f.l, 24)
	waitAcked(t, f.js)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	del, err := f.l.Deleted("EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	want := []ledger.SeqRange{{Stream: "EVENTS", First: 1, Last: 2}, {Stream: "EVENTS",
		First: 7, Last: 9},
		{Stream: "EVENTS", First: 15, Last: 15}}
	if !slices.Equal(del, want) {
		t.Fatalf("deleted %v, want %v", del, want)
	}
	if gaps, _ := f.l.Gaps(""); len(gaps) != 0 {
		t.Fatalf("deleted messages reported as gaps: %v", gaps)
	}
	rep, err := f.l.Verify()
	if err != nil || !rep.Clean() || rep.Events != 24 {
		t.Fatalf("verify: %v, %d events, findings %v, gaps %v", err, rep.Events, rep.Findings,
			rep.Gaps)
	}
}
