package demo

import (
	"fmt"
	"math"
	"math/rand/v2"
	"time"
)

// generator makes a realistic stream of payments, logins and chargebacks
// for a population of users whose activity is skewed: a few users are very
// active, most are rarely seen.
type generator struct {
	rng       *rand.Rand
	users     int
	zipf      *rand.Zipf
	next      int
	countries []string
	home      []string   // each user's home country
	devices   [][]string // each user's devices
}

func newGenerator(seed uint64, users int) *generator {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	g := &generator{
		rng:       rng,
		users:     users,
		zipf:      rand.NewZipf(rng, 1.1, 20, uint64(users-1)),
		countries: []string{"DE", "FR", "GB", "NL", "US", "ES", "PL", "IT"},
	}
	g.home = make([]string, users)
	g.devices = make([][]string, users)
	for u := range users {
		g.home[u] = g.countries[rng.IntN(len(g.countries))]
		for d := range 1 + rng.IntN(3) {
			g.devices[u] = append(g.devices[u], fmt.Sprintf("dev-%d-%d", u, d))
		}
	}
	return g
}

// user draws a user, skewed towards the active ones.
func (g *generator) user() int { return int(g.zipf.Uint64()) }

func entityOf(u int) string { return fmt.Sprintf("user:%d", u) }

// genEvent is one event the generator made.
type genEvent struct {
	ID     string
	Entity string
	Type   string
	Time   time.Time
	Fields map[string]any
}

// event returns the next event, with event time at.
func (g *generator) event(at time.Time) genEvent {
	g.next++
	u := g.user()
	e := genEvent{ID: fmt.Sprintf("evt-%d", g.next), Entity: entityOf(u), Time: at}
	switch r := g.rng.Float64(); {
	case r < 0.70:
		e.Type = "payment"
		// lognormal, median about 20
		amount := math.Round(math.Exp(3+g.rng.NormFloat64())*100) / 100
		e.Fields = map[string]any{"amount": amount, "merchant": fmt.Sprintf("m-%d",
			g.rng.IntN(200)),
			"card_present": g.rng.IntN(3) > 0}
	case r < 0.98:
		e.Type = "login"
		country := g.home[u]
		if g.rng.IntN(20) == 0 {
			country = g.countries[g.rng.IntN(len(g.countries))]
		}
		e.Fields = map[string]any{"device": g.devices[u][g.rng.IntN(len(g.devices[u]))],
			"country": country}
	default:
		e.Type = "chargeback"
		e.Fields = map[string]any{"amount": math.Round(g.rng.Float64()*20000) / 100}
	}
	return e
}

// scoreTarget draws a user to score: mostly recently active ones.
func (g *generator) scoreTarget(recent []string) string {
	if len(recent) > 0 && g.rng.IntN(4) > 0 {
		return recent[g.rng.IntN(len(recent))]
	}
	return entityOf(g.user())
}
