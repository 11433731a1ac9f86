package cimd

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

func cacheKeys(c *docCache) map[string]bool {
	c.mu.RLock()
	defer c.mu.RUnlock()
	keys := make(map[string]bool, len(c.m))
	for k, e := range c.m {
		if c.ring[e.slot] != e {
			panic(fmt.Sprintf("entry %q not in its slot %d", k, e.slot))
		}
		keys[k] = true
	}
	if len(keys) != len(c.ring) {
		panic(fmt.Sprintf("%d keys, %d slots", len(keys), len(c.ring)))
	}
	return keys
}

func TestDocCacheSecondChance(t *testing.T) {
	c := newDocCache(3)
	for _, k := range []string{"a", "b", "c"} {
		c.add(k, &Document{ClientID: k}, 0)
	}
	// Every entry is new (used); the hand clears all three marks and
	// evicts the oldest.
	c.add("d", &Document{ClientID: "d"}, 0)
	if got := cacheKeys(c); got["a"] || !got["b"] || !got["c"] || !got["d"] {
		t.Fatalf("after d: %v, want b c d", got)
	}
	// b is used again; c is not: c goes next, not b.
	if e := c.get("b"); e == nil || e.doc.ClientID != "b" {
		t.Fatalf("get b = %v", e)
	}
	c.add("e", &Document{ClientID: "e"}, 0)
	if got := cacheKeys(c); !got["b"] || got["c"] || !got["d"] || !got["e"] {
		t.Fatalf("after e: %v, want b d e", got)
	}
	if c.len() != 3 {
		t.Fatalf("len %d", c.len())
	}
}

func TestDocCacheReplaceAndRemove(t *testing.T) {
	c := newDocCache(4)
	for _, k := range []string{"a", "b", "c", "d"} {
		c.add(k, &Document{ClientID: k}, 1)
	}
	c.add("b", &Document{ClientID: "b2"}, 2)
	if e := c.get("b"); e == nil || e.doc.ClientID != "b2" || e.exp != 2 {
		t.Fatalf("replaced entry = %+v", e)
	}
	if c.len() != 4 {
		t.Fatalf("replacing grew the cache to %d", c.len())
	}
	c.remove("a")
	c.remove("a")
	c.remove("missing")
	if got := cacheKeys(c); len(got) != 3 || got["a"] {
		t.Fatalf("after remove: %v", got)
	}
	if c.peek("a") != nil || c.get("a") != nil {
		t.Fatal("removed entry still found")
	}
	// The freed slot is reused before anything is evicted.
	c.add("f", &Document{ClientID: "f"}, 0)
	if got := cacheKeys(c); len(got) != 4 || !got["b"] || !got["c"] || !got["d"] || !got["f"] {
		t.Fatalf("after f: %v", got)
	}
	for _, k := range []string{"b", "c", "d", "f"} {
		c.remove(k)
	}
	if c.len() != 0 || len(c.ring) != 0 || c.hand != 0 {
		t.Fatalf("emptied cache: len %d ring %d hand %d", c.len(), len(c.ring), c.hand)
	}
	c.add("g", &Document{ClientID: "g"}, 0)
	if c.peek("g") == nil {
		t.Fatal("cache unusable after emptying")
	}
}

func TestDocCacheExpiry(t *testing.T) {
	c := newDocCache(2)
	now := time.Now()
	if c.expiry(now.Add(time.Hour)) <= c.since() {
		t.Fatal("an expiry an hour ahead is already past")
	}
	if c.expiry(now.Add(-time.Second)) >= c.since() {
		t.Fatal("an expiry a second ago is still ahead")
	}
	// Far-off and zero times saturate instead of wrapping around.
	if c.expiry(now.AddDate(200, 0, 0)) <= c.since() {
		t.Fatal("an expiry 200 years ahead wrapped into the past")
	}
	if c.expiry(time.Time{}) >= c.since() {
		t.Fatal("the zero time is ahead")
	}
}

// TestDocCacheConcurrent runs hits, replacements, evictions and removals
// at once, for the race detector and the ring's invariants.
func TestDocCacheConcurrent(t *testing.T) {
	c := newDocCache(16)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := fmt.Sprint((i * (g + 1)) % 40)
				switch i % 5 {
				case 0:
					c.add(k, &Document{ClientID: k}, int64(i))
				case 1:
					c.remove(k)
				default:
					if e := c.get(k); e != nil && e.doc.ClientID != k {
						t.Errorf("key %s holds %s", k, e.doc.ClientID)
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if got := cacheKeys(c); len(got) > 16 {
		t.Fatalf("%d entries in a cache of 16", len(got))
	}
}

// TestFreshRealAndInjectedClock checks both ways a hit decides freshness:
// the monotonic scale with the real clock, the injected clock otherwise.
func TestFreshRealAndInjectedClock(t *testing.T) {
	live, err := NewResolver(Options{})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, c := range []struct {
		exp  time.Time
		want bool
	}{
		{now.Add(time.Minute), true},
		{now.Add(-time.Millisecond), false},
		{now.Round(0).Add(time.Minute), true}, // wall clock only
		{now.Round(0).Add(-time.Minute), false},
	} {
		live.cache("https://c.example/m.json", &Document{ExpiresAt: c.exp})
		if got := live.fresh(live.docs.get("https://c.example/m.json")); got != c.want {
			t.Errorf("real clock, expiry %v from now: fresh %v, want %v", c.exp.Sub(now), got, c.want)
		}
	}
	clk := now.Add(time.Hour)
	fake, err := NewResolver(Options{Clock: func() time.Time { return clk }})
	if err != nil {
		t.Fatal(err)
	}
	fake.cache("https://c.example/m.json", &Document{ExpiresAt: now.Add(2 * time.Hour)})
	e := fake.docs.get("https://c.example/m.json")
	if !fake.fresh(e) {
		t.Error("injected clock: fresh document reported stale")
	}
	clk = now.Add(2 * time.Hour)
	if fake.fresh(e) {
		t.Error("injected clock: document fresh at its expiry")
	}
}
