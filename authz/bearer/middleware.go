package bearer

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Options configures [Middleware]. The zero value is usable: no scopes
// required, no resource_metadata in challenges (set it: MCP clients need
// it to discover the authorization server), CORS open to any origin
// without credentials.
type Options struct {
	// ResourceMetadataURL is the URL of this resource's RFC 9728 metadata,
	// sent as resource_metadata in every challenge (MCP requires it). See
	// [MountProtectedResourceMetadata], which returns it.
	ResourceMetadataURL string
	// Scopes are required on every request. "offline_access" is never
	// named in a challenge (MCP 2026-07-28: resource servers should not
	// ask for it), so requiring it here, or from ScopesFunc, is a mistake.
	Scopes []string
	// ScopesFunc returns extra scopes a particular request needs, for
	// step-up authorization: a challenge then lists Scopes plus these, as
	// MCP asks a challenge to name every scope the operation needs. It runs
	// before the token is verified (so that 401 challenges carry the right
	// scopes) and must not read the body; MCP clients of the 2026-07-28
	// revision send the method and tool name in the Mcp-Method and Mcp-Name
	// headers for exactly this purpose.
	ScopesFunc func(*http.Request) []string
	// Implies reports whether a granted scope covers a required one, for
	// scope hierarchies (MCP 2026-07-28 requires honouring them). Nil
	// means exact matches only. See [HierarchicalScopes].
	Implies func(granted, required string) bool
	// Realm, if set, is sent as the challenge's realm.
	Realm string
	// AllowedOrigins lists the browser origins (such as
	// "https://app.example") allowed to call the resource. Empty means any
	// origin ("*"), which is safe for a bearer-token API: browsers never
	// attach an Authorization header on their own, and the middleware never
	// allows credentials (cookies). The MCP transport's own Origin check
	// (DNS-rebinding protection) is separate and still applies.
	AllowedOrigins []string
	// DisableCORS turns off all CORS handling (preflight answers and
	// Access-Control-* headers), for servers that do CORS elsewhere.
	DisableCORS bool
	// Logger receives diagnostics about refused requests (never tokens);
	// nil discards them.
	Logger *slog.Logger
	// ErrorDescription adds a fixed, human-readable error_description to
	// error responses. Off by default: the description helps debugging
	// but tells a prober why its token failed.
	ErrorDescription bool
}

// HierarchicalScopes returns an [Options.Implies] function under which a
// granted scope implies every scope that extends it after sep: with sep
// ":", "files" implies "files:read" and "files:read:own", but not
// "filesystem".
func HierarchicalScopes(sep string) func(granted, required string) bool {
	return func(granted, required string) bool {
		return len(required) > len(granted)+len(sep) &&
			strings.HasPrefix(required, granted) &&
			strings.HasPrefix(required[len(granted):], sep)
	}
}

// corsAllowHeaders are the request headers MCP clients send: the token,
// JSON bodies, the protocol version, the session (up to 2025-11-25), SSE
// resumption and the 2026-07-28 routing headers.
const corsAllowHeaders = "Authorization, Content-Type, MCP-Protocol-Version, Mcp-Session-Id, Last-Event-ID, Mcp-Method, Mcp-Name"

// corsExposeHeaders lets browser clients read the challenge (without it a
// browser MCP client cannot discover the authorization server) and the
// session and version headers.
const corsExposeHeaders = "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version"

// maxFormScan bounds how much of a form-encoded body is read to look for
// an access_token parameter. A token placed after it is not noticed here;
// it is not accepted either, since only the Authorization header is read.
const maxFormScan = 64 << 10

// maxAuthorizationBytes bounds the Authorization header value: the scheme,
// a few spaces and a token of at most maxTokenBytes. A longer value, or a
// longer token, is a malformed request (400 invalid_request), refused
// before the token is hashed or parsed.
const maxAuthorizationBytes = len("Bearer ") + 16 + maxTokenBytes

// offlineAccess is never put in a challenge: MCP 2026-07-28 says resource
// servers should not ask for it, since refresh tokens are the
// authorization server's business.
const offlineAccess = "offline_access"

