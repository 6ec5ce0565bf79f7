package ledger

import (
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"
)

// TestBriefs checks a brief scan against the projected events of the same
// range: the same events in the same order, each with its sequence, times,
// hash, type index and field bits.
func TestBriefs(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	mustAppend(t, l, &Batch{Events: projectTestEvents()})

	for i, p := range []Projection{
		{Types: []string{"payment", "chargeback", "login"},
			Fields: []string{"amount", "merchant", "ok"}},
		{Types: []string{"login"}, Fields: []string{"ok", "missing"}},
		{Types: []string{"chargeback"}, Fields: []string{}},
	} {
		for _, span := range [][2]time.Duration{{-1, 0}, {10 * time.Minute, 40 * time.Minute}} {
			t.Run(fmt.Sprint(i, span), func(t *testing.T) {
				var after, until time.Time
				if span[0] >= 0 {
					after, until = t0.Add(span[0]), t0.Add(span[1])
				}
				r := l.EntityReader(p)
				var want []Brief
				for ie, err := range r.Events("user:1", after, until) {
					if err != nil {
						t.Fatal(err)
					}
					b := Brief{Seq: ie.Seq, Time: ie.Record.Time.UnixNano()}
					ie.Record.brief(r.p, &b)
					want = append(want, b)
				}
				var got []Brief
				for b, err := range r.Briefs("user:1", after, until) {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, *b)
				}
				if len(want) == 0 || !slices.Equal(got, want) {
					t.Fatalf("briefs\n%+v\nwant\n%+v", got, want)
				}
				for _, b := range got {
					if b.Type < 0 || b.Type >= len(p.Types) ||
						b.Arrival != b.Time+int64(time.Second) {
						t.Fatalf("brief %+v: bad type index or arrival", b)
					}
				}
			})
		}
	}

	// Bits by field: most logins hold ok (a bool) and a null amount; one
	// has only a number for amount.
	r := l.EntityReader(Projection{Types: []string{"login"}, Fields: []string{"amount", "ok"}})
	var okOnly, amountOnly int
	for b, err := range r.Briefs("user:1", time.Time{}, time.Time{}) {
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case b.Set == 2 && b.Number == 0 && b.Finite == 0:
			okOnly++
		case b.Set == 1 && b.Number == 1 && b.Finite == 1:
			amountOnly++
		}
	}
	if okOnly == 0 || amountOnly == 0 {
		t.Fatalf("%d logins with only ok, %d with only a number for amount", okOnly, amountOnly)
	}

	for _, p := range []Projection{{}, {Types: []string{"login"}}, {Fields: []string{"ok"}}} {
		for _, err := range l.EntityReader(p).Briefs("user:1", time.Time{}, time.Time{}) {
			if !errors.Is(err, errBriefProjection) {
				t.Fatalf("projection %+v: %v, want a refusal", p, err)
			}
		}
	}
}

// TestView checks that scans through a view see the ledger as it was when
// the view was taken, that the view holds off Close, and that reads through
// a closed view fail.
func TestView(t *testing.T) {
	l := openTest(t, t.TempDir())
	mustAppend(t, l, &Batch{Events: []Event{ev("user:1", "a", 0, "a")}})
	v, err := l.View()
	if err != nil {
		t.Fatal(err)
	}
	mustAppend(t, l, &Batch{Events: []Event{ev("user:1", "b", time.Minute, "b")}})
	p := Projection{Types: []string{"payment"}, Fields: []string{"amount"}}
	count := func(r EntityReader) (events, briefs int) {
		for _, err := range r.Events("user:1", time.Time{}, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			events++
		}
		for _, err := range r.Briefs("user:1", time.Time{}, time.Time{}) {
			if err != nil {
				t.Fatal(err)
			}
			briefs++
		}
		return events, briefs
	}
	if e, b := count(l.EntityReader(p).In(v)); e != 1 || b != 1 {
		t.Fatalf("through the view: %d events, %d briefs, want 1 and 1", e, b)
	}
	if e, b := count(l.EntityReader(p)); e != 2 || b != 2 {
		t.Fatalf("the ledger: %d events, %d briefs, want 2 and 2", e, b)
	}

	closed := make(chan error)
	go func() { closed <- l.Close() }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a view was open", err)
	case <-time.After(50 * time.Millisecond):
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	for _, err := range l.EntityReader(p).In(v).Events("user:1", time.Time{}, time.Time{}) {
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("a read through a closed view: %v", err)
		}
	}
	if err := v.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("closing a view twice: %v", err)
	}
}
