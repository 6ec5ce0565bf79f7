package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/asofdev/asof/ledger"
)

func init() {
	register(&command{
		name:    "verify",
		summary: "check the ledger: content hashes, the chain, every index, broker sequence gaps",
		usage:   "--data DIR [--json]",
		run:     runVerify,
	})
}

// verifySummary is the --json output of verify.
type verifySummary struct {
	Data      string            `json:"data"`
	Events    uint64            `json:"events"`
	Snapshots uint64            `json:"snapshots"`
	Batches   uint64            `json:"batches"`
	Findings  []verifyFinding   `json:"findings"`
	Gaps      []ledger.SeqRange `json:"gaps"`
}

type verifyFinding struct {
	Kind    string `json:"kind"`
	Key     string `json:"key,omitempty"`
	Seq     uint64 `json:"seq,omitempty"`
	Message string `json:"message"`
}

func runVerify(e *env) int {
	c := commands["verify"]
	fs := newFlags(e, c)
	data := fs.String("data", "", "data directory of asof serve (holds ledger/)")
	asJSON := fs.Bool("json", false, "print the summary as one JSON object")
	if code := parseFlags(e, fs, false); code >= 0 {
		return code
	}
	if *data == "" {
		return fail(e, fs, usagef("--data is required"))
	}

	l, cleanup, err := openLedgerForRead(*data)
	if err != nil {
		return fail(e, nil, err)
	}
	defer cleanup()
	rep, err := l.Verify()
	if err != nil {
		return fail(e, nil, fmt.Errorf("verify %s: %w", *data, err))
	}

	sum := verifySummary{Data: *data, Events: rep.Events, Snapshots: rep.Snapshots,
		Batches: rep.Batches, Findings: []verifyFinding{}, Gaps: rep.Gaps}
	for _, f := range rep.Findings {
		vf := verifyFinding{Kind: f.Kind, Seq: f.Seq, Message: f.Msg}
		if f.Key != nil {
			vf.Key = ledger.FormatKey(f.Key)
		}
		sum.Findings = append(sum.Findings, vf)
	}
	if sum.Gaps == nil {
		sum.Gaps = []ledger.SeqRange{}
	}
	printVerify(e, &sum, *asJSON)
	if len(sum.Findings) > 0 || len(sum.Gaps) > 0 {
		return exitFindings
	}
	return exitOK
}

func printVerify(e *env, s *verifySummary, asJSON bool) {
	if asJSON {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s)
		return
	}
	for _, f := range s.Findings {
		fmt.Fprintf(e.stdout, "%s: %s", f.Kind, f.Message)
		if f.Key != "" {
			fmt.Fprintf(e.stdout, " (key %s", f.Key)
			if f.Seq != 0 {
				fmt.Fprintf(e.stdout, ", sequence %d", f.Seq)
			}
			fmt.Fprint(e.stdout, ")")
		}
		fmt.Fprintln(e.stdout)
	}
	for _, g := range s.Gaps {
		fmt.Fprintf(e.stdout, "gap: stream %s sequences %d-%d never reached the ledger\n",
			g.Stream, g.First, g.Last)
	}
	fmt.Fprintf(e.stdout, "%d events, %d snapshots, %d batches; %d findings, %d gaps\n",
		s.Events, s.Snapshots, s.Batches, len(s.Findings), len(s.Gaps))
}

// ledgerDir is where serve keeps the ledger inside its data directory.
func ledgerDir(data string) string { return filepath.Join(data, "ledger") }

// openLedgerForRead opens the ledger of a data directory for reading. When
// asof serve holds the directory, it asks the server for a consistent copy
// and opens that instead; cleanup closes the ledger and removes the copy.
func openLedgerForRead(data string) (*ledger.Ledger, func(), error) {
	dir := ledgerDir(data)
	if _, err := os.Stat(dir); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil,
				fmt.Errorf("no ledger in %s (expected %s; is this the --data of asof serve?)",
					data, dir)
		}
		return nil, nil, err
	}
	l, err := ledger.Open(dir, ledger.Options{ReadOnly: true})
	if err == nil {
		return l, func() { _ = l.Close() }, nil
	}
	if !isLocked(err) {
		return nil, nil, err
	}
	copyDir, err := requestCopy(data)
	if err != nil {
		return nil, nil,
			fmt.Errorf("ledger %s is in use and no copy could be had from asof serve: %w", dir, err)
	}
	l, err = ledger.Open(copyDir, ledger.Options{ReadOnly: true})
	if err != nil {
		_ = os.RemoveAll(copyDir)
		return nil, nil, err
	}
	return l, func() { _ = l.Close(); _ = os.RemoveAll(copyDir) }, nil
}
