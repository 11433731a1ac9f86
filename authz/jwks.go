package authz

import (
	"context"
	"net/http"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/metadata"
)

// Caching of clients' jwks_uri documents (private_key_jwt).
const (
	jwksCacheTTL      = 5 * time.Minute
	jwksRefetchAfter  = 30 * time.Second
	jwksCacheEntries  = 1024
	jwksMaxBytes      = 64 << 10
	jwksFetchTimeout  = 5 * time.Second
	jwksAcceptHeaders = "application/jwk-set+json, application/json"
)

type jwksEntry struct {
	keys    *jose.JSONWebKeySet
	fetched time.Time
}

// jwksCache remembers fetched key sets by URL. It is small and bounded:
// when full, expired entries go first, then an arbitrary one.
type jwksCache struct {
	mu      sync.Mutex
	entries map[string]jwksEntry
}

// remoteKeys returns the key set at a client's jwks_uri, fetched through
// the safe outbound client (no redirects, public addresses only, size and
// time limits). fresh reports whether the set was fetched just now; force
// refetches unless the cached copy is younger than 30 seconds.
func (s *Server) remoteKeys(ctx context.Context, uri string, force bool) (*jose.JSONWebKeySet, bool, error) {
	now := s.now()
	c := &s.jwks
	c.mu.Lock()
	ent, ok := c.entries[uri]
	c.mu.Unlock()
	age := now.Sub(ent.fetched)
	if ok && age < jwksCacheTTL && (!force || age < jwksRefetchAfter) {
		return ent.keys, false, nil
	}
	// One fetch per URL at a time: concurrent requests (a burst of failed
	// authentications, say) share it instead of each fetching, and the
	// "at most every 30 s" refetch rule holds under concurrency too.
	v, err, _ := s.jwksFlight.Do(uri, func() (any, error) {
		c.mu.Lock()
		ent, ok := c.entries[uri]
		c.mu.Unlock()
		if ok && s.now().Sub(ent.fetched) < jwksRefetchAfter {
			return ent.keys, nil // fetched by a flight that just ended
		}
		// The flight outlives a caller that gives up; the fetch has its
		// own timeout.
		return s.fetchKeys(context.WithoutCancel(ctx), uri)
	})
	if err != nil {
		return nil, false, err
	}
	return v.(*jose.JSONWebKeySet), true, nil
}

// fetchKeys fetches and caches the key set at uri.
func (s *Server) fetchKeys(ctx context.Context, uri string) (*jose.JSONWebKeySet, error) {
	now := s.now()
	c := &s.jwks
	resp, err := safehttp.Fetch(ctx, s.httpClient, uri, safehttp.GetOptions{
		MaxBytes: jwksMaxBytes, Accept: jwksAcceptHeaders, RequireJSON: true, Timeout: jwksFetchTimeout,
	})
	if err != nil {
		return nil, &Error{Code: ErrCodeInvalidClient, Description: "The client's jwks_uri could not be fetched.", Status: http.StatusUnauthorized, cause: err}
	}
	ks, err := metadata.ParsePublicJWKS(resp.Body)
	if err != nil {
		return nil, &Error{Code: ErrCodeInvalidClient, Description: "The client's jwks_uri does not hold a valid public key set.", Status: http.StatusUnauthorized, cause: err}
	}
	c.mu.Lock()
	if c.entries == nil {
		c.entries = map[string]jwksEntry{}
	}
	if len(c.entries) >= jwksCacheEntries {
		for k, v := range c.entries {
			if now.Sub(v.fetched) >= jwksCacheTTL {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < jwksCacheEntries {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[uri] = jwksEntry{keys: ks, fetched: now}
	c.mu.Unlock()
	return ks, nil
}
