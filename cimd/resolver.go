package cimd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"

	"github.com/nqrust/identity/internal/safehttp"
)

// Defaults applied by [NewResolver] to zero Options fields. The cache
// times and the byte limit are Keycloak's system-wide defaults
// (min-cache-time, max-cache-time, upper-limit-metadata-bytes).
const (
	DefaultMinCacheTime      = 300 * time.Second
	DefaultMaxCacheTime      = 259200 * time.Second // 3 days
	DefaultMaxBytes          = 5000
	DefaultTimeout           = 5 * time.Second
	DefaultCacheSize         = 10000
	DefaultNegativeCacheTime = 10 * time.Second
)

// Options configures a [Resolver]. The zero value is the production
// setting: https only, public addresses only, Keycloak's cache times and
// 5000-byte limit.
type Options struct {
	// HTTPClient fetches documents. Nil means a safe client (package
	// internal/safehttp) that refuses special-purpose addresses at dial
	// time. Redirects are never followed and cookies never sent whatever
	// client is given, but the address checks are only as good as the
	// given client's dialer: give one only to route through an egress
	// proxy or in tests.
	HTTPClient *http.Client
	// AllowLoopback and AllowPrivate relax the default client's address
	// checks for a development setup where the metadata documents are
	// served from this machine or the local network. Ignored when
	// HTTPClient is set. Never in production (CIMD §8.6).
	AllowLoopback bool
	AllowPrivate  bool
	// AllowHTTP accepts http client_id URLs in Resolve (development only).
	// The policy executor has its own per-profile switch.
	AllowHTTP bool

	// MinCacheTime and MaxCacheTime clamp how long a document is reused
	// before it is revalidated. Zero means DefaultMinCacheTime and
	// DefaultMaxCacheTime.
	MinCacheTime time.Duration
	MaxCacheTime time.Duration
	// MaxBytes caps a document (after decompression). Zero means
	// DefaultMaxBytes (the 5 KB CIMD §8.7 recommends).
	MaxBytes int64
	// Timeout bounds one fetch. Zero means DefaultTimeout.
	Timeout time.Duration
	// CacheSize bounds the number of cached documents (least recently
	// used ones are dropped first). Zero means DefaultCacheSize.
	CacheSize int
	// NegativeCacheTime is how long a failed fetch is remembered, so that
	// a failing client_id is not fetched again on every request. The
	// failure is remembered, never an error response as a document (CIMD
	// §5.2). Zero means DefaultNegativeCacheTime; negative disables it.
	NegativeCacheTime time.Duration
	// StaleIfError lets a document whose revalidation failed with a
	// connection error, a timeout or a 5xx status be used for this long
	// after its expiry (RFC 5861 stale-if-error), so that a brief outage
	// of the client's web server does not lock its users out. A 4xx, a
	// redirect or an invalid document still ends the client at once.
	// Zero disables it.
	StaleIfError time.Duration

	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// Logger receives fetch outcomes. Nil discards them.
	Logger *slog.Logger
}

// Resolver fetches, validates and caches Client ID Metadata Documents. It
// is safe for concurrent use.
type Resolver struct {
	hc    *http.Client
	docs  *lru.Cache[string, cached]
	fails *lru.Cache[string, *failure]
	group singleflight.Group
	now   func() time.Time
	// clock is Options.Clock: nil means the real clock, whose cache hits
	// compare monotonic nanoseconds instead of calling now.
	clock func() time.Time
	// base is the origin of cached.exp.
	base         time.Time
	log          *slog.Logger
	minTTL       time.Duration
	maxTTL       time.Duration
	negTTL       time.Duration
	staleIfError time.Duration
	timeout      time.Duration
	maxBytes     int64
	allowHTTP    bool
}

