package dcr_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// TestRegistrationRefused covers bodies and callers that must be refused
// with the right status and error code, and must leave nothing stored.
func TestRegistrationRefused(t *testing.T) {
	deep := `{"redirect_uris":["http://127.0.0.1/cb"],"x":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`
	huge := `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"` + strings.Repeat("a", dcr.MaxBodyBytes) + `"}`
	const pub = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}`
	const priv = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}`

	tests := []struct {
		name   string
		mutate func(*dcr.Config)
		r      req
		status int
		code   string
		desc   string
	}{
		{"javascript redirect", nil, req{body: `{"redirect_uris":["javascript:alert(1)"],"token_endpoint_auth_method":"none"}`},
			400, "invalid_redirect_uri", "javascript"},
		{"data redirect", nil, req{body: `{"redirect_uris":["data:text/html,hi"]}`},
			400, "invalid_redirect_uri", "data"},
		{"fragment in redirect", nil, req{body: `{"redirect_uris":["https://app.example.com/cb#x"]}`},
			400, "invalid_redirect_uri", "fragment"},
		{"http non-loopback redirect for a web client", nil, req{body: `{"application_type":"web","redirect_uris":["http://app.example.com/cb"]}`},
			400, "invalid_redirect_uri", "https"},
		{"http non-loopback redirect without application_type", nil, req{body: `{"redirect_uris":["http://app.example.com/cb"]}`},
			400, "invalid_redirect_uri", "loopback"},
		{"http non-loopback redirect for a native client", nil, req{body: `{"application_type":"native","redirect_uris":["http://app.example.com/cb"]}`},
			400, "invalid_redirect_uri", ""},
		{"web client on loopback", nil, req{body: `{"application_type":"web","redirect_uris":["http://localhost:6274/oauth/callback"]}`},
			400, "invalid_redirect_uri", "web application"},
		{"userinfo in redirect", nil, req{body: `{"redirect_uris":["https://user@app.example.com/cb"]}`},
			400, "invalid_redirect_uri", "userinfo"},
		{"missing redirect_uris", nil, req{body: `{"token_endpoint_auth_method":"none"}`},
			400, "invalid_redirect_uri", "required"},
		{"redirect_uris not an array", nil, req{body: `{"redirect_uris":"https://app.example.com/cb"}`},
			400, "invalid_client_metadata", "redirect_uris"},
		{"jwks with jwks_uri", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks_uri":"https://app.example.com/jwks","jwks":{"keys":[` + pub + `]}}`},
			400, "invalid_client_metadata", "jwks"},
		{"private_key_jwt without keys", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"private_key_jwt"}`},
			400, "invalid_client_metadata", "requires jwks or jwks_uri"},
		{"jwks with a private key", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[` + priv + `]}}`},
			400, "invalid_client_metadata", "private key material"},
		{"code response type without authorization_code", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_basic","grant_types":["client_credentials"],"response_types":["code"]}`},
			400, "invalid_client_metadata", "requires the authorization_code"},
		{"authorization_code without code response type", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"grant_types":["authorization_code"],"response_types":["token"]}`},
			400, "invalid_client_metadata", "response type"},
		{"implicit grant", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"grant_types":["implicit"],"response_types":["token"]}`},
			400, "invalid_client_metadata", "implicit"},
		{"only unsupported grant types", nil, req{body: `{"grant_types":["urn:ietf:params:oauth:grant-type:device_code"],"token_endpoint_auth_method":"none"}`},
			400, "invalid_client_metadata", "none of the requested grant types"},
		{"authorization_code not offered", func(c *dcr.Config) { c.GrantTypesSupported = []string{"client_credentials"} },
			req{body: `{"redirect_uris":["https://app.example.com/cb"]}`},
			400, "invalid_client_metadata", "authorization_code is not supported"},
		{"unsupported auth method", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_dns":"a.example"}`},
			400, "invalid_client_metadata", "'tls_client_auth' is not supported"},
		{"self_signed_tls_client_auth not offered", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"self_signed_tls_client_auth","jwks_uri":"https://app.example.com/jwks"}`},
			400, "invalid_client_metadata", "'self_signed_tls_client_auth' is not supported"},
		{"tls_client_auth without subject", mtlsOffered, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"tls_client_auth"}`},
			400, "invalid_client_metadata", "exactly one of tls_client_auth_subject_dn"},
		{"tls_client_auth with a malformed DN", mtlsOffered, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_subject_dn":"CN=a;O=b"}`},
			400, "invalid_client_metadata", "tls_client_auth_subject_dn"},
		{"subject member with a secret", mtlsOffered, req{body: `{"redirect_uris":["https://app.example.com/cb"],"tls_client_auth_san_ip":"192.0.2.1"}`},
			400, "invalid_client_metadata", "only allowed with token_endpoint_auth_method tls_client_auth"},
		{"self_signed_tls_client_auth key without x5c", mtlsOffered, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"self_signed_tls_client_auth","jwks":{"keys":[` + pub + `]}}`},
			400, "invalid_client_metadata", "x5c"},
		{"unknown auth method", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"magic"}`},
			400, "invalid_client_metadata", "magic"},
		{"oversize body", nil, req{body: huge}, 400, "invalid_client_metadata", "exceeds"},
		{"wrong content type", nil, req{body: vscodeBody, ctype: "text/plain"}, 400, "invalid_client_metadata", "Content-Type"},
		{"form content type", nil, req{body: "redirect_uris=x", ctype: "application/x-www-form-urlencoded"}, 400, "invalid_client_metadata", "Content-Type"},
		{"no content type", nil, req{body: vscodeBody, ctype: "-"}, 400, "invalid_client_metadata", "Content-Type"},
		{"invalid JSON", nil, req{body: `{"redirect_uris":["https://app.example.com/cb"]`}, 400, "invalid_client_metadata", "JSON"},
		{"JSON array", nil, req{body: `[{"redirect_uris":["https://app.example.com/cb"]}]`}, 400, "invalid_client_metadata", "object"},
		{"trailing data", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"]} {}`}, 400, "invalid_client_metadata", ""},
		{"deep nesting", nil, req{body: deep}, 400, "invalid_client_metadata", "deeper"},
		{"duplicate member", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"redirect_uris":["https://evil.example.net/cb"]}`},
			400, "invalid_client_metadata", "more than once"},
		{"control character in client_name", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"a\u0007b"}`},
			400, "invalid_client_metadata", "control character"},
		{"bidi override in client_name", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"evil\u202eexe"}`},
			400, "invalid_client_metadata", "bidirectional"},
		{"disallowed origin", nil, req{body: inspectorBody, headers: map[string]string{"Origin": "https://evil.example.net"}},
			403, "access_denied", "web origin 'https://evil.example.net' is not an allowed"},
		{"origin differing only by trailing slash", nil, req{body: inspectorBody, headers: map[string]string{"Origin": inspectorOrig + "/"}},
			403, "access_denied", "web origin"},
		{"untrusted caller address", nil, req{body: vscodeBody, remote: strangerCaller},
			403, "access_denied", "policy 'anonymous': the caller address 203.0.113.9 is not a trusted host"},
		{"disallowed scope", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"scope":"mcp:tools admin"}`},
			400, "invalid_client_metadata", "policy 'anonymous': scope 'admin' is not an allowed client scope"},
		{"unsupported scope", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"scope":"mcp:tools nope"}`},
			400, "invalid_client_metadata", "scope 'nope' is not supported"},
		{"scope with a forbidden character", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"scope":"mcp\"tools"}`},
			400, "invalid_client_metadata", "scope"},
		{"redirect to an untrusted host", nil, req{body: `{"redirect_uris":["https://evil.example.net/cb"]}`},
			400, "invalid_redirect_uri", "policy 'anonymous': redirect URI 'https://evil.example.net/cb': host 'evil.example.net' is not a trusted host"},
		{"client_uri on an untrusted host", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"client_uri":"https://evil.example.net/"}`},
			400, "invalid_client_metadata", "client_uri"},
		{"logo_uri on an untrusted host", nil, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"logo_uri":"https://evil.example.net/logo.png"}`},
			400, "invalid_client_metadata", "logo_uri"},
		{"private-use scheme has no host to trust", nil, req{body: `{"application_type":"native","redirect_uris":["com.example.app:/cb"]}`},
			400, "invalid_redirect_uri", "has no host"},
		{"single-label private-use scheme", func(c *dcr.Config) { c.Anonymous.SkipURIHostCheck = true },
			req{body: `{"application_type":"native","redirect_uris":["cursor://anysphere.cursor-mcp/oauth/callback"]}`},
			400, "invalid_redirect_uri", "reverse-domain"},
		{"loopback spelled oddly", nil, req{body: `{"redirect_uris":["http://127.1/cb"]}`},
			400, "invalid_redirect_uri", ""},
		{"GET on the endpoint", nil, req{method: http.MethodGet}, 405, "invalid_request", "GET"},
		{"registration disabled", func(c *dcr.Config) { c.Anonymous = nil }, req{body: vscodeBody},
			403, "access_denied", "disabled"},
		{"anonymous disabled, no initial access token", func(c *dcr.Config) {
			c.Anonymous, c.Authenticated = nil, anonymousPolicy()
		}, req{body: vscodeBody}, 401, "invalid_token", "initial access token is required"},
		{"unknown initial access token", func(c *dcr.Config) { c.Authenticated = anonymousPolicy() },
			req{body: vscodeBody, headers: bearer("bm90LWEtdG9rZW4")}, 401, "invalid_token", "not valid"},
		{"initial access token not accepted", nil, req{body: vscodeBody, headers: bearer("c29tZS10b2tlbg")},
			401, "invalid_token", "does not accept initial access tokens"},
		{"Basic authorization", func(c *dcr.Config) { c.Authenticated = anonymousPolicy() },
			req{body: vscodeBody, headers: map[string]string{"Authorization": "Basic dXNlcjpwYXNz"}}, 401, "invalid_token", "Bearer"},
		{"malformed bearer token", func(c *dcr.Config) { c.Authenticated = anonymousPolicy() },
			req{body: vscodeBody, headers: map[string]string{"Authorization": "Bearer a b"}}, 401, "invalid_token", "malformed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.mutate)
			rec := f.do(t, tt.r)
			assertError(t, rec, tt.status, tt.code, tt.desc)
			if n := f.count(t); n != 0 {
				t.Errorf("%d clients stored after a refused registration", n)
			}
			if tt.status == http.StatusForbidden && rec.Header().Get("Access-Control-Allow-Origin") != "" {
				t.Error("a refused origin got Access-Control-Allow-Origin")
			}
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without a Bearer challenge: %q", rec.Header().Get("WWW-Authenticate"))
			}
			if tt.status == http.StatusMethodNotAllowed && rec.Header().Get("Allow") != "OPTIONS, POST" {
				t.Errorf("Allow = %q", rec.Header().Get("Allow"))
			}
		})
	}
}

