package dcr

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nqrust/identity/storage"
)

var cryptoRand = rand.Reader

// ErrUnknownPolicy is returned by [Registrar.MintInitialAccessToken] for a
// policy name that is not Config.Authenticated's.
var ErrUnknownPolicy = errors.New("dcr: unknown registration policy")

// Registrar serves dynamic client registration (RFC 7591) and client
// configuration (RFC 7592). Create it with [New]; it is safe for concurrent
// use.
type Registrar struct {
	s *settings
}

// New validates cfg and returns a Registrar. The Config is copied; later
// changes to it have no effect.
func New(cfg Config) (*Registrar, error) {
	s, err := cfg.validate()
	if err != nil {
		return nil, err
	}
	return &Registrar{s: s}, nil
}

// Enabled reports whether clients can register: anonymously, with an
// initial access token, or both. The authorization server advertises
// registration_endpoint (the value of [Registrar.Endpoint]) only when it
// is.
func (r *Registrar) Enabled() bool {
	return r.s.anonymous != nil || r.s.authenticated != nil
}

// Endpoint returns the registration endpoint URL, Config.Endpoint.
func (r *Registrar) Endpoint() string { return r.s.endpoint }

// Path returns the URL path of the registration endpoint. The handler
// serves exactly this path and the paths one segment below it.
func (r *Registrar) Path() string { return r.s.path }

// Handler returns the endpoint's handler. It routes on the request's URL
// path, which must be the endpoint's own path ([Registrar.Path], e.g.
// "/register": POST registers, OPTIONS answers CORS preflight) or that
// path followed by "/" and a client_id (the registration_client_uri: GET,
// PUT, DELETE and OPTIONS); anything else is 404. Mount it on both
// patterns, as [Registrar.Mount] does, and do not strip the prefix.
//
// Other methods get 405 with an Allow header. Every answer is JSON with
// Cache-Control: no-store, except 204s.
func (r *Registrar) Handler() http.Handler {
	return http.HandlerFunc(r.serveHTTP)
}

// Mount registers the handler on mux for Path() and Path()+"/".
func (r *Registrar) Mount(mux *http.ServeMux) {
	h := r.Handler()
	mux.Handle(r.s.path, h)
	mux.Handle(r.s.path+"/", h)
}

// MintInitialAccessToken creates an initial access token (RFC 7591 §3) for
// registration under the named policy, which must be Config.Authenticated's
// Name. The token allows uses registrations within ttl, both of which must
// be positive; it is stored only as a hash and spent atomically, one use
// per successful validation of a registration request. Hand the returned
// value to the client developer; it cannot be recovered later.
func (r *Registrar) MintInitialAccessToken(ctx context.Context, policyName string, uses int, ttl time.Duration) (string, error) {
	p := r.s.authenticated
	if p == nil {
		return "", fmt.Errorf("%w %q: Config.Authenticated is nil, so initial access tokens are not accepted", ErrUnknownPolicy, policyName)
	}
	if policyName != p.name {
		return "", fmt.Errorf("%w %q (the authenticated policy is %q)", ErrUnknownPolicy, policyName, p.name)
	}
	if uses < 1 {
		return "", errors.New("dcr: an initial access token needs at least one use")
	}
	if ttl <= 0 {
		return "", errors.New("dcr: an initial access token needs a positive lifetime")
	}
	tok, err := r.s.random(32)
	if err != nil {
		return "", err
	}
	now := r.s.now()
	err = r.s.store.SaveInitialAccessToken(ctx, &storage.InitialAccessToken{
		Hash:          storage.HashOf(tok),
		Policy:        p.name,
		ExpiresAt:     now.Add(ttl),
		RemainingUses: uses,
		CreatedAt:     now,
	})
	if err != nil {
		return "", fmt.Errorf("dcr: saving initial access token: %w", err)
	}
	r.s.log.InfoContext(ctx, "dcr: initial access token minted", "policy", p.name, "uses", uses, "expires_at", now.Add(ttl))
	return tok, nil
}

func (r *Registrar) serveHTTP(w http.ResponseWriter, req *http.Request) {
	path := req.URL.Path
	switch {
	case path == r.s.path:
		switch req.Method {
		case http.MethodOptions:
			r.s.preflight(w, req, false)
		case http.MethodPost:
			r.register(w, req)
		default:
			r.methodNotAllowed(w, req, "OPTIONS, "+methodsCollection)
		}
	case strings.HasPrefix(path, r.s.path+"/"):
		id := path[len(r.s.path)+1:]
		if id == "" || strings.Contains(id, "/") {
			http.NotFound(w, req)
			return
		}
		switch req.Method {
		case http.MethodOptions:
			r.s.preflight(w, req, true)
		case http.MethodGet, http.MethodPut, http.MethodDelete:
			r.manage(w, req, id)
		default:
			r.methodNotAllowed(w, req, "OPTIONS, "+methodsItem)
		}
	default:
		http.NotFound(w, req)
	}
}

