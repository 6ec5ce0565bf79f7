package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/nats-io/nats.go"

	"github.com/asofdev/asof/ingest"
	"github.com/asofdev/asof/score"
)

func init() {
	register(&command{
		name:    "score",
		summary: "ask the scoring service for one entity's score and print the reply",
		usage: "--model M --entity E [--nats URL | --data DIR] [--request-id R] [--json] " +
			"[--timeout D]",
		run: runScore,
	})
}

// scoreConfig is what the score flags say.
type scoreConfig struct {
	data      string
	model     string
	entity    string
	requestID string
	json      bool
	timeout   time.Duration
	nats      natsFlags
}

func runScore(e *env) int {
	c := commands["score"]
	fs := newFlags(e, c)
	var cfg scoreConfig
	fs.StringVar(&cfg.data, "data", "",
		"data `directory` of a running asof serve, to find its NATS")
	fs.StringVar(&cfg.model, "model", "", "name of the model to score with (required)")
	fs.StringVar(&cfg.entity, "entity", "", "entity to score, such as user:42 (required)")
	fs.StringVar(&cfg.requestID, "request-id", "", "request id to record in the snapshot")
	fs.BoolVar(&cfg.json, "json", false, "print the reply as JSON, as received")
	fs.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "how long to wait for the reply")
	cfg.nats.register(fs)
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}
	switch {
	case cfg.model == "":
		return fail(e, fs, usagef("--model is required"))
	case cfg.entity == "":
		return fail(e, fs, usagef("--entity is required"))
	}
	pc := publishConfig{data: cfg.data, nats: cfg.nats}
	url, err := pc.natsURL()
	if err != nil {
		return fail(e, nil, err)
	}
	nc, err := ingest.Connect(cfg.nats.options(url, hclog.NewNullLogger()))
	if err != nil {
		return fail(e, nil, err)
	}
	defer nc.Close()

	data, err := requestScore(nc, cfg)
	if err != nil {
		return fail(e, nil, err)
	}
	var r score.Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return fail(e, nil, fmt.Errorf("score: reply %q: %w", data, err))
	}
	if cfg.json {
		fmt.Fprintf(e.stdout, "%s\n", data)
	} else if r.Error == nil {
		printReply(e.stdout, &r)
	}
	if r.Error != nil {
		fmt.Fprintf(e.stderr, "asof: score: %s: %s\n", r.Error.Code, r.Error.Message)
		return exitUsage
	}
	return exitOK
}

// requestScore sends the request and returns the raw reply.
func requestScore(nc *nats.Conn, cfg scoreConfig) ([]byte, error) {
	req, err := json.Marshal(score.Request{Entity: cfg.entity, RequestID: cfg.requestID})
	if err != nil {
		return nil, err
	}
	m, err := nc.Request("score."+cfg.model, req, cfg.timeout)
	if err != nil {
		return nil, fmt.Errorf("score: request on score.%s: %w (is asof serve running with "+
			"that model?)", cfg.model, err)
	}
	return m.Data, nil
}

// printReply writes a reply for a person: the score, then the features in
// name order.
func printReply(w io.Writer, r *score.Reply) {
	fmt.Fprintf(w, "entity     %s\n", r.Entity)
	fmt.Fprintf(w, "model      %s (version %s, spec %s)\n", r.Model, r.ModelVersion,
		r.SpecVersion)
	fmt.Fprintf(w, "score      %.6g\n", r.Score)
	fmt.Fprintf(w, "decision   %v\n", r.Decision)
	fmt.Fprintf(w, "time       %s\n", r.Time)
	fmt.Fprintf(w, "snapshot   %s\n", r.SnapshotID)
	fmt.Fprintf(w, "watermark  %d\n", r.Watermark)
	if r.RequestID != "" {
		fmt.Fprintf(w, "request    %s\n", r.RequestID)
	}
	if r.Empty {
		fmt.Fprintln(w, "no events of this entity: empty vector")
	}
	names := make([]string, 0, len(r.Features))
	for n := range r.Features {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintln(w, "features:")
	for _, n := range names {
		v := r.Features[n]
		if v == nil {
			v = "null"
		}
		fmt.Fprintf(w, "  %-20s %v\n", n, v)
	}
}