func TestMissingInitialAccessTokenChallenge(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) { c.Anonymous, c.Authenticated = nil, anonymousPolicy() })
	rec := f.do(t, req{body: vscodeBody})
	// RFC 6750 §3.1: no error code in the challenge when no token was sent.
	if got := rec.Header().Get("WWW-Authenticate"); got != "Bearer" {
		t.Errorf("WWW-Authenticate = %q, want a bare Bearer challenge", got)
	}
}

func TestInitialAccessTokenExpired(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) { c.Anonymous, c.Authenticated = nil, anonymousPolicy() })
	tok, err := f.reg.MintInitialAccessToken(context.Background(), "anonymous", 5, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute + time.Second)
	rec := f.do(t, req{body: vscodeBody, headers: bearer(tok)})
	assertError(t, rec, http.StatusUnauthorized, "invalid_token", "expired")
	if f.count(t) != 0 {
		t.Error("client stored with an expired initial access token")
	}
}

func TestClientLimit(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) { c.MaxClients = 2 })
	f.mustRegister(t, vscodeBody, nil)
	f.mustRegister(t, vscodeBody, nil)
	rec := f.do(t, req{body: vscodeBody})
	assertError(t, rec, http.StatusForbidden, "access_denied", "limit of 2 registered clients")
	if f.count(t) != 2 {
		t.Errorf("%d clients, want 2", f.count(t))
	}
}