// Middleware returns middleware that lets a request through only with a
// valid bearer token carrying the required scopes, and puts the token's
// [TokenInfo] in the request context ([TokenInfoFromContext]).
//
// Responses follow RFC 6750 and MCP:
//   - no credentials (no Authorization header, or a scheme other than
//     Bearer): 401 with WWW-Authenticate: Bearer and resource_metadata and
//     scope, but no error code;
//   - invalid, expired or foreign token: 401 with error="invalid_token";
//   - a required scope missing: 403 with error="insufficient_scope" and
//     scope listing every scope the request needs;
//   - a malformed request (two Authorization headers, "Bearer" without a
//     token, a token that is not token68, an Authorization header or token
//     over its size limit (see the package documentation), a token in the
//     query string or a form body): 400 with error="invalid_request";
//   - the verifier cannot check tokens (ErrUnavailable): 503.
//
// CORS preflight requests are answered without a token. A nil verifier
// makes every request fail with 500 (fail closed).
func Middleware(v TokenVerifier, opts Options) func(http.Handler) http.Handler {
	m := &middleware{
		v:        v,
		scopes:   append([]string(nil), opts.Scopes...),
		scopesFn: opts.ScopesFunc,
		implies:  opts.Implies,
		realm:    opts.Realm,
		prm:      opts.ResourceMetadataURL,
		cors:     !opts.DisableCORS,
		describe: opts.ErrorDescription,
		log:      opts.Logger,
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	for _, o := range opts.AllowedOrigins {
		if o == "*" {
			m.anyOrigin = true
		}
	}
	if len(opts.AllowedOrigins) == 0 {
		m.anyOrigin = true
	} else {
		m.origins = make(map[string]bool, len(opts.AllowedOrigins))
		for _, o := range opts.AllowedOrigins {
			m.origins[o] = true
		}
	}
	if v == nil {
		m.log.Error("bearer: Middleware has no TokenVerifier; every request will fail")
	}
	if opts.ResourceMetadataURL == "" {
		m.log.Warn("bearer: Options.ResourceMetadataURL is empty; challenges will not tell MCP clients where the protected resource metadata is")
	}
	for _, s := range m.scopes {
		if s == offlineAccess {
			m.log.Warn("bearer: Options.Scopes requires offline_access, which challenges never name; clients will not learn to request it")
		}
	}
	if opts.ResourceMetadataURL != "" {
		if err := checkURL("Options.ResourceMetadataURL", opts.ResourceMetadataURL); err != nil {
			m.log.Error("bearer: bad resource metadata URL; characters that cannot appear in a header are dropped", slog.Any("error", err))
		}
	}
	return func(next http.Handler) http.Handler {
		return &handler{m: m, next: next}
	}
}

type middleware struct {
	v         TokenVerifier
	scopes    []string
	scopesFn  func(*http.Request) []string
	implies   func(granted, required string) bool
	realm     string
	prm       string
	cors      bool
	anyOrigin bool
	origins   map[string]bool
	describe  bool
	log       *slog.Logger
}

type handler struct {
	m    *middleware
	next http.Handler
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.m
	if m.cors {
		if origin := r.Header["Origin"]; len(origin) == 1 && origin[0] != "" {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				m.preflight(w, origin[0])
				return
			}
			m.setCORS(w.Header(), origin[0])
		}
	}
	if m.v == nil {
		m.writeError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	var extra []string
	if m.scopesFn != nil {
		extra = m.scopesFn(r)
	}
	if hasParam(r.URL.RawQuery, "access_token") {
		m.reject(w, http.StatusBadRequest, "invalid_request", "Access tokens are not accepted in the query string", extra)
		return
	}
	if isFormBody(r) {
		found, err := formHasToken(r)
		if err != nil {
			m.reject(w, http.StatusBadRequest, "invalid_request", "The request body could not be read", extra)
			return
		}
		if found {
			m.reject(w, http.StatusBadRequest, "invalid_request", "Access tokens are not accepted in the request body", extra)
			return
		}
	}
	auth := r.Header["Authorization"]
	if len(auth) == 0 {
		m.reject(w, http.StatusUnauthorized, "", "", extra)
		return
	}
	if len(auth) > 1 {
		m.reject(w, http.StatusBadRequest, "invalid_request", "Only one Authorization header is allowed", extra)
		return
	}
	if len(auth[0]) > maxAuthorizationBytes {
		m.reject(w, http.StatusBadRequest, "invalid_request", "The Authorization header is too long", extra)
		return
	}
	scheme, token, _ := strings.Cut(auth[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		// Credentials of another scheme are no bearer credentials at all.
		m.reject(w, http.StatusUnauthorized, "", "", extra)
		return
	}
	token = strings.TrimLeft(token, " ")
	if token == "" || len(token) > maxTokenBytes || !isToken68(token) {
		m.reject(w, http.StatusBadRequest, "invalid_request", "The bearer token is malformed", extra)
		return
	}
	info, err := m.v.Verify(r.Context(), token)
	if err == nil && info == nil {
		err = ErrInvalidToken // a verifier outside this package misbehaving
	}
	if err != nil {
		m.verifyFailed(w, r, err, extra)
		return
	}
	if !m.hasScopes(info, m.scopes) || !m.hasScopes(info, extra) {
		m.log.LogAttrs(r.Context(), slog.LevelDebug, "bearer: insufficient scope", slog.String("client_id", info.ClientID), slog.String("sub", info.Subject))
		m.reject(w, http.StatusForbidden, "insufficient_scope", "The access token lacks a scope this request needs", extra)
		return
	}
	h.next.ServeHTTP(w, r.WithContext(WithTokenInfo(r.Context(), info)))
}

func (m *middleware) verifyFailed(w http.ResponseWriter, r *http.Request, err error, extra []string) {
	var te *TokenError
	switch {
	case errors.As(err, &te):
		m.log.LogAttrs(r.Context(), slog.LevelDebug, "bearer: token refused", slog.String("reason", te.Reason.String()), slog.String("detail", te.Detail))
		m.reject(w, http.StatusUnauthorized, "invalid_token", te.Reason.description(), extra)
	case errors.Is(err, ErrInvalidToken):
		m.log.LogAttrs(r.Context(), slog.LevelDebug, "bearer: token refused")
		m.reject(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid", extra)
	case errors.Is(err, ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		if r.Context().Err() == nil {
			m.log.LogAttrs(r.Context(), slog.LevelWarn, "bearer: cannot verify tokens", slog.Any("error", err))
		}
		desc := ""
		if m.describe {
			desc = "The access token cannot be checked right now"
		}
		w.Header().Set("Retry-After", "5")
		m.writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", desc)
	default:
		// A verifier outside this package that does not use the
		// sentinels: refuse the token rather than fail the server.
		m.log.LogAttrs(r.Context(), slog.LevelDebug, "bearer: token refused", slog.Any("error", err))
		m.reject(w, http.StatusUnauthorized, "invalid_token", "The access token is invalid", extra)
	}
}

func (m *middleware) hasScopes(info *TokenInfo, required []string) bool {
	for _, req := range required {
		if !m.granted(info, req) {
			return false
		}
	}
	return true
}

func (m *middleware) granted(info *TokenInfo, req string) bool {
	for _, g := range info.Scopes {
		if g == req || m.implies != nil && m.implies(g, req) {
			return true
		}
	}
	return false
}

// reject answers with a challenge. code is empty for a request without
// credentials (RFC 6750 §3.1: no error code then).
func (m *middleware) reject(w http.ResponseWriter, status int, code, desc string, extra []string) {
	if !m.describe {
		desc = ""
	}
	w.Header().Set("WWW-Authenticate", m.challenge(code, desc, extra))
	m.writeError(w, status, code, desc)
}

// challenge builds the WWW-Authenticate value. Every parameter is a
// quoted-string (RFC 9110 §5.6.4) with '"' and '\' escaped and control
// and non-ASCII characters dropped, so no value, even one from ScopesFunc,
// can break out of the header or inject another.
func (m *middleware) challenge(code, desc string, extra []string) string {
	var b strings.Builder
	b.Grow(64 + len(m.prm))
	b.WriteString("Bearer")
	sep := " "
	param := func(name, val string) {
		b.WriteString(sep)
		b.WriteString(name)
		b.WriteString(`="`)
		writeQuotedContent(&b, val)
		b.WriteByte('"')
		sep = ", "
	}
	if m.realm != "" {
		param("realm", m.realm)
	}
	if code != "" {
		param("error", code)
	}
	if desc != "" {
		param("error_description", desc)
	}
	if s := m.scopeParam(extra); s != "" {
		param("scope", s)
	}
	if m.prm != "" {
		param("resource_metadata", m.prm)
	}
	return b.String()
}

// scopeParam joins the required scopes, skipping duplicates, strings that
// are not RFC 6749 §3.3 scope tokens (they could not be expressed in the
// space-separated list) and offline_access (see offlineAccess).
func (m *middleware) scopeParam(extra []string) string {
	var b strings.Builder
	seen := func(s string, upto int, list []string) bool {
		for _, x := range list[:upto] {
			if x == s {
				return true
			}
		}
		return false
	}
	add := func(s string) {
		if s == offlineAccess {
			return
		}
		if !isScopeToken(s) {
			m.log.Warn("bearer: required scope is not a valid scope token; left out of the challenge")
			return
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s)
	}
	for i, s := range m.scopes {
		if !seen(s, i, m.scopes) {
			add(s)
		}
	}
	for i, s := range extra {
		if !seen(s, len(m.scopes), m.scopes) && !seen(s, i, extra) {
			add(s)
		}
	}
	return b.String()
}

// isScopeToken reports whether s matches RFC 6749 §3.3
// scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
func isScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

func writeQuotedContent(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c == '\t' || c >= 0x20 && c < 0x7f:
			b.WriteByte(c)
		default:
			// CR, LF, other controls, DEL, non-ASCII: dropped.
		}
	}
}

// writeError writes a JSON error body. code and desc are fixed texts of
// this package (no quotes or backslashes), so they need no escaping.
func (m *middleware) writeError(w http.ResponseWriter, status int, code, desc string) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	if code == "" {
		w.WriteHeader(status)
		return
	}
	body := `{"error":"` + code + `"`
	if desc != "" {
		body += `,"error_description":"` + desc + `"`
	}
	body += "}\n"
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}

func (m *middleware) originAllowed(origin string) bool {
	return m.anyOrigin || m.origins[origin]
}

func (m *middleware) setCORS(h http.Header, origin string) {
	if !m.originAllowed(origin) {
		return
	}
	if m.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
	}
	h.Set("Access-Control-Expose-Headers", corsExposeHeaders)
}

