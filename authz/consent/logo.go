package consent

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/sync/singleflight"

	"github.com/nqrust/identity/internal/safehttp"
)

// Logo limits and lifetimes.
const (
	// DefaultMaxLogoBytes caps one logo.
	DefaultMaxLogoBytes = 100 << 10
	// logoCacheBytes and logoCacheEntries bound the whole cache.
	logoCacheBytes   = 16 << 20
	logoCacheEntries = 2048
	// logoTimeout bounds a fetch; the consent page waits for it once per
	// client, then serves from the cache.
	logoTimeout = 3 * time.Second
	// logoLifetime is how long a fetched logo is kept: the key includes
	// the client_id and logo_uri, so a client that changes its logo gets a
	// new entry; this only bounds how stale the bytes behind one URI get.
	logoLifetime = 24 * time.Hour
	// logoFailureLifetime is how long a failed fetch is remembered, so a
	// slow or broken logo host does not slow down every consent page.
	logoFailureLifetime = 10 * time.Minute
	maxLogoURILen       = 2048
)

// logoTypes are the image types served. SVG is refused: it is a document
// that can carry script and links, and no sandbox makes it worth it.
var logoTypes = map[string]bool{
	"image/png":  true,
	"image/jpeg": true,
	"image/gif":  true,
	"image/webp": true,
}

// errLogo marks a logo that was fetched but refused.
var errLogo = errors.New("consent: logo refused")

type logoEntry struct {
	// data is nil for a failed fetch.
	data    []byte
	ctype   string
	expires time.Time
}

// logoCache fetches client logos through the safe HTTP client, checks
// them, and keeps them in a bounded LRU so they are served from this
// origin: the consent page never makes the browser contact a host the
// client chose (hot-linking would leak the user's address and visit time,
// and let the client swap the picture after review).
type logoCache struct {
	fetch    func(ctx context.Context, rawURL string) (*safehttp.Response, error)
	clock    func() time.Time
	log      *slog.Logger
	maxBytes int64

	mu      sync.Mutex
	entries *simplelru.LRU[string, *logoEntry]
	total   int64
	flight  singleflight.Group
}

func newLogoCache(hc *http.Client, maxBytes int64, clock func() time.Time, log *slog.Logger) (*logoCache, error) {
	lc := &logoCache{clock: clock, log: log, maxBytes: maxBytes}
	opts := safehttp.GetOptions{
		MaxBytes: maxBytes,
		Accept:   "image/png, image/webp, image/jpeg, image/gif",
		Timeout:  logoTimeout,
	}
	if hc == nil {
		c, err := safehttp.New(safehttp.Options{Timeout: logoTimeout, MaxBytes: maxBytes})
		if err != nil {
			return nil, err
		}
		lc.fetch = func(ctx context.Context, u string) (*safehttp.Response, error) { return c.Get(ctx, u, opts) }
	} else {
		lc.fetch = func(ctx context.Context, u string) (*safehttp.Response, error) {
			return safehttp.Fetch(ctx, hc, u, opts)
		}
	}
	l, err := simplelru.NewLRU[string, *logoEntry](logoCacheEntries, func(_ string, e *logoEntry) {
		lc.total -= int64(len(e.data))
	})
	if err != nil {
		return nil, err
	}
	lc.entries = l
	return lc, nil
}

// logoKey names a client's logo in URLs: a digest of the client_id and
// logo URI, so that the URL reveals neither and a changed logo_uri is a
// new entry.
func logoKey(clientID, logoURI string) string {
	h := sha256.New()
	h.Write([]byte(clientID))
	h.Write([]byte{0})
	h.Write([]byte(logoURI))
	return base64.RawURLEncoding.EncodeToString(h.Sum(nil)[:16])
}

// usableLogoURI accepts absolute https URLs of bounded length.
func usableLogoURI(raw string) bool {
	if raw == "" || len(raw) > maxLogoURILen {
		return false
	}
	u, err := url.Parse(raw)
	return err == nil && u.Scheme == "https" && u.Host != "" && u.User == nil
}

// url returns the same-origin URL of a client's logo, fetching it first
// if needed; "" when the client has no usable logo.
func (lc *logoCache) url(ctx context.Context, clientID, logoURI string) string {
	if !usableLogoURI(logoURI) {
		return ""
	}
	key := logoKey(clientID, logoURI)
	if e, ok := lc.get(key); ok {
		if e.data == nil {
			return ""
		}
		return "?logo=" + key
	}
	// One fetch per logo at a time; it is not tied to this request, so a
	// user closing the tab does not fail everyone else's wait.
	v, _, _ := lc.flight.Do(key, func() (any, error) {
		if e, ok := lc.get(key); ok {
			return e, nil
		}
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), logoTimeout)
		defer cancel()
		e := lc.load(fctx, logoURI)
		lc.put(key, e)
		return e, nil
	})
	if e, _ := v.(*logoEntry); e != nil && e.data != nil {
		return "?logo=" + key
	}
	return ""
}

// load fetches and checks one logo. Failures are logged at debug level:
// they are the client's problem, not the server's.
func (lc *logoCache) load(ctx context.Context, logoURI string) *logoEntry {
	now := lc.clock()
	fail := &logoEntry{expires: now.Add(logoFailureLifetime)}
	resp, err := lc.fetch(ctx, logoURI)
	if err != nil {
		lc.log.LogAttrs(ctx, slog.LevelDebug, "consent: logo fetch failed", slog.String("error", err.Error()))
		return fail
	}
	ctype, err := sniffLogo(resp.Body)
	if err != nil {
		lc.log.LogAttrs(ctx, slog.LevelDebug, "consent: logo refused", slog.String("type", ctype))
		return fail
	}
	return &logoEntry{data: resp.Body, ctype: ctype, expires: now.Add(logoLifetime)}
}

// sniffLogo decides the type from the bytes, never from the sender's
// Content-Type, and accepts only raster formats.
func sniffLogo(b []byte) (string, error) {
	if len(b) == 0 {
		return "", errLogo
	}
	ctype := http.DetectContentType(b)
	if !logoTypes[ctype] {
		return ctype, errLogo
	}
	return ctype, nil
}

func (lc *logoCache) get(key string) (*logoEntry, bool) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	e, ok := lc.entries.Get(key)
	if !ok {
		return nil, false
	}
	if !lc.clock().Before(e.expires) {
		lc.entries.Remove(key)
		return nil, false
	}
	return e, true
}

func (lc *logoCache) put(key string, e *logoEntry) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	lc.entries.Add(key, e)
	lc.total += int64(len(e.data))
	for lc.total > logoCacheBytes && lc.entries.Len() > 1 {
		lc.entries.RemoveOldest()
	}
}

// serve answers GET ?logo=key from the cache only: the handler is not an
// image proxy, so an unknown key is 404 whatever it names.
func (lc *logoCache) serve(w http.ResponseWriter, r *http.Request, key string) {
	e, ok := lc.get(key)
	if !ok || e.data == nil {
		http.Error(w, "Not found", http.StatusNotFound)
		return
	}
	h := w.Header()
	h.Set("Content-Type", e.ctype)
	h.Set("Content-Length", strconv.Itoa(len(e.data)))
	h.Set("X-Content-Type-Options", "nosniff")
	// Should a browser ever open the image as a document, it gets no
	// script, no plugin and no same-origin access.
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(e.data)
	}
}
