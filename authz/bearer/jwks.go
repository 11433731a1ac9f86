package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sync/singleflight"
	"golang.org/x/time/rate"
)

// Limits of the JWKS fetcher.
const (
	// maxJWKSBytes caps a JWKS response body.
	maxJWKSBytes = 256 << 10
	// maxJWKSKeys caps the number of keys taken from one set.
	maxJWKSKeys = 100
	// jwksFetchTimeout bounds every fetch, on top of the HTTP client's own
	// Timeout (the shorter wins).
	jwksFetchTimeout = 10 * time.Second
)

// Defaults for the JWKS cache, see Config.
const (
	defaultJWKSMinTTL      = time.Minute
	defaultJWKSMaxTTL      = 24 * time.Hour
	defaultJWKSTTL         = 10 * time.Minute
	defaultRefetchInterval = 10 * time.Second
)

var (
	errRefetchLimited = errors.New("bearer: jwks refetch rate-limited")
	errRedirect       = errors.New("redirects are not followed")
)

// remoteKeys is a cached JWK Set fetched from the issuer's jwks_uri.
//
// The set is refreshed when its lifetime (Cache-Control max-age clamped to
// [minTTL, maxTTL]) ends, and early when a token names a kid the set does
// not have, which is how key rotation is noticed. Early refetches go
// through a token-bucket limiter (one per refetchInterval) and all fetches
// through singleflight, so a flood of tokens with made-up kids costs the
// issuer at most one request per interval. After a failed fetch no fetch
// is tried for refetchInterval and the previous set, if any, stays in use.
type remoteKeys struct {
	url             string
	client          *http.Client
	clock           func() time.Time
	log             *slog.Logger
	minTTL, maxTTL  time.Duration
	defaultTTL      time.Duration
	refetchInterval time.Duration
	limiter         *rate.Limiter
	group           singleflight.Group

	mu      sync.RWMutex
	byKID   map[string][]verificationKey
	count   int
	loaded  bool
	expires time.Time // when the set becomes stale
	retryAt time.Time // no fetch before this, after a failure
	lastErr error
}

func newRemoteKeys(cfg *Config, clock func() time.Time, log *slog.Logger) *remoteKeys {
	r := &remoteKeys{
		url:             cfg.JWKSURL,
		client:          noRedirectClient(cfg.HTTPClient),
		clock:           clock,
		log:             log,
		minTTL:          orDefault(cfg.JWKSMinTTL, defaultJWKSMinTTL),
		maxTTL:          orDefault(cfg.JWKSMaxTTL, defaultJWKSMaxTTL),
		defaultTTL:      orDefault(cfg.JWKSDefaultTTL, defaultJWKSTTL),
		refetchInterval: orDefault(cfg.JWKSRefetchInterval, defaultRefetchInterval),
	}
	r.limiter = rate.NewLimiter(rate.Every(r.refetchInterval), 1)
	return r
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// noRedirectClient returns a copy of c (or of a default client) that
// refuses redirects, leaving the caller's client untouched.
func noRedirectClient(c *http.Client) *http.Client {
	var cp http.Client
	if c != nil {
		cp = *c
	}
	cp.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	return &cp
}

func (r *remoteKeys) find(kid, alg string) (verificationKey, bool, error) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if !r.loaded {
		return verificationKey{}, false, nil
	}
	var l []verificationKey
	if kid == "" {
		if r.count != 1 {
			return verificationKey{}, true, invalid(ReasonUnknownKey, "token has no kid and there is more than one key")
		}
		for _, v := range r.byKID {
			l = v
		}
	} else {
		l = r.byKID[kid]
	}
	if len(l) == 0 {
		return verificationKey{}, false, nil
	}
	k, err := pick(l, alg)
	return k, true, err
}

func (r *remoteKeys) stale(now time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return !r.loaded || !now.Before(r.expires)
}

func (r *remoteKeys) resolve(ctx context.Context, kid, alg string) (verificationKey, error) {
	k, found, err := r.find(kid, alg)
	if found && err != nil {
		return k, err
	}
	stale := r.stale(r.clock())
	if found && !stale {
		return k, nil
	}
	// Either the set is stale or it lacks this kid: refresh. A refresh
	// that only hunts for an unknown kid in a fresh set is rate-limited.
	// A failed refresh keeps the previous set, so a stale key found before
	// is still found below; one removed by a successful refresh is not.
	ferr := r.refresh(ctx, !stale)
	k, found, err = r.find(kid, alg)
	if found {
		return k, err
	}
	if ferr != nil && errors.Is(ferr, ErrUnavailable) {
		// The kid may belong to a key the issuer rotated in while we
		// cannot reach it: say "try later", not "re-authorize".
		return verificationKey{}, ferr
	}
	return verificationKey{}, invalid(ReasonUnknownKey, "")
}

