package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ingest"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/score"
)

func init() {
	register(&command{
		name: "serve",
		summary: "run ingest, the online pipeline (--spec) and scoring (--model), " +
			"embedding NATS unless given one",
		usage: "--data DIR [--spec FILE [--model FILE ...]] [--listen ADDR] [--nats URL] " +
			"[--creds F] [--nkey F] " +
			"[--user U --password P] [--tls-ca F --tls-cert F --tls-key F] [--http ADDR] " +
			"[--max-payload SIZE] [--ack-wait D] [--log-level LEVEL] [--log-json]",
		run: runServe,
	})
}

// copiesDirName is where, under the data directory, serve writes the
// ledger copies it makes for the offline commands; datadir.go describes the
// whole layout.
const copiesDirName = "copies"

// natsFlags are the flags that say how to reach NATS; publish uses them
// too.
type natsFlags struct {
	url, creds, nkey, user, password, tlsCA, tlsCert, tlsKey string
}

func (n *natsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&n.url, "nats", "", "URL of an existing NATS server (default $NATS_URL)")
	fs.StringVar(&n.creds, "creds", "", "NATS user credentials `file`")
	fs.StringVar(&n.nkey, "nkey", "", "NATS nkey seed `file`")
	fs.StringVar(&n.user, "user", "", "NATS user name")
	fs.StringVar(&n.password, "password", "", "NATS password")
	fs.StringVar(&n.tlsCA, "tls-ca", "", "CA certificate `file` to verify the NATS server")
	fs.StringVar(&n.tlsCert, "tls-cert", "", "client certificate `file` for NATS")
	fs.StringVar(&n.tlsKey, "tls-key", "", "client key `file` for NATS")
}

// options returns the connection options for url.
func (n *natsFlags) options(url string, log hclog.Logger) ingest.ConnectOptions {
	return ingest.ConnectOptions{URL: url, CredsFile: n.creds, NKeyFile: n.nkey,
		User: n.user, Password: n.password, TLSCA: n.tlsCA, TLSCert: n.tlsCert,
		TLSKey: n.tlsKey, Logger: log}
}

// serveConfig is what the serve flags say.
type serveConfig struct {
	data       string
	listen     string
	http       string
	maxPayload byteSize
	ackWait    time.Duration
	logLevel   string
	logJSON    bool
	nats       natsFlags
	spec       string     // feature spec: runs the online pipeline
	models     stringList // model files: runs the scoring service

	// injector, set only by asof demo, injects faults into the online
	// pipeline: a testing tool, never set from serve's flags.
	injector score.Injector
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(s string) error { *l = append(*l, s); return nil }

func runServe(e *env) int {
	c := commands["serve"]
	fs := newFlags(e, c)
	cfg := serveConfig{maxPayload: 1 << 20}
	fs.StringVar(&cfg.data, "data", "", "data `directory`: DIR/ledger, DIR/jetstream (required)")
	fs.StringVar(&cfg.listen, "listen", "127.0.0.1:4222", "address of the embedded NATS server")
	fs.StringVar(&cfg.http, "http", "127.0.0.1:8222",
		"address of the HTTP listener (/metrics, /healthz, /v1/ledger/copy)")
	fs.Var(&cfg.maxPayload, "max-payload", "largest event accepted, such as 512KiB (default 1MiB)")
	fs.DurationVar(&cfg.ackWait, "ack-wait", 30*time.Second,
		"how long NATS waits for ingest to acknowledge a message before it delivers it again")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "trace, debug, info, warn or error")
	fs.BoolVar(&cfg.logJSON, "log-json", false, "log in JSON")
	fs.StringVar(&cfg.spec, "spec", "", "feature spec `file`: runs the online pipeline")
	fs.Var(&cfg.models, "model", "model `file` served on score.<name> and POST /v1/score/<name> "+
		"(repeatable; needs --spec)")
	cfg.nats.register(fs)
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}
	if cfg.data == "" {
		return fail(e, fs, usagef("--data is required"))
	}
	if len(cfg.models) > 0 && cfg.spec == "" {
		return fail(e, fs, usagef("--model needs --spec"))
	}
	if cfg.nats.url == "" {
		cfg.nats.url = os.Getenv("NATS_URL")
	}
	level := hclog.LevelFromString(cfg.logLevel)
	if level == hclog.NoLevel {
		return fail(e, fs, usagef("unknown log level %q", cfg.logLevel))
	}
	log := hclog.New(&hclog.LoggerOptions{Name: "asof", Level: level,
		JSONFormat: cfg.logJSON, Output: e.stderr})

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := openServer(cfg, log)
	if err != nil {
		return fail(e, nil, err)
	}
	err = s.run(ctx)
	if cerr := s.close(); err == nil {
		err = cerr
	}
	if err != nil {
		log.Error("stopped", "error", err)
		return exitUsage
	}
	log.Info("stopped cleanly")
	return exitOK
}

