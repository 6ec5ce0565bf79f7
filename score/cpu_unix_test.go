//go:build unix

package score

import (
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time, user and system, the process has used:
// per request, it is what a request costs the whole process (clients,
// server, service), which varies less from run to run than latency does
// on a shared machine.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
