package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/asofdev/asof/demo"
	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/score"
)

func init() {
	register(&command{
		name: "demo",
		summary: "run the whole system on a generated stream with injected faults, " +
			"audit it, and score the audit",
		usage: "[--out DIR] [--duration 30s] [--rate N] [--score-rate N] [--users N] " +
			"[--faults LIST|none] [--seed S] [--log-level LEVEL]",
		run: runDemo,
	})
}

// demoMarker marks a directory as a demo's output, so that a later run may
// clear it.
const demoMarker = ".asof-demo"

func runDemo(e *env) int {
	c := commands["demo"]
	fs := newFlags(e, c)
	out := fs.String("out", "asof-demo",
		"output `directory`: reports, ground truth and the run's data")
	duration := fs.Duration("duration", 30*time.Second,
		"how long events and scoring requests are sent")
	rate := fs.Int("rate", 400, "events per second")
	scoreRate := fs.Int("score-rate", 100, "scoring requests per second")
	users := fs.Int("users", 20000, "users in the generated population")
	faultsFlag := fs.String("faults", demo.DefaultFaults.String(),
		"faults to inject: none, or drop=R,dup=R,lag=D,late=R,restart=N,spec-change=N")
	seed := fs.Uint64("seed", 1, "seed of the generated stream and the injected faults")
	logLevel := fs.String("log-level", "warn", "log level of the embedded asof serve")
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}
	faults, err := demo.ParseFaults(*faultsFlag)
	if err != nil {
		return fail(e, fs, usagef("--faults: %v", err))
	}
	if *duration <= 0 || *rate <= 0 || *scoreRate <= 0 || *users < 10 {
		return fail(e, fs,
			usagef("--duration, --rate and --score-rate must be positive, --users at least 10"))
	}
	if err := prepareDemoDir(*out); err != nil {
		return fail(e, nil, err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum, err := runDemoServer(ctx, e, *out, *logLevel, demo.Plan{Duration: *duration, Rate: *rate,
		ScoreRate: *scoreRate, Users: *users, Seed: *seed, Faults: faults, Model: "fraud"})
	if err != nil {
		return fail(e, nil, err)
	}
	sum.Print(e.stdout)
	fmt.Fprintf(e.stdout, "data: %s (try: asof verify --data %s)\n", filepath.Join(*out, "data"),
		filepath.Join(*out, "data"))
	return exitOK
}

// prepareDemoDir creates out, or clears it when an earlier demo wrote it.
// Any other non-empty directory is refused rather than cleared.
func prepareDemoDir(out string) error {
	entries, err := os.ReadDir(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return err
	case len(entries) > 0:
		if _, err := os.Stat(filepath.Join(out, demoMarker)); err != nil {
			return fmt.Errorf("--out %s is not empty and was not written by asof demo; "+
				"choose another", out)
		}
		if err := os.RemoveAll(out); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, demoMarker), []byte("written by asof demo\n"), 0o644)
}

// runDemoServer starts asof serve in process on out/data with the demo's
// spec and model and its fault injector, and runs the demo against it.
func runDemoServer(ctx context.Context, e *env, out, logLevel string,
	plan demo.Plan) (*demo.Summary, error) {
	spec, changed, mod, err := demo.WriteAssets(out)
	if err != nil {
		return nil, err
	}
	plan.Spec, plan.SpecChange = spec, changed
	inj := demo.NewInjector(plan.Faults, plan.Seed)
	log := hclog.New(&hclog.LoggerOptions{Name: "asof", Level: hclog.LevelFromString(logLevel),
		Output: e.stderr})

	cfg := serveConfig{data: filepath.Join(out, "data"), listen: "127.0.0.1:0", http: "127.0.0.1:0",
		maxPayload: 1 << 20, spec: filepath.Join(out, demo.SpecFile),
		models: stringList{filepath.Join(out, demo.ModelFile)}}
	if !plan.Faults.None() {
		cfg.injector = inj
	}
	s, err := openServer(cfg, log)
	if err != nil {
		return nil, err
	}
	defer s.close()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.run(sctx) }()
	select {
	case <-s.online.Ready():
	case err := <-done:
		return nil, fmt.Errorf("asof serve stopped: %w", err)
	case <-time.After(30 * time.Second):
		return nil, errors.New("asof serve did not get ready in 30s")
	}
	fmt.Fprintf(e.stderr,
		"asof demo: serving on %s; sending %d events/s and %d scoring requests/s for %s\n",
		s.natsURL(), plan.Rate, plan.ScoreRate, plan.Duration)

	sys := &demoSystem{s: s}
	sum, err := demo.Run(ctx, sys, s.ledger, sys.settle, plan, inj, mod, out)
	cancel()
	if rerr := <-done; err == nil && rerr != nil {
		err = rerr
	}
	return sum, err
}

// demoSystem is the demo's handle on the in-process asof serve.
type demoSystem struct{ s *server }

func (d *demoSystem) Publish(ctx context.Context, subject string, data []byte,
	id string) (uint64, error) {
	ack, err := d.s.js.Publish(ctx, subject, data, jetstream.WithMsgID(id))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

func (d *demoSystem) Score(ctx context.Context, model, entity, requestID string) (score.Reply,
	error) {
	var r score.Reply
	body, _ := json.Marshal(score.Request{Entity: entity, RequestID: requestID})
	msg, err := d.s.nc.RequestWithContext(ctx, "score."+model, body)
	if err != nil {
		return r, err
	}
	err = json.Unmarshal(msg.Data, &r)
	return r, err
}

func (d *demoSystem) Watermark() uint64     { return d.s.online.Watermark() }
func (d *demoSystem) Pause(t time.Duration) { d.s.online.Pause(t) }
func (d *demoSystem) Reset()                { d.s.online.Reset() }

func (d *demoSystem) SetSpec(ctx context.Context, spec *feature.Spec) error {
	return d.s.online.SetSpec(ctx, spec)
}

// settle waits until the ledger has accounted for every message of the
// events and snapshots streams.
func (d *demoSystem) settle(ctx context.Context) error {
	for _, name := range []string{"EVENTS", "SNAPSHOTS"} {
		st, err := d.s.js.Stream(ctx, name)
		if err != nil {
			return err
		}
		info, err := st.Info(ctx)
		if err != nil {
			return err
		}
		last := info.State.LastSeq
		for {
			cp, err := d.s.ledger.Checkpoint(name)
			if err != nil {
				return err
			}
			if cp >= last {
				break
			}
			select {
			case <-ctx.Done():
				return fmt.Errorf("stream %s: ledger at %d of %d: %w", name, cp, last, ctx.Err())
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
	return nil
}
