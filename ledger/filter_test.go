package ledger

import (
	"math/rand/v2"
	"testing"
)

// TestKeyFilter checks that the filter never forgets a key, through its
// generations, and that its false-positive rate at capacity stays near
// what its doc promises.
func TestKeyFilter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	f := newKeyFilter(0)
	const n = 5 * bloomMinKeys // enough for a second generation
	added := make([]uint64, n)
	for i := range added {
		added[i] = rng.Uint64()
		f.addHash(added[i])
	}
	if len(f.gens) < 2 {
		t.Fatalf("%d generations after %d keys, want more than one", len(f.gens), n)
	}
	ps := make([]probe, len(added))
	for i, h := range added {
		ps[i].hash = h
	}
	f.mayHaveHashes(ps)
	for _, p := range ps {
		if !p.maybe {
			t.Fatalf("key %x was added but the filter says no", p.hash)
		}
	}

	g := newBloom(bloomMinKeys)
	for range bloomMinKeys {
		g.add(rng.Uint64())
	}
	const asked = 200_000
	fp := 0
	for range asked {
		if g.has(rng.Uint64()) {
			fp++
		}
	}
	if rate := float64(fp) / asked; rate > 0.0005 {
		t.Fatalf("false-positive rate %.5f at capacity, want about 0.00016", rate)
	} else {
		t.Logf("false-positive rate %.5f at capacity", rate)
	}
}
