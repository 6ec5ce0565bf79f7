package convert

import (
	"testing"
	"time"

	"github.com/asofdev/asof/feature"
	"github.com/asofdev/asof/ledger"
)

func TestEventKeepsEveryField(t *testing.T) {
	at := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	e := ledger.Event{ID: "e1", Type: "payment", Time: at, Hash: 42, Fields: []ledger.Field{
		{Name: "amount", Value: ledger.Value{Kind: ledger.KindNumber, Num: 12.5}},
		{Name: "merchant", Value: ledger.Value{Kind: ledger.KindString, Str: "m-7"}},
		{Name: "card_present", Value: ledger.Value{Kind: ledger.KindBool, Bool: true}},
		{Name: "note", Value: ledger.Value{Kind: ledger.KindNull}},
	}}
	var c Converter
	if !sameLayout {
		t.Fatal("ledger and fold fields are no longer laid out alike: Transient copies")
	}
	for i, fe := range []feature.Event{Event(&e), c.Event(&e), c.Event(&e), *c.Transient(&e)} {
		if fe.ID != "e1" || fe.Type != "payment" || !fe.Time.Equal(at) || fe.Hash != 42 ||
			len(fe.Fields) != 4 {
			t.Fatalf("conversion %d: %+v", i, fe)
		}
		want := []feature.Value{feature.Number(12.5), feature.String("m-7"), feature.Bool(true), {}}
		for j, f := range fe.Fields {
			if f.Name != e.Fields[j].Name || !f.Value.Equal(want[j], 0) ||
				f.Value.Kind != want[j].Kind {
				t.Fatalf("conversion %d, field %d: %+v", i, j, f)
			}
			if LedgerValue(f.Value) != e.Fields[j].Value {
				t.Fatalf("round trip of field %d: %+v", j, LedgerValue(f.Value))
			}
		}
	}
	// Events converted by one Converter do not share fields with each other.
	a, b := c.Event(&e), c.Event(&e)
	a.Fields[0].Name = "changed"
	if b.Fields[0].Name != "amount" {
		t.Fatal("two converted events share their fields")
	}
}

func TestVectorNamesValuesInSpecOrder(t *testing.T) {
	spec, err := feature.ParseSpec("s.yaml", []byte("features:\n"+
		"  - {name: n, event: payment, agg: count}\n"+
		"  - {name: last, event: payment, field: merchant, agg: last}\n"))
	if err != nil {
		t.Fatal(err)
	}
	got := Vector(spec, feature.Vector{Values: []feature.Value{feature.Number(3),
		feature.String("m")}})
	if len(got) != 2 || got[0].Name != "n" || got[0].Value.Num != 3 || got[1].Name != "last" ||
		got[1].Value.Str != "m" {
		t.Fatalf("vector fields %+v", got)
	}
}
