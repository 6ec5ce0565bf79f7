package ledger

import (
	"context"
	"fmt"
	"testing"
	"time"
)

func TestEntitySplitsCoverTheIndexOnce(t *testing.T) {
	l := openTest(t, t.TempDir())
	defer l.Close()
	const entities, per = 3000, 20
	for b := range per {
		var es []Event
		for i := range entities {
			id := fmt.Sprintf("e-%d-%d", i, b)
			es = append(es, ev(fmt.Sprint("user:", i), id, time.Duration(b)*time.Minute, id))
		}
		mustAppend(t, l, &Batch{Events: es})
	}
	// Splits come from the sizes of the tables' data: compact so that the
	// entity index lies in tables rather than in memory, as it does in a
	// long-lived ledger.
	if err := l.db.Compact(context.Background(), []byte{prefixEntity}, []byte{prefixEntity + 1},
		true); err != nil {
		t.Fatal(err)
	}
	splits, err := l.EntitySplits(4)
	if err != nil {
		t.Fatal(err)
	}
	if len(splits) == 0 || len(splits) > 3 {
		t.Fatalf("splits %v", splits)
	}
	bounds := append(append([]string{""}, splits...), "")
	seen := map[string]int{}
	total := 0
	var sizes []int
	for i := 0; i+1 < len(bounds); i++ {
		n := 0
		for ie, err := range l.EntityEventsIn(bounds[i], bounds[i+1]) {
			if err != nil {
				t.Fatal(err)
			}
			seen[ie.Record.Entity]++
			n++
		}
		sizes = append(sizes, n)
		total += n
	}
	// Entities of one size: parts of equal size on disk hold about equal
	// numbers of events.
	for i, n := range sizes {
		if n < total/len(sizes)/2 || n > 2*total/len(sizes) {
			t.Fatalf("part %d holds %d of %d events: sizes %v", i, n, total, sizes)
		}
	}
	if total != entities*per || len(seen) != entities {
		t.Fatalf("parts hold %d events of %d entities, want %d of %d", total, len(seen),
			entities*per, entities)
	}
	for e, n := range seen {
		if n != per {
			t.Fatalf("entity %s read %d times over the parts, want %d", e, n, per)
		}
	}
	if s, _ := l.EntitySplits(1); s != nil {
		t.Fatalf("one part needs no split: %v", s)
	}
}