func TestRouting(t *testing.T) {
	f := newFixture(t, nil)
	for _, p := range []string{"/register/", "/registerx", "/register/a/b", "/other"} {
		rec := f.do(t, req{method: http.MethodGet, path: p})
		if rec.Code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, rec.Code)
		}
	}
	rec := f.do(t, req{method: http.MethodPost, path: "/register/abc", body: vscodeBody})
	if rec.Code != http.StatusMethodNotAllowed || rec.Header().Get("Allow") != "OPTIONS, GET, PUT, DELETE" {
		t.Errorf("POST on a client URI: %d Allow %q", rec.Code, rec.Header().Get("Allow"))
	}
	rec = f.do(t, req{method: http.MethodOptions})
	if rec.Code != http.StatusNoContent || rec.Header().Get("Allow") != "OPTIONS, POST" || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("plain OPTIONS: %d %v", rec.Code, rec.Header())
	}
}

func TestPreflight(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do(t, req{method: http.MethodOptions, headers: map[string]string{
		"Origin": "https://evil.example.net", "Access-Control-Request-Method": "POST",
	}})
	if rec.Code != http.StatusForbidden || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("preflight from an unlisted origin: %d, ACAO %q", rec.Code, rec.Header().Get("Access-Control-Allow-Origin"))
	}
	rec = f.do(t, req{method: http.MethodOptions, path: "/register/abc", headers: map[string]string{
		"Origin": inspectorOrig, "Access-Control-Request-Method": "PUT",
	}})
	if rec.Code != http.StatusNoContent || rec.Header().Get("Access-Control-Allow-Methods") != "GET, PUT, DELETE" {
		t.Errorf("preflight on a client URI: %d, methods %q", rec.Code, rec.Header().Get("Access-Control-Allow-Methods"))
	}

	// "*" allows every origin, and only when listed.
	f = newFixture(t, func(c *dcr.Config) { c.Anonymous.AllowedWebOrigins = []string{"*"} })
	rec = f.do(t, req{method: http.MethodOptions, headers: map[string]string{"Origin": "https://any.example.org"}})
	if rec.Header().Get("Access-Control-Allow-Origin") != "https://any.example.org" {
		t.Errorf("wildcard origin: %v", rec.Header())
	}
	f = newFixture(t, func(c *dcr.Config) { c.Anonymous.AllowedWebOrigins = nil })
	rec = f.do(t, req{body: inspectorBody, headers: map[string]string{"Origin": inspectorOrig}})
	assertError(t, rec, http.StatusForbidden, "access_denied", "web origin")
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*dcr.Config)
		want   string
	}{
		{"no store", func(c *dcr.Config) { c.Store = nil }, "Store"},
		{"no endpoint", func(c *dcr.Config) { c.Endpoint = "" }, "Endpoint"},
		{"http endpoint", func(c *dcr.Config) { c.Endpoint = "http://as.example.com/register" }, "https"},
		{"root endpoint", func(c *dcr.Config) { c.Endpoint = "https://as.example.com/" }, "path"},
		{"trailing slash", func(c *dcr.Config) { c.Endpoint = "https://as.example.com/register/" }, "path"},
		{"query", func(c *dcr.Config) { c.Endpoint = "https://as.example.com/register?x=1" }, "query"},
		{"unnamed policy", func(c *dcr.Config) { c.Anonymous.Name = "" }, "Name"},
		{"zero policy", func(c *dcr.Config) { c.Anonymous = &dcr.Policy{Name: "p"} }, "TrustedHosts"},
		{"caller check with host names only", func(c *dcr.Config) { c.Anonymous.TrustedHosts = []string{"*.example.com"} }, "caller check"},
		{"bad origin", func(c *dcr.Config) { c.Anonymous.AllowedWebOrigins = []string{"http://localhost:6274/"} }, "origin"},
		{"bad host pattern", func(c *dcr.Config) { c.Anonymous.TrustedHosts = []string{"127.0.0.1", "a/b"} }, "TrustedHosts"},
		{"allowed scope not supported", func(c *dcr.Config) { c.Anonymous.AllowedClientScopes = []string{"x"} }, "SupportedScopes"},
		{"default scope not supported", func(c *dcr.Config) { c.DefaultScopes = []string{"x"} }, "SupportedScopes"},
		{"client_secret_jwt", func(c *dcr.Config) { c.TokenEndpointAuthMethodsSupported = []string{"client_secret_jwt"} }, "client_secret_jwt"},
		{"implicit offered", func(c *dcr.Config) { c.GrantTypesSupported = []string{"implicit"} }, "implicit"},
		{"negative secret lifetime", func(c *dcr.Config) { c.SecretLifetime = -time.Second }, "SecretLifetime"},
		{"negative rate", func(c *dcr.Config) { c.Anonymous.RateLimit = -1 }, "RateLimit"},
		{"register all allowed without a list", func(c *dcr.Config) {
			c.Anonymous.AllowedClientScopes = nil
			c.Anonymous.RegisterAllAllowedScopes = true
		}, "RegisterAllAllowedScopes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := baseConfig(nil, newClock(), &syncBuffer{})
			cfg.Store = newFixture(t, nil).store
			tt.mutate(&cfg)
			_, err := dcr.New(cfg)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New: %v, want an error mentioning %q", err, tt.want)
			}
		})
	}
}

