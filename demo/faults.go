package demo

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Faults are the faults the demo injects, at known rates, so that the audit
// can be scored against what really happened.
type Faults struct {
	Drop       float64       // share of events the online pipeline drops
	Dup        float64       // share of events it applies twice
	Lag        time.Duration // length of each pause of the online pipeline
	Late       float64       // share of events published late
	Restart    int           // restarts that lose the online state
	SpecChange int           // periods served on another spec version
}

// DefaultFaults are the faults of a demo run without --faults.
var DefaultFaults = Faults{Drop: 0.01, Dup: 0.005, Lag: 250 * time.Millisecond, Late: 0.02,
	Restart: 1, SpecChange: 1}

// None reports whether no fault is injected at all.
func (f Faults) None() bool { return f == Faults{} }

func (f Faults) String() string {
	if f.None() {
		return "none"
	}
	return fmt.Sprintf("drop=%g,dup=%g,lag=%s,late=%g,restart=%d,spec-change=%d",
		f.Drop, f.Dup, f.Lag, f.Late, f.Restart, f.SpecChange)
}

// ParseFaults reads "none" or a comma-separated list such as
// "drop=0.01,dup=0.005,lag=250ms,late=0.02,restart=1,spec-change=1".
// Faults not named are off.
func ParseFaults(s string) (Faults, error) {
	var f Faults
	s = strings.TrimSpace(s)
	if s == "none" || s == "" {
		return f, nil
	}
	for _, part := range strings.Split(s, ",") {
		key, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return f, fmt.Errorf("fault %q: want name=value", part)
		}
		if err := f.set(key, val); err != nil {
			return f, fmt.Errorf("fault %s: %w", key, err)
		}
	}
	return f, nil
}

func (f *Faults) set(key, val string) error {
	rate := func(p *float64) error {
		x, err := strconv.ParseFloat(val, 64)
		if err != nil || x < 0 || x > 0.5 {
			return fmt.Errorf("%q is not a rate between 0 and 0.5", val)
		}
		*p = x
		return nil
	}
	count := func(p *int) error {
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 || n > 10 {
			return fmt.Errorf("%q is not a count between 0 and 10", val)
		}
		*p = n
		return nil
	}
	switch key {
	case "drop":
		return rate(&f.Drop)
	case "dup":
		return rate(&f.Dup)
	case "late":
		return rate(&f.Late)
	case "lag":
		d, err := time.ParseDuration(val)
		if err != nil || d < 0 || d > 10*time.Second {
			return fmt.Errorf("%q is not a duration up to 10s", val)
		}
		f.Lag = d
		return nil
	case "restart":
		return count(&f.Restart)
	case "spec-change":
		return count(&f.SpecChange)
	}
	return fmt.Errorf("unknown fault (want drop, dup, lag, late, restart or spec-change)")
}
