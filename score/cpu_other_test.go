//go:build !unix

package score

import (
	"testing"
	"time"
)

// processCPU is not measured here: the benchmarks report no CPU per
// request.
func processCPU(*testing.B) time.Duration { return 0 }
