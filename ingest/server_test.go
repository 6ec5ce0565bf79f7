package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

func TestStartServerRefuses(t *testing.T) {
	tests := []struct{ name, dir, listen, want string }{
		{"no store", "", "127.0.0.1:0", "no StoreDir"},
		{"no port", t.TempDir(), "127.0.0.1", "listen address"},
		{"bad port", t.TempDir(), "127.0.0.1:99999", "bad port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := StartServer(ServerOptions{StoreDir: tc.dir, Listen: tc.listen})
			if err == nil {
				s.Shutdown()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not say %q", err, tc.want)
			}
		})
	}
}

// TestEnsureStreamsTwice checks that creating the streams is idempotent and
// that a changed duplicate window is applied.
func TestEnsureStreamsTwice(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	cfg := StreamConfig{Duplicates: 5 * time.Minute}
	for range 2 {
		if err := EnsureStreams(ctx, f.js, cfg); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range []string{"EVENTS", "SNAPSHOTS", "DEAD"} {
		s, err := f.js.Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		if d := s.CachedInfo().Config.Duplicates; d != cfg.Duplicates {
			t.Errorf("%s: duplicate window %v, want %v", name, d, cfg.Duplicates)
		}
	}
}

func TestConnectOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    ConnectOptions
		ok   bool
	}{
		{"none", ConnectOptions{}, true},
		{"user and password", ConnectOptions{User: "u", Password: "p"}, true},
		{"creds and user", ConnectOptions{CredsFile: "f", User: "u"}, false},
		{"creds and nkey", ConnectOptions{CredsFile: "f", NKeyFile: "k"}, false},
		{"password alone", ConnectOptions{Password: "p"}, false},
		{"cert without key", ConnectOptions{TLSCert: "c"}, false},
		{"cert and key", ConnectOptions{TLSCert: "c", TLSKey: "k", TLSCA: "ca"}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestConnectRedactsPassword(t *testing.T) {
	_, err := Connect(ConnectOptions{URL: "nats://u:secret@127.0.0.1:1"})
	if err == nil {
		t.Fatal("connected to a closed port")
	}
	if strings.Contains(err.Error(), "secret") {
		t.Fatalf("error shows the password: %v", err)
	}
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		ok   bool
	}{
		{"zero", Options{}, true},
		{"small batches", Options{BatchSize: 10, MaxAckPending: 50}, true},
		{"ack pending below the default batch", Options{MaxAckPending: 500}, false},
		{"negative batch", Options{BatchSize: -1}, false},
		{"payload over the ledger's limit", Options{MaxPayload: 32 << 20}, false},
		{"negative wait", Options{MaxWait: -time.Second}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.o.Validate(); (err == nil) != tc.ok {
				t.Fatalf("Validate() = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

// TestConnectInProcess connects to an embedded server without a socket (the
// URL names a port nothing listens on) and exchanges a request with a client
// on the server's TCP port.
func TestConnectInProcess(t *testing.T) {
	s := startServer(t, t.TempDir(), "127.0.0.1:0")
	in, err := Connect(ConnectOptions{URL: "nats://127.0.0.1:1", InProcess: s})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	sub, err := in.Subscribe("ping", func(m *nats.Msg) { _ = m.Respond(append(m.Data, '!')) })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := in.Flush(); err != nil {
		t.Fatal(err)
	}
	client, _ := connect(t, s.ClientURL())
	reply, err := client.Request("ping", []byte("hi"), 5*time.Second)
	if err != nil || string(reply.Data) != "hi!" {
		t.Fatalf("reply %v, %v", reply, err)
	}
}
