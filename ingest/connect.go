package ingest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
)

// ConnectOptions says how to reach a NATS server and prove who we are.
// Credentials are optional; give at most one of CredsFile, NKeyFile and
// User/Password.
type ConnectOptions struct {
	// URL of the server, or several separated by commas. Default
	// nats://127.0.0.1:4222.
	URL string

	// Name is the client name the server shows. Default "asof".
	Name string

	// CredsFile is a user credentials file (JWT and nkey seed).
	CredsFile string

	// NKeyFile is a file holding an nkey seed.
	NKeyFile string

	// User and Password authenticate with a user name and password.
	User, Password string

	// TLSCA is a CA certificate file to verify the server with; TLSCert and
	// TLSKey are a client certificate and key, given together.
	TLSCA, TLSCert, TLSKey string

	// ReconnectWait is the pause between reconnect attempts. The client
	// reconnects for ever. Default 1 s.
	ReconnectWait time.Duration

	// Logger receives disconnects and reconnects. Default: discard.
	Logger hclog.Logger

	// InProcess, when set, connects to that server in process, without a
	// socket, whatever URL says: for the components of a process that
	// embeds its NATS server (see Server).
	InProcess nats.InProcessConnProvider
}

// Validate reports options that cannot be used together.
func (o ConnectOptions) Validate() error {
	n := 0
	for _, set := range []bool{o.CredsFile != "", o.NKeyFile != "", o.User != ""} {
		if set {
			n++
		}
	}
	switch {
	case n > 1:
		return errors.New("ingest: connect: give one of credentials file, nkey file, user")
	case o.Password != "" && o.User == "":
		return errors.New("ingest: connect: a password needs a user")
	case (o.TLSCert == "") != (o.TLSKey == ""):
		return errors.New("ingest: connect: a TLS certificate and key go together")
	}
	return nil
}

func (o ConnectOptions) withDefaults() ConnectOptions {
	if o.URL == "" {
		o.URL = nats.DefaultURL
	}
	if o.Name == "" {
		o.Name = "asof"
	}
	if o.ReconnectWait == 0 {
		o.ReconnectWait = time.Second
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// NATSOptions returns the nats.go options for o.
func (o ConnectOptions) NATSOptions() ([]nats.Option, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	o = o.withDefaults()
	log := o.Logger
	opts := []nats.Option{
		nats.Name(o.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(o.ReconnectWait),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted())
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("NATS error", "subject", subject, "error", err)
		}),
	}
	switch {
	case o.CredsFile != "":
		opts = append(opts, nats.UserCredentials(o.CredsFile))
	case o.NKeyFile != "":
		opt, err := nats.NkeyOptionFromSeed(o.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("ingest: connect: nkey file %s: %w", o.NKeyFile, err)
		}
		opts = append(opts, opt)
	case o.User != "":
		opts = append(opts, nats.UserInfo(o.User, o.Password))
	}
	if o.InProcess != nil {
		opts = append(opts, nats.InProcessServer(o.InProcess))
	}
	if o.TLSCA != "" {
		opts = append(opts, nats.RootCAs(o.TLSCA))
	}
	if o.TLSCert != "" {
		opts = append(opts, nats.ClientCert(o.TLSCert, o.TLSKey))
	}
	return opts, nil
}

// Connect connects to the NATS server that o names.
func Connect(o ConnectOptions) (*nats.Conn, error) {
	opts, err := o.NATSOptions()
	if err != nil {
		return nil, err
	}
	url := o.withDefaults().URL
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if o.InProcess != nil {
			return nil, fmt.Errorf("ingest: connect in process: %w", err)
		}
		return nil, fmt.Errorf("ingest: connect to %s: %w", RedactURL(url), err)
	}
	return nc, nil
}

// RedactURL hides the passwords in a comma-separated list of URLs, for
// logs and errors.
func RedactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			parts[i] = u.Redacted()
		}
	}
	return strings.Join(parts, ",")
}
