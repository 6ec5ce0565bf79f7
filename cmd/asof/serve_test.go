package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ingest"
	"github.com/asofdev/asof/ledger"
)

// TestServeHelper is not a test of its own: the serve tests start the test
// binary again with ASOF_SERVE_HELPER=1 to run asof in a child process that
// they can kill.
func TestServeHelper(t *testing.T) {
	if os.Getenv("ASOF_SERVE_HELPER") != "1" {
		t.Skip("runs only as the child process of the serve tests")
	}
	i := slices.Index(os.Args, "--")
	os.Exit(run(os.Args[i+1:], os.Stdin, os.Stdout, os.Stderr))
}

// serveProc is asof serve running in a child process.
type serveProc struct {
	cmd  *exec.Cmd
	info serveInfo
	done chan struct{} // closed when the process has exited
	err  error         // what Wait returned, once done is closed
}

// startServe runs asof serve on data in a child process and waits until it
// has written serve.json.
func startServe(t *testing.T, data, listen string) *serveProc {
	t.Helper()
	logf, err := os.OpenFile(filepath.Join(t.TempDir(), "serve.log"),
		os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = logf.Close() })
	cmd := exec.Command(os.Args[0], "-test.run=^TestServeHelper$", "--", "serve",
		"--data", data, "--listen", listen, "--http", "127.0.0.1:0", "--log-level", "debug",
		"--ack-wait", "2s")
	cmd.Env = append(os.Environ(), "ASOF_SERVE_HELPER=1", "NATS_URL=")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &serveProc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
	})
	waitUntil(t, 60*time.Second, "serve.json of the new process", func() bool {
		info, err := readServeInfo(data)
		p.info = info
		return err == nil && info.PID == cmd.Process.Pid
	}, logf.Name())
	return p
}

// waitUntil polls cond, failing with the serve log after timeout.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool, logName string) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logName)
			t.Fatalf("timed out waiting for %s; serve log:\n%s", what, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func serveEvent(i int) []byte {
	return fmt.Appendf(nil, `{"id":"evt-%d","entity":"user:%d","type":"payment",`+
		`"time":"2026-12-02T10:00:00Z","fields":{"amount":%d}}`, i, i%10, i)
}

// publishAll publishes events [0, n) with their ids as message ids, in
// paced chunks of 100, until every one is acknowledged, counting
// acknowledgements in acked.
func publishAll(js jetstream.JetStream, n int, acked *atomic.Int64) error {
	for from := 0; from < n; from += 100 {
		var futures []jetstream.PubAckFuture
		for i := from; i < min(from+100, n); i++ {
			f, err := js.PublishAsync("events.payment", serveEvent(i),
				jetstream.WithMsgID("evt-"+strconv.Itoa(i)), jetstream.WithStallWait(5*time.Second))
			if err != nil {
				return err
			}
			futures = append(futures, f)
		}
		for _, f := range futures {
			select {
			case <-f.Ok():
				acked.Add(1)
			case err := <-f.Err():
				return err
			case <-time.After(5 * time.Second):
				return fmt.Errorf("no acknowledgement")
			}
		}
		time.Sleep(2 * time.Millisecond)
	}
	return nil
}

// TestServeKilled kills asof serve with SIGKILL while events are being
// published, starts it again, publishes every event again, and finds each
// exactly once in the ledger.
func TestServeKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts asof serve in child processes")
	}
	const n = 3000
	data := t.TempDir()
	listen := freeAddr(t)
	p := startServe(t, data, listen)
	checkHTTP(t, p.info.HTTP)

	nc, err := ingest.Connect(ingest.ConnectOptions{URL: p.info.NATS,
		ReconnectWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(1024))
	if err != nil {
		t.Fatal(err)
	}

	// Kill the server once half the events are acknowledged.
	var acked atomic.Int64
	go func() { _ = publishAll(js, n, &acked) }()
	waitUntil(t, 30*time.Second, "half the events published", func() bool {
		return acked.Load() >= n/2
	}, "")
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	t.Logf("killed asof serve after %d of %d events were acknowledged", acked.Load(), n)

	p = startServe(t, data, listen)
	t.Logf("after the restart the ledger holds %d events", countInCopy(t, data))
	waitUntil(t, 60*time.Second, "every event published again", func() bool {
		var again atomic.Int64
		return publishAll(js, n, &again) == nil
	}, "")
	waitUntil(t, 60*time.Second, "every event in a ledger copy", func() bool {
		return countInCopy(t, data) == n
	}, "")

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done
	if p.err != nil {
		t.Fatalf("asof serve after SIGTERM: %v", p.err)
	}
	if _, err := os.Stat(filepath.Join(data, serveInfoFile)); !os.IsNotExist(err) {
		t.Errorf("serve.json left after a clean stop: %v", err)
	}
	l, err := ledger.Open(ledgerDir(data), ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	checkEventsOnce(t, l, n)
}

// countInCopy asks the running serve for a ledger copy and counts its
// events, removing the copy.
func countInCopy(t *testing.T, data string) int {
	t.Helper()
	dir, err := requestCopy(data)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	l, err := ledger.Open(dir, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return int(l.Counts().Events)
}

// checkEventsOnce checks that l holds evt-0 to evt-(n-1) once each and that
// Verify finds nothing wrong.
func checkEventsOnce(t *testing.T, l *ledger.Ledger, n int) {
	t.Helper()
	seen := map[string]int{}
	for r, err := range l.Log(1) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Event != nil {
			seen[r.Event.ID]++
		}
	}
	for i := range n {
		if c := seen["evt-"+strconv.Itoa(i)]; c != 1 {
			t.Errorf("evt-%d stored %d times", i, c)
		}
	}
	if len(seen) != n {
		t.Errorf("%d distinct events, want %d", len(seen), n)
	}
	rep, err := l.Verify()
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Clean() {
		t.Errorf("verify: gaps %v, findings %v", rep.Gaps, rep.Findings)
	}
}

// checkHTTP checks the health and metrics endpoints of a running serve.
func checkHTTP(t *testing.T, addr string) {
	t.Helper()
	for path, want := range map[string]string{"/healthz": "ok",
		"/metrics": "asof_ingest_events_total"} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %s, body lacks %q", path, resp.Status, want)
		}
	}
	resp, err := http.Get("http://" + addr + "/v1/ledger/copy")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET /v1/ledger/copy: %s, want 405", resp.Status)
	}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestServeExternalNATS runs the server in process against a NATS server
