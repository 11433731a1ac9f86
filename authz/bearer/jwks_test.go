package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// jwksServer serves a swappable key set and counts requests.
type jwksServer struct {
	*httptest.Server
	mu           sync.Mutex
	body         []byte
	status       int
	cacheControl string
	hits         atomic.Int32
}

func newJWKSServer(t testing.TB, set jose.JSONWebKeySet) *jwksServer {
	s := &jwksServer{status: http.StatusOK}
	s.setKeys(t, set)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		s.mu.Lock()
		body, status, cc := s.body, s.status, s.cacheControl
		s.mu.Unlock()
		w.Header().Set("Content-Type", "application/jwk-set+json")
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) setKeys(t testing.TB, set jose.JSONWebKeySet) {
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	s.setBody(b)
}

func (s *jwksServer) setBody(b []byte) {
	s.mu.Lock()
	s.body = b
	s.mu.Unlock()
}

func (s *jwksServer) setStatus(code int) {
	s.mu.Lock()
	s.status = code
	s.mu.Unlock()
}

func (s *jwksServer) setCacheControl(cc string) {
	s.mu.Lock()
	s.cacheControl = cc
	s.mu.Unlock()
}

func newRemoteVerifier(t testing.TB, url string, clock *fakeClock, mutate func(*Config)) *Verifier {
	t.Helper()
	cfg := Config{
		Issuer:       testIssuer,
		Resource:     testResource,
		JWKSURL:      url,
		Clock:        clock.Now,
		DisableCache: true,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestJWKSUnknownKIDRefetchesOnce(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	srv := newJWKSServer(t, keySet(a))
	clock := newClock()
	v := newRemoteVerifier(t, srv.URL, clock, nil)
	ctx := context.Background()

	if _, err := v.Verify(ctx, mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("initial fetches = %d, want 1", got)
	}
	// A known kid within the set's lifetime costs nothing.
	if _, err := v.Verify(ctx, mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("fetches after known kid = %d, want 1", got)
	}
	unknown := mint(t, a, claimsAt(t0), mintOpt{kid: "unknown"})
	if _, err := v.Verify(ctx, unknown); reasonOf(err) != ReasonUnknownKey {
		t.Fatalf("unknown kid: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after unknown kid = %d, want exactly 2", got)
	}
	// The same unknown kid again, right away: rate-limited, no fetch.
	if _, err := v.Verify(ctx, unknown); reasonOf(err) != ReasonUnknownKey {
		t.Fatalf("unknown kid again: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches after second unknown kid = %d, want 2", got)
	}
}

func TestJWKSUnknownKIDFloodIsBounded(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	srv := newJWKSServer(t, keySet(a))
	clock := newClock()
	const interval = 10 * time.Second
	v := newRemoteVerifier(t, srv.URL, clock, func(c *Config) { c.JWKSRefetchInterval = interval })
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatal(err)
	}
	// 1000 tokens with random kids, the clock advancing 100 ms per token
	// (100 s in all), half of them concurrently.
	const n = 1000
	const step = 100 * time.Millisecond
	base := mint(t, a, claimsAt(t0), mintOpt{kid: "x"})
	parts := strings.SplitN(base, ".", 2)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		// Re-mint only the header: the signature does not matter, the
		// kid lookup comes first.
		hdr := b64([]byte(fmt.Sprintf(`{"alg":"ES256","kid":"rand-%d","typ":"at+jwt"}`, i)))
		tok := hdr + "." + parts[1]
		verify := func() {
			if _, err := v.Verify(ctx, tok); reasonOf(err) != ReasonUnknownKey {
				t.Errorf("random kid: %v", err)
			}
		}
		if i%2 == 0 {
			wg.Add(1)
			go func() { defer wg.Done(); verify() }()
		} else {
			verify()
		}
		clock.Advance(step)
	}
	wg.Wait()
	elapsed := time.Duration(n) * step
	// One initial fetch, one for the burst, then at most one per interval.
	bound := int32(1 + 1 + elapsed/interval)
	got := srv.hits.Load()
	if got > bound {
		t.Fatalf("%d random kids caused %d fetches, bound %d", n, got, bound)
	}
	if got < 2 {
		t.Fatalf("fetches = %d: unknown kids never triggered a refetch", got)
	}
	t.Logf("%d random kids over %v: %d fetches (bound %d)", n, elapsed, got, bound)
}

