package dcr

import (
	"net/netip"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/time/rate"
)

// limiterSet is a token bucket per caller address, kept in a bounded LRU so
// that a flood of distinct addresses cannot grow it without bound. An
// address that is evicted starts again with a full bucket: the bound trades
// exactness for memory, and an attacker with that many addresses can spread
// requests across them anyway.
type limiterSet struct {
	limit rate.Limit
	burst int
	cache *lru.Cache[netip.Prefix, *rate.Limiter]
}

func newLimiterSet(limit rate.Limit, burst, size int) *limiterSet {
	if limit == rate.Inf {
		return nil
	}
	c, err := lru.New[netip.Prefix, *rate.Limiter](size)
	if err != nil {
		// Only a non-positive size fails, and the caller passes a positive one.
		panic(err)
	}
	return &limiterSet{limit: limit, burst: burst, cache: c}
}

// limitKey groups an address: IPv4 addresses one by one, IPv6 addresses by
// /64, the smallest block a single subscriber is usually given. Invalid
// addresses share one bucket.
func limitKey(a netip.Addr) netip.Prefix {
	if !a.IsValid() {
		return netip.Prefix{}
	}
	a = a.Unmap()
	if a.Is4() {
		return netip.PrefixFrom(a, 32)
	}
	p, _ := a.WithZone("").Prefix(64)
	return p
}

// allow spends one token for the address at now. When none is left it
// returns false and how many seconds until one is.
func (l *limiterSet) allow(a netip.Addr, now time.Time) (bool, float64) {
	if l == nil {
		return true, 0
	}
	key := limitKey(a)
	lim, ok := l.cache.Get(key)
	if !ok {
		fresh := rate.NewLimiter(l.limit, l.burst)
		if prev, found, _ := l.cache.PeekOrAdd(key, fresh); found {
			lim = prev
		} else {
			lim = fresh
		}
	}
	if lim.AllowN(now, 1) {
		return true, 0
	}
	missing := 1 - lim.TokensAt(now)
	if l.limit <= 0 {
		return false, 3600
	}
	return false, missing / float64(l.limit)
}
