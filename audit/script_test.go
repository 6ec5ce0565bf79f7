package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/model"
	"github.com/asofdev/asof/replay"
	"github.com/cespare/xxhash/v2"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/audit")

const casesDir = "../testdata/audit"

// day is the date every case's times are on.
var day = time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)

// script is a parsed case.txt (see testdata/audit/README.md).
type script struct {
	events    []ledger.Event
	snapshots []scriptSnapshot
	expect    map[string]int
	names     []expectedEvents
}

type scriptSnapshot struct {
	id, entity string
	at         time.Time
	watermark  uint64
	faults     []string
	line       int
}

type expectedEvents struct {
	snapshot string
	cause    Cause
	ids      []string // "ID" or "IDxCOPIES"
	line     int
}

// parseScript reads a case file; errors name the line.
func parseScript(t *testing.T, path string) *script {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := &script{expect: map[string]int{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line, _, _ := strings.Cut(sc.Text(), "#")
		words := strings.Fields(line)
		if len(words) == 0 {
			continue
		}
		if err := s.statement(words, n); err != nil {
			t.Fatalf("%s:%d: %v", path, n, err)
		}
	}
	return s
}

func (s *script) statement(words []string, n int) error {
	args := map[string]string{}
	for _, w := range words[1:] {
		if k, v, ok := strings.Cut(w, "="); ok {
			args[k] = v
		}
	}
	switch words[0] {
	case "event":
		if len(words) < 4 {
			return fmt.Errorf("event needs ID ENTITY TYPE")
		}
		return s.event(words[1], words[2], words[3], args)
	case "snapshot":
		if len(words) < 3 {
			return fmt.Errorf("snapshot needs ID ENTITY")
		}
		at, err := clock(args["at"])
		if err != nil {
			return err
		}
		w, err := strconv.ParseUint(args["watermark"], 10, 64)
		if err != nil {
			return fmt.Errorf("watermark: %w", err)
		}
		var faults []string
		if args["fault"] != "" {
			faults = strings.Split(args["fault"], ",")
		}
		s.snapshots = append(s.snapshots, scriptSnapshot{words[1], words[2], at, w, faults, n})
	case "expect":
		for k, v := range args {
			x, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("expect %s: %w", k, err)
			}
			s.expect[k] = x
		}
	case "expect-events":
		if len(words) < 4 {
			return fmt.Errorf("expect-events needs SNAPSHOT CAUSE ID...")
		}
		s.names = append(s.names, expectedEvents{words[1], Cause(words[2]), words[3:], n})
	default:
		return fmt.Errorf("unknown statement %q", words[0])
	}
	return nil
}

func (s *script) event(id, entity, typ string, args map[string]string) error {
	at, err := clock(args["time"])
	if err != nil {
		return err
	}
	arrival, err := clock(args["arrival"])
	if err != nil {
		return err
	}
	seq, err := strconv.ParseUint(args["seq"], 10, 64)
	if err != nil {
		return fmt.Errorf("seq: %w", err)
	}
	e := ledger.Event{ID: id, Entity: entity, Type: typ, Time: at, Arrival: arrival,
		Stream: "EVENTS", BrokerSeq: seq}
	if a, ok := args["amount"]; ok {
		x, err := strconv.ParseFloat(a, 64)
		if err != nil {
			return fmt.Errorf("amount: %w", err)
		}
		e.Fields = append(e.Fields, ledger.Field{Name: "amount",
			Value: ledger.Value{Kind: ledger.KindNumber, Num: x}})
	}
	if m, ok := args["merchant"]; ok {
		e.Fields = append(e.Fields, ledger.Field{Name: "merchant",
			Value: ledger.Value{Kind: ledger.KindString, Str: m}})
	}
	e.Payload = fmt.Appendf(nil, `{"id":%q,"entity":%q,"type":%q,"time":%q,"fields":%s}`,
		id, entity, typ, at.Format(time.RFC3339Nano), fieldsJSON(e.Fields))
	e.Hash = xxhash.Sum64(e.Payload)
	s.events = append(s.events, e)
	return nil
}

