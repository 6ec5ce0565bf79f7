package feature_test

import (
	"fmt"
	"time"

	"github.com/asofdev/asof/feature"
)

// A spec is parsed once; each entity gets a State that events are applied
// to, in any order, and that gives the vector as of any instant.
func Example() {
	spec, err := feature.ParseSpec("example.yaml", []byte(`
features:
  - name: payments_1h
    event: payment
    agg: count
    window: 1h
  - name: amount_sum_24h
    event: payment
    field: amount
    agg: sum
    window: 24h
  - name: last_merchant
    event: payment
    field: merchant
    agg: last
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	now := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	pay := func(id string, ago time.Duration, amount float64, merchant string) feature.Event {
		return feature.Event{ID: id, Type: "payment", Time: now.Add(-ago), Hash: uint64(len(id)),
			Fields: []feature.Field{
				{Name: "amount", Value: feature.Number(amount)},
				{Name: "merchant", Value: feature.String(merchant)},
			}}
	}

	st := feature.NewState(spec)
	fmt.Println(st.Apply(pay("p2", 30*time.Minute, 12.5, "cafe")))
	fmt.Println(st.Apply(pay("p1", 3*time.Hour, 20, "bakery")))    // late: order does not matter
	fmt.Println(st.Apply(pay("p2", 30*time.Minute, 12.5, "cafe"))) // duplicate: ignored

	v := st.Vector(now)
	for i, f := range spec.Features {
		fmt.Printf("%s = %v\n", f.Name, v.Values[i])
	}
	fmt.Println("input set:", v.Count, "events")
	// Output:
	// true
	// true
	// false
	// payments_1h = 1
	// amount_sum_24h = 32.5
	// last_merchant = "cafe"
	// input set: 2 events
}

// A refused spec names the file, line and column of each problem.
func ExampleParseSpec_error() {
	_, err := feature.ParseSpec("spec.yaml", []byte(`features:
  - name: total
    event: payment
    agg: sum
`))
	fmt.Println(err)
	// Output: spec.yaml:4:10: agg sum needs a field
}
