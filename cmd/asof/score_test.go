package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ingest"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/score"
)

// scoringForTest starts a NATS server, an online pipeline over an empty
// ledger and a scoring service of the demo model, and returns the URL.
func scoringForTest(t *testing.T) (string, jetstream.JetStream) {
	t.Helper()
	url, js := natsForTest(t)
	l, err := ledger.Open(t.TempDir(), ledger.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	spec, err := feature.LoadSpec(filepath.Join("..", "..", "testdata", "specs", "payments.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	models, err := score.LoadModels([]string{
		filepath.Join("..", "..", "testdata", "models", "fraud.yaml")}, spec)
	if err != nil {
		t.Fatal(err)
	}
	o, err := score.NewOnline(js, l, spec, score.OnlineOptions{})
	if err != nil {
		t.Fatal(err)
	}
	nc, err := ingest.Connect(ingest.ConnectOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	s, err := score.NewService(nc, o, models, score.ServiceOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = o.Run(ctx); done <- struct{}{} }()
	go func() { _ = s.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	<-o.Ready()
	// The service subscribes on its own goroutine: wait until it answers.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := nc.Request("score.fraud", []byte(`{}`), 200*time.Millisecond); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the scoring service never answered")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return url, js
}

func TestScoreCommand(t *testing.T) {
	url, js := scoringForTest(t)
	at := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339Nano)
	if _, err := js.Publish(context.Background(), "events.payment", []byte(
		`{"id": "p-1", "entity": "user:42", "type": "payment", "time": "`+at+
			`", "fields": {"amount": 12.5, "merchant": "m-7"}}`)); err != nil {
		t.Fatal(err)
	}

	// --json prints the reply as received; wait until the event is applied.
	var r score.Reply
	deadline := time.Now().Add(10 * time.Second)
	for r.Watermark < 1 && time.Now().Before(deadline) {
		code, out, errOut := asofRun("", "score", "--nats", url, "--model", "fraud",
			"--entity", "user:42", "--request-id", "r-1", "--json")
		if code != exitOK {
			t.Fatalf("exit %d, stderr %q", code, errOut)
		}
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("output %q: %v", out, err)
		}
	}
	if r.RequestID != "r-1" || r.Features["amount_sum_24h"] != 12.5 || r.Empty ||
		!strings.HasPrefix(r.SnapshotID, "s-") {
		t.Errorf("reply %+v", r)
	}

	// Found through serve.json; printed for a person.
	dir := t.TempDir()
	if err := writeServeInfo(dir, serveInfo{NATS: url, PID: 1}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := asofRun("", "score", "--data", dir, "--model", "fraud",
		"--entity", "user:7")
	if code != exitOK || !strings.Contains(out, "no events of this entity") ||
		!strings.Contains(out, "last_merchant        null") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestScoreCommandErrors(t *testing.T) {
	url, _ := scoringForTest(t)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no model", []string{"--nats", url, "--entity", "e"}, "--model is required"},
		{"no entity", []string{"--nats", url, "--model", "fraud"}, "--entity is required"},
		{"unknown model", []string{"--nats", url, "--model", "nope", "--entity", "e"},
			"unknown_model"},
		{"no server", []string{"--data", t.TempDir(), "--model", "fraud", "--entity", "e"},
			"serve.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errOut := asofRun("", append([]string{"score"}, tt.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q, want %q", code, errOut, tt.want)
			}
		})
	}
	// Nobody answers on the subject: a clear error, not a hang.
	bare, _ := natsForTest(t)
	code, _, errOut := asofRun("", "score", "--nats", bare, "--model", "fraud", "--entity", "e",
		"--timeout", "300ms")
	if code != exitUsage || !strings.Contains(errOut, "is asof serve running") {
		t.Errorf("no service: exit %d, stderr %q", code, errOut)
	}
}
