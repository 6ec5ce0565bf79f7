package feature

import (
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const specDir = "../testdata/specs"

func mustParse(t testing.TB, src string) *Spec {
	t.Helper()
	s, err := ParseSpec("test.yaml", []byte(src))
	if err != nil {
		t.Fatalf("ParseSpec: %v", err)
	}
	return s
}

func TestLoadSpecPayments(t *testing.T) {
	s, err := LoadSpec(filepath.Join(specDir, "payments.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want := []Feature{
		{"events_1h", []string{"payment", "login"}, "", AggCount, time.Hour},
		{"amount_sum_24h", []string{"payment"}, "amount", AggSum, 24 * time.Hour},
		{"amount_mean_7d", []string{"payment"}, "amount", AggMean, 7 * 24 * time.Hour},
		{"amount_min_24h", []string{"payment"}, "amount", AggMin, 24 * time.Hour},
		{"amount_max_24h", []string{"payment"}, "amount", AggMax, 24 * time.Hour},
		{"first_country", []string{"login"}, "country", AggFirst, 0},
		{"last_merchant", []string{"payment"}, "merchant", AggLast, 0},
		{"devices_7d", []string{"login"}, "device", AggCountDistinct, 7 * 24 * time.Hour},
	}
	if len(s.Features) != len(want) {
		t.Fatalf("got %d features, want %d", len(s.Features), len(want))
	}
	for i, w := range want {
		g := s.Features[i]
		if g.Name != w.Name || strings.Join(g.Events, ",") != strings.Join(w.Events, ",") ||
			g.Field != w.Field || g.Agg != w.Agg || g.Window != w.Window {
			t.Errorf("feature %d = %+v, want %+v", i, g, w)
		}
	}
	wantLabel := Label{"chargebacks_30d", []string{"chargeback"}, "", AggCount, 720 * time.Hour}
	if len(s.Labels) != 1 || s.Labels[0].Name != wantLabel.Name ||
		s.Labels[0].Agg != wantLabel.Agg || s.Labels[0].Horizon != wantLabel.Horizon ||
		s.Labels[0].Events[0] != "chargeback" {
		t.Errorf("labels = %+v, want [%+v]", s.Labels, wantLabel)
	}
	if len(s.Version) != 16 || strings.Trim(s.Version, "0123456789abcdef") != "" {
		t.Errorf("version %q is not 16 lower-case hex digits", s.Version)
	}

	for typ, want := range map[string]bool{"payment": true, "login": true, "chargeback": false,
		"refund": false} {
		if got := s.Relevant(typ); got != want {
			t.Errorf("Relevant(%q) = %v, want %v", typ, got, want)
		}
	}
	if d, unbounded := s.Horizon(); d != 7*24*time.Hour || !unbounded {
		t.Errorf("Horizon() = %v, %v; want 168h, true", d, unbounded)
	}
	for name, want := range map[string]bool{"events_1h": true, "amount_mean_7d": true,
		"devices_7d": true, "first_country": false, "last_merchant": false, "nope": false} {
		if got := s.Numeric(name); got != want {
			t.Errorf("Numeric(%q) = %v, want %v", name, got, want)
		}
	}
}

// TestBadSpecFiles pins the exact message and position for every class of
// bad spec kept under testdata/specs/bad.
func TestBadSpecFiles(t *testing.T) {
	tests := []struct {
		file string
		want []string // "line:col: msg", in file order
	}{
		{"unknown_agg.yaml", []string{`4:10: unknown agg "median": want one of count, sum, ` +
			`mean, min, max, first, last, count_distinct`}},
		{"missing_field.yaml", []string{"4:10: agg sum needs a field"}},
		{"bad_window.yaml", []string{`5:13: window "1 hour": want a duration such as "90s", ` +
			`"1h" or "7d"`}},
		{"zero_window.yaml", []string{`5:13: window "0s": must be greater than zero`}},
		{"window_number.yaml", []string{`5:13: window: want a duration such as "90s", "1h" ` +
			`or "7d", found a number`}},
		{"duplicate_name.yaml", []string{`5:11: duplicate name "a" (first defined at 2:11)`}},
		{"empty_name.yaml", []string{"2:11: empty name"}},
		{"no_name.yaml", []string{"2:5: feature has no name"}},
		{"empty.yaml", []string{"1:1: no features: the spec is empty"}},
		{"no_features.yaml", []string{"1:11: no features: the features: list is empty"}},
		{"no_features_key.yaml", []string{"1:1: no features: the spec needs a features: list"}},
		{"unknown_key.yaml", []string{`5:5: unknown key "windw": a feature has name, event, ` +
			`field, agg and window`}},
		{"unknown_top_key.yaml", []string{`5:1: unknown key "version": a spec has features: ` +
			`and labels:`}},
		{"not_yaml.yaml", []string{"3:12: invalid YAML: sequence end token ']' not found"}},
		{"features_not_list.yaml", []string{"1:11: features: want a list of features, " +
			"found a string"}},
		{"feature_not_mapping.yaml", []string{"2:5: each feature must be a mapping with name, " +
			"event and agg, found a string"}},
		{"duplicate_key.yaml", []string{`5:5: invalid YAML: mapping key "agg" already ` +
			`defined at [4:5]`}},
		{"label_bad_agg.yaml", []string{`9:10: agg "mean" is not allowed in a label: want ` +
			`one of count, sum, max, last`}},
		{"label_no_horizon.yaml", []string{`6:5: label "fraud" has no horizon`}},
		{"label_name_clash.yaml", []string{`6:11: duplicate name "a" (first defined at 2:11)`}},
		{"many.yaml", []string{
			`6:11: duplicate name "ok_1h" (first defined at 2:11)`,
			`9:10: unknown agg "average": want one of count, sum, mean, min, max, first, ` +
				`last, count_distinct`,
			`11:20: event: "login" is listed twice`,
			`12:10: agg last needs a field`,
			`13:13: window "-5m": must be greater than zero`,
		}},
	}
	files, err := filepath.Glob(filepath.Join(specDir, "bad", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != len(tests) {
		t.Errorf("%d files under bad/, %d cases: every bad spec needs a case", len(files),
			len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			path := filepath.Join(specDir, "bad", tt.file)
			s, err := LoadSpec(path)
			if s != nil || err == nil {
				t.Fatalf("LoadSpec accepted a bad spec")
			}
			checkSpecError(t, err, path, tt.want)
		})
	}
}

// checkSpecError checks that err is exactly the wanted problems, each a
// *SpecError matching ErrInvalidSpec.
func checkSpecError(t *testing.T, err error, file string, want []string) {
	t.Helper()
	var lines []string
	for _, w := range want {
		lines = append(lines, file+":"+w)
	}
	if got := err.Error(); got != strings.Join(lines, "\n") {
		t.Errorf("error:\n%s\nwant:\n%s", got, strings.Join(lines, "\n"))
	}
	var se *SpecError
	if !errors.As(err, &se) {
		t.Fatalf("error %T is not a *SpecError", err)
	}
	if se.File != file || se.Error() != lines[0] {
		t.Errorf("first SpecError = %q, want %q", se.Error(), lines[0])
	}
	if !errors.Is(err, ErrInvalidSpec) {
		t.Errorf("errors.Is(err, ErrInvalidSpec) is false")
	}
}

// TestParseSpecErrors covers the classes that are easier to read inline.
func TestParseSpecErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string // in file order
	}{
		{"event list empty", "features:\n  - {name: a, event: [], agg: count}\n",
			[]string{"2:22: event: the list is empty"}},
		{"event number", "features:\n  - {name: a, event: 7, agg: count}\n",
			[]string{"2:22: event: want an event type or a list of them, found a number"}},
		{"event wildcard", "features:\n  - {name: a, event: 'pay*', agg: count}\n",
			[]string{`2:22: event "pay*": no spaces, '*' or '>' in an event type`}},
		{"no event", "features:\n  - name: a\n    agg: count\n",
			[]string{`2:5: feature "a" has no event`}},
		{"no agg", "features:\n  - name: a\n    event: payment\n",
			[]string{`2:5: feature "a" has no agg`}},
		{"empty field", "features:\n  - {name: a, event: p, field: '', agg: count}\n",
			[]string{"2:32: field: empty field name"}},
		{"field null", "features:\n  - name: a\n    event: p\n    field:\n    agg: sum\n",
			[]string{"4:11: field: want a string, found nothing"}},
		{"name charset", "features:\n  - {name: 'a b', event: p, agg: count}\n",
			[]string{`2:12: name "a b": use only letters, digits, '_', '-' and '.'`}},
		{"name not string", "features:\n  - {name: [a], event: p, agg: count}\n",
			[]string{"2:12: name: want a string, found a list"}},
		{"agg bool", "features:\n  - {name: a, event: p, agg: true}\n",
			[]string{"2:30: agg: want a string, found a bool"}},
		{"window days bad", "features:\n  - {name: a, event: p, agg: count, window: 1.5d}\n",
			[]string{`2:45: window "1.5d": want a duration such as "90s", "1h" or "7d"`}},
		{"top level list", "- features\n",
			[]string{"1:1: the top level must be a mapping with a features: list, found a list"}},
		{"two documents", "features:\n  - {name: a, event: p, agg: count}\n---\nlabels: []\n",
			[]string{"4:1: a spec is one YAML document; another starts here"}},
		{"alias", "features:\n  - {name: &n a, event: p, agg: count}\n",
			[]string{"2:12: name: want a string, found an anchor or alias (not supported " +
				"in a spec)"}},
		{"key not string", "features:\n  - {1: a, name: a, event: p, agg: count}\n",
			[]string{"2:6: keys must be plain strings, found a number"}},
		{"labels not list", "features:\n  - {name: a, event: p, agg: count}\nlabels: x\n",
			[]string{"3:9: labels: want a list of labels, found a string"}},
		{"label needs field", "features:\n  - {name: a, event: p, agg: count}\n" +
			"labels:\n  - {name: b, event: p, agg: max, horizon: 1h}\n",
			[]string{"4:30: agg max needs a field"}},
		{"label window key", "features:\n  - {name: a, event: p, agg: count}\n" +
			"labels:\n  - {name: b, event: p, agg: count, window: 1h}\n",
			[]string{`4:6: label "b" has no horizon`, `4:37: unknown key "window": a label ` +
				`has name, event, field, agg and horizon`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSpec("inline.yaml", []byte(tt.src))
			if err == nil {
				t.Fatal("ParseSpec accepted a bad spec")
			}
			checkSpecError(t, err, "inline.yaml", tt.want)
		})
	}
}

func TestLoadSpecMissingFile(t *testing.T) {
	_, err := LoadSpec(filepath.Join(t.TempDir(), "nope.yaml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("err = %v, want fs.ErrNotExist", err)
	}
	if errors.Is(err, ErrInvalidSpec) {
		t.Error("a missing file is not an invalid spec")
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{"90s", 90 * time.Second, ""},
		{"1h", time.Hour, ""},
		{"1h30m", 90 * time.Minute, ""},
		{"7d", 7 * 24 * time.Hour, ""},
		{"1d12h", 36 * time.Hour, ""},
		{"1ns", 1, ""},
		{"0d", 0, "must be greater than zero"},
		{"0s", 0, "must be greater than zero"},
		{"-1h", 0, "must be greater than zero"},
		{"-1d", 0, `want a duration such as "90s", "1h" or "7d"`},
		{"+1d", 0, `want a duration such as "90s", "1h" or "7d"`},
		{"1d-1h", 0, `want a duration such as "90s", "1h" or "7d"`},
		{"d", 0, `want a duration such as "90s", "1h" or "7d"`},
		{"1.5d", 0, `want a duration such as "90s", "1h" or "7d"`},
		{"1h2d", 0, `want a duration such as "90s", "1h" or "7d"`},
		{"1 hour", 0, `want a duration such as "90s", "1h" or "7d"`},
		{"", 0, "must be greater than zero"},
		{"200000d", 0, "too long"},
		{"106751d23h", 2562047 * time.Hour, ""},
		{"106751d24h", 0, "too long"},
	}
	for _, tt := range tests {
		got, err := parseDuration(tt.in)
		if got != tt.want || err != tt.err {
			t.Errorf("parseDuration(%q) = %v, %q; want %v, %q", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestVersionCanonical(t *testing.T) {
	base := `features:
  - name: a
    event: [payment, refund]
    field: amount
    agg: sum
    window: 1h
  - name: b
    event: login
    agg: count
labels:
  - {name: y, event: chargeback, agg: count, horizon: 30d}
`
	same := map[string]string{
		"keys reordered, comments, spacing": `# a comment
features:
  - agg: sum     # sum it
    window:   1h
    name: a
    field: amount
    event: [payment, refund]

  - {event: login, agg: count, name: b}
labels: [{horizon: 30d, name: y, agg: count, event: chargeback}]
`,
		"features reordered": `labels:
  - {name: y, event: chargeback, agg: count, horizon: 30d}
features:
  - {name: b, event: login, agg: count}
  - {name: a, event: [refund, payment], field: amount, agg: sum, window: 1h}
`,
		"window spelled differently": strings.Replace(base, "window: 1h", "window: 60m", 1),
		"single event as list":       strings.Replace(base, "event: login", "event: [login]", 1),
		"horizon in hours":           strings.Replace(base, "horizon: 30d", "horizon: 720h", 1),
	}
	differ := map[string]string{
		"name":          strings.Replace(base, "name: b", "name: c", 1),
		"event":         strings.Replace(base, "event: login", "event: logout", 1),
		"event added":   strings.Replace(base, "event: login", "event: [login, x]", 1),
		"field":         strings.Replace(base, "field: amount", "field: total", 1),
		"field added":   strings.Replace(base, "agg: count\n", "agg: count\n    field: f\n", 1),
		"agg":           strings.Replace(base, "agg: sum", "agg: mean", 1),
		"window":        strings.Replace(base, "window: 1h", "window: 2h", 1),
		"window gone":   strings.Replace(base, "    window: 1h\n", "", 1),
		"label horizon": strings.Replace(base, "horizon: 30d", "horizon: 31d", 1),
		"label agg": strings.Replace(base, "agg: count, horizon",
			"agg: last, field: f, horizon", 1),
		"label gone": base[:strings.Index(base, "labels:")],
		"feature gone": strings.Replace(base, "  - name: b\n    event: login\n    agg: count\n",
			"", 1),
	}
	want := mustParse(t, base).Version
	for name, src := range same {
		if got := mustParse(t, src).Version; got != want {
			t.Errorf("%s: version %s, want %s", name, got, want)
		}
	}
	seen := map[string]string{want: "base"}
	for name, src := range differ {
		got := mustParse(t, src).Version
		if prev, dup := seen[got]; dup {
			t.Errorf("%s: version %s is the same as %s", name, got, prev)
		}
		seen[got] = name
	}
}