func TestJWKSConcurrentFirstFetchIsSingle(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	srv := newJWKSServer(t, keySet(a))
	v := newRemoteVerifier(t, srv.URL, newClock(), nil)
	tok := mint(t, a, claimsAt(t0), mintOpt{})
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), tok); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("32 concurrent first requests caused %d fetches, want 1", got)
	}
}

func TestJWKSKeyRotation(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	b := secondES256("b")
	srv := newJWKSServer(t, keySet(a))
	clock := newClock()
	v := newRemoteVerifier(t, srv.URL, clock, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatal(err)
	}
	// The issuer rotates in key b.
	srv.setKeys(t, keySet(a, b))
	if _, err := v.Verify(ctx, mint(t, b, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatalf("new kid after rotation: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2 (one refetch for the new kid)", got)
	}
	// The issuer retires key a; once the cached set is stale, a's tokens
	// are refused.
	srv.setKeys(t, keySet(b))
	clock.Advance(defaultJWKSTTL + time.Second)
	c := claimsAt(clock.Now())
	if _, err := v.Verify(ctx, mint(t, a, c, mintOpt{})); reasonOf(err) != ReasonUnknownKey {
		t.Fatalf("retired key: %v", err)
	}
	if _, err := v.Verify(ctx, mint(t, b, c, mintOpt{})); err != nil {
		t.Fatalf("key b: %v", err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("fetches = %d, want 3", got)
	}
}

func TestJWKSCacheControl(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	tests := []struct {
		cc       string
		noFetch  time.Duration // no refetch at this age
		refetchd time.Duration // refetch at this age
	}{
		{"", 9 * time.Minute, 10*time.Minute + time.Second},
		{"max-age=120", 119 * time.Second, 121 * time.Second},
		{"public, max-age=300, must-revalidate", 299 * time.Second, 301 * time.Second},
		{"max-age=1", 59 * time.Second, 61 * time.Second},             // clamped up to 1 min
		{"no-store", 59 * time.Second, 61 * time.Second},              // clamped up to 1 min
		{"max-age=600, no-cache", 59 * time.Second, 61 * time.Second}, // no-cache wins
		{"max-age=999999999", 23 * time.Hour, 24*time.Hour + time.Second},
		{"max-age=junk", 9 * time.Minute, 10*time.Minute + time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.cc, func(t *testing.T) {
			srv := newJWKSServer(t, keySet(a))
			srv.setCacheControl(tt.cc)
			clock := newClock()
			v := newRemoteVerifier(t, srv.URL, clock, nil)
			verify := func() {
				t.Helper()
				if _, err := v.Verify(context.Background(), mint(t, a, claimsAt(clock.Now()), mintOpt{})); err != nil {
					t.Fatal(err)
				}
			}
			verify()
			clock.Advance(tt.noFetch)
			verify()
			if got := srv.hits.Load(); got != 1 {
				t.Fatalf("at %v: fetches = %d, want 1", tt.noFetch, got)
			}
			clock.Advance(tt.refetchd - tt.noFetch)
			verify()
			if got := srv.hits.Load(); got != 2 {
				t.Fatalf("at %v: fetches = %d, want 2", tt.refetchd, got)
			}
		})
	}
}

func TestJWKSRejectsPrivateAndSymmetricKeys(t *testing.T) {
	good := newTestKey("good", jose.ES256)
	priv := secondES256("priv")
	privJWK := jose.JSONWebKey{Key: ecKey2, KeyID: "priv", Algorithm: "ES256", Use: "sig"}
	privJSON, err := privJWK.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	goodJSON, _ := good.pub.MarshalJSON()
	body := fmt.Sprintf(`{"keys":[%s,%s,{"kty":"oct","kid":"hmac","k":"c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA"},{"kty":"XYZ","kid":"odd"}]}`,
		privJSON, goodJSON)
	srv := newJWKSServer(t, jose.JSONWebKeySet{})
	srv.setBody([]byte(body))
	v := newRemoteVerifier(t, srv.URL, newClock(), nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, good, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatalf("good key next to bad ones: %v", err)
	}
	if _, err := v.Verify(ctx, mint(t, priv, claimsAt(t0), mintOpt{})); reasonOf(err) != ReasonUnknownKey {
		t.Fatalf("token signed by a key published with its private half: %v", err)
	}
}

func TestJWKSFetchFailures(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	tok := mint(t, a, claimsAt(t0), mintOpt{})
	tests := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"status 500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}},
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("<html>")) }},
		{"wrong content type", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			b, _ := json.Marshal(keySet(a))
			_, _ = w.Write(b)
		}},
		{"no keys member", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte(`{}`)) }},
		{"too large", func(w http.ResponseWriter, r *http.Request) {
			b, _ := json.Marshal(keySet(a))
			pad := strings.Repeat(" ", maxJWKSBytes)
			_, _ = w.Write([]byte(pad + string(b)))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var hits atomic.Int32
			var redirected atomic.Bool
			mux := http.NewServeMux()
			mux.HandleFunc("/jwks", func(w http.ResponseWriter, r *http.Request) { hits.Add(1); tt.handler(w, r) })
			mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
				redirected.Store(true)
				b, _ := json.Marshal(keySet(a))
				_, _ = w.Write(b)
			})
			srv := httptest.NewServer(mux)
			defer srv.Close()
			clock := newClock()
			v := newRemoteVerifier(t, srv.URL+"/jwks", clock, nil)
			_, err := v.Verify(context.Background(), tok)
			if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrUnavailable", err)
			}
			if redirected.Load() {
				t.Fatal("redirect was followed")
			}
			// Within the back-off no new fetch is made.
			_, err = v.Verify(context.Background(), tok)
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("second err = %v", err)
			}
			if got := hits.Load(); got != 1 {
				t.Fatalf("fetches within back-off = %d, want 1", got)
			}
			clock.Advance(defaultRefetchInterval + time.Second)
			_, _ = v.Verify(context.Background(), tok)
			if got := hits.Load(); got != 2 {
				t.Fatalf("fetches after back-off = %d, want 2", got)
			}
		})
	}
}

