package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

func TestNewValidation(t *testing.T) {
	base := func() Config {
		c := testConfig()
		c.Issuer = "https://as.example.com"
		return c
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string // substring of the error
	}{
		{"no issuer", func(c *Config) { c.Issuer = "" }, "Issuer is required"},
		{"http issuer", func(c *Config) { c.Issuer = "http://as.example.com" }, "https"},
		{"trailing slash", func(c *Config) { c.Issuer = "https://as.example.com/" }, "slash"},
		{"query", func(c *Config) { c.Issuer = "https://as.example.com?x=1" }, "query"},
		{"fragment", func(c *Config) { c.Issuer = "https://as.example.com#f" }, "fragment"},
		{"no interaction URL", func(c *Config) { c.InteractionURL = "" }, "InteractionURL"},
		{"protocol-relative interaction URL", func(c *Config) { c.InteractionURL = "//evil.example/login" }, "InteractionURL"},
		{"http interaction URL", func(c *Config) { c.InteractionURL = "http://login.example/" }, "InteractionURL"},
		{"code lifetime too long", func(c *Config) { c.CodeLifetime = 11 * time.Minute }, "CodeLifetime"},
		{"grace too long", func(c *Config) { c.RefreshGracePeriod = 2 * time.Minute }, "RefreshGracePeriod"},
		{"grant shorter than refresh", func(c *Config) { c.GrantLifetime = time.Hour }, "GrantLifetime"},
		{"bad scope name", func(c *Config) { c.Scopes = append(c.Scopes, Scope{Name: "a b"}) }, "invalid scope"},
		{"duplicate scope", func(c *Config) { c.Scopes = append(c.Scopes, Scope{Name: "mcp:tools"}) }, "duplicate scope"},
		{"resource scope undeclared", func(c *Config) { c.Resources[0].Scopes = []string{"nope"} }, "not in Config.Scopes"},
		{"resource with fragment", func(c *Config) { c.Resources = append(c.Resources, Resource{Identifier: "https://x.example/#f"}) }, "absolute URI"},
		{"duplicate resource", func(c *Config) {
			c.Resources = append(c.Resources, Resource{Identifier: "HTTPS://MCP.example.com/mcp"})
		}, "duplicate resource"},
		{"unknown default resource", func(c *Config) { c.DefaultResource = "https://nowhere.example/" }, "DefaultResource"},
		{"duplicate client", func(c *Config) { c.Clients = append(c.Clients, c.Clients[0]) }, "duplicate client_id"},
		{"short secret", func(c *Config) {
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "x", RedirectURIs: []string{httpsCallback}}, Secret: "short"})
		}, "16 characters"},
		{"http redirect on a public host", func(c *Config) {
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "x", RedirectURIs: []string{"http://app.example/cb"}}})
		}, "invalid redirect URI"},
		{"public client_credentials", func(c *Config) {
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "x", GrantTypes: []string{"client_credentials"}}})
		}, "confidential"},
		{"implicit grant", func(c *Config) {
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "x", RedirectURIs: []string{httpsCallback}, GrantTypes: []string{"implicit"}}})
		}, "unsupported grant type"},
		{"private key in jwks", func(c *Config) {
			k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			raw, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k, KeyID: "k"}}})
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "x", GrantTypes: []string{"client_credentials"}, JWKS: raw}})
		}, "public keys only"},
		{"P-384 key", func(c *Config) {
			k, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
			c.Keys = []crypto.Signer{k}
		}, "P-256"},
		{"small RSA key", func(c *Config) {
			k, _ := rsa.GenerateKey(rand.Reader, 1024)
			c.Keys = []crypto.Signer{k}
		}, "2048"},
		{"CIMD flag without policies", func(c *Config) { c.ClientIDMetadataDocuments = true }, "ClientIDMetadataDocuments"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			_, err := New(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v, want error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(base()); err != nil {
		t.Fatalf("valid config refused: %v", err)
	}
}

func TestMetadataEverywhereClientsProbe(t *testing.T) {
	for _, path := range []string{"", "/tenant"} {
		t.Run("path="+path, func(t *testing.T) {
			cfg := testConfig()
			cfg.Issuer = "https://as.example.com" + path
			srv, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			h := srv.Handler()
			urls := []string{"/.well-known/oauth-authorization-server" + path, "/.well-known/openid-configuration" + path}
			if path != "" {
				urls = append(urls, path+"/.well-known/openid-configuration", "/.well-known/oauth-authorization-server")
			}
			for _, u := range urls {
				rec := serve(h, http.MethodGet, u, nil)
				if rec.StatusCode != 200 || rec.Header.Get("Access-Control-Allow-Origin") != "*" {
					t.Fatalf("%s: %d %v", u, rec.StatusCode, rec.Header)
				}
				var md map[string]any
				if err := json.NewDecoder(rec.Body).Decode(&md); err != nil {
					t.Fatal(err)
				}
				if md["issuer"] != cfg.Issuer || md["authorization_endpoint"] != cfg.Issuer+"/authorize" || md["token_endpoint"] != cfg.Issuer+"/token" {
					t.Fatalf("%s: %v", u, md)
				}
				if md["authorization_response_iss_parameter_supported"] != true {
					t.Fatalf("%s: iss parameter not advertised", u)
				}
				if !equalAny(md["code_challenge_methods_supported"], "S256") || !equalAny(md["response_types_supported"], "code") {
					t.Fatalf("%s: %v", u, md)
				}
				if !containsAny(md["token_endpoint_auth_methods_supported"], "none") || !containsAny(md["grant_types_supported"], "refresh_token") ||
					containsAny(md["grant_types_supported"], "implicit") {
					t.Fatalf("%s: %v", u, md)
				}
				if _, ok := md["registration_endpoint"]; ok {
					t.Fatalf("%s: registration advertised without registration", u)
				}
				if _, ok := md["client_id_metadata_document_supported"]; ok {
					t.Fatalf("%s: CIMD advertised without a policy", u)
				}
				isOIDC := strings.Contains(u, "openid-configuration")
				if _, ok := md["subject_types_supported"]; ok != isOIDC {
					t.Fatalf("%s: subject_types_supported present=%v", u, ok)
				}
			}
			for _, ep := range []string{"/authorize", "/token", "/revoke", "/introspect", "/jwks"} {
				rec := serve(h, http.MethodOptions, path+ep, nil)
				if rec.StatusCode == http.StatusNotFound {
					t.Fatalf("%s not mounted", path+ep)
				}
			}
			if path != "" {
				if rec := serve(h, http.MethodGet, "/authorize", nil); rec.StatusCode != http.StatusNotFound {
					t.Fatalf("/authorize at the root for a path issuer: %d", rec.StatusCode)
				}
			}
		})
	}
	t.Run("openid disabled", func(t *testing.T) {
		cfg := testConfig()
		cfg.Issuer = "https://as.example.com"
		cfg.DisableOpenIDConfiguration = true
		srv, _ := New(cfg)
		if rec := serve(srv.Handler(), http.MethodGet, "/.well-known/openid-configuration", nil); rec.StatusCode != 404 {
			t.Fatalf("status %d", rec.StatusCode)
		}
	})
}

func equalAny(v any, want ...string) bool {
	l, ok := v.([]any)
	if !ok || len(l) != len(want) {
		return false
	}
	for i := range l {
		if l[i] != want[i] {
			return false
		}
	}
	return true
}

func containsAny(v any, s string) bool {
	l, _ := v.([]any)
	return slices.Contains(l, any(s))
}

type result struct {
	StatusCode int
	Header     http.Header
	Body       io.Reader
}

// serve runs one request against a handler in process.
func serve(h http.Handler, method, target string, body io.Reader) *result {
	req, _ := http.NewRequest(method, "https://as.example.com"+target, body)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	w := &recorder{h: http.Header{}}
	h.ServeHTTP(w, req)
	return &result{StatusCode: w.status, Header: w.h, Body: strings.NewReader(w.body.String())}
}

type recorder struct {
	h      http.Header
	status int
	body   strings.Builder
}

func (w *recorder) Header() http.Header { return w.h }
func (w *recorder) WriteHeader(s int) {
	if w.status == 0 {
		w.status = s
	}
}
func (w *recorder) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = 200
	}
	return w.body.Write(p)
}

