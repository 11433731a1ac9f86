package memory

import (
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/storagetest"
)

// TestConformanceWithCollidingHashes runs the whole storage contract on a
// store whose key hashes take only four values, so that nearly every
// lookup walks a chain of records with other keys. A lookup that trusted
// the hash instead of comparing keys would answer for the wrong record.
func TestConformanceWithCollidingHashes(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock func() time.Time) storage.Store {
		s := New(Options{Clock: clock})
		s.narrowHashes(3)
		return s
	})
}