// cached is a document cache entry. It is held by value, so a hit copies
// two words and allocates nothing; the *Document is never modified once
// cached (a revalidation caches a new one), so it is handed out as is.
type cached struct {
	doc *Document
	// exp is doc.ExpiresAt as monotonic nanoseconds since Resolver.base,
	// set only with the real clock: a hit then costs one clock read
	// (time.Since) where time.Now costs two (wall and monotonic), and,
	// like time.Time.Before on two readings from time.Now, it is immune
	// to steps of the wall clock.
	exp int64
}

// failure is a remembered failed fetch.
type failure struct {
	err   *Error
	until time.Time
	stale *Document // served instead of err under StaleIfError
}

// NewResolver returns a Resolver for opts, or an error for inconsistent
// options (negative values, MinCacheTime above MaxCacheTime).
func NewResolver(opts Options) (*Resolver, error) {
	if opts.MinCacheTime < 0 || opts.MaxCacheTime < 0 || opts.MaxBytes < 0 || opts.Timeout < 0 ||
		opts.CacheSize < 0 || opts.StaleIfError < 0 {
		return nil, errors.New("cimd: negative duration, size or limit in Options")
	}
	r := &Resolver{
		hc:           opts.HTTPClient,
		now:          opts.Clock,
		clock:        opts.Clock,
		base:         time.Now(),
		log:          opts.Logger,
		minTTL:       cmpOr(opts.MinCacheTime, DefaultMinCacheTime),
		maxTTL:       cmpOr(opts.MaxCacheTime, DefaultMaxCacheTime),
		negTTL:       cmpOr(opts.NegativeCacheTime, DefaultNegativeCacheTime),
		staleIfError: opts.StaleIfError,
		timeout:      cmpOr(opts.Timeout, DefaultTimeout),
		maxBytes:     cmpOr(opts.MaxBytes, DefaultMaxBytes),
		allowHTTP:    opts.AllowHTTP,
	}
	if r.minTTL > r.maxTTL {
		return nil, fmt.Errorf("cimd: MinCacheTime %v exceeds MaxCacheTime %v", r.minTTL, r.maxTTL)
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.hc == nil {
		sc, err := safehttp.New(safehttp.Options{
			Timeout:       r.timeout,
			MaxBytes:      r.maxBytes,
			AllowLoopback: opts.AllowLoopback,
			AllowPrivate:  opts.AllowPrivate,
		})
		if err != nil {
			return nil, fmt.Errorf("cimd: %w", err)
		}
		r.hc = sc.HTTPClient()
	}
	size := cmpOr(opts.CacheSize, DefaultCacheSize)
	var err error
	if r.docs, err = lru.New[string, cached](size); err != nil {
		return nil, fmt.Errorf("cimd: %w", err)
	}
	// Failures get their own, smaller cache so that a burst of bad
	// client_ids on a trusted domain cannot evict good documents.
	if r.fails, err = lru.New[string, *failure](max(size/4, 16)); err != nil {
		return nil, fmt.Errorf("cimd: %w", err)
	}
	return r, nil
}

func cmpOr[T int | int64 | time.Duration](v, def T) T {
	if v == 0 {
		return def
	}
	return v
}

// Resolve returns the document for clientID: from the cache while it is
// fresh, otherwise fetched (or revalidated) and validated. Errors are
// *Error values of ClassURL, ClassTransport or ClassDocument.
//
// The returned *Document is shared with other callers and with the cache;
// it must not be modified (see [Document]).
//
// Concurrent calls for the same URL share one fetch. The fetch runs with a
// context detached from the caller's cancellation (bounded by the
// resolver's Timeout), so a caller that gives up does not fail the others;
// it gets an *Error with Reason ReasonCanceled wrapping ctx.Err().
//
// A cache hit does not allocate.
func (r *Resolver) Resolve(ctx context.Context, clientID string) (*Document, error) {
	d, err := r.resolve(ctx, clientID, r.allowHTTP)
	if err != nil {
		return nil, err
	}
	return d, nil
}

func (r *Resolver) resolve(ctx context.Context, id string, allowHTTP bool) (*Document, *Error) {
	// Only validated URLs are ever stored, so a hit needs no validation
	// beyond the scheme switch, which may differ between callers.
	if allowHTTP || !isHTTP(id) {
		if c, ok := r.docs.Get(id); ok && r.fresh(c) {
			return c.doc, nil
		}
	}
	now := r.now()
	if e := validateClientIDURL(id, allowHTTP); e != nil {
		e.ClientID = id
		return nil, e
	}
	if f, ok := r.fails.Get(id); ok && now.Before(f.until) {
		return f.result()
	}
	ch := r.group.DoChan(id, func() (any, error) {
		d, e := r.refresh(ctx, id)
		if e != nil {
			return nil, e
		}
		return d, nil
	})
	select {
	case res := <-ch:
		if res.Err != nil {
			return nil, res.Err.(*Error)
		}
		return res.Val.(*Document), nil
	case <-ctx.Done():
		return nil, &Error{Class: ClassTransport, Reason: ReasonCanceled, ClientID: id, Err: ctx.Err()}
	}
}

// fresh reports whether a cached entry is still fresh. With the real clock
// it costs one monotonic clock read; an injected clock is asked as is.
func (r *Resolver) fresh(c cached) bool {
	if r.clock != nil {
		return r.clock().Before(c.doc.ExpiresAt)
	}
	return int64(time.Since(r.base)) < c.exp
}

// cache stores d in the document cache, evicting the least recently used
// document when the cache is full.
func (r *Resolver) cache(id string, d *Document) {
	c := cached{doc: d}
	if r.clock == nil {
		// Sub saturates rather than overflowing for far-off times, and
		// uses the monotonic readings when both times carry one (times
		// derived from time.Now do).
		c.exp = int64(d.ExpiresAt.Sub(r.base))
	}
	r.docs.Add(id, c)
}

func (f *failure) result() (*Document, *Error) {
	if f.stale != nil {
		return f.stale, nil
	}
	return nil, f.err
}

func isHTTP(id string) bool { return len(id) >= 5 && id[:5] == "http:" }

// refresh runs once per URL at a time (single flight).
func (r *Resolver) refresh(callerCtx context.Context, id string) (*Document, *Error) {
	now := r.now()
	// Peek: a revalidation is not a use, and the entry is replaced or
	// removed below anyway.
	c, _ := r.docs.Peek(id)
	prev := c.doc
	// Another flight may have finished between our cache miss and this
	// one starting.
	if prev != nil && now.Before(prev.ExpiresAt) {
		return prev, nil
	}
	if f, ok := r.fails.Peek(id); ok && now.Before(f.until) {
		return f.result()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(callerCtx), r.timeout)
	defer cancel()
	d, e := r.fetch(ctx, id, prev)
	if e == nil {
		r.cache(id, d)
		r.fails.Remove(id)
		r.log.LogAttrs(ctx, slog.LevelDebug, "cimd: document fetched",
			slog.String("client_id", id), slog.Time("expires_at", d.ExpiresAt))
		return d, nil
	}

	var stale *Document
	if prev != nil && r.staleIfError > 0 && retryable(e) && now.Before(prev.ExpiresAt.Add(r.staleIfError)) {
		stale = prev
	} else {
		// The document is gone or no longer valid: stop using it now.
		r.docs.Remove(id)
	}
	if r.negTTL > 0 {
		r.fails.Add(id, &failure{err: e, until: now.Add(r.negTTL), stale: stale})
	}
	level := slog.LevelWarn
	if stale != nil {
		level = slog.LevelInfo
	}
	r.log.LogAttrs(ctx, level, "cimd: document fetch failed",
		slog.String("client_id", id), slog.String("class", e.Class.String()),
		slog.String("reason", e.Reason), slog.Any("error", e.Err), slog.Bool("serving_stale", stale != nil))
	if stale != nil {
		return stale, nil
	}
	return nil, e
}

// retryable reports whether a failure is the server's or the network's
// momentary problem rather than a statement about the document.
func retryable(e *Error) bool {
	if e.Class != ClassTransport {
		return false
	}
	var se *safehttp.Error
	if !errors.As(e.Err, &se) {
		return false
	}
	switch se.Kind {
	case safehttp.KindTimeout, safehttp.KindTransport:
		return true
	case safehttp.KindStatus:
		return se.StatusCode >= 500
	}
	return false
}

// fetch GETs the document, conditionally when prev has validators.
func (r *Resolver) fetch(ctx context.Context, id string, prev *Document) (*Document, *Error) {
	var hdr http.Header
	if prev != nil && (prev.ETag != "" || prev.LastModified != "") {
		hdr = http.Header{}
		if prev.ETag != "" {
			hdr.Set("If-None-Match", prev.ETag)
		}
		if prev.LastModified != "" {
			hdr.Set("If-Modified-Since", prev.LastModified)
		}
	}
	resp, err := safehttp.Fetch(ctx, r.hc, id, safehttp.GetOptions{
		MaxBytes:         r.maxBytes,
		Accept:           "application/json",
		RequireJSON:      true,
		AllowNotModified: hdr != nil,
		Header:           hdr,
		Timeout:          r.timeout,
	})
	if err != nil {
		return nil, transportError(id, err)
	}
	now := r.now()
	if resp.StatusCode == http.StatusNotModified {
		ttl, info := freshness(resp.Header, now, r.minTTL, r.maxTTL)
		if !info {
			// A 304 without freshness information keeps the lifetime the
			// document was given before.
			ttl = min(max(prev.ExpiresAt.Sub(prev.FetchedAt), r.minTTL), r.maxTTL)
		}
		d := *prev
		d.FetchedAt, d.ExpiresAt = now, now.Add(ttl)
		if v := validator(resp.Header.Get("ETag")); v != "" {
			d.ETag = v
		}
		if v := validator(resp.Header.Get("Last-Modified")); v != "" {
			d.LastModified = v
		}
		return &d, nil
	}
	d, e := parseDocument(id, resp.Body)
	if e != nil {
		return nil, e
	}
	ttl, _ := freshness(resp.Header, now, r.minTTL, r.maxTTL)
	d.FetchedAt, d.ExpiresAt = now, now.Add(ttl)
	d.ETag = validator(resp.Header.Get("ETag"))
	d.LastModified = validator(resp.Header.Get("Last-Modified"))
	return d, nil
}

// validator keeps a validator header value only if it can be sent back
// as is: short, printable ASCII.
func validator(v string) string {
	if len(v) > 256 {
		return ""
	}
	for i := 0; i < len(v); i++ {
		if v[i] < 0x20 || v[i] > 0x7e {
			return ""
		}
	}
	return v
}

func transportError(id string, err error) *Error {
	e := &Error{Class: ClassTransport, Reason: ReasonFetchFailed, ClientID: id, Err: err}
	var se *safehttp.Error
	if errors.As(err, &se) {
		switch se.Kind {
		case safehttp.KindBlockedAddress:
			e.Reason = ReasonFetchBlocked
		case safehttp.KindRedirect:
			e.Reason = ReasonFetchRedirect
		case safehttp.KindStatus:
			e.Reason = ReasonFetchStatus
		case safehttp.KindTooLarge:
			e.Reason = ReasonFetchTooLarge
		case safehttp.KindTimeout:
			e.Reason = ReasonFetchTimeout
		case safehttp.KindContentType:
			e.Reason = ReasonFetchContentType
		}
	}
	return e
}

// Forget drops clientID from the cache (document and remembered failure),
// so the next Resolve fetches it again.
func (r *Resolver) Forget(clientID string) {
	r.docs.Remove(clientID)
	r.fails.Remove(clientID)
}

// Len returns the number of cached documents, fresh or awaiting
// revalidation.
func (r *Resolver) Len() int { return r.docs.Len() }