func TestAuthorizationEndpointHasNoCORS(t *testing.T) {
	e := newEnv(t)
	req, _ := http.NewRequest(http.MethodOptions, e.ts.URL+"/authorize", nil)
	req.Header.Set("Origin", "https://evil.example")
	resp, err := noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("OPTIONS /authorize: %d %v", resp.StatusCode, resp.Header)
	}
	resp = e.get("/authorize?" + authorizeParams().Encode())
	resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatal("CORS header on the authorization endpoint")
	}
	// The token endpoint answers preflights.
	req, _ = http.NewRequest(http.MethodOptions, e.ts.URL+"/token", nil)
	resp, err = noFollow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || !strings.Contains(resp.Header.Get("Access-Control-Allow-Headers"), "MCP-Protocol-Version") {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
}

func TestKeysRS256AndEdDSA(t *testing.T) {
	rk, _ := rsa.GenerateKey(rand.Reader, 2048)
	_, ek, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name string
		key  crypto.Signer
		alg  string
	}{{"RS256", rk, "RS256"}, {"EdDSA", ek, "EdDSA"}} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.Keys = []crypto.Signer{tc.key} })
			status, tj := e.exchange(e.code(authorizeParams()))
			if status != 200 {
				t.Fatalf("exchange: %d %+v", status, tj)
			}
			ks := fetchJWKS(t, e.issuer+"/jwks")
			if len(ks.Keys) != 1 || ks.Keys[0].Algorithm != tc.alg {
				t.Fatalf("JWKS = %+v", ks.Keys)
			}
			verifyJWT(t, ks, tj.AccessToken)
			if m := e.introspect(tj.AccessToken); m["active"] != true {
				t.Fatalf("introspect: %v", m)
			}
		})
	}
}

func TestKeysSharedThroughStoreAndRotation(t *testing.T) {
	ctx := context.Background()
	st := memory.New(memory.Options{})
	mk := func() *Server {
		cfg := testConfig()
		cfg.Issuer = "https://as.example.com"
		cfg.Store = st
		srv, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	a, b := mk(), mk()
	kidA, kidB := a.keys.Load().active.kid, b.keys.Load().active.kid
	if kidA != kidB {
		t.Fatalf("nodes sharing a store sign with different keys: %s %s", kidA, kidB)
	}
	keys, _ := st.ListKeys(ctx)
	if len(keys) != 1 || keys[0].Algorithm != "ES256" || keys[0].ID != kidA {
		t.Fatalf("stored keys: %+v", keys)
	}
	tok, err := a.IssueAccessToken(ctx, TokenRequest{Subject: "alice", ClientID: publicID, Resources: []string{testResource}})
	if err != nil {
		t.Fatal(err)
	}
	if err := a.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	// The new key is published first and signs only after
	// KeyPublicationDelay (rotation_test.go follows the whole schedule).
	if a.keys.Load().active.kid != kidA {
		t.Fatal("RotateKey signs with the new key before publishing it")
	}
	keys, _ = st.ListKeys(ctx)
	if len(keys) != 2 || keys[1].ID == kidA {
		t.Fatalf("stored keys after rotation: %+v", keys)
	}
	newKid := keys[1].ID
	if _, err := a.VerificationKey(ctx, newKid); err != nil {
		t.Fatalf("new key not published on the rotating node: %v", err)
	}
	// The old key still verifies; node b learns the new kid on demand.
	if _, err := a.VerificationKey(ctx, kidA); err != nil {
		t.Fatalf("retired key no longer published: %v", err)
	}
	if c, err := a.parseAccessToken(ctx, tok); err != nil || c.Subject != "alice" {
		t.Fatalf("token signed before rotation: %v", err)
	}
	if _, err := b.VerificationKey(ctx, newKid); err != nil {
		t.Fatalf("node b does not find the rotated key: %v", err)
	}
	if _, err := a.VerificationKey(ctx, "unknown"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("unknown kid: %v", err)
	}
	// Configured keys cannot be rotated through the store.
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	cfg := testConfig()
	cfg.Issuer = "https://as.example.com"
	cfg.Keys = []crypto.Signer{k}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.RotateKey(ctx); err == nil {
		t.Fatal("RotateKey with Config.Keys succeeded")
	}
}

func TestClientCredentials(t *testing.T) {
	e := newEnv(t)
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}, "scope": {"mcp:tools unknown"}}, confID, confSecret))
	if status != 200 || tj.RefreshToken != "" || tj.Scope != "mcp:tools" {
		t.Fatalf("%d %+v", status, tj)
	}
	c := verifyJWT(t, fetchJWKS(t, e.issuer+"/jwks"), tj.AccessToken)
	if c.Subject != confID || c.ClientID != confID || c.Audience[0] != testResource || strings.Contains(c.ID, ".") {
		t.Fatalf("claims %+v", c)
	}
	// The seed guide's audience mapper: a scope with an audience and no
	// resource parameter.
	status, tj = decodeToken(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"other:read"}}, confID, confSecret))
	if status != 200 {
		t.Fatalf("%d %+v", status, tj)
	}
	if c := verifyJWT(t, fetchJWKS(t, e.issuer+"/jwks"), tj.AccessToken); c.Audience[0] != otherResource || c.Scope != "other:read" {
		t.Fatalf("claims %+v", c)
	}
}