// refresh fetches the set unless another goroutine is already doing so,
// in which case it waits for that fetch. gated marks a refresh wanted only
// because of an unknown kid.
func (r *remoteKeys) refresh(ctx context.Context, gated bool) error {
	ch := r.group.DoChan("jwks", func() (any, error) {
		now := r.clock()
		r.mu.RLock()
		retryAt, lastErr := r.retryAt, r.lastErr
		fresh := r.loaded && now.Before(r.expires)
		r.mu.RUnlock()
		if now.Before(retryAt) {
			return nil, unavailable("jwks fetch failed recently", lastErr)
		}
		if fresh {
			if !gated {
				return nil, nil // refreshed while we queued
			}
			if !r.limiter.AllowN(now, 1) {
				return nil, errRefetchLimited
			}
		}
		// The fetch serves every waiting caller, so it must not die with
		// the first caller's request.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
		defer cancel()
		keys, count, ttl, err := r.fetch(fctx)
		now = r.clock()
		r.mu.Lock()
		defer r.mu.Unlock()
		if err != nil {
			r.retryAt = now.Add(r.refetchInterval)
			r.lastErr = err
			if r.loaded {
				// Keep the old set but look again after the back-off.
				r.expires = r.retryAt
			}
			r.log.LogAttrs(ctx, slog.LevelWarn, "bearer: JWKS fetch failed", slog.String("url", r.url), slog.Any("error", err))
			return nil, unavailable("jwks fetch", err)
		}
		r.byKID, r.count, r.loaded = keys, count, true
		r.expires = now.Add(ttl)
		r.lastErr = nil
		return nil, nil
	})
	select {
	case res := <-ch:
		return res.Err
	case <-ctx.Done():
		return unavailable("waiting for jwks fetch", ctx.Err())
	}
}

// fetch GETs and parses the key set.
func (r *remoteKeys) fetch(ctx context.Context) (map[string][]verificationKey, int, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.url, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return nil, 0, 0, fmt.Errorf("status %d", resp.StatusCode)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || mt == "application/jwk-set+json") {
			return nil, 0, 0, fmt.Errorf("unexpected content type %q", ct)
		}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, 0, 0, err
	}
	if len(body) > maxJWKSBytes {
		return nil, 0, 0, fmt.Errorf("key set larger than %d bytes", maxJWKSBytes)
	}
	keys, count, err := r.parse(body)
	if err != nil {
		return nil, 0, 0, err
	}
	return keys, count, r.ttl(resp.Header), nil
}

// parse decodes a JWK Set key by key: RFC 7517 §5 asks that keys of an
// unknown type be ignored rather than fail the whole set. Private and
// symmetric keys are refused individually (and logged, since publishing
// them is a serious issuer misconfiguration).
func (r *remoteKeys) parse(body []byte) (map[string][]verificationKey, int, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, 0, fmt.Errorf("key set is not JSON: %w", err)
	}
	if set.Keys == nil {
		return nil, 0, errors.New(`key set has no "keys" member`)
	}
	keys := make(map[string][]verificationKey, len(set.Keys))
	count := 0
	for _, raw := range set.Keys {
		if count == maxJWKSKeys {
			break
		}
		var k jose.JSONWebKey
		if err := k.UnmarshalJSON(raw); err != nil {
			r.log.Debug("bearer: ignoring a JWKS key", slog.String("url", r.url), slog.Any("error", err))
			continue
		}
		if !k.IsPublic() {
			r.log.Error("bearer: JWKS publishes a private or symmetric key; ignoring it", slog.String("url", r.url), slog.String("kid", k.KeyID))
			continue
		}
		vk, err := toVerificationKey(&k)
		if err != nil {
			r.log.Debug("bearer: ignoring a JWKS key", slog.String("url", r.url), slog.String("kid", k.KeyID), slog.Any("error", err))
			continue
		}
		keys[k.KeyID] = append(keys[k.KeyID], vk)
		count++
	}
	return keys, count, nil
}

// ttl derives the set's lifetime from Cache-Control, clamped.
func (r *remoteKeys) ttl(h http.Header) time.Duration {
	ttl, noCache := r.defaultTTL, false
	for _, line := range h.Values("Cache-Control") {
		for _, d := range strings.Split(line, ",") {
			d = strings.TrimSpace(d)
			name, val, _ := strings.Cut(d, "=")
			switch strings.ToLower(name) {
			case "no-store", "no-cache":
				noCache = true
			case "max-age":
				if n, err := strconv.ParseInt(strings.Trim(val, `"`), 10, 64); err == nil && n >= 0 {
					if n > int64(r.maxTTL/time.Second) {
						ttl = r.maxTTL
					} else {
						ttl = time.Duration(n) * time.Second
					}
				}
			}
		}
	}
	if noCache {
		ttl = 0
	}
	return min(max(ttl, r.minTTL), r.maxTTL)
}
