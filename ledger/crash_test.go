package ledger

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	crashChildEnv = "ASOF_LEDGER_CRASH_CHILD"
	crashBatch    = 50
)

// TestMain lets the test binary double as the child process of the crash
// test: with crashChildEnv set it appends batches until it is killed.
func TestMain(m *testing.M) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	os.Exit(m.Run())
}

// crashChild appends numbered batches forever, printing "ok N" after each
// Append of batch N returned.
func crashChild(dir string) {
	l, err := Open(dir, Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	start := l.Counts().Events/crashBatch + 1
	fmt.Println("ready", start)
	for n := start; ; n++ {
		es := make([]Event, crashBatch)
		for i := range es {
			id := fmt.Sprintf("b%d-%d", n, i)
			es[i] = ev(fmt.Sprint("user:", i%7), id, time.Duration(n)*time.Second,
				id+strings.Repeat(".", 150))
		}
		if _, err := l.Append(&Batch{Events: es,
			Checkpoints: map[string]uint64{"EVENTS": n}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(4)
		}
		fmt.Println("ok", n)
	}
}

// TestCrashDurability kills an appending process with SIGKILL at random
// points, reopens the ledger each time and checks that every batch whose
// Append returned is whole, that no batch is partly visible, and that Verify
// is clean.
func TestCrashDurability(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test runs subprocesses")
	}
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("ASOF_CRASH_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (set ASOF_CRASH_SEED to repeat)", seed)
	rng := rand.New(rand.NewPCG(seed, 0))

	dir := t.TempDir()
	acked := 0
	for round := range 20 {
		last := crashRound(t, dir, time.Duration(5+rng.IntN(60))*time.Millisecond)
		acked = max(acked, last)
		checkAfterCrash(t, dir, round, acked)
	}
	if acked == 0 {
		t.Fatal("no batch was ever acknowledged; the test proved nothing")
	}
}

// crashRound runs the child until delay after it is ready, kills it and
// returns the last batch it reported as appended.
func crashRound(t *testing.T, dir string, delay time.Duration) int {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "ready") {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatalf("child did not start: %q %s", sc.Text(), stderr.String())
	}
	time.AfterFunc(delay, func() { _ = cmd.Process.Signal(syscall.SIGKILL) })
	last := 0
	for sc.Scan() {
		if n, ok := strings.CutPrefix(sc.Text(), "ok "); ok {
			last, _ = strconv.Atoi(n)
		}
	}
	_ = cmd.Wait()
	if stderr.Len() > 0 {
		t.Fatalf("child failed: %s", stderr.String())
	}
	return last
}

func checkAfterCrash(t *testing.T, dir string, round, acked int) {
	t.Helper()
	l, err := Open(dir, Options{})
	if err != nil {
		t.Fatalf("round %d: reopen: %v", round, err)
	}
	defer l.Close()
	perBatch := map[int]int{}
	for r, err := range l.Log(0) {
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		var n, i int
		if _, err := fmt.Sscanf(r.Event.ID, "b%d-%d", &n, &i); err != nil {
			t.Fatalf("round %d: unexpected id %q", round, r.Event.ID)
		}
		perBatch[n]++
	}
	for n := 1; n <= acked; n++ {
		if perBatch[n] != crashBatch {
			t.Fatalf("round %d: acknowledged batch %d has %d of %d events", round, n,
				perBatch[n], crashBatch)
		}
	}
	for n, c := range perBatch {
		if c != crashBatch {
			t.Fatalf("round %d: batch %d is partly visible: %d of %d events", round, n, c,
				crashBatch)
		}
	}
	if cp, _ := l.Checkpoint("EVENTS"); int(cp) != len(perBatch) {
		t.Fatalf("round %d: checkpoint %d, but %d batches stored", round, cp, len(perBatch))
	}
	rep, err := l.Verify()
	if err != nil || !rep.Clean() {
		t.Fatalf("round %d: verify: %v %v", round, err, rep.Findings)
	}
}