func TestSecretPostAndFormEncodedBasic(t *testing.T) {
	odd := "odd:id with+space"
	oddSecret := "s3cr3t:with%&+chars"
	e := newEnv(t, func(c *Config) {
		c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: odd, GrantTypes: []string{"client_credentials"}}, Secret: oddSecret})
		c.DefaultResource = testResource
	})
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}}, odd, oddSecret))
	if status != 200 {
		t.Fatalf("form-encoded Basic: %d %+v", status, tj)
	}
	// A client that does not form-encode its secret is accepted too.
	req, _ := http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(odd), oddSecret)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if status, tj = decodeToken(t, resp); status != 200 {
		t.Fatalf("raw Basic secret: %d %+v", status, tj)
	}
	req, _ = http.NewRequest(http.MethodPost, e.issuer+"/token", strings.NewReader("grant_type=client_credentials"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(odd), oddSecret+"x")
	resp, _ = http.DefaultClient.Do(req)
	if status, tj = decodeToken(t, resp); status != 401 || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong raw secret: %d %+v", status, tj)
	}
	// x/oauth2-style code flow with client_secret_post.
	v := authorizeParams()
	v.Set("client_id", postID)
	v.Set("redirect_uri", httpsCallback)
	code := e.code(v)
	status, tj = decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {testVerifier},
		"client_id": {postID}, "client_secret": {postSecret}}, "", ""))
	if status != 200 || tj.RefreshToken == "" {
		t.Fatalf("client_secret_post: %d %+v", status, tj)
	}
}

func TestPrivateKeyJWT(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: key.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	e := newEnv(t, func(c *Config) {
		c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "pkj", JWKS: jwks, GrantTypes: []string{"client_credentials"}}, MayIntrospect: true})
		c.DefaultResource = testResource
	})
	signer, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: "k1"}}, nil)
	assertion := func(edit func(*jwt.Claims)) string {
		now := e.clock.Now()
		c := jwt.Claims{Issuer: "pkj", Subject: "pkj", Audience: jwt.Audience{e.issuer + "/token"}, ID: "jti-" + now.String() + rand.Text(),
			Expiry: jwt.NewNumericDate(now.Add(time.Minute)), IssuedAt: jwt.NewNumericDate(now)}
		if edit != nil {
			edit(&c)
		}
		s, err := jwt.Signed(signer).Claims(c).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	try := func(a string) (int, tokenJSON) {
		return decodeToken(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {clientAssertionTypeJWT}, "client_assertion": {a}}, "", ""))
	}
	good := assertion(nil)
	if status, tj := try(good); status != 200 {
		t.Fatalf("valid assertion: %d %+v", status, tj)
	}
	if status, tj := try(good); status != 401 || tj.Error != "invalid_client" {
		t.Fatalf("replayed assertion: %d %+v", status, tj)
	}
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte("0123456789abcdef0123456789abcdef")}, nil)
	hsTok, _ := jwt.Signed(hs).Claims(jwt.Claims{Issuer: "pkj", Subject: "pkj", Audience: jwt.Audience{e.issuer}, ID: "x", Expiry: jwt.NewNumericDate(e.clock.Now().Add(time.Minute))}).Serialize()
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	otherSigner, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: other, KeyID: "k1"}}, nil)
	forged, _ := jwt.Signed(otherSigner).Claims(jwt.Claims{Issuer: "pkj", Subject: "pkj", Audience: jwt.Audience{e.issuer}, ID: "y", Expiry: jwt.NewNumericDate(e.clock.Now().Add(time.Minute))}).Serialize()
	for name, a := range map[string]string{
		"HS256":          hsTok,
		"wrong key":      forged,
		"wrong audience": assertion(func(c *jwt.Claims) { c.Audience = jwt.Audience{"https://other.example/token"} }),
		"no exp":         assertion(func(c *jwt.Claims) { c.Expiry = nil }),
		"exp too far":    assertion(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(e.clock.Now().Add(time.Hour)) }),
		"expired":        assertion(func(c *jwt.Claims) { c.Expiry = jwt.NewNumericDate(e.clock.Now().Add(-5 * time.Minute)) }),
		"sub differs":    assertion(func(c *jwt.Claims) { c.Subject = "someone" }),
		"no jti":         assertion(func(c *jwt.Claims) { c.ID = "" }),
		"unknown client": assertion(func(c *jwt.Claims) { c.Issuer, c.Subject = "nobody", "nobody" }),
		"secret client":  assertion(func(c *jwt.Claims) { c.Issuer, c.Subject = confID, confID }),
	} {
		if status, tj := try(a); status != 401 || tj.Error != "invalid_client" {
			t.Errorf("%s: %d %+v", name, status, tj)
		}
	}
	// The issuer is an accepted audience too, and the client may introspect.
	a := assertion(func(c *jwt.Claims) { c.Audience = jwt.Audience{e.issuer} })
	resp := e.post("/introspect", url.Values{"token": {"x"}, "client_assertion_type": {clientAssertionTypeJWT}, "client_assertion": {a}}, "", "")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("introspection with private_key_jwt: %d", resp.StatusCode)
	}
}

