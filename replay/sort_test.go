package replay

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// indexOrder is the order sortIndexOrder must produce, written plainly.
func indexOrder(a, b Point) int {
	return cmp.Or(compareEntities(a.Entity, b.Entity), a.At.Compare(b.At),
		cmp.Compare(a.Ref, b.Ref))
}

// TestSortIndexOrder checks the key sort against a plain sort of the
// points: names that share long prefixes, differ only after the eight
// bytes the keys hold, or are empty; instants that tie to the second.
func TestSortIndexOrder(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		prefix := rapid.SampledFrom([]string{"", "user:", "tenant-0042/customer/"}).Draw(t, "prefix")
		names := rapid.SliceOfN(rapid.StringMatching(`[ab]{0,12}`), 1, 8).Draw(t, "names")
		n := rapid.IntRange(0, 200).Draw(t, "n")
		points := make([]Point, n)
		for i := range points {
			points[i] = Point{
				Entity: prefix + rapid.SampledFrom(names).Draw(t, "name"),
				At: time.Unix(int64(rapid.IntRange(0, 3).Draw(t, "sec")),
					int64(rapid.IntRange(0, 2).Draw(t, "nsec"))),
				Ref: rapid.IntRange(-2, 2).Draw(t, "ref"),
			}
		}
		got, want := slices.Clone(points), slices.Clone(points)
		sortIndexOrder(got)
		slices.SortStableFunc(want, indexOrder)
		for i := range want {
			if indexOrder(got[i], want[i]) != 0 {
				t.Fatalf("position %d: %+v, want %+v", i, got[i], want[i])
			}
		}
	})
}

// TestSortIndexOrderLarge covers the parallel halves and their merge.
func TestSortIndexOrderLarge(t *testing.T) {
	points := randomPoints(100_000, 5_000)
	got, want := slices.Clone(points), slices.Clone(points)
	sortIndexOrder(got)
	slices.SortFunc(want, indexOrder)
	if !slices.Equal(got, want) {
		t.Fatal("the key sort and the plain sort disagree")
	}
}

func randomPoints(n, entities int) []Point {
	rng := rand.New(rand.NewPCG(1, 2))
	points := make([]Point, n)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range points {
		points[i] = Point{Entity: fmt.Sprintf("user:%d", rng.IntN(entities)),
			At: t0.Add(time.Duration(rng.IntN(1e6)) * time.Second), Ref: i}
	}
	return points
}

// BenchmarkSortIndexOrder sorts 500,000 label rows over 100,000 entities.
func BenchmarkSortIndexOrder(b *testing.B) {
	points := randomPoints(500_000, 100_000)
	ps := slices.Clone(points)
	for b.Loop() {
		copy(ps, points)
		sortIndexOrder(ps)
	}
}
