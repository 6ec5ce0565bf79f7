package ledger

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// projectTestEvents are events of three types whose fields vary in order,
// kind and presence, over two entities.
func projectTestEvents() []Event {
	var es []Event
	for i := range 60 {
		e := ev(fmt.Sprint("user:", i%2), fmt.Sprint("e", i), time.Duration(i)*time.Minute,
			fmt.Sprint("p", i))
		switch i % 3 {
		case 1:
			e.Type = "login"
			e.Fields = []Field{{"ok", Value{Kind: KindBool, Bool: i%2 == 0}},
				{"amount", Value{}}}
		case 2:
			e.Type = "chargeback"
			e.Fields = []Field{{"merchant", Value{Kind: KindString, Str: "m-2"}},
				{"amount", Value{Kind: KindNumber, Num: float64(i)}}}
		}
		if i%7 == 0 {
			e.Fields = nil
		}
		if i%11 == 5 { // a name twice: the first counts
			e.Fields = append(e.Fields, Field{"amount", Value{Kind: KindNumber, Num: -1}})
		}
		es = append(es, e)
	}
	return es
}

// project is what a projection should leave of e: nil when its type is
// not wanted, else e with exactly the wanted fields in the projection's
// order, each the first of its name or null.
func project(e Event, p Projection) *Event {
	if len(p.Types) > 0 && !slices.Contains(p.Types, e.Type) {
		return nil
	}
	if !p.Stream {
		e.Stream = ""
	}
	if p.Fields != nil {
		var fs []Field
		for _, name := range p.Fields {
			f := Field{Name: name}
			named := func(g Field) bool { return g.Name == name }
			if i := slices.IndexFunc(e.Fields, named); i >= 0 {
				f = e.Fields[i]
			}
			fs = append(fs, f)
		}
		e.Fields = fs
	}
	return &e
}

func TestEntityReaderProjects(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, &Batch{Events: projectTestEvents()})

	cases := []Projection{
		{},
		{Types: []string{"payment", "chargeback"}},
		{Fields: []string{"amount"}},
		{Fields: []string{}},
		{Types: []string{"login"}, Fields: []string{"ok", "missing"}},
		{Types: []string{"payment"}, Fields: []string{"merchant", "amount"}, Reuse: true},
		{Types: []string{"payment", "login"}, Stream: true},
		{Types: []string{"nothing"}},
	}
	for i, p := range cases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var want []Event
			for ie, err := range l.EntityEvents("user:1", time.Time{}, time.Time{}) {
				if err != nil {
					t.Fatal(err)
				}
				if e := project(ie.Record, p); e != nil {
					want = append(want, *e)
				}
			}
			var got []Event
			r := l.EntityReader(p)
			for ie, err := range r.Events("user:1", time.Time{}, time.Time{}) {
				if err != nil {
					t.Fatal(err)
				}
				e := ie.Record
				// With Reuse the fields are only good until the next
				// event: copy them, as a reader that keeps them must.
				e.Fields = slices.Clone(e.Fields)
				got = append(got, e)
			}
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			for i := range want {
				if len(want[i].Fields) == 0 {
					want[i].Fields = nil
				}
				if len(got[i].Fields) == 0 {
					got[i].Fields = nil
				}
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("event %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
		})
	}
}

func TestEntityReaderRanges(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, &Batch{Events: projectTestEvents()})
	r := l.EntityReader(Projection{Types: []string{"payment"}})
	count := func(seq func(func(Indexed[Event], error) bool)) int {
		n := 0
		for ie, err := range seq {
			if err != nil {
				t.Fatal(err)
			}
			if ie.Record.Type != "payment" {
				t.Fatalf("type %q passed the projection", ie.Record.Type)
			}
			n++
		}
		return n
	}
	// Every third event is a payment: 20 of them, 10 per entity, 11 by
	// minute 30.
	if n := count(r.EventsIn("", "")); n != 20 {
		t.Fatalf("EventsIn: %d payments, want 20", n)
	}
	if n := count(r.EventsIn("user:1", "")); n != 10 {
		t.Fatalf("EventsIn from user:1: %d payments, want 10", n)
	}
	window := func(string) []Span { return []Span{{Until: t0.Add(30 * time.Minute)}} }
	if n := count(r.EventsInWindow("", "", window)); n != 11 {
		t.Fatalf("EventsInWindow: %d payments, want 11", n)
	}
}

func TestEntityReaderReportsDamage(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, &Batch{Events: projectTestEvents()[:1]})
	// Cut the wanted entry's value short: the projected scan must say so.
	k := entityKey("user:0", t0, 1)
	v, closer, err := l.db.Get(k)
	if err != nil {
		t.Fatal(err)
	}
	short := clone(v[:len(v)-3])
	_ = closer.Close()
	if err := l.db.Set(k, short, nil); err != nil {
		t.Fatal(err)
	}
	r := l.EntityReader(Projection{Types: []string{"payment"}, Fields: []string{"amount"}})
	var errs []error
	for _, err := range r.Events("user:0", time.Time{}, time.Time{}) {
		errs = append(errs, err)
	}
	for _, err := range r.Briefs("user:0", time.Time{}, time.Time{}) {
		errs = append(errs, err)
	}
	if len(errs) != 2 {
		t.Fatalf("the scans yielded %v, want one error each", errs)
	}
	for _, err := range errs {
		var ce *CorruptionError
		if !errors.As(err, &ce) || ce.Seq != 1 {
			t.Fatalf("error %v, want a CorruptionError at sequence 1", err)
		}
	}
}