// preflight answers a CORS preflight. It needs no token: browsers never
// send credentials on preflights.
func (m *middleware) preflight(w http.ResponseWriter, origin string) {
	h := w.Header()
	h.Add("Vary", "Origin, Access-Control-Request-Method, Access-Control-Request-Headers")
	if !m.originAllowed(origin) {
		w.WriteHeader(http.StatusForbidden)
		return
	}
	if m.anyOrigin {
		h.Set("Access-Control-Allow-Origin", "*")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, DELETE, OPTIONS")
	h.Set("Access-Control-Allow-Headers", corsAllowHeaders)
	h.Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
}

// isToken68 reports whether s matches RFC 9110 §11.2
// token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=".
func isToken68(s string) bool {
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/' {
			continue
		}
		break
	}
	if i == 0 {
		return false
	}
	for ; i < len(s); i++ {
		if s[i] != '=' {
			return false
		}
	}
	return true
}

// hasParam reports whether a URL-encoded query or form has a parameter
// named name, decoding percent-escapes in keys only when present, so the
// common case does not allocate.
func hasParam(q, name string) bool {
	for q != "" {
		var kv string
		kv, q, _ = strings.Cut(q, "&")
		k, _, _ := strings.Cut(kv, "=")
		if k == name {
			return true
		}
		if strings.ContainsAny(k, "%+") {
			if uk, err := url.QueryUnescape(k); err == nil && uk == name {
				return true
			}
		}
	}
	return false
}

// isFormBody reports whether r carries an application/x-www-form-urlencoded
// body, the only body in which RFC 6750 §2.2 lets a client send a token.
func isFormBody(r *http.Request) bool {
	if r.Body == nil || r.Body == http.NoBody {
		return false
	}
	ct := r.Header["Content-Type"]
	if len(ct) == 0 {
		return false
	}
	mt, _, _ := strings.Cut(ct[0], ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/x-www-form-urlencoded")
}

// formHasToken looks for access_token in the first maxFormScan bytes of a
// form body and puts the bytes back for the next handler.
func formHasToken(r *http.Request) (bool, error) {
	buf, err := io.ReadAll(io.LimitReader(r.Body, maxFormScan))
	if err != nil {
		return false, err
	}
	r.Body = &replayBody{Reader: io.MultiReader(bytes.NewReader(buf), r.Body), c: r.Body}
	return hasParam(string(buf), "access_token"), nil
}

type replayBody struct {
	io.Reader
	c io.Closer
}

func (b *replayBody) Close() error { return b.c.Close() }
