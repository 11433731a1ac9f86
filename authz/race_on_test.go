//go:build race

package authz

// raceEnabled: the race detector drops a quarter of sync.Pool puts, so
// pooled buffers are allocated again now and then.
const raceEnabled = true
