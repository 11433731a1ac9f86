package memory_test

import (
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
	"github.com/nqrust/identity/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock func() time.Time) storage.Store {
		return memory.New(memory.Options{Clock: clock})
	})
}
