package metadata

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultMaxAge is the Cache-Control max-age [ServeJSON] uses when
// [ServeOptions.MaxAge] is zero. Metadata changes rarely; an hour keeps
// clients from re-fetching on every connection while letting a change
// propagate the same day (RFC 9728 §7.10 asks for caching headers).
const DefaultMaxAge = time.Hour

// ServeOptions tunes [ServeJSON]. The zero value serves with
// Cache-Control "public, max-age=3600" and an ETag.
type ServeOptions struct {
	// MaxAge is the Cache-Control max-age, rounded down to whole seconds.
	// Zero means DefaultMaxAge; a negative value sends "no-cache" (clients
	// revalidate every time, cheaply thanks to the ETag).
	MaxAge time.Duration
	// OmitETag leaves out the ETag header and ignores If-None-Match.
	OmitETag bool
}

// corsAllowHeaders are the request headers a browser-based MCP client may
// send when it fetches metadata: the TypeScript SDK adds
// MCP-Protocol-Version to discovery requests, which triggers a preflight.
const corsAllowHeaders = "Authorization, Content-Type, MCP-Protocol-Version, Mcp-Method, Mcp-Name"

type jsonHandler struct {
	body          []byte
	contentLength string
	cacheControl  string
	etag          string
	broken        bool
}

// ServeJSON returns a handler that serves v as JSON. v is marshalled once,
// now: later changes to v are not served, and requests cost no encoding.
//
// GET and HEAD get 200 with Content-Type application/json, Content-Length,
// Cache-Control (see [ServeOptions]), an ETag (If-None-Match answered with
// 304), X-Content-Type-Options nosniff and Access-Control-Allow-Origin "*"
// (RFC 9700 §2.6 allows CORS on metadata; browser-based MCP clients need it).
// OPTIONS is a CORS preflight, answered 204. Any other method gets 405
// with an Allow header.
//
// If v cannot be marshalled (a programming error: channels, functions),
// every request is answered 500.
func ServeJSON(v any, opts ServeOptions) http.Handler {
	body, err := json.Marshal(v)
	if err != nil {
		return &jsonHandler{broken: true}
	}
	h := &jsonHandler{body: body, contentLength: strconv.Itoa(len(body))}
	switch {
	case opts.MaxAge < 0:
		h.cacheControl = "no-cache"
	case opts.MaxAge == 0:
		h.cacheControl = "public, max-age=" + strconv.Itoa(int(DefaultMaxAge/time.Second))
	default:
		h.cacheControl = "public, max-age=" + strconv.FormatInt(int64(opts.MaxAge/time.Second), 10)
	}
	if !opts.OmitETag {
		sum := sha256.Sum256(body)
		h.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:18]) + `"`
	}
	return h
}

func (h *jsonHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions:
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		hdr.Set("Access-Control-Allow-Origin", "*")
		hdr.Set("Access-Control-Allow-Methods", "GET, HEAD")
		hdr.Set("Access-Control-Allow-Headers", corsAllowHeaders)
		hdr.Set("Access-Control-Max-Age", "86400")
		w.WriteHeader(http.StatusNoContent)
		return
	default:
		hdr.Set("Allow", "GET, HEAD, OPTIONS")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if h.broken {
		http.Error(w, "metadata unavailable", http.StatusInternalServerError)
		return
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("Cache-Control", h.cacheControl)
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("X-Content-Type-Options", "nosniff")
	if h.etag != "" {
		hdr.Set("ETag", h.etag)
		if inm := r.Header.Get("If-None-Match"); inm != "" && etagListMatches(inm, h.etag) {
			w.WriteHeader(http.StatusNotModified)
			return
		}
	}
	hdr.Set("Content-Length", h.contentLength)
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(h.body)
	}
}

// etagListMatches implements the weak comparison of If-None-Match
// (RFC 9110 §13.1.2).
func etagListMatches(list, etag string) bool {
	for list != "" {
		var item string
		item, list, _ = strings.Cut(list, ",")
		item = strings.TrimSpace(item)
		if item == "*" || strings.TrimPrefix(item, "W/") == etag {
			return true
		}
	}
	return false
}

// AuthorizationServerHandler validates m ([AuthorizationServer.Validate])
// and returns a handler serving it as RFC 8414 metadata with
// [ServeJSON]'s defaults. Mount it at the paths of
// [AuthorizationServerWellKnownPaths] (the AuthorizationServer and Legacy
// paths). m is copied: later changes are not served.
func AuthorizationServerHandler(m *AuthorizationServer) (http.Handler, error) {
	if m == nil {
		return nil, docErr("issuer", "is required")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return ServeJSON(m, ServeOptions{}), nil
}

// OpenIDConfigurationHandler validates m for OpenID Connect
// ([AuthorizationServer.ValidateOpenID]) and returns a handler serving it
// as an OpenID Connect discovery document. Mount it at the
// OpenIDConfiguration paths of [AuthorizationServerWellKnownPaths]. Do not
// serve a document that fails ValidateOpenID at those paths: clients that
// probe them expect a complete OpenID Provider.
func OpenIDConfigurationHandler(m *AuthorizationServer) (http.Handler, error) {
	if m == nil {
		return nil, docErr("issuer", "is required")
	}
	if err := m.ValidateOpenID(); err != nil {
		return nil, err
	}
	return ServeJSON(m, ServeOptions{}), nil
}

// ProtectedResourceHandler validates m ([ProtectedResource.Validate]) and
// returns a handler serving it as RFC 9728 metadata with [ServeJSON]'s
// defaults. Mount it at the paths of [ProtectedResourceWellKnownPaths]
// for m.Resource. m is copied: later changes are not served.
func ProtectedResourceHandler(m *ProtectedResource) (http.Handler, error) {
	if m == nil {
		return nil, docErr("resource", "is required")
	}
	if err := m.Validate(); err != nil {
		return nil, err
	}
	return ServeJSON(m, ServeOptions{}), nil
}
