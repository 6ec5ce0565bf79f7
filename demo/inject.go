package demo

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/asofdev/asof/ledger"
	"github.com/asofdev/asof/score"
)

// Injector drops or doubles events of the online pipeline at the demo's
// rates and records each decision, so that the ground truth comes from
// what was done rather than from what the audit infers.
type Injector struct {
	drop, dup float64

	mu      sync.Mutex
	rng     *rand.Rand
	records []injection
}

func NewInjector(f Faults, seed uint64) *Injector {
	return &Injector{drop: f.Drop, dup: f.Dup, rng: rand.New(rand.NewPCG(seed, 0xfa17))}
}

// Decide implements score.Injector.
func (in *Injector) Decide(e *ledger.Event) score.Action {
	in.mu.Lock()
	defer in.mu.Unlock()
	r := in.rng.Float64()
	switch {
	case r < in.drop:
		in.records = append(in.records, injection{Kind: "drop", Seq: e.BrokerSeq,
			Entity: e.Entity, At: time.Now()})
		return score.Drop
	case r < in.drop+in.dup:
		in.records = append(in.records, injection{Kind: "twice", Seq: e.BrokerSeq,
			Entity: e.Entity, At: time.Now()})
		return score.Twice
	}
	return score.Apply
}

// record adds a fault the driver caused (a pause, a reset, a spec period).
func (in *Injector) record(r injection) {
	in.mu.Lock()
	in.records = append(in.records, r)
	in.mu.Unlock()
}

// all returns a copy of the records.
func (in *Injector) all() []injection {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]injection(nil), in.records...)
}