// failingStore answers ErrUnavailable where told to.
type failingStore struct {
	*memory.Store
	create, get, revoke bool
}

func (s *failingStore) CreateClient(ctx context.Context, c *storage.Client, limit int) error {
	if s.create {
		return fmt.Errorf("dial tcp: %w", storage.ErrUnavailable)
	}
	return s.Store.CreateClient(ctx, c, limit)
}

func (s *failingStore) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if s.get {
		return nil, storage.ErrUnavailable
	}
	return s.Store.GetClient(ctx, id)
}

func (s *failingStore) RevokeClientGrants(ctx context.Context, id string, at time.Time) error {
	if s.revoke {
		return storage.ErrUnavailable
	}
	return s.Store.RevokeClientGrants(ctx, id, at)
}

func TestStoreUnavailable(t *testing.T) {
	fs := &failingStore{}
	f := newFixture(t, func(c *dcr.Config) {
		fs.Store = c.Store.(*memory.Store)
		c.Store = fs
	})
	m := f.mustRegister(t, vscodeBody, nil)
	auth := bearer(m.str("registration_access_token"))

	fs.create = true
	rec := f.do(t, req{body: vscodeBody})
	assertError(t, rec, http.StatusServiceUnavailable, "temporarily_unavailable", "")
	if strings.Contains(rec.Body.String(), "dial tcp") {
		t.Error("internal error leaked to the client")
	}
	if !strings.Contains(f.logs.String(), "dial tcp") {
		t.Error("internal error not logged")
	}
	fs.revoke = true
	rec = f.do(t, req{method: http.MethodDelete, path: itemPath(m), headers: auth})
	assertError(t, rec, http.StatusServiceUnavailable, "temporarily_unavailable", "")
	if _, err := f.store.GetClient(context.Background(), m.str("client_id")); err != nil {
		t.Errorf("client deleted although its grants could not be revoked: %v", err)
	}
	fs.get = true
	rec = f.do(t, req{method: http.MethodGet, path: itemPath(m), headers: auth})
	assertError(t, rec, http.StatusServiceUnavailable, "temporarily_unavailable", "")
}