// A stale set whose refresh fails keeps working, so an issuer outage
// does not take the resource server down.
func TestJWKSStaleIfError(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	srv := newJWKSServer(t, keySet(a))
	clock := newClock()
	v := newRemoteVerifier(t, srv.URL, clock, nil)
	ctx := context.Background()
	if _, err := v.Verify(ctx, mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatal(err)
	}
	srv.setStatus(http.StatusServiceUnavailable)
	clock.Advance(defaultJWKSTTL + time.Second)
	if _, err := v.Verify(ctx, mint(t, a, claimsAt(clock.Now()), mintOpt{})); err != nil {
		t.Fatalf("stale key during outage: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches = %d, want 2", got)
	}
	// An unknown kid during the outage is "try later", not "invalid".
	if _, err := v.Verify(ctx, mint(t, a, claimsAt(clock.Now()), mintOpt{kid: "new"})); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("unknown kid during outage: %v", err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("fetches during back-off = %d, want 2", got)
	}
}

// The caller's HTTP client is not modified.
func TestJWKSClientNotMutated(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	srv := newJWKSServer(t, keySet(a))
	client := &http.Client{Timeout: 5 * time.Second}
	v := newRemoteVerifier(t, srv.URL, newClock(), func(c *Config) { c.HTTPClient = client })
	if _, err := v.Verify(context.Background(), mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatal(err)
	}
	if client.CheckRedirect != nil {
		t.Fatal("caller's client was modified")
	}
}

// A canceled request does not cancel the shared fetch, and reports
// unavailability rather than an invalid token.
func TestJWKSCanceledContext(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	srv := newJWKSServer(t, keySet(a))
	v := newRemoteVerifier(t, srv.URL, newClock(), nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := v.Verify(ctx, mint(t, a, claimsAt(t0), mintOpt{}))
	if errors.Is(err, ErrInvalidToken) {
		t.Fatalf("canceled context reported as invalid token: %v", err)
	}
}