// component is one long-running part of serve. It runs until ctx is
// cancelled, then returns nil once it has stopped cleanly; an error stops
// all of serve.
type component struct {
	name string
	run  func(ctx context.Context) error
}

// server is everything serve runs: the ledger, the NATS connection (and the
// embedded server, if any), the HTTP listener and the components. Later
// components (the online feature pipeline, the scoring service) are added
// in addComponents, sharing the ledger, the JetStream context, the metrics
// registry and the HTTP mux.
type server struct {
	cfg      serveConfig
	log      hclog.Logger
	ledger   *ledger.Ledger
	embedded *ingest.Server // nil when serve uses an existing NATS server
	nc       *nats.Conn
	natsOpts ingest.ConnectOptions // how nc was made, for more connections
	snc      *nats.Conn            // the scoring service's snapshots; nil without models
	js       jetstream.JetStream
	reg      *prometheus.Registry
	mux      *http.ServeMux
	http     *http.Server
	httpLn   net.Listener

	online *score.Online // nil without --spec

	components  []component
	infoWritten bool        // serve.json is ours to remove
	ready       atomic.Bool // the ledger is open and the components run
	copies      atomic.Uint64
}

// openServer opens the ledger, starts or reaches NATS, and builds the
// components. On error it releases what it had opened.
func openServer(cfg serveConfig, log hclog.Logger) (*server, error) {
	s := &server{cfg: cfg, log: log, reg: prometheus.NewRegistry(), mux: http.NewServeMux()}
	if err := s.open(); err != nil {
		_ = s.close()
		return nil, err
	}
	return s, nil
}

