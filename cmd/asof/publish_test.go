package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/ingest"
)

// asofRun runs asof in process with stdin and returns its exit code and
// output.
func asofRun(stdin string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errb)
	return code, out.String(), errb.String()
}

// natsForTest starts an embedded server with asof's streams and returns its
// URL and a JetStream client.
func natsForTest(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	srv, err := ingest.StartServer(ingest.ServerOptions{StoreDir: t.TempDir(),
		Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := ingest.Connect(ingest.ConnectOptions{URL: srv.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if err := ingest.EnsureStreams(context.Background(), js, ingest.StreamConfig{}); err != nil {
		t.Fatal(err)
	}
	return srv.ClientURL(), js
}

func TestPublishFile(t *testing.T) {
	url, js := natsForTest(t)
	file := filepath.Join("..", "..", "testdata", "events", "payments.jsonl")

	code, out, errOut := asofRun("", "publish", "--nats", url, file)
	if code != exitOK || strings.TrimSpace(out) != "published 8, duplicates 0, bad 0" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// The same file again: every event is a duplicate for JetStream.
	code, out, _ = asofRun("", "publish", "--nats", url, file)
	if code != exitOK || strings.TrimSpace(out) != "published 0, duplicates 8, bad 0" {
		t.Fatalf("second run: exit %d, stdout %q", code, out)
	}

	ctx := context.Background()
	s, err := js.Stream(ctx, "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	subjects := map[uint64]string{1: "events.payment", 4: "events.refund", 5: "events.login"}
	for seq, want := range subjects {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		if m.Subject != want {
			t.Errorf("message %d on %s, want %s", seq, m.Subject, want)
		}
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get("Nats-Msg-Id"); id != "evt-1" {
		t.Errorf("message id %q, want the event id evt-1", id)
	}
	m, err = s.GetMsg(ctx, 6) // the event without id: its content hash
	if err != nil {
		t.Fatal(err)
	}
	if id := m.Header.Get("Nats-Msg-Id"); len(id) != 16 {
		t.Errorf("message id %q, want 16 hex digits", id)
	}
}

// TestPublishBadLines publishes through --data, finding the server in
// serve.json, and reports each bad line by number.
func TestPublishBadLines(t *testing.T) {
	url, _ := natsForTest(t)
	data := t.TempDir()
	if err := writeServeInfo(data, serveInfo{NATS: url, PID: os.Getpid()}); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join("..", "..", "testdata", "events", "bad.jsonl")
	code, out, errOut := asofRun("", "publish", "--data", data, file)
	if code != exitFindings || strings.TrimSpace(out) != "published 2, duplicates 0, bad 4" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, want := range []string{"bad.jsonl:2: missing_entity", "bad.jsonl:3: bad_time",
		"bad.jsonl:4: not_json", "bad.jsonl:5: bad_fields"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestPublishStdinWithSubject(t *testing.T) {
	url, js := natsForTest(t)
	in := `{"entity":"u","time":"2026-12-02T10:00:00Z"}` + "\r\n\n" +
		`{"entity":"v","type":"x y","time":"2026-12-02T10:00:00Z"}` + "\n"
	code, out, errOut := asofRun(in, "publish", "--nats", url, "--subject", "events.custom", "-")
	if code != exitOK || strings.TrimSpace(out) != "published 2, duplicates 0, bad 0" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	s, err := js.Stream(context.Background(), "EVENTS")
	if err != nil {
		t.Fatal(err)
	}
	if m, err := s.GetMsg(context.Background(), 2); err != nil || m.Subject != "events.custom" {
		t.Fatalf("second message: %v %v", m, err)
	}

	// Without --subject the type must make a subject.
	code, _, errOut = asofRun(in, "publish", "--nats", url, "-")
	if code != exitFindings || !strings.Contains(errOut, "stdin:3:") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestPublishUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"publish"}, "give one FILE"},
		{"two files", []string{"publish", "a", "b"}, "give one FILE"},
		{"missing file", []string{"publish", "--nats", "nats://127.0.0.1:1", "/nonexistent"},
			"no such file"},
		{"no serve", []string{"publish", "--data", "/nonexistent", "-"}, "serve.json"},
		{"bad size", []string{"publish", "--max-payload", "lots", "-"}, "not a positive"},
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

func TestByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{{"1MiB", 1 << 20}, {"512KiB", 512 << 10}, {"2048", 2048}, {"3 M", 3 << 20},
		{"1GiB", 1 << 30}, {"0", -1}, {"-5", -1}, {"1.5MiB", -1}, {"MiB", -1}}
	for _, tc := range tests {
		var b byteSize
		err := b.Set(tc.in)
		if tc.want < 0 {
			if err == nil {
				t.Errorf("%q: accepted as %d", tc.in, b)
			}
			continue
		}
		if err != nil || int64(b) != tc.want {
			t.Errorf("%q: got %d, %v; want %d", tc.in, b, err, tc.want)
		}
	}
}
