//go:build unix

package memory

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process has used, garbage collector
// included. The benchmarks report it per operation next to wall time,
// because wall time on a shared machine measures the neighbours too.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
