package ingest

import (
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats-server/v2/server"
)

// ServerOptions configures the embedded NATS server.
type ServerOptions struct {
	// StoreDir is where JetStream keeps its streams: they go in
	// StoreDir/jetstream. Required.
	StoreDir string

	// Listen is the host:port that clients connect to; port 0 picks a free
	// port. Default "127.0.0.1:4222".
	Listen string

	// MaxPayload is the largest message the server accepts, in bytes.
	// Default 8 MiB, so that the ingester, not the server, refuses events
	// over the ingester's MaxPayload and dead-letters them.
	MaxPayload int32

	// ReadyTimeout bounds the wait for the server to accept connections.
	// Default 10 s.
	ReadyTimeout time.Duration

	// Logger receives the server's log lines: its notices at debug level,
	// its debug lines at trace level. Default: discard.
	Logger hclog.Logger
}

func (o ServerOptions) withDefaults() ServerOptions {
	if o.Listen == "" {
		o.Listen = "127.0.0.1:4222"
	}
	if o.MaxPayload == 0 {
		o.MaxPayload = 8 << 20
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = hclog.NewNullLogger()
	}
	return o
}

// Server is a NATS server with JetStream running inside this process.
type Server struct {
	ns *server.Server
}

// StartServer starts an embedded NATS server with JetStream and waits until
// it accepts connections.
func StartServer(opts ServerOptions) (*Server, error) {
	opts = opts.withDefaults()
	if opts.StoreDir == "" {
		return nil, fmt.Errorf("ingest: start server: no StoreDir")
	}
	host, portStr, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("ingest: start server: listen address %q: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("ingest: start server: bad port in %q", opts.Listen)
	}
	if port == 0 {
		port = server.RANDOM_PORT // nats-server reads 0 as its default port
	}

	ns, err := server.NewServer(&server.Options{
		ServerName: "asof",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   opts.StoreDir,
		MaxPayload: opts.MaxPayload,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("ingest: start server: %w", err)
	}
	log := opts.Logger.Named("nats-server")
	ns.SetLoggerV2(serverLogger{log}, log.IsTrace(), false, false)
	ns.Start()
	if !ns.ReadyForConnections(opts.ReadyTimeout) {
		ns.Shutdown()
		ns.WaitForShutdown()
		return nil, fmt.Errorf("%w after %v (listen %s, store %s)", ErrServerNotReady,
			opts.ReadyTimeout, opts.Listen, opts.StoreDir)
	}
	return &Server{ns: ns}, nil
}

// ClientURL returns the URL clients connect to, such as
// nats://127.0.0.1:4222.
func (s *Server) ClientURL() string { return s.ns.ClientURL() }

// InProcessConn opens a connection to the server without a socket; with it
// a Server is a nats.InProcessConnProvider (see ConnectOptions.InProcess).
func (s *Server) InProcessConn() (net.Conn, error) { return s.ns.InProcessConn() }

// Shutdown stops the server and waits until it has stopped. JetStream
// flushes its stores on the way.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// serverLogger routes nats-server's log lines to hclog.
type serverLogger struct{ l hclog.Logger }

func (s serverLogger) Noticef(format string, v ...any) { s.l.Debug(fmt.Sprintf(format, v...)) }
func (s serverLogger) Warnf(format string, v ...any)   { s.l.Warn(fmt.Sprintf(format, v...)) }
func (s serverLogger) Fatalf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLogger) Errorf(format string, v ...any)  { s.l.Error(fmt.Sprintf(format, v...)) }
func (s serverLogger) Debugf(format string, v ...any)  { s.l.Trace(fmt.Sprintf(format, v...)) }
func (s serverLogger) Tracef(format string, v ...any)  { s.l.Trace(fmt.Sprintf(format, v...)) }
