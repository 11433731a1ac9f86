package bearer

import (
	"context"
	"net/http"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func newCountingVerifier(t *testing.T, clock *fakeClock, mutate func(*Config), keys ...*testKey) (*Verifier, *countingSource) {
	t.Helper()
	src := &countingSource{KeySource: StaticKeys(keySet(keys...))}
	cfg := Config{Issuer: testIssuer, Resource: testResource, Keys: src, Clock: clock.Now}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v, src
}

func TestCacheSkipsSignatureCheck(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v, src := newCountingVerifier(t, newClock(), nil, es)
	tok := mint(t, es, claimsAt(t0), mintOpt{})
	for i := 0; i < 5; i++ {
		info, err := v.Verify(context.Background(), tok)
		if err != nil || info.Subject != "user-1" {
			t.Fatalf("verify %d: %v", i, err)
		}
	}
	if got := src.n.Load(); got != 1 {
		t.Fatalf("key lookups = %d, want 1 (later hits come from the cache)", got)
	}
}

func TestCacheDisabled(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v, src := newCountingVerifier(t, newClock(), func(c *Config) { c.DisableCache = true }, es)
	tok := mint(t, es, claimsAt(t0), mintOpt{})
	for i := 0; i < 3; i++ {
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := src.n.Load(); got != 3 {
		t.Fatalf("key lookups = %d, want 3", got)
	}
}

func TestCacheNeverStoresFailures(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	other := secondES256("es")
	v, src := newCountingVerifier(t, newClock(), nil, es)
	bad := []string{
		mint(t, other, claimsAt(t0), mintOpt{}), // bad signature
		mint(t, es, with(claimsAt(t0), "aud", "https://other.example"), mintOpt{}),
		mint(t, es, with(claimsAt(t0), "nbf", t0.Add(time.Hour).Unix()), mintOpt{}),
	}
	for _, tok := range bad {
		before := src.n.Load()
		for i := 0; i < 3; i++ {
			if _, err := v.Verify(context.Background(), tok); err == nil {
				t.Fatalf("attempt %d: invalid token accepted", i)
			}
		}
		if got := src.n.Load() - before; got != 3 {
			t.Fatalf("key lookups for a failing token = %d, want 3 (every attempt fully verified)", got)
		}
	}
}

// A not-yet-valid token that later becomes valid is accepted then: the
// earlier failure left nothing behind.
func TestCacheFailureThenSuccess(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	clock := newClock()
	v, _ := newCountingVerifier(t, clock, nil, es)
	tok := mint(t, es, with(claimsAt(t0), "nbf", t0.Add(time.Minute).Unix()), mintOpt{})
	if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonNotYetValid {
		t.Fatalf("early: %v", err)
	}
	clock.Advance(time.Minute)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("later: %v", err)
	}
}

func TestCacheExpiredTokenRefused(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	clock := newClock()
	v, _ := newCountingVerifier(t, clock, nil, es)
	tok := mint(t, es, with(claimsAt(t0), "exp", t0.Add(time.Minute).Unix()), mintOpt{})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Minute + defaultLeeway - time.Second)
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("within leeway: %v", err)
	}
	clock.Advance(2 * time.Second)
	if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonExpired {
		t.Fatalf("cached token after expiry: %v", err)
	}
}

// Even if an entry were somehow still present (clock stepped back and
// forth), an expired token is refused on a hit.
func TestCacheHitRechecksExpiry(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	clock := newClock()
	v, _ := newCountingVerifier(t, clock, nil, es)
	tok := mint(t, es, with(claimsAt(t0), "exp", t0.Add(time.Minute).Unix()), mintOpt{})
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	// Forge an entry that outlives the token.
	d := digestOf(tok)
	e, _ := v.cache.lru.Get(d)
	e.deadline = t0.Add(24 * time.Hour).UnixNano()
	v.cache.lru.Add(d, e)
	clock.Advance(time.Hour)
	if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonExpired {
		t.Fatalf("hit on an expired token: %v", err)
	}
}

func TestCacheMaxTTL(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	clock := newClock()
	v, src := newCountingVerifier(t, clock, func(c *Config) { c.CacheMaxTTL = time.Minute }, es)
	tok := mint(t, es, claimsAt(t0), mintOpt{})
	for _, step := range []time.Duration{0, 59 * time.Second, 2 * time.Second} {
		clock.Advance(step)
		if _, err := v.Verify(context.Background(), tok); err != nil {
			t.Fatal(err)
		}
	}
	if got := src.n.Load(); got != 2 {
		t.Fatalf("key lookups = %d, want 2 (re-verified after the max TTL)", got)
	}
}

func TestCacheBounded(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v, src := newCountingVerifier(t, newClock(), func(c *Config) { c.CacheSize = 2 }, es)
	toks := make([]string, 3)
	for i := range toks {
		toks[i] = mint(t, es, with(claimsAt(t0), "jti", string(rune('a'+i))), mintOpt{})
		if _, err := v.Verify(context.Background(), toks[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.cache.lru.Len(); n != 2 {
		t.Fatalf("cache holds %d entries, want 2", n)
	}
	before := src.n.Load()
	if _, err := v.Verify(context.Background(), toks[0]); err != nil { // evicted
		t.Fatal(err)
	}
	if src.n.Load() != before+1 {
		t.Fatal("evicted token not re-verified")
	}
}

// Required scopes are judged per request even when the token comes from
// the cache.
func TestCacheScopesCheckedPerRequest(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v, src := newCountingVerifier(t, newClock(), nil, es)
	tok := mint(t, es, with(claimsAt(t0), "scope", "mcp:read"), mintOpt{})
	h := Middleware(v, Options{ScopesFunc: func(r *http.Request) []string {
		if r.URL.Path == "/admin" {
			return []string{"mcp:admin"}
		}
		return []string{"mcp:read"}
	}})(echoHandler())
	for i, c := range []struct {
		path string
		want int
	}{{"/read", 200}, {"/admin", 403}, {"/read", 200}, {"/admin", 403}} {
		w := runMW(t, h, mwCase{target: c.path, headers: bearerHdr(tok)})
		if w.Code != c.want {
			t.Fatalf("request %d %s: status %d, want %d", i, c.path, w.Code, c.want)
		}
	}
	if got := src.n.Load(); got != 1 {
		t.Fatalf("key lookups = %d, want 1", got)
	}
}

func TestDigestNotToken(t *testing.T) {
	a, b := digestOf("token-a"), digestOf("token-b")
	if a == b || a == (tokenDigest{}) {
		t.Fatal("digest collision or zero")
	}
}