func TestIntrospectionVisibility(t *testing.T) {
	e := newEnv(t)
	v := authorizeParams()
	v.Set("client_id", confID)
	v.Set("redirect_uri", httpsCallback)
	code := e.code(v)
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {testVerifier}}, confID, confSecret))
	if status != 200 {
		t.Fatalf("%d %+v", status, tj)
	}
	ask := func(id, secret, token string) map[string]any {
		form := url.Values{"token": {token}}
		if id == postID {
			form.Set("client_id", id)
			form.Set("client_secret", secret)
			id, secret = "", ""
		}
		resp := e.post("/introspect", form, id, secret)
		defer resp.Body.Close()
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("introspection response is cacheable")
		}
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return m
	}
	if m := ask(confID, confSecret, tj.AccessToken); m["active"] != true || m["client_id"] != confID || m["scope"] != "mcp:tools" || m["token_type"] != "Bearer" {
		t.Fatalf("own token: %v", m)
	}
	if m := ask(postID, postSecret, tj.AccessToken); m["active"] != false || len(m) != 1 {
		t.Fatalf("another client's token: %v", m)
	}
	if m := ask(rsID, rsSecret, tj.RefreshToken); m["active"] != true || m["token_type"] != "refresh_token" {
		t.Fatalf("refresh token for the resource server: %v", m)
	}
	if m := ask(rsID, rsSecret, "garbage.garbage.garbage"); m["active"] != false {
		t.Fatalf("garbage: %v", m)
	}
	e.clock.Advance(DefaultAccessTokenLifetime + time.Second)
	if m := ask(rsID, rsSecret, tj.AccessToken); m["active"] != false {
		t.Fatalf("expired token: %v", m)
	}
}

func TestRevocation(t *testing.T) {
	e := newEnv(t)
	status, tj := e.exchange(e.code(authorizeParams()))
	if status != 200 {
		t.Fatal(status)
	}
	// Another client cannot revoke it.
	resp := e.post("/revoke", url.Values{"token": {tj.AccessToken}}, confID, confSecret)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke by another client: %d", resp.StatusCode)
	}
	if m := e.introspect(tj.AccessToken); m["active"] != true {
		t.Fatal("another client revoked the token")
	}
	// The owner revokes the access token: its grant goes, with the refresh token.
	resp = e.post("/revoke", url.Values{"token": {tj.AccessToken}, "token_type_hint": {"whatever"}, "client_id": {publicID}}, "", "")
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if m := e.introspect(tj.AccessToken); m["active"] != false {
		t.Fatal("revoked access token is active")
	}
	if m := e.introspect(tj.RefreshToken); m["active"] != false {
		t.Fatal("refresh token of a revoked grant is active")
	}
}

