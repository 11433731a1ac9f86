//go:build !linux

package metadata

import "time"

// threadCPU is unavailable here; the CPU metrics are then left out.
func threadCPU() time.Duration { return 0 }
