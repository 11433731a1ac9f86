package cimd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/policy"
)

// TestFreshRealAndInjectedClock checks both ways a hit decides freshness:
// the monotonic scale with the real clock, the injected clock otherwise.
func TestFreshRealAndInjectedClock(t *testing.T) {
	const id = "https://c.example/m.json"
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
		// Far-off and zero times saturate instead of wrapping around.
		{now.AddDate(200, 0, 0), true},
		{time.Time{}, false},
	} {
		live.cache(id, &Document{ExpiresAt: c.exp})
		e, ok := live.docs.Get(id)
		if !ok {
			t.Fatal("cached document not found")
		}
		if got := live.fresh(e); got != c.want {
			t.Errorf("real clock, expiry %v from now: fresh %v, want %v", c.exp.Sub(now), got, c.want)
		}
	}
	if live.Len() != 1 {
		t.Fatalf("re-caching one URL left %d entries", live.Len())
	}
	clk := now.Add(time.Hour)
	fake, err := NewResolver(Options{Clock: func() time.Time { return clk }})
	if err != nil {
		t.Fatal(err)
	}
	fake.cache(id, &Document{ExpiresAt: now.Add(2 * time.Hour)})
	e, _ := fake.docs.Get(id)
	if !fake.fresh(e) {
		t.Error("injected clock: fresh document reported stale")
	}
	clk = now.Add(2 * time.Hour)
	if fake.fresh(e) {
		t.Error("injected clock: document fresh at its expiry")
	}
}

// TestCacheHitSharesDocument checks that a hit returns the cached
// *Document itself, without a copy, and does not allocate.
func TestCacheHitSharesDocument(t *testing.T) {
	const id = "https://c.example/m.json"
	r, err := NewResolver(Options{})
	if err != nil {
		t.Fatal(err)
	}
	d := &Document{ClientID: id, ExpiresAt: time.Now().Add(time.Hour)}
	r.cache(id, d)
	ctx := context.Background()
	got, err := r.Resolve(ctx, id)
	if err != nil || got != d {
		t.Fatalf("Resolve = %p, %v; want the cached %p", got, err, d)
	}
	if n := testing.AllocsPerRun(100, func() { r.Resolve(ctx, id) }); n != 0 {
		t.Fatalf("a cache hit allocates %v times", n)
	}
}

// TestCacheConcurrent runs hits, replacements, evictions and removals at
// once, for the race detector and the size bound.
func TestCacheConcurrent(t *testing.T) {
	const size = 16
	r, err := NewResolver(Options{CacheSize: size})
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(time.Hour)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				k := fmt.Sprintf("https://c%d.example/m.json", (i*(g+1))%40)
				switch i % 5 {
				case 0:
					r.cache(k, &Document{ClientID: k, ExpiresAt: exp})
				case 1:
					r.Forget(k)
				default:
					if c, ok := r.docs.Get(k); ok && (c.doc.ClientID != k || !r.fresh(c)) {
						t.Errorf("key %s holds %s (fresh %v)", k, c.doc.ClientID, r.fresh(c))
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := r.Len(); n > size {
		t.Fatalf("%d entries in a cache of %d", n, size)
	}
}

// TestExecutorAuthMethodGuards covers refusals that a valid document
// cannot reach (the document rules refuse it first), by caching documents
// the resolver would never produce: a method outside the supported set
// still gets a reason, and confidential-only still wants exactly one of
// jwks and jwks_uri.
func TestExecutorAuthMethodGuards(t *testing.T) {
	const id = "https://c.example/m.json"
	for _, c := range []struct {
		method   string
		confOnly bool
		want     string
	}{
		{"client_secret_jwt", false, ReasonAuthMethodUnsupported},
		{"made_up", false, ReasonAuthMethodUnsupported},
		{"", false, ReasonAuthMethodUnsupported},
		{"private_key_jwt", true, ReasonConfidentialKeys},
	} {
		r, err := NewResolver(Options{})
		if err != nil {
			t.Fatal(err)
		}
		d := &Document{ClientID: id, ExpiresAt: time.Now().Add(time.Hour)}
		d.Metadata.ClientID = id
		d.Metadata.RedirectURIs = []string{"https://c.example/cb"}
		d.Metadata.TokenEndpointAuthMethod = c.method
		r.cache(id, d)
		e, err := NewExecutor(r, ExecutorConfig{TrustedDomains: []string{"c.example"}, OnlyAllowConfidentialClient: c.confOnly})
		if err != nil {
			t.Fatal(err)
		}
		req := &policy.Request{Event: policy.EventAuthorizationRequest, ClientID: id, RedirectURI: "https://c.example/cb"}
		err = e.Execute(context.Background(), req)
		var pe *policy.Error
		if !errors.As(err, &pe) || pe.Reason != c.want || pe.Code != "invalid_request" || req.Client != nil {
			t.Errorf("method %q (confidential only %v): %v, want %q", c.method, c.confOnly, err, c.want)
		}
	}
}