func TestInteraction(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	park := func(v url.Values) string {
		resp := e.get("/authorize?" + v.Encode())
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != 303 || !strings.HasPrefix(loc, "/login?request_id=") {
			t.Fatalf("authorize: %d %q", resp.StatusCode, loc)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Fatal("interaction redirect is cacheable")
		}
		return strings.TrimPrefix(loc, "/login?request_id=")
	}
	v := authorizeParams()
	v.Set("scope", "mcp:tools mcp:prompts unknown")
	id := park(v)
	pd, err := e.srv.PendingRequest(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if pd.ClientName != "Public <b>App</b>" || pd.ClientKind != storage.ClientStatic || pd.RedirectHost != "127.0.0.1" || pd.LoopbackOnly {
		t.Fatalf("pending = %+v", pd)
	}
	if len(pd.Scopes) != 2 || pd.Scopes[0] != (ScopeInfo{"mcp:tools", "Use tools"}) || pd.Scopes[1].Name != "mcp:prompts" {
		t.Fatalf("scopes = %+v", pd.Scopes)
	}
	if len(pd.Resources) != 1 || pd.Resources[0] != (ResourceInfo{testResource, "Test MCP"}) {
		t.Fatalf("resources = %+v", pd.Resources)
	}
	call := func(f func(w http.ResponseWriter, r *http.Request) error) (*recorder, error) {
		w := &recorder{h: http.Header{}}
		r, _ := http.NewRequest(http.MethodPost, "https://host.example/login", nil)
		return w, f(w, r)
	}
	// Approvals that are not allowed leave the request in place.
	if _, err := call(func(w http.ResponseWriter, r *http.Request) error {
		return e.srv.Approve(w, r, id, Approval{Subject: "alice", Scopes: []string{"admin"}})
	}); err == nil {
		t.Fatal("approved an unrequested scope")
	}
	if _, err := call(func(w http.ResponseWriter, r *http.Request) error {
		return e.srv.Approve(w, r, id, Approval{Subject: publicID})
	}); err == nil {
		t.Fatal("approved with subject = client_id")
	}
	if _, err := call(func(w http.ResponseWriter, r *http.Request) error { return e.srv.Approve(w, r, id, Approval{}) }); err == nil {
		t.Fatal("approved without subject")
	}
	w, err := call(func(w http.ResponseWriter, r *http.Request) error {
		return e.srv.Approve(w, r, id, Approval{Subject: "bob", Scopes: []string{"mcp:prompts"}})
	})
	if err != nil || w.status != 303 {
		t.Fatalf("Approve: %v %d", err, w.status)
	}
	u, _ := url.Parse(w.h.Get("Location"))
	if !strings.HasPrefix(u.String(), callback+"?") || u.Query().Get("state") != "st-123" || u.Query().Get("iss") != e.issuer {
		t.Fatalf("Location = %s", u)
	}
	// The request is consumed: a second completion fails without redirecting.
	w, err = call(func(w http.ResponseWriter, r *http.Request) error { return e.srv.Deny(w, r, id) })
	if !errors.Is(err, ErrRequestNotFound) || w.status != 400 || w.h.Get("Location") != "" {
		t.Fatalf("second completion: %v %d", err, w.status)
	}
	status, tj := e.exchange(u.Query().Get("code"))
	if status != 200 || tj.Scope != "mcp:prompts" {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	if c := verifyJWT(t, fetchJWKS(t, e.issuer+"/jwks"), tj.AccessToken); c.Subject != "bob" {
		t.Fatalf("sub = %q", c.Subject)
	}
	grants, err := e.srv.ListGrants(ctx, "bob")
	if err != nil || len(grants) != 1 || grants[0].ClientID != publicID {
		t.Fatalf("grants = %+v, %v", grants, err)
	}
	if err := e.srv.RevokeGrant(ctx, grants[0].ID); err != nil {
		t.Fatal(err)
	}
	if m := e.introspect(tj.AccessToken); m["active"] != false {
		t.Fatal("token of a revoked grant is active")
	}

	// Deny redirects with access_denied, state and iss.
	id = park(authorizeParams())
	w, err = call(func(w http.ResponseWriter, r *http.Request) error { return e.srv.Deny(w, r, id) })
	if err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(w.h.Get("Location"))
	if q := u.Query(); q.Get("error") != "access_denied" || q.Get("state") != "st-123" || q.Get("iss") != e.issuer || q.Has("code") {
		t.Fatalf("deny: %s", u)
	}

	// An expired parked request.
	id = park(authorizeParams())
	e.clock.Advance(DefaultRequestLifetime + time.Second)
	if _, err := e.srv.PendingRequest(ctx, id); !errors.Is(err, ErrRequestNotFound) {
		t.Fatalf("expired request: %v", err)
	}
}

func TestScopeDefaultsAndAudiences(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Scopes = append(c.Scopes, Scope{Name: "mapped", Audiences: []string{testResource}})
		c.Resources[0].Scopes = append(c.Resources[0].Scopes, "mapped")
		c.Resources[1].AccessTokenLifetime = 5 * time.Minute
	})
	grant := func(v url.Values) tokenJSON {
		t.Helper()
		status, tj := e.exchange(e.code(v))
		if status != 200 {
			t.Fatalf("%d %+v", status, tj)
		}
		return tj
	}
	ks := fetchJWKS(t, e.issuer+"/jwks")
	// No scope: the Default scopes.
	v := authorizeParams()
	v.Del("scope")
	if tj := grant(v); tj.Scope != "mcp:tools" {
		t.Fatalf("default scope = %q", tj.Scope)
	}
	// No resource: the scope's audience (audience mapper).
	v = authorizeParams()
	v.Del("resource")
	v.Set("scope", "mapped")
	if c := verifyJWT(t, ks, grant(v).AccessToken); len(c.Audience) != 1 || c.Audience[0] != testResource {
		t.Fatalf("aud = %v", c.Audience)
	}
	// Two resources: an array audience; narrowing at the token endpoint.
	v = authorizeParams()
	v.Add("resource", otherResource)
	v.Set("scope", "mcp:tools other:read")
	code := e.code(v)
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {testVerifier}, "client_id": {publicID}}, "", ""))
	if status != 200 {
		t.Fatal(status)
	}
	raw := strings.Split(tj.AccessToken, ".")[1]
	if c := verifyJWT(t, ks, tj.AccessToken); len(c.Audience) != 2 || c.Expiry-c.IssuedAt != 300 {
		t.Fatalf("claims = %+v (%s)", c, raw)
	}
	status, tj = decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {publicID},
		"resource": {"HTTPS://MCP.EXAMPLE.COM/mcp"}, "scope": {"mcp:tools"}}, "", ""))
	if status != 200 || tj.Scope != "mcp:tools" {
		t.Fatalf("narrowed refresh: %d %+v", status, tj)
	}
	if c := verifyJWT(t, ks, tj.AccessToken); len(c.Audience) != 1 || c.Audience[0] != testResource {
		t.Fatalf("narrowed aud = %v", c.Audience)
	}
	// The refresh token keeps the whole grant: the other resource is still
	// reachable with the rotated token.
	status, tj = decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {publicID},
		"resource": {otherResource}}, "", ""))
	if status != 200 {
		t.Fatalf("refresh for the other resource: %d %+v", status, tj)
	}
}

// TestNarrowingDownScopes checks RFC 8707 §2.2 down-scoping: a token for
// one of two granted resources carries only the scopes that resource
// accepts, in the JWT and in the response, while the refresh token keeps
// the whole grant.
func TestNarrowingDownScopes(t *testing.T) {
	e := newEnv(t)
	ks := fetchJWKS(t, e.issuer+"/jwks")
	v := authorizeParams()
	v.Add("resource", otherResource)
	v.Set("scope", "mcp:tools other:read")
	code := e.code(v)
	token := func(form url.Values) tokenJSON {
		t.Helper()
		form.Set("client_id", publicID)
		status, tj := decodeToken(t, e.post("/token", form, "", ""))
		if status != 200 {
			t.Fatalf("%v: %d %+v", form, status, tj)
		}
		return tj
	}
	check := func(tj tokenJSON, aud []string, scope string) {
		t.Helper()
		c := verifyJWT(t, ks, tj.AccessToken)
		if !slices.Equal([]string(c.Audience), aud) || c.Scope != scope || tj.Scope != scope {
			t.Fatalf("aud %v, scope claim %q, response scope %q; want %v and %q", c.Audience, c.Scope, tj.Scope, aud, scope)
		}
	}
	// The code exchanged for the other resource only.
	tj := token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {testVerifier}, "resource": {otherResource}})
	check(tj, []string{otherResource}, "other:read")
	// Refresh for the MCP resource: the refresh token still holds both.
	tj = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "resource": {testResource}})
	check(tj, []string{testResource}, "mcp:tools")
	// Without resource: both audiences, both scopes.
	tj = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}})
	check(tj, []string{testResource, otherResource}, "mcp:tools other:read")
	// A scope narrowed to one the resource does not accept leaves nothing
	// to grant: invalid_scope, and the refresh token is not spent.
	rt := tj.RefreshToken
	status, bad := decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {publicID}, "resource": {otherResource}, "scope": {"mcp:tools"}}, "", ""))
	if status != 400 || bad.Error != "invalid_scope" {
		t.Fatalf("no applicable scope: %d %+v", status, bad)
	}
	tj = token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "resource": {otherResource}})
	check(tj, []string{otherResource}, "other:read")
}