func fieldsJSON(fs []ledger.Field) string {
	m := map[string]any{}
	for _, f := range fs {
		m[f.Name] = replay.FeatureValue(f.Value).Any()
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// clock parses HH:MM or HH:MM:SS on the cases' day.
func clock(s string) (time.Time, error) {
	for _, layout := range []string{"15:04:05", "15:04"} {
		if t, err := time.Parse(layout, s); err == nil {
			return day.Add(t.Sub(time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC))), nil
		}
	}
	return time.Time{}, fmt.Errorf("time %q: want HH:MM or HH:MM:SS", s)
}

// fixture is what every case shares: the specs and the model.
type fixture struct {
	spec, spec2 *feature.Spec
	model       *model.Model
}

func loadFixture(t testing.TB) fixture {
	t.Helper()
	spec, err := feature.LoadSpec(filepath.Join(casesDir, "spec.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	spec2, err := feature.LoadSpec(filepath.Join(casesDir, "spec-v2.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(filepath.Join(casesDir, "model.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return fixture{spec, spec2, m}
}

// tb is what building a ledger needs of *testing.T and *rapid.T.
type tb interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
}

// build writes the script's events and snapshots into a new ledger that
// the test closes.
func (fx fixture) build(t *testing.T, s *script) *ledger.Ledger {
	t.Helper()
	l := fx.buildIn(t, t.TempDir(), s)
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// buildIn writes the script into a new ledger in dir; the caller closes it.
func (fx fixture) buildIn(t tb, dir string, s *script) *ledger.Ledger {
	t.Helper()
	l, err := ledger.Open(dir, ledger.Options{MemTableSize: 4 << 20, CacheSize: 4 << 20})
	if err != nil {
		t.Fatal(err)
	}
	es := slices.Clone(s.events)
	slices.SortFunc(es, func(a, b ledger.Event) int {
		return cmp.Compare(a.BrokerSeq,
			b.BrokerSeq)
	})
	b := &ledger.Batch{Events: es}
	for _, e := range es {
		r := ledger.SeqRange{Stream: "EVENTS", First: e.BrokerSeq, Last: e.BrokerSeq}
		b.Covered = append(b.Covered, r)
	}
	for _, ss := range s.snapshots {
		snap, err := fx.snapshot(s, ss)
		if err != nil {
			t.Fatalf("snapshot on line %d: %v", ss.line, err)
		}
		b.Snapshots = append(b.Snapshots, snap)
	}
	if _, err := l.Append(b); err != nil {
		_ = l.Close()
		t.Fatal(err)
	}
	return l
}

// snapshot computes a snapshot's vector from exactly its watermark view
// with the fold, then applies its faults.
func (fx fixture) snapshot(s *script, ss scriptSnapshot) (ledger.Snapshot, error) {
	spec := fx.spec
	var fes []feature.Event
	for i := range s.events {
		e := &s.events[i]
		if e.Entity == ss.entity && replay.Sees(e, replay.Watermark, ss.at, ss.watermark) {
			fes = append(fes, replay.FeatureEvent(e))
		}
	}
	var defects []string
	for k, f := range ss.faults {
		kind, arg, _ := strings.Cut(f, ":")
		switch kind {
		case "drop":
			fes = slices.DeleteFunc(fes, func(e feature.Event) bool { return e.ID == arg })
		case "dup":
			i := slices.IndexFunc(fes, func(e feature.Event) bool { return e.ID == arg })
			if i < 0 {
				return ledger.Snapshot{}, fmt.Errorf("dup: %s is not in the watermark view", arg)
			}
			c := fes[i]
			c.ID = fmt.Sprintf("%s#copy%d", c.ID, k)
			fes = append(fes, c)
		case "spec":
			spec = fx.spec2
		case "defect":
			defects = append(defects, arg)
		default:
			return ledger.Snapshot{}, fmt.Errorf("unknown fault %q", f)
		}
	}
	v := feature.Compute(spec, fes, ss.at)
	for _, d := range defects {
		name, x, _ := strings.Cut(d, "+")
		i, ok := spec.Index(name)
		add, err := strconv.ParseFloat(x, 64)
		if !ok || err != nil {
			return ledger.Snapshot{}, fmt.Errorf("defect %q: want FEATURE+NUMBER", d)
		}
		v.Values[i].Num += add
	}
	score, decision := fx.model.Score(spec, v)
	snap := ledger.Snapshot{ID: ss.id, Model: fx.model.Name, ModelVersion: fx.model.Version,
		SpecVersion: spec.Version, Entity: ss.entity, Time: ss.at, VectorHash: v.Hash(spec),
		InputCount: uint64(v.Count), InputDigest: v.Digest, Watermark: ss.watermark,
		Score: score, Decision: decision, Arrival: ss.at, Stream: "SNAPSHOTS",
		Payload: []byte(`{"snapshot_id":"` + ss.id + `"}`)}
	for i, f := range spec.Features {
		field := ledger.Field{Name: f.Name, Value: replay.LedgerValue(v.Values[i])}
		snap.Vector = append(snap.Vector, field)
	}
	return snap, nil
}

// runCase audits a case's day with one worker, so that sums are in a
// fixed order, and clears the time stamps.
func (fx fixture) runCase(t *testing.T, l *ledger.Ledger) *Report {
	t.Helper()
	r, err := Run(context.Background(), l, Options{Spec: fx.spec, From: day, To: day.AddDate(0,
		0, 1),
		Models: []*model.Model{fx.model}, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	r.GeneratedAt, r.Elapsed = time.Time{}, 0
	return r
}

// TestCases runs every case of testdata/audit: its expectations, then its
// golden files.
func TestCases(t *testing.T) {
	fx := loadFixture(t)
	dirs, err := filepath.Glob(filepath.Join(casesDir, "*", "case.txt"))
	if err != nil || len(dirs) < 7 {
		t.Fatalf("cases: %v, found %d", err, len(dirs))
	}
	for _, path := range dirs {
		dir := filepath.Dir(path)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			s := parseScript(t, path)
			r := fx.runCase(t, fx.build(t, s))
			checkExpect(t, s, r)
			checkGolden(t, dir, r)
		})
	}
}

// checkExpect checks the script's expect and expect-events statements.
func checkExpect(t *testing.T, s *script, r *Report) {
	t.Helper()
	got := map[string]int{"snapshots": r.Snapshots, "consistent": r.Consistent,
		"differing": r.Differing, "flips": r.ScoreImpact.Flips, "missing": int(r.Ingest.Missing)}
	for _, c := range Causes {
		got[string(c)] = r.Causes[c].Snapshots
	}
	for k, want := range s.expect {
		if g, ok := got[k]; !ok || g != want {
			t.Errorf("%s = %d, want %d", k, g, want)
		}
	}
	if len(r.Findings) != r.Differing {
		t.Errorf("%d findings for %d differing snapshots", len(r.Findings), r.Differing)
	}
	for _, ne := range s.names {
		i := slices.IndexFunc(r.Findings, func(f Finding) bool { return f.Snapshot == ne.snapshot })
		if i < 0 {
			t.Errorf("line %d: no finding for %s", ne.line, ne.snapshot)
			continue
		}
		f := r.Findings[i]
		if !slices.Contains(f.Causes, ne.cause) {
			t.Errorf("line %d: %s has causes %v, want %s among them",
				ne.line, ne.snapshot, f.Causes, ne.cause)
		}
		var ids []string
		for _, e := range f.Events[ne.cause] {
			if e.Copies > 0 {
				ids = append(ids, fmt.Sprintf("%sx%d", e.ID, e.Copies))
			} else {
				ids = append(ids, e.ID)
			}
		}
		if !slices.Equal(ids, ne.ids) {
			t.Errorf("line %d: %s %s events %v, want %v", ne.line, ne.snapshot, ne.cause, ids,
				ne.ids)
		}
	}
}

// checkGolden compares report.json and findings.jsonl with the case's
// golden files, or rewrites them with -update.
func checkGolden(t *testing.T, dir string, r *Report) {
	t.Helper()
	for _, g := range []struct {
		name  string
		write func(w *bytes.Buffer) error
	}{
		{ReportJSON, func(w *bytes.Buffer) error { return r.WriteJSON(w) }},
		{FindingsJSON, func(w *bytes.Buffer) error { return r.WriteFindings(w) }},
	} {
		var buf bytes.Buffer
		if err := g.write(&buf); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, g.name)
		if *update {
			if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (run with -update to create it)", err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("%s differs from the golden file (run with -update if the change is "+
				"intended):\n%s", path, firstDiff(string(want), buf.String()))
		}
	}
}

// firstDiff shows the first line where two texts differ.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return fmt.Sprintf("line %d:\nwant %s\n got %s", i+1, w, g)
		}
	}
	return ""
}
