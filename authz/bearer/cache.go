package bearer

import (
	"crypto/sha256"
	"time"
	"unsafe"

	lru "github.com/hashicorp/golang-lru/v2"
)

// Defaults of the verified-token cache.
const (
	defaultCacheSize   = 10_000
	defaultCacheMaxTTL = 5 * time.Minute
)

// tokenDigest is the cache key: the SHA-256 of the token. The raw token is
// never kept, so a heap dump of the cache yields no usable credential, and
// a collision would need a SHA-256 second preimage.
type tokenDigest [sha256.Size]byte

func digestOf(token string) tokenDigest {
	// Hashing reads the bytes and keeps nothing, so a read-only view of the
	// string's bytes avoids copying a token on every request.
	return sha256.Sum256(unsafe.Slice(unsafe.StringData(token), len(token)))
}

// tokenCache remembers tokens that passed full verification, so that a
// client presenting the same token again skips the signature check. An
// entry lives until the token's expiry (plus leeway) or maxTTL after it
// was added, whichever is first; the caller still checks the expiry, the
// audience and, in the middleware, the scopes on every hit.
type tokenCache struct {
	lru    *lru.Cache[tokenDigest, cacheEntry]
	maxTTL time.Duration
}

type cacheEntry struct {
	info *TokenInfo
	// deadline is when the entry must be re-verified (Unix nanoseconds).
	deadline int64
}

func newTokenCache(size int, maxTTL time.Duration) (*tokenCache, error) {
	l, err := lru.New[tokenDigest, cacheEntry](size)
	if err != nil {
		return nil, err
	}
	return &tokenCache{lru: l, maxTTL: maxTTL}, nil
}

// get returns the cached info for d if the entry is still within its
// deadline at now.
func (c *tokenCache) get(d tokenDigest, now int64) (*TokenInfo, bool) {
	e, ok := c.lru.Get(d)
	if !ok {
		return nil, false
	}
	if now >= e.deadline {
		c.lru.Remove(d)
		return nil, false
	}
	return e.info, true
}

// add caches info, which must have passed full verification. expiry is
// the instant (Unix nanoseconds) after which the token is expired even
// with leeway.
func (c *tokenCache) add(d tokenDigest, info *TokenInfo, now, expiry int64) {
	deadline := now + int64(c.maxTTL)
	if expiry < deadline {
		deadline = expiry
	}
	if deadline <= now {
		return
	}
	c.lru.Add(d, cacheEntry{info: info, deadline: deadline})
}