// TestRateLimiterIsBounded checks that the per-address limiters are kept
// in a bounded LRU: with room for two addresses, two newcomers push the
// first address out, and it starts again with a full bucket.
func TestRateLimiterIsBounded(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.RateLimitAddresses = 2
		c.Anonymous.RateLimit = rate.Every(time.Hour)
		c.Anonymous.RateBurst = 1
		c.Anonymous.TrustedHosts = append(c.Anonymous.TrustedHosts, "192.0.2.0/24")
	})
	f.mustRegister(t, vscodeBody, nil)
	if rec := f.do(t, req{body: vscodeBody}); rec.Code != http.StatusTooManyRequests {
		t.Fatalf("second request: %d", rec.Code)
	}
	for _, addr := range []string{"192.0.2.1:1", "192.0.2.2:1"} {
		if rec := f.do(t, req{body: vscodeBody, remote: addr}); rec.Code != http.StatusCreated {
			t.Fatalf("%s: %d %s", addr, rec.Code, rec.Body)
		}
	}
	if rec := f.do(t, req{body: vscodeBody}); rec.Code != http.StatusCreated {
		t.Errorf("evicted address still limited: %d", rec.Code)
	}
}

func TestIPv6CallersShareASlash64(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.Anonymous.RateLimit = rate.Every(time.Hour)
		c.Anonymous.RateBurst = 1
		c.Anonymous.TrustedHosts = append(c.Anonymous.TrustedHosts, "2001:db8::/32")
	})
	if rec := f.do(t, req{body: vscodeBody, remote: "[2001:db8:1:2::1]:5"}); rec.Code != http.StatusCreated {
		t.Fatalf("first: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do(t, req{body: vscodeBody, remote: "[2001:db8:1:2::ffff]:5"}); rec.Code != http.StatusTooManyRequests {
		t.Errorf("same /64: %d, want 429", rec.Code)
	}
	if rec := f.do(t, req{body: vscodeBody, remote: "[2001:db8:1:3::1]:5"}); rec.Code != http.StatusCreated {
		t.Errorf("other /64: %d", rec.Code)
	}
}

// mtlsOffered offers the mutual-TLS methods (RFC 8705), as package authz
// does when its Config.MTLS enables them.
func mtlsOffered(c *dcr.Config) {
	c.TokenEndpointAuthMethodsSupported = []string{"none", "client_secret_basic", "tls_client_auth", "self_signed_tls_client_auth"}
}