// TestNarrowedCodeExchangeNeverFailsOnScope: the code is consumed before
// the grant's scopes are known, so a code exchange narrowed to a resource
// that accepts none of them gets a token without scopes instead of an
// error; the grant stays usable.
func TestNarrowedCodeExchangeNeverFailsOnScope(t *testing.T) {
	e := newEnv(t)
	ks := fetchJWKS(t, e.issuer+"/jwks")
	v := authorizeParams()
	v.Add("resource", otherResource)
	v.Set("scope", "mcp:tools")
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {e.code(v)},
		"code_verifier": {testVerifier}, "client_id": {publicID}, "resource": {otherResource}}, "", ""))
	if status != 200 {
		t.Fatalf("narrowed exchange: %d %+v", status, tj)
	}
	if c := verifyJWT(t, ks, tj.AccessToken); c.Scope != "" || tj.Scope != "" || len(c.Audience) != 1 || c.Audience[0] != otherResource {
		t.Fatalf("aud %v, scope claim %q, response scope %q; want only the other resource and no scope", c.Audience, c.Scope, tj.Scope)
	}
	status, tj = decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken},
		"client_id": {publicID}}, "", ""))
	if status != 200 || tj.Scope != "mcp:tools" {
		t.Fatalf("refresh after the narrowed exchange: %d %+v", status, tj)
	}
}

// TestNarrowedRefreshOfflineAccessAlone: offline_access alone does not
// count as a scope the resource accepts, so a refresh narrowed to a
// resource that accepts none of the real scopes is refused, before the
// refresh token is spent.
func TestNarrowedRefreshOfflineAccessAlone(t *testing.T) {
	e := newEnv(t)
	v := authorizeParams()
	v.Add("resource", otherResource)
	v.Set("scope", "mcp:tools offline_access")
	status, tj := e.exchange(e.code(v))
	if status != 200 || tj.Scope != "mcp:tools offline_access" {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	rt := tj.RefreshToken
	status, bad := decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {publicID}, "resource": {otherResource}}, "", ""))
	if status != 400 || bad.Error != "invalid_scope" {
		t.Fatalf("refresh narrowed to a resource for none of the scopes: %d %+v", status, bad)
	}
	status, tj = decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt},
		"client_id": {publicID}, "resource": {testResource}}, "", ""))
	if status != 200 || tj.Scope != "mcp:tools offline_access" {
		t.Fatalf("refresh after the refusal: %d %+v", status, tj)
	}
}

// failAfter is a random source that fails its n-th read after being
// armed, once.
type failAfter struct {
	mu    sync.Mutex
	armed int // reads left until the failing one; 0 when disarmed
}

func (f *failAfter) arm(n int) { f.mu.Lock(); f.armed = n; f.mu.Unlock() }

func (f *failAfter) Read(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.armed > 0 {
		if f.armed--; f.armed == 0 {
			return 0, errors.New("entropy source failed")
		}
	}
	return rand.Read(p)
}

// TestRefreshFailureKeepsRefreshToken: a refresh that fails inside the
// server (here its random source, on the second read) must not have
// rotated the presented token first, or the client's retry would be
// taken for reuse and revoke the grant.
func TestRefreshFailureKeepsRefreshToken(t *testing.T) {
	src := &failAfter{}
	e := newEnv(t, func(c *Config) { c.Rand = src })
	status, tj := e.exchange(e.code(authorizeParams()))
	if status != 200 || tj.RefreshToken == "" {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {publicID}}
	src.arm(2)
	status, bad := decodeToken(t, e.post("/token", form, "", ""))
	if status != 500 || bad.Error != "server_error" {
		t.Fatalf("refresh with a failing random source: %d %+v", status, bad)
	}
	if status, tj = decodeToken(t, e.post("/token", form, "", "")); status != 200 || tj.AccessToken == "" {
		t.Fatalf("retry: %d %+v", status, tj)
	}
}

func TestRefreshPolicies(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy RefreshTokenPolicy
		scope  string
		want   bool
	}{
		{"default", RefreshWhenAllowed, "mcp:tools", true},
		{"offline required, absent", RefreshOnOfflineAccess, "mcp:tools", false},
		{"offline required, present", RefreshOnOfflineAccess, "mcp:tools offline_access", true},
		{"never", RefreshNever, "mcp:tools offline_access", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.RefreshTokens = tc.policy })
			v := authorizeParams()
			v.Set("scope", tc.scope)
			status, tj := e.exchange(e.code(v))
			if status != 200 || (tj.RefreshToken != "") != tc.want {
				t.Fatalf("%d refresh=%q", status, tj.RefreshToken)
			}
		})
	}
}

func TestRefreshGracePeriod(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshGracePeriod = 10 * time.Second })
	form := refreshForm(e)
	if status, tj := decodeToken(t, e.post("/token", form, "", "")); status != 200 {
		t.Fatalf("first: %d %+v", status, tj)
	}
	e.clock.Advance(5 * time.Second)
	if status, tj := decodeToken(t, e.post("/token", form, "", "")); status != 200 {
		t.Fatalf("parallel refresh within grace: %d %+v", status, tj)
	}
	e.clock.Advance(10 * time.Second)
	if status, tj := decodeToken(t, e.post("/token", form, "", "")); status != 400 || tj.Error != "invalid_grant" {
		t.Fatalf("reuse after grace: %d %+v", status, tj)
	}
}

// TestRefreshGraceCoversEveryRecentRotation pins what Config.RefreshGracePeriod
// documents: not only the immediately previous token but any token of the
// family rotated within the period may be used again, and each such reuse
// yields a working token; the period runs from the token's first rotation.
func TestRefreshGraceCoversEveryRecentRotation(t *testing.T) {
	e := newEnv(t, func(c *Config) { c.RefreshGracePeriod = 10 * time.Second })
	refresh := func(rt string) (int, tokenJSON) {
		return decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}, "client_id": {publicID}}, "", ""))
	}
	t0 := refreshForm(e).Get("refresh_token")
	status, tj := refresh(t0) // t0 rotated at 0 s
	if status != 200 {
		t.Fatalf("t0: %d %+v", status, tj)
	}
	t1 := tj.RefreshToken
	e.clock.Advance(2 * time.Second)
	status, tj = refresh(t1) // t1 rotated at 2 s
	if status != 200 {
		t.Fatalf("t1: %d %+v", status, tj)
	}
	t2 := tj.RefreshToken
	e.clock.Advance(2 * time.Second)
	// t0 is two rotations back, and still within 10 s of its rotation.
	status, tj = refresh(t0)
	if status != 200 || tj.RefreshToken == "" {
		t.Fatalf("t0 two rotations back, within the period: %d %+v", status, tj)
	}
	fork := tj.RefreshToken
	if status, tj := refresh(fork); status != 200 {
		t.Fatalf("token from a grace reuse: %d %+v", status, tj)
	}
	if status, tj := refresh(t2); status != 200 {
		t.Fatalf("the other branch: %d %+v", status, tj)
	}
	// 11 s after t0's rotation (9 s after t1's): t0 is refused, and its
	// reuse revokes the whole family.
	e.clock.Advance(7 * time.Second)
	if status, tj := refresh(t0); status != 400 || tj.Error != "invalid_grant" {
		t.Fatalf("t0 after the period: %d %+v", status, tj)
	}
	if status, tj := refresh(t1); status != 400 || tj.Error != "invalid_grant" {
		t.Fatalf("t1 after the family was revoked: %d %+v", status, tj)
	}
}

