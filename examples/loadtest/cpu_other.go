//go:build !unix

package main

import "time"

// processCPU is unavailable here; CPU figures are then left out.
func processCPU() time.Duration { return 0 }
