package memory

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nqrust/identity/storage"
)

// DefaultSweepInterval is how often the sweeper purges when neither
// [Options.SweepInterval] nor [Store.StartSweeper] says otherwise.
const DefaultSweepInterval = time.Minute

// sweepBatch bounds how many records one purge step deletes while holding a
// lock, so that a large purge never stalls the server's requests.
const sweepBatch = 1000

// Options configures a Store. The zero value is ready to use.
type Options struct {
	// Clock returns the current time. Reads judge expiry by it. Nil means
	// time.Now.
	Clock func() time.Time
	// SweepInterval is how often a sweeper started by StartSweeper with a
	// zero interval purges expired records. Zero or negative means
	// DefaultSweepInterval. Setting it does not start a sweeper.
	SweepInterval time.Duration
}

// Store is an in-memory [storage.Store]. Create it with New; the zero value
// is not usable.
type Store struct {
	now        func() time.Time
	sweepEvery time.Duration

	clients  clientTable
	requests requestTable
	grants   grantTable
	keys     keyTable
	iats     iatTable
	consents consentTable
	jtis     jtiTable
}

var _ storage.Store = (*Store)(nil)

// New returns an empty store. It starts no goroutine.
func New(opts Options) *Store {
	s := &Store{now: opts.Clock, sweepEvery: opts.SweepInterval}
	if s.now == nil {
		s.now = time.Now
	}
	if s.sweepEvery <= 0 {
		s.sweepEvery = DefaultSweepInterval
	}
	s.clients.init()
	s.requests.init()
	s.grants.init()
	s.keys.init()
	s.iats.init()
	s.consents.init()
	s.jtis.init()
	return s
}

// errNil is returned for a nil record argument: a caller bug, reported
// instead of panicking.
var errNil = errors.New("memory: nil record")

// errLimit is returned by PurgeExpired for a limit that would make the
// caller's "repeat until fewer than limit" loop never end.
var errLimit = errors.New("memory: purge limit must be positive")

// PurgeExpired deletes at most limit records whose lifetime ended at or
// before now, and reports how many it deleted. Consumed codes and rotated
// refresh tokens are deleted only once they expire; a revoked grant that has
// no expiry is deleted once revoked. Each kind of record is purged under its
// own lock, so readers of other kinds are never held up.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if limit <= 0 {
		return 0, errLimit
	}
	n := 0
	for _, purge := range [...]func(time.Time, int) int{
		s.grants.purge, s.clients.purge, s.requests.purge, s.keys.purge,
		s.iats.purge, s.consents.purge, s.jtis.purge,
	} {
		if n >= limit {
			break
		}
		n += purge(now, limit-n)
	}
	return n, nil
}

// StartSweeper starts a goroutine that purges expired records every
// interval (the configured SweepInterval when interval is zero or
// negative), in batches so that no lock is held for long. It stops when ctx
// is done; the returned channel is closed once it has stopped. Calling it
// more than once starts more sweepers, which is harmless but wasteful.
func (s *Store) StartSweeper(ctx context.Context, interval time.Duration) <-chan struct{} {
	if interval <= 0 {
		interval = s.sweepEvery
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				s.sweep(ctx)
			}
		}
	}()
	return done
}

// sweep purges until nothing expired is left, releasing the locks between
// batches.
func (s *Store) sweep(ctx context.Context) {
	for {
		n, err := s.PurgeExpired(ctx, s.now(), sweepBatch)
		if err != nil || n < sweepBatch {
			return
		}
	}
}

// locker is a table's lock; each kind of record has its own so that, for
// example, a slow purge of codes never delays a client lookup.
type locker = sync.RWMutex

// counts reports how many entries each table's structures hold, under a
// name per structure, for tests that check a purge leaves nothing.
func (s *Store) counts() map[string]int {
	m := map[string]int{}
	s.grants.counts(m)
	s.clients.counts(m)
	s.requests.counts(m)
	s.keys.counts(m)
	s.iats.counts(m)
	s.consents.counts(m)
	s.jtis.counts(m)
	return m
}

// narrowHashes masks every key hash the store computes, so that tests can
// make many keys share a hash and check that no lookup mistakes one key
// for another.
func (s *Store) narrowHashes(mask uint64) {
	for _, h := range []*hasher{
		&s.grants.h, &s.clients.h, &s.requests.hash, &s.keys.hash, &s.iats.hash, &s.consents.hash, &s.jtis.hash,
	} {
		h.mask = mask
	}
}