func TestConcurrentCodeRedemption(t *testing.T) {
	e := newEnv(t)
	for round := range 5 {
		code := e.code(authorizeParams())
		var wg sync.WaitGroup
		statuses := make([]int, 8)
		errs := make([]string, 8)
		for i := range statuses {
			wg.Add(1)
			go func() {
				defer wg.Done()
				statuses[i], errs[i] = func() (int, string) {
					s, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {testVerifier}, "client_id": {publicID}}, "", ""))
					return s, tj.Error
				}()
			}()
		}
		wg.Wait()
		ok := 0
		for i, s := range statuses {
			switch {
			case s == 200:
				ok++
			case s != 400 || errs[i] != "invalid_grant":
				t.Fatalf("round %d: status %d %q", round, s, errs[i])
			}
		}
		// At most one winner; a valid replay racing the winner may revoke
		// the grant before the winner stores its refresh token, and then
		// nobody gets tokens, which is the safe outcome.
		if ok > 1 {
			t.Fatalf("round %d: %d successful redemptions of one code", round, ok)
		}
	}
}

// flakyStore fails chosen operations with storage.ErrUnavailable.
type flakyStore struct {
	*memory.Store
	down bool
}

func (s *flakyStore) ConsumeCode(ctx context.Context, h storage.Hash) (*storage.AuthorizationCode, error) {
	if s.down {
		return nil, storage.ErrUnavailable
	}
	return s.Store.ConsumeCode(ctx, h)
}

func (s *flakyStore) SaveAuthorizationRequest(ctx context.Context, r *storage.AuthorizationRequest) error {
	if s.down {
		return storage.ErrUnavailable
	}
	return s.Store.SaveAuthorizationRequest(ctx, r)
}

func TestStoreUnavailable(t *testing.T) {
	var fs *flakyStore
	e := newEnv(t, func(c *Config) {
		fs = &flakyStore{Store: c.Store.(*memory.Store)}
		c.Store = fs
	})
	code := e.code(authorizeParams())
	fs.down = true
	resp := e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {testVerifier}, "client_id": {publicID}}, "", "")
	status, tj := decodeToken(t, resp)
	if status != 503 || tj.Error != "server_error" || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("token with the store down: %d %+v", status, tj)
	}
	resp = e.get("/authorize?" + authorizeParams().Encode())
	resp.Body.Close()
	u, _ := url.Parse(resp.Header.Get("Location"))
	if resp.StatusCode != 303 || u.Query().Get("error") != "temporarily_unavailable" || !strings.HasPrefix(u.String(), callback) {
		t.Fatalf("authorize with the store down: %d %s", resp.StatusCode, u)
	}
	fs.down = false
	if status, _ := e.exchange(code); status != 200 {
		t.Fatalf("the code did not survive the outage: %d", status)
	}
}