func (s *server) open() error {
	if err := os.MkdirAll(s.cfg.data, 0o755); err != nil {
		return err
	}
	var err error
	s.ledger, err = ledger.Open(ledgerDir(s.cfg.data), ledger.Options{Logger: s.log})
	if err != nil && isLocked(err) {
		return fmt.Errorf("%w (is another asof serve using %s?)", err, s.cfg.data)
	}
	if err != nil {
		return err
	}
	if err := s.connect(); err != nil {
		return err
	}
	s.reg.MustRegister(collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if err := s.addComponents(); err != nil {
		return err
	}
	s.routes()
	if s.httpLn, err = net.Listen("tcp", s.cfg.http); err != nil {
		return fmt.Errorf("http: %w", err)
	}
	s.http = &http.Server{Handler: s.mux, ReadHeaderTimeout: 10 * time.Second}
	return nil
}

// connect reaches the NATS server named by the flags, or starts the
// embedded one.
func (s *server) connect() error {
	url := s.cfg.nats.url
	if url == "" {
		srv, err := ingest.StartServer(ingest.ServerOptions{
			StoreDir: s.cfg.data, // JetStream keeps its streams in DIR/jetstream
			Listen:   s.cfg.listen,
			Logger:   s.log,
		})
		if err != nil {
			return err
		}
		s.embedded, url = srv, srv.ClientURL()
	}
	opts := s.cfg.nats.options(url, s.log.Named("nats"))
	if s.embedded != nil {
		// serve's own components reach the server they run beside in
		// process, without the loopback socket; clients use url.
		opts.InProcess = s.embedded
	}
	nc, err := ingest.Connect(opts)
	if err != nil {
		return err
	}
	s.nc, s.natsOpts = nc, opts
	if s.js, err = jetstream.New(nc); err != nil {
		return err
	}
	// The streams exist before any component starts, so that none of them
	// races the others to create them.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return ingest.EnsureStreams(ctx, s.js, ingest.StreamConfig{})
}

// natsURL returns the URL of the NATS server, the embedded one's when serve
// started it; clients reach it there.
func (s *server) natsURL() string { return s.natsOpts.URL }

// addComponents builds what serve runs. New components go here.
func (s *server) addComponents() error {
	in, err := ingest.New(s.js, s.ledger, ingest.Options{
		MaxPayload: int(s.cfg.maxPayload),
		AckWait:    s.cfg.ackWait,
		Registerer: s.reg,
		Logger:     s.log,
	})
	if err != nil {
		return err
	}
	s.components = append(s.components, component{name: "ingest", run: in.Run})
	if s.cfg.spec == "" {
		return nil
	}
	return s.addScoring()
}

// addScoring adds the online pipeline and, with models, the scoring
// service, which answers on NATS and on the HTTP listener.
func (s *server) addScoring() error {
	spec, err := feature.LoadSpec(s.cfg.spec)
	if err != nil {
		return err
	}
	s.online, err = score.NewOnline(s.js, s.ledger, spec, score.OnlineOptions{
		MaxPayload: int(s.cfg.maxPayload), Injector: s.cfg.injector,
		Registerer: s.reg, Logger: s.log})
	if err != nil {
		return err
	}
	s.components = append(s.components, component{name: "online", run: s.online.Run})
	if len(s.cfg.models) == 0 {
		return nil
	}
	models, err := score.LoadModels(s.cfg.models, spec)
	if err != nil {
		return err
	}
	// Snapshots and their acknowledgements get a connection of their own,
	// so that they do not queue behind requests and replies.
	opts := s.natsOpts
	opts.Name = "asof-snapshots"
	if s.snc, err = ingest.Connect(opts); err != nil {
		return err
	}
	svc, err := score.NewService(s.nc, s.online, models, score.ServiceOptions{
		SnapshotConn: s.snc, Registerer: s.reg, Logger: s.log})
	if err != nil {
		return err
	}
	svc.Register(s.mux)
	s.components = append(s.components, component{name: "score", run: svc.Run})
	return nil
}

// run serves until ctx is cancelled or a component fails.
func (s *server) run(ctx context.Context) error {
	if err := s.writeInfo(); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	for _, c := range s.components {
		g.Go(func() error {
			if err := c.run(gctx); err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		if err := s.http.Serve(s.httpLn); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-gctx.Done()
		s.ready.Store(false)
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return s.http.Shutdown(sctx)
	})
	s.ready.Store(true)
	s.log.Info("serving", "data", s.cfg.data, "nats_url", ingest.RedactURL(s.natsURL()),
		"embedded_nats", s.embedded != nil, "streams", "EVENTS,SNAPSHOTS,DEAD",
		"http", s.httpLn.Addr().String())
	return g.Wait()
}

// writeInfo writes DIR/serve.json. The NATS URL goes without its user
// and password: clients give their credentials by flags.
func (s *server) writeInfo() error {
	s.infoWritten = true
	return writeServeInfo(s.cfg.data, serveInfo{NATS: withoutUserInfo(s.natsURL()),
		HTTP: s.httpLn.Addr().String(), PID: os.Getpid(), Started: time.Now().UTC()})
}

// withoutUserInfo removes user names and passwords from a comma-separated
// list of URLs.
func withoutUserInfo(urls string) string {
	parts := strings.Split(urls, ",")
	for i, p := range parts {
		if u, err := url.Parse(strings.TrimSpace(p)); err == nil {
			u.User = nil
			parts[i] = u.String()
		}
	}
	return strings.Join(parts, ",")
}

// close releases everything in reverse order of opening and removes
// serve.json.
func (s *server) close() error {
	var errs []error
	if s.httpLn != nil {
		_ = s.httpLn.Close()
	}
	if s.snc != nil {
		s.snc.Close()
	}
	if s.nc != nil {
		s.nc.Close()
	}
	if s.embedded != nil {
		s.embedded.Shutdown()
	}
	if s.ledger != nil {
		errs = append(errs, s.ledger.Close())
	}
	if s.infoWritten {
		removeServeInfo(s.cfg.data) // never another server's
	}
	return errors.Join(errs...)
}

// routes installs the HTTP handlers.
func (s *server) routes() {
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	s.mux.HandleFunc("GET /healthz", s.healthz)
	s.mux.HandleFunc("POST /v1/ledger/copy", s.copyLedger)
}

func (s *server) healthz(w http.ResponseWriter, _ *http.Request) {
	switch {
	case !s.ready.Load():
		http.Error(w, "not ready", http.StatusServiceUnavailable)
	case !s.nc.IsConnected():
		http.Error(w, "NATS "+s.nc.Status().String(), http.StatusServiceUnavailable)
	default:
		_, _ = io.WriteString(w, "ok\n")
	}
}

// copyLedger writes a consistent copy of the live ledger under DIR/copies
// and answers its directory, for the offline commands to open read-only.
// The caller removes the copy when done.
func (s *server) copyLedger(w http.ResponseWriter, _ *http.Request) {
	name := time.Now().UTC().Format("20060102T150405.000000000Z") + "-" +
		strconv.FormatUint(s.copies.Add(1), 10)
	dir, err := filepath.Abs(filepath.Join(s.cfg.data, copiesDirName, name))
	if err == nil {
		err = os.MkdirAll(filepath.Dir(dir), 0o755)
	}
	if err == nil {
		err = s.ledger.CopyTo(dir)
	}
	w.Header().Set("Content-Type", "application/json")
	if err != nil {
		s.log.Error("ledger copy failed", "error", err)
		w.WriteHeader(http.StatusInternalServerError)
		_ = json.NewEncoder(w).Encode(map[string]string{"error": err.Error()})
		return
	}
	s.log.Info("ledger copied", "dir", dir)
	_ = json.NewEncoder(w).Encode(map[string]string{"dir": dir})
}

// byteSize is a flag value in bytes that accepts the suffixes B, KiB, MiB
// and GiB (and K, M, G as the same).
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"K", 1 << 10},
		{"M", 1 << 20}, {"G", 1 << 30}, {"B", 1}}
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > (1<<40)/mult {
		return fmt.Errorf("size %q is not a positive number of bytes such as 512KiB", s)
	}
	*b = byteSize(n * mult)
	return nil
}
