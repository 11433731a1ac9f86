package cimd

import (
	"sync"
	"sync/atomic"
	"time"
)

// docCache is the bounded document cache. A hit is the hot path of every
// authorization and token request from a metadata-document client, so it
// takes only a read lock and touches one entry: the expiry sits in the
// entry as monotonic nanoseconds and recency is a flag set on the entry
// rather than a move in a list (a general LRU moves the element to the
// front under an exclusive lock on every hit, which serialises concurrent
// requests for the same popular client). Eviction is second chance
// (CLOCK), the usual approximation of least recently used: the hand skips,
// and clears, entries used since it last passed.
type docCache struct {
	mu   sync.RWMutex
	m    map[string]*docEntry
	ring []*docEntry // every entry, in its slot; the hand sweeps it
	hand int
	max  int
	// base is the origin of exp: nanoseconds of monotonic time since base
	// are read with one clock call (time.Since), where time.Now makes two
	// (wall and monotonic).
	base time.Time
}

type docEntry struct {
	key  string
	doc  *Document
	exp  int64 // expiry, monotonic nanoseconds since docCache.base
	slot int
	used atomic.Bool
}

func newDocCache(size int) *docCache {
	return &docCache{m: make(map[string]*docEntry, min(size, 1024)), max: size, base: time.Now()}
}

// since returns the monotonic nanoseconds elapsed since c.base.
func (c *docCache) since() int64 { return int64(time.Since(c.base)) }

// expiry converts an absolute expiry to c's monotonic scale. Times from
// time.Now carry a monotonic reading, so the comparison is immune to wall
// clock steps as time.Time.Before already was; Sub saturates rather than
// overflowing for far-off times.
func (c *docCache) expiry(t time.Time) int64 { return int64(t.Sub(c.base)) }

// get returns the entry for key and marks it used. The entry's doc and
// exp are never modified after it is published (add replaces the whole
// entry), so they may be read without the lock.
func (c *docCache) get(key string) *docEntry {
	c.mu.RLock()
	e := c.m[key]
	c.mu.RUnlock()
	// Load first: a hit on an entry already marked then writes nothing,
	// so concurrent hits on one popular entry do not bounce its cache line.
	if e != nil && !e.used.Load() {
		e.used.Store(true)
	}
	return e
}

// peek returns the document for key without marking it used.
func (c *docCache) peek(key string) *Document {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if e := c.m[key]; e != nil {
		return e.doc
	}
	return nil
}

// add caches d under key until exp, replacing any previous entry and
// evicting another when the cache is full.
func (c *docCache) add(key string, d *Document, exp int64) {
	e := &docEntry{key: key, doc: d, exp: exp}
	// A new entry counts as used, so that it survives the next sweep of
	// the hand, as it would at the front of an LRU list.
	e.used.Store(true)
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[key]; old != nil {
		e.slot = old.slot
		c.ring[e.slot] = e
		c.m[key] = e
		return
	}
	if len(c.ring) < c.max {
		e.slot = len(c.ring)
		c.ring = append(c.ring, e)
		c.m[key] = e
		return
	}
	// Full: at most one full turn clears every mark, so the second turn
	// finds a victim.
	for {
		v := c.ring[c.hand]
		if v.used.Load() {
			v.used.Store(false)
			c.hand = (c.hand + 1) % len(c.ring)
			continue
		}
		delete(c.m, v.key)
		e.slot = c.hand
		c.ring[c.hand] = e
		c.m[key] = e
		c.hand = (c.hand + 1) % len(c.ring)
		return
	}
}

// remove drops key from the cache.
func (c *docCache) remove(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		return
	}
	delete(c.m, key)
	// Fill the hole with the last slot so the ring stays dense.
	last := len(c.ring) - 1
	if e.slot != last {
		moved := c.ring[last]
		moved.slot = e.slot
		c.ring[e.slot] = moved
	}
	c.ring[last] = nil
	c.ring = c.ring[:last]
	if c.hand >= len(c.ring) {
		c.hand = 0
	}
}

// len returns the number of cached documents.
func (c *docCache) len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.m)
}
