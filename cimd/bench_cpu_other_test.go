//go:build !linux

package cimd

import "time"

// threadCPU is unavailable here; the CPU metrics are then left out.
func threadCPU() time.Duration { return 0 }

// processCPU is unavailable here; the CPU metrics are then left out.
func processCPU() time.Duration { return 0 }