// of its own and stops it by cancelling.
func TestServeExternalNATS(t *testing.T) {
	url, js := natsForTest(t)
	data := t.TempDir()
	cfg := serveConfig{data: data, listen: "unused", http: "127.0.0.1:0", maxPayload: 1 << 20,
		nats: natsFlags{url: url}}
	s, err := openServer(cfg, hclog.NewNullLogger())
	if err != nil {
		t.Fatal(err)
	}
	if s.embedded != nil {
		t.Fatal("started an embedded server despite --nats")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.run(ctx) }()

	for i := range 3 {
		if _, err := js.Publish(ctx, "events.payment", serveEvent(i)); err != nil {
			t.Fatal(err)
		}
	}
	waitUntil(t, 10*time.Second, "3 events", func() bool {
		return s.ledger.Counts().Events == 3
	}, "")
	info, err := readServeInfo(data)
	if err != nil || info.NATS != url || info.PID != os.Getpid() {
		t.Fatalf("serve.json: %+v, %v", info, err)
	}
	checkHTTP(t, info.HTTP)

	// A second serve on the same directory is refused and leaves the
	// first one's serve.json alone.
	if _, err := openServer(cfg, hclog.NewNullLogger()); err == nil ||
		!strings.Contains(err.Error(), "another asof serve") {
		t.Errorf("second serve on %s: %v", data, err)
	}
	if _, err := readServeInfo(data); err != nil {
		t.Errorf("the second serve removed serve.json: %v", err)
	}

	resp, err := http.Post("http://"+info.HTTP+"/v1/ledger/copy", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	var out struct{ Dir string }
	err = json.NewDecoder(resp.Body).Decode(&out)
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(out.Dir, filepath.Join(data, copiesDirName)) {
		t.Fatalf("copy answered %+v, %v", out, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.close(); err != nil {
		t.Fatal(err)
	}
	if _, err := readServeInfo(data); err == nil {
		t.Error("serve.json left after a clean stop")
	}
	copied, err := ledger.Open(out.Dir, ledger.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer copied.Close()
	if c := copied.Counts().Events; c != 3 {
		t.Errorf("the copy holds %d events, want 3", c)
	}
}

func TestServeUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no data", []string{"serve"}, "--data is required"},
		{"bad level", []string{"serve", "--data", "x", "--log-level", "loud"}, "unknown log level"},
		{"bad size", []string{"serve", "--data", "x", "--max-payload", "big"}, "not a positive"},
		{"extra argument", []string{"serve", "--data", "x", "y"}, "unexpected argument"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := asofRun("", tc.args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Fatalf("exit %d, stderr %q, want %q", code, errOut, tc.want)
			}
		})
	}
}
