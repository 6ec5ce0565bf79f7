package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/replay"
)

func init() {
	register(&command{
		name:    "replay",
		summary: "rebuild an entity's feature vector as of an instant from the ledger",
		usage: "--data DIR --spec FILE --entity E --at TIME " +
			"[--view truth|knowable|watermark] [--watermark SEQ] [--explain] [--json]",
		run: runReplay,
	})
}

// replayOutput is the --json form of a replay.
type replayOutput struct {
	Entity      string         `json:"entity"`
	At          time.Time      `json:"at"`
	View        string         `json:"view"`
	Watermark   uint64         `json:"watermark,omitempty"`
	SpecVersion string         `json:"spec_version"`
	Features    map[string]any `json:"features"`
	InputCount  int            `json:"input_count"`
	InputDigest string         `json:"input_digest"`
	Events      []explained    `json:"events,omitempty"`
}

type explained struct {
	Seq       uint64    `json:"seq"`
	ID        string    `json:"id,omitempty"`
	Type      string    `json:"type"`
	Time      time.Time `json:"time"`
	Arrival   time.Time `json:"arrival"`
	BrokerSeq uint64    `json:"broker_seq"`
	Hash      string    `json:"hash"`
}

func runReplay(e *env) int {
	c := commands["replay"]
	fs := newFlags(e, c)
	data := fs.String("data", "", "data directory of asof serve (holds ledger/)")
	specFile := fs.String("spec", "", "feature spec (YAML)")
	entity := fs.String("entity", "", "entity to replay, such as user:42")
	atFlag := fs.String("at", "", "instant T, RFC 3339 (such as 2026-12-02T10:00:00Z)")
	viewFlag := fs.String("view", "truth",
		"truth (event time <= T), knowable (also arrived by T) or watermark")
	wm := fs.Uint64("watermark", 0, "broker sequence bound of the watermark view")
	explain := fs.Bool("explain", false, "also list the events of the input set")
	asJSON := fs.Bool("json", false, "print one JSON object")
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}

	q, err := replayQuery(*data, *specFile, *entity, *atFlag, *viewFlag, *wm)
	if err != nil {
		return fail(e, fs, err)
	}
	spec, err := feature.LoadSpec(*specFile)
	if err != nil {
		return fail(e, nil, err)
	}
	l, cleanup, err := openLedgerForRead(*data)
	if err != nil {
		return fail(e, nil, err)
	}
	defer cleanup()

	vec, used, err := replay.New(l, spec).Explain(q)
	if err != nil {
		return fail(e, nil, err)
	}
	out := replayOutput{Entity: q.Entity, At: q.At, View: q.View.String(),
		SpecVersion: spec.Version,
		Features:    vec.Map(spec), InputCount: vec.Count, InputDigest: fmt.Sprintf("%016x",
			vec.Digest)}
	if q.View == replay.Watermark {
		out.Watermark = q.Watermark
	}
	if *explain {
		for _, u := range used {
			ev := u.Record
			out.Events = append(out.Events, explained{Seq: u.Seq, ID: ev.ID, Type: ev.Type,
				Time:    ev.Time,
				Arrival: ev.Arrival, BrokerSeq: ev.BrokerSeq, Hash: fmt.Sprintf("%016x", ev.Hash)})
		}
	}
	printReplay(e, &out, spec, *asJSON)
	return exitOK
}

// replayQuery checks the flags of replay and builds the query.
func replayQuery(data, spec, entity, at, view string, wm uint64) (replay.Query, error) {
	switch {
	case data == "":
		return replay.Query{}, usagef("--data is required")
	case spec == "":
		return replay.Query{}, usagef("--spec is required")
	case entity == "":
		return replay.Query{}, usagef("--entity is required")
	case at == "":
		return replay.Query{}, usagef("--at is required")
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if err != nil {
		return replay.Query{}, usagef("--at %q: want RFC 3339, such as 2026-12-02T10:00:00Z", at)
	}
	v, err := replay.ParseView(view)
	if err != nil {
		return replay.Query{}, usagef("--view: %v", err)
	}
	if v == replay.Watermark && wm == 0 {
		return replay.Query{}, usagef("--view watermark needs --watermark SEQ")
	}
	return replay.Query{Entity: entity, At: t, View: v, Watermark: wm}, nil
}

func printReplay(e *env, out *replayOutput, spec *feature.Spec, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return
	}
	fmt.Fprintf(e.stdout, "%s as of %s (%s view, spec %s)\n", out.Entity,
		out.At.Format(time.RFC3339Nano), out.View, out.SpecVersion)
	for _, f := range spec.Features {
		fmt.Fprintf(e.stdout, "  %-24s %v\n", f.Name, formatAny(out.Features[f.Name]))
	}
	fmt.Fprintf(e.stdout, "input set: %d events, digest %s\n", out.InputCount, out.InputDigest)
	for _, ev := range out.Events {
		fmt.Fprintf(e.stdout, "  seq %-8d %-10s %-20s time %s arrival %s broker %d\n", ev.Seq,
			ev.Type, ev.ID,
			ev.Time.Format(time.RFC3339Nano), ev.Arrival.Format(time.RFC3339Nano), ev.BrokerSeq)
	}
}

func formatAny(v any) string {
	if v == nil {
		return "null"
	}
	return fmt.Sprint(v)
}
