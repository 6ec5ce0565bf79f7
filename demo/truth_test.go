package demo

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
)

func demoSpec(t *testing.T, name string) *feature.Spec {
	t.Helper()
	data, err := os.ReadFile("assets/" + name)
	if err != nil {
		t.Fatal(err)
	}
	s, err := feature.ParseSpec(name, data)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestAssetsMatchTestdata keeps the demo's embedded files equal to the
// examples in testdata/, which the docs and tests use.
func TestAssetsMatchTestdata(t *testing.T) {
	for asset, example := range map[string]string{
		"assets/spec.yaml":  "../testdata/specs/payments.yaml",
		"assets/model.yaml": "../testdata/models/fraud.yaml",
	} {
		a, err1 := os.ReadFile(asset)
		b, err2 := os.ReadFile(example)
		if err1 != nil || err2 != nil || string(a) != string(b) {
			t.Errorf("%s differs from %s (%v %v)", asset, example, err1, err2)
		}
	}
}

func TestGroundTruth(t *testing.T) {
	spec := demoSpec(t, "spec.yaml")
	t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	pub := func(id string, seq uint64, typ string, evt, sent float64) published {
		return published{ID: id, Entity: "u", Type: typ, Time: at(evt), Seq: seq,
			Sent: at(sent), Acked: at(sent + 0.001)}
	}
	pubs := []published{
		pub("a", 1, "payment", 1, 1),
		pub("b", 2, "payment", 2, 2),
		pub("late", 3, "payment", 2.5, 9), // happened at 2.5, published at 9
		pub("c", 4, "login", 5, 5),
		pub("cb", 5, "chargeback", 6, 6), // read by no feature
		pub("d", 6, "payment", 7, 7),
	}
	inj := []injection{
		{Kind: "drop", Seq: 2, Entity: "u"},
		{Kind: "drop", Seq: 5, Entity: "u"},
		{Kind: "twice", Seq: 4, Entity: "u"},
		{Kind: "reset", At: at(10), Watermark: 6},
		{Kind: "rebuild", At: at(20), Watermark: 6},
	}
	snaps := []served{
		// late, and b dropped
		{ID: "s1", Entity: "u", T: at(3), Watermark: 2, SpecVersion: spec.Version},
		// dropped b, dup c, lag d, late
		{ID: "s2", Entity: "u", T: at(8), Watermark: 4, SpecVersion: spec.Version},
		// reset lost all
		{ID: "s3", Entity: "u", T: at(12), Watermark: 6, SpecVersion: spec.Version},
		// rebuilt; definition
		{ID: "s4", Entity: "u", T: at(21), Watermark: 6, SpecVersion: "other"},
		// nothing
		{ID: "s5", Entity: "v", T: at(8), Watermark: 6, SpecVersion: spec.Version},
		// before everything
		{ID: "s6", Entity: "u", T: at(0.5), Watermark: 0, SpecVersion: spec.Version},
	}
	got := groundTruth(spec, pubs, inj, snaps)
	want := map[string][]string{
		"s1": {causeLate, causeDropped},
		"s2": {causeLate, causeLag, causeDropped, causeDuplicated},
		"s3": {causeDropped},
		"s4": {causeDefinition},
		"s5": nil,
		"s6": nil,
	}
	for _, line := range got {
		if !slices.Equal(line.Causes, want[line.SnapshotID]) {
			t.Errorf("%s: causes %v, want %v (events %v)", line.SnapshotID, line.Causes,
				want[line.SnapshotID], line.Events)
		}
	}
	if ev := got[1].Events[causeDropped]; !slices.Equal(ev, []string{"b"}) {
		t.Errorf("s2 dropped events %v, want [b]", ev)
	}
}

func TestCompare(t *testing.T) {
	truth := []truthLine{
		{SnapshotID: "s1", Causes: []string{causeLate}},
		{SnapshotID: "s2", Causes: []string{causeLag, causeDropped}},
		{SnapshotID: "s3"},
	}
	audit := map[string][]string{"s1": {causeLate}, "s2": {causeLag}, "s3": {causeDropped}}
	for _, sc := range compare(truth, audit) {
		switch sc.Cause {
		case causeLate, causeLag:
			if sc.Precision != 1 || sc.Recall != 1 {
				t.Errorf("%s: %+v", sc.Cause, sc)
			}
		case causeDropped:
			if sc.Precision != 0 || sc.Recall != 0 || sc.Truth != 1 || sc.Audit != 1 {
				t.Errorf("dropped: %+v", sc)
			}
		default:
			if sc.Precision != 1 || sc.Recall != 1 || sc.Truth != 0 {
				t.Errorf("%s: %+v", sc.Cause, sc)
			}
		}
	}
}

func TestParseFaults(t *testing.T) {
	f, err := ParseFaults("drop=0.01,dup=0.005,lag=250ms,late=0.02,restart=1,spec-change=1")
	if err != nil || f != DefaultFaults {
		t.Fatalf("got %+v, %v", f, err)
	}
	if f, err := ParseFaults("none"); err != nil || !f.None() {
		t.Fatalf("none: %+v %v", f, err)
	}
	for _, bad := range []string{"drop", "drop=2", "lag=forever", "restart=-1", "colour=red"} {
		if _, err := ParseFaults(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