func TestIssueAccessToken(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok, err := e.srv.IssueAccessToken(ctx, TokenRequest{Subject: "svc", ClientID: "tests", Scopes: []string{"mcp:tools"}, Resources: []string{"https://foreign.example/"}})
	if err != nil {
		t.Fatal(err)
	}
	c := verifyJWT(t, fetchJWKS(t, e.issuer+"/jwks"), tok)
	if c.Audience[0] != "https://foreign.example/" || c.Issuer != e.issuer || c.Scope != "mcp:tools" {
		t.Fatalf("claims %+v", c)
	}
	expired, err := e.srv.IssueAccessToken(ctx, TokenRequest{Subject: "svc", ClientID: "tests", Resources: []string{testResource}, Lifetime: -time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if c := verifyJWT(t, fetchJWKS(t, e.issuer+"/jwks"), expired); c.Expiry >= e.clock.Now().Unix() {
		t.Fatal("expired token is not expired")
	}
	if _, err := e.srv.IssueAccessToken(ctx, TokenRequest{Subject: "svc", ClientID: "tests"}); err == nil {
		t.Fatal("token without audience")
	}
}

// TestMetadataDocumentClientThroughPolicy resolves a URL-shaped client_id
// with a policy executor (what cimd's executor does) and runs the flow.
func TestMetadataDocumentClientThroughPolicy(t *testing.T) {
	const cid = "https://client.example.com/oauth/metadata.json"
	resolved := 0
	resolveAtToken := true
	exec := policy.ExecutorFunc(func(ctx context.Context, r *policy.Request) error {
		if r.Event != policy.EventAuthorizationRequest && !resolveAtToken {
			return nil
		}
		if r.ClientID == "https://client.example.com/refused.json" {
			return &policy.Error{Code: "invalid_request", Reason: "document refused"}
		}
		resolved++
		r.Client = &storage.Client{ID: r.ClientID, Kind: storage.ClientMetadataDocument, Metadata: metadata.Client{
			ClientID: r.ClientID, ClientName: "Doc Client", RedirectURIs: []string{"http://127.0.0.1/callback"},
			GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "none"},
			// A document cached for one minute only (the fake clock starts at 12:00).
			ExpiresAt: time.Date(2026, 8, 1, 12, 1, 0, 0, time.UTC)}
		return nil
	})
	cond := policy.ConditionFunc(func(ctx context.Context, r *policy.Request) (bool, error) {
		return strings.HasPrefix(r.ClientID, "https://client.example.com/"), nil
	})
	eng, err := policy.New(policy.NewRegistry(), []policy.Profile{{Name: "cimd", Executors: []policy.ExecutorSpec{{ID: "test-cimd", Executor: exec}}}},
		[]policy.Policy{{Name: "cimd", Conditions: []policy.ConditionSpec{{ID: "test-url", Condition: cond}}, Profiles: []string{"cimd"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Policies = eng; c.ClientIDMetadataDocuments = true })
	if md := e.srv.Metadata(); !md.ClientIDMetadataDocumentSupported {
		t.Fatal("CIMD not advertised")
	}
	v := authorizeParams()
	v.Set("client_id", cid)
	v.Set("redirect_uri", "http://127.0.0.1:50000/callback")
	resp := e.get("/authorize?" + v.Encode())
	resp.Body.Close()
	id := strings.TrimPrefix(resp.Header.Get("Location"), "/login?request_id=")
	pd, err := e.srv.PendingRequest(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if pd.ClientKind != storage.ClientMetadataDocument || pd.ClientIDHost != "client.example.com" || !pd.LoopbackOnly || pd.ClientName != "Doc Client" {
		t.Fatalf("pending = %+v", pd)
	}
	stored, err := e.store.GetClient(context.Background(), cid)
	if err != nil || stored.Kind != storage.ClientMetadataDocument {
		t.Fatalf("stored client: %+v %v", stored, err)
	}
	// A slow login outlasts the document's cache lifetime.
	e.clock.Advance(5 * time.Minute)
	w := &recorder{h: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, "/login", nil)
	if err := e.srv.Approve(w, r, id, Approval{Subject: "alice", Scopes: []string{"mcp:tools"}}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(w.h.Get("Location"))
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {u.Query().Get("code")},
		"code_verifier": {testVerifier}, "client_id": {cid}}, "", ""))
	if status != 200 || tj.RefreshToken == "" {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	if stored, _ := e.store.GetClient(context.Background(), cid); stored.FirstUsedAt.IsZero() || !stored.ExpiresAt.IsZero() {
		t.Fatalf("client not marked used: %+v", stored)
	}
	refresh := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {cid}}
	status, tj = decodeToken(t, e.post("/token", refresh, "", ""))
	if status != 200 {
		t.Fatalf("refresh: %d %+v", status, tj)
	}
	// When no policy resolves the document any more, the stored record
	// alone does not let the client in.
	resolveAtToken = false
	refresh.Set("refresh_token", tj.RefreshToken)
	if status, tj = decodeToken(t, e.post("/token", refresh, "", "")); status != 401 || tj.Error != "invalid_client" {
		t.Fatalf("refresh without a resolving policy: %d %+v", status, tj)
	}
	// A policy refusal is shown, not redirected.
	v.Set("client_id", "https://client.example.com/refused.json")
	resp = e.get("/authorize?" + v.Encode())
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("refused document: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

var _ = io.EOF

func TestDynamicRegistration(t *testing.T) {
	e := newEnv(t, func(c *Config) {
		c.Registration = &dcr.Config{Anonymous: &dcr.Policy{Name: "open", TrustedHosts: []string{"*"}}}
	})
	if md := e.srv.Metadata(); md.RegistrationEndpoint != e.issuer+"/register" {
		t.Fatalf("registration_endpoint = %q", md.RegistrationEndpoint)
	}
	body := `{"client_name":"Registered","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none",
		"grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],"response_types":["code"]}`
	resp, err := http.Post(e.issuer+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var reg metadata.Client
	_ = json.NewDecoder(resp.Body).Decode(&reg)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || reg.ClientID == "" {
		t.Fatalf("register: %d %+v", resp.StatusCode, reg)
	}
	v := authorizeParams()
	v.Set("client_id", reg.ClientID)
	v.Set("redirect_uri", "http://127.0.0.1:40001/callback")
	code := e.code(v)
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {testVerifier}, "client_id": {reg.ClientID}}, "", ""))
	if status != 200 || tj.RefreshToken == "" {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	c, err := e.store.GetClient(context.Background(), reg.ClientID)
	if err != nil || c.FirstUsedAt.IsZero() || !c.ExpiresAt.IsZero() {
		t.Fatalf("registered client not marked used: %+v %v", c, err)
	}
}

// TestPanicIsContained makes a policy executor panic: the handler answers
// 500 server_error instead of dropping the connection, and the server keeps
// serving.
func TestPanicIsContained(t *testing.T) {
	boom := policy.ExecutorFunc(func(ctx context.Context, r *policy.Request) error { panic("executor bug") })
	cond := policy.ConditionFunc(func(ctx context.Context, r *policy.Request) (bool, error) { return r.ClientID == "boom", nil })
	eng, err := policy.New(policy.NewRegistry(), []policy.Profile{{Name: "p", Executors: []policy.ExecutorSpec{{ID: "boom", Executor: boom}}}},
		[]policy.Policy{{Name: "p", Conditions: []policy.ConditionSpec{{ID: "c", Condition: cond}}, Profiles: []string{"p"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(c *Config) { c.Policies = eng })
	v := authorizeParams()
	v.Set("client_id", "boom")
	resp := e.get("/authorize?" + v.Encode())
	resp.Body.Close()
	if resp.StatusCode != 500 || resp.Header.Get("Location") != "" {
		t.Fatalf("panic: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := e.code(authorizeParams()); code == "" {
		t.Fatal("server broken after a panic")
	}
}

func TestErrorDescriptionsAreSafe(t *testing.T) {
	if got := descriptionText("a \"b\" \\ c\x01\u00e9"); got != "a 'b'  c" {
		t.Fatalf("descriptionText = %q", got)
	}
	if got := errRepeated("x\"<script>").Description; strings.Contains(got, "script") {
		t.Fatalf("reflected parameter name: %q", got)
	}
	e := newEnv(t)
	resp := e.post("/token", url.Values{"grant_type": {"client_credentials"}, "\"evil\u00e9": {"1", "2"}}, "", "")
	_, tj := decodeToken(t, resp)
	if tj.Error != "invalid_request" || strings.Contains(tj.ErrorDescription, "evil") {
		t.Fatalf("%+v", tj)
	}
}