func (r *Registrar) methodNotAllowed(w http.ResponseWriter, req *http.Request, allow string) {
	r.fail(w, req, nil, &regError{
		status: http.StatusMethodNotAllowed, code: codeInvalidRequest,
		desc: "method " + quote(req.Method) + " is not allowed here", allow: allow,
	})
}

// fail logs and writes an error answer. When the request has an Origin that
// the applicable policy p (or, with p nil, any policy) allows, the CORS
// headers are set so that a browser client can read the error.
func (r *Registrar) fail(w http.ResponseWriter, req *http.Request, p *compiledPolicy, e *regError) {
	if origin := req.Header.Get("Origin"); origin != "" {
		addVaryOrigin(w.Header())
		if (p != nil && p.originAllowed(origin)) || (p == nil && r.s.anyPolicyAllowsOrigin(origin)) {
			allowCORS(w, origin)
		}
	}
	level := slog.LevelInfo
	if e.status >= 500 {
		level = slog.LevelError
	}
	attrs := []slog.Attr{
		slog.String("method", req.Method),
		slog.Int("status", e.status),
		slog.String("error", e.code),
		slog.String("reason", e.desc),
	}
	if e.policy != "" {
		attrs = append(attrs, slog.String("policy", e.policy))
	}
	if a := r.s.clientIP(req); a.IsValid() {
		attrs = append(attrs, slog.String("caller", a.String()))
	}
	if e.cause != nil {
		attrs = append(attrs, slog.String("cause", e.cause.Error()))
	}
	r.s.log.LogAttrs(req.Context(), level, "dcr: request refused", attrs...)
	writeError(w, e)
}

// gate applies the checks that depend only on who is calling, before the
// body is read: web origin, rate limit, caller address. p must not be nil.
func (r *Registrar) gate(req *http.Request, p *compiledPolicy, now time.Time) *regError {
	if origin := req.Header.Get("Origin"); origin != "" && !p.originAllowed(origin) {
		return deniedErr(p, "web origin %s is not an allowed registration web origin", quote(origin))
	}
	ip := r.s.clientIP(req)
	if ok, wait := p.limiter.allow(ip, now); !ok {
		e := policyErr(p, codeTemporarilyUnavail, "too many registration requests from this address; retry later")
		e.status = http.StatusTooManyRequests
		e.retryAfter = retryAfterSeconds(wait)
		return e
	}
	if !p.callerTrusted(ip) {
		what := "the caller address"
		if ip.IsValid() {
			what += " " + ip.String()
		}
		return deniedErr(p, "%s is not a trusted host", what)
	}
	return nil
}

// bearerToken extracts an RFC 6750 bearer token. present reports whether
// the request had an Authorization header at all.
func bearerToken(req *http.Request) (tok string, present bool, e *regError) {
	vals := req.Header.Values("Authorization")
	if len(vals) == 0 {
		return "", false, nil
	}
	if len(vals) > 1 {
		return "", true, tokenErr(false, "more than one Authorization header")
	}
	v := vals[0]
	const scheme = "bearer "
	if len(v) <= len(scheme) || !strings.EqualFold(v[:len(scheme)], scheme) {
		return "", true, tokenErr(false, "the Authorization header must carry a Bearer token")
	}
	tok = strings.TrimLeft(v[len(scheme):], " ")
	if !validB64Token(tok) {
		return "", true, tokenErr(false, "the bearer token is malformed")
	}
	return tok, true, nil
}

// maxTokenLength bounds an initial or registration access token taken from
// the Authorization header; the tokens this package issues are 45 bytes.
// A longer one is refused as malformed before it is hashed.
const maxTokenLength = 512

// validB64Token checks the b64token syntax of RFC 6750 §2.1.
func validB64Token(s string) bool {
	if s == "" || len(s) > maxTokenLength {
		return false
	}
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			break
		}
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

// random returns n random bytes, base64url-encoded without padding. The
// alphabet has neither ':' nor '/', so a client_id made this way can never
// be mistaken for a Client ID Metadata Document URL.
func (s *settings) random(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", fmt.Errorf("dcr: reading randomness: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