// projections are those the decoding tests read values through.
var projections = []Projection{
	{Types: []string{"payment"}, Fields: []string{"amount", "merchant"}},
	{Types: []string{"login", "payment"}, Fields: []string{"ok"}, Stream: true},
	{Fields: []string{"merchant", "x"}, Reuse: true},
	{Types: []string{"payment"}, Fields: []string{}},
	{Types: []string{"login", "payment"}, Fields: []string{"merchant", "amount", "ok"}},
}

// decodeBoth reads v through p with the one-pass decoder and with the
// general one. When the one-pass decoder takes the value, both must agree.
func decodeBoth(t *testing.T, v []byte, p Projection) {
	t.Helper()
	cp := p.compile()
	fast, slow := Event{}, Event{}
	keepFast, done := decodeProjected(v, cp, &decoder{names: new(internTable)}, &fast)
	keepSlow, err := decodeEntityValue(v, &decoder{names: new(internTable)}, &slow, cp)
	briefBoth(t, v, p, keepSlow, err, &slow)
	if !done {
		return
	}
	if err != nil {
		t.Fatalf("projection %+v: the one-pass decoder took a value the general one "+
			"refuses (%v): %x", p, err, v)
	}
	if keepFast != keepSlow || (keepFast && !sameEvent(fast, slow)) {
		t.Fatalf("projection %+v: one-pass %v %+v, general %v %+v", p, keepFast, fast,
			keepSlow, slow)
	}
}

// briefBoth checks the brief one-pass decoder against the general one,
// whose outcome for v through p is keep, err and e, for projections a brief
// scan accepts.
func briefBoth(t *testing.T, v []byte, p Projection, keep bool, err error, e *Event) {
	t.Helper()
	cp := p.compile()
	if len(cp.types) == 0 || cp.allFields {
		return
	}
	var fast, slow Brief
	keepFast, done := decodeBrief(v, cp, &fast)
	if !done {
		return
	}
	if err != nil {
		t.Fatalf("projection %+v: the brief decoder took a value the general one "+
			"refuses (%v): %x", p, err, v)
	}
	if keep {
		e.brief(cp, &slow)
	}
	if keepFast != keep || (keep && fast != slow) {
		t.Fatalf("projection %+v: brief %v %+v, general %v %+v", p, keepFast, fast, keep, slow)
	}
}

// sameEvent reports whether a and b are the same, numbers compared by
// their bits so that a NaN equals itself.
func sameEvent(a, b Event) bool {
	if len(a.Fields) != len(b.Fields) {
		return false
	}
	a.Fields, b.Fields = slices.Clone(a.Fields), slices.Clone(b.Fields)
	for i := range a.Fields {
		x, y := &a.Fields[i].Value, &b.Fields[i].Value
		if math.Float64bits(x.Num) != math.Float64bits(y.Num) {
			return false
		}
		x.Num, y.Num = 0, 0
	}
	return reflect.DeepEqual(a, b)
}

func TestDecodeProjectedAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	str := func() string {
		n := rng.IntN(12)
		if rng.IntN(20) == 0 {
			n = 120 + rng.IntN(40) // past a one-byte length now and then
		}
		return strings.Repeat("m", n)
	}
	names := []string{"amount", "merchant", "ok", "x", "other"}
	taken := 0
	for i := range 5000 {
		e := Event{ID: fmt.Sprint("e", i), Stream: "EVENTS", Hash: rng.Uint64(),
			Arrival: t0.Add(time.Duration(rng.Int64N(1e12))), BrokerSeq: rng.Uint64N(1 << 40),
			Type: []string{"payment", "login", "chargeback"}[rng.IntN(3)]}
		if rng.IntN(10) == 0 {
			e.ID = ""
		}
		for range rng.IntN(5) {
			f := Field{Name: names[rng.IntN(len(names))]}
			switch rng.IntN(4) {
			case 1:
				f.Value = Value{Kind: KindNumber, Num: rng.NormFloat64()}
			case 2:
				f.Value = Value{Kind: KindString, Str: str()}
			case 3:
				f.Value = Value{Kind: KindBool, Bool: rng.IntN(2) == 0}
			}
			e.Fields = append(e.Fields, f)
		}
		v := appendEntityValue(nil, &e)
		for _, p := range projections {
			decodeBoth(t, v, p)
			if _, done := decodeProjected(v, p.compile(), &decoder{}, &Event{}); done {
				taken++
			}
		}
	}
	// Most values have short strings: the one-pass decoder takes them.
	if taken < 5000*len(projections)*3/4 {
		t.Fatalf("the one-pass decoder took %d of %d values", taken, 5000*len(projections))
	}
}

func FuzzDecodeProjected(f *testing.F) {
	for _, e := range projectTestEvents()[:8] {
		f.Add(appendEntityValue(nil, &e))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		for _, p := range projections {
			decodeBoth(t, v, p)
		}
	})
}
