package dcr_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/internal/mtlstest"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

func TestInspectorPreflightAndRegistration(t *testing.T) {
	f := newFixture(t, nil)

	pre := f.do(t, req{method: http.MethodOptions, headers: map[string]string{
		"Origin":                         inspectorOrig,
		"Access-Control-Request-Method":  "POST",
		"Access-Control-Request-Headers": "content-type,mcp-protocol-version",
	}})
	if pre.Code != http.StatusNoContent {
		t.Fatalf("preflight status %d, want 204", pre.Code)
	}
	h := pre.Header()
	if got := h.Get("Access-Control-Allow-Origin"); got != inspectorOrig {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	if got := h.Get("Access-Control-Allow-Methods"); got != "POST" {
		t.Errorf("Access-Control-Allow-Methods = %q, want POST", got)
	}
	allowHeaders := strings.ToLower(h.Get("Access-Control-Allow-Headers"))
	for _, want := range []string{"content-type", "authorization", "mcp-protocol-version"} {
		if !strings.Contains(allowHeaders, want) {
			t.Errorf("Access-Control-Allow-Headers %q lacks %s", allowHeaders, want)
		}
	}
	if h.Get("Access-Control-Max-Age") == "" {
		t.Error("no Access-Control-Max-Age")
	}
	if !slices.Contains(h.Values("Vary"), "Origin") {
		t.Errorf("Vary = %q, want Origin", h.Values("Vary"))
	}
	if h.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials must not be allowed")
	}

	rec := f.do(t, req{body: inspectorBody, headers: map[string]string{
		"Origin":               inspectorOrig,
		"MCP-Protocol-Version": "2025-06-18",
	}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	if got := rec.Header().Get("Access-Control-Allow-Origin"); got != inspectorOrig {
		t.Errorf("Access-Control-Allow-Origin on the answer = %q", got)
	}
	assertNoStore(t, rec)
	if rec.Header().Get("Pragma") != "no-cache" {
		t.Error("no Pragma: no-cache")
	}
	m := decode(t, rec)
	id := m.str("client_id")
	if len(id) < 22 || strings.ContainsAny(id, ":/.") {
		t.Errorf("client_id %q must be long random and never look like a URL", id)
	}
	if _, ok := m["client_secret"]; ok {
		t.Error("a public client (none) must not get a client_secret")
	}
	if _, ok := m["client_secret_expires_at"]; ok {
		t.Error("client_secret_expires_at without a secret")
	}
	if got := m.str("registration_client_uri"); got != endpoint+"/"+id {
		t.Errorf("registration_client_uri = %q", got)
	}
	if rec.Header().Get("Location") != m.str("registration_client_uri") {
		t.Errorf("Location = %q", rec.Header().Get("Location"))
	}
	if m.str("registration_access_token") == "" {
		t.Error("no registration_access_token")
	}
	if got := int64(m["client_id_issued_at"].(float64)); got != f.clock.Now().Unix() {
		t.Errorf("client_id_issued_at = %d", got)
	}
	if m.str("scope") != "mcp:tools mcp:prompts mcp:resources" {
		t.Errorf("scope = %q", m.str("scope"))
	}
	if m.str("token_endpoint_auth_method") != "none" || m.str("client_name") != "MCP Inspector" ||
		m.str("client_uri") != "https://github.com/modelcontextprotocol/inspector" {
		t.Errorf("members not echoed: %v", m)
	}
	if !slices.Equal(m.strs("redirect_uris"), []string{"http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"}) {
		t.Errorf("redirect_uris = %v", m.strs("redirect_uris"))
	}
	if !slices.Equal(m.strs("grant_types"), []string{"authorization_code", "refresh_token"}) {
		t.Errorf("grant_types = %v", m.strs("grant_types"))
	}
	// Omitted application_type is inferred from loopback redirects.
	if m.str("application_type") != "native" {
		t.Errorf("application_type = %q, want native (inferred)", m.str("application_type"))
	}

	sc, err := f.store.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Kind != storage.ClientRegistered || !sc.SecretHash.IsZero() {
		t.Errorf("stored kind %v, secret hash set %v", sc.Kind, !sc.SecretHash.IsZero())
	}
	if !sc.RegistrationTokenHash.Equal(storage.HashOf(m.str("registration_access_token"))) {
		t.Error("the registration access token is not stored as its hash")
	}
	if sc.Metadata.RegistrationAccessToken != "" || sc.Metadata.ClientSecret != "" {
		t.Error("secrets stored in clear")
	}
	if want := f.clock.Now().Add(dcr.DefaultUnusedClientTTL); !sc.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt = %v, want %v", sc.ExpiresAt, want)
	}
	if !strings.Contains(f.logs.String(), "client registered") {
		t.Error("registration not logged")
	}
	if strings.Contains(f.logs.String(), m.str("registration_access_token")) {
		t.Error("the registration access token was logged")
	}
}

func TestInspectorEmptyScopeGetsDefaults(t *testing.T) {
	f := newFixture(t, nil)
	body := strings.Replace(inspectorBody, `"mcp:tools mcp:prompts mcp:resources"`, `""`, 1)
	m := f.mustRegister(t, body, map[string]string{"Origin": inspectorOrig})
	if m.str("scope") != "mcp:tools mcp:resources" {
		t.Errorf("scope = %q, want the default scopes", m.str("scope"))
	}
}

func TestVSCodeFallbackRegistration(t *testing.T) {
	f := newFixture(t, nil)
	m := f.mustRegister(t, vscodeBody, nil)
	// device_code is not offered by this server: dropped, not refused.
	if !slices.Equal(m.strs("grant_types"), []string{"authorization_code", "refresh_token"}) {
		t.Errorf("grant_types = %v", m.strs("grant_types"))
	}
	if m.str("scope") != "mcp:tools mcp:resources" {
		t.Errorf("scope = %q, want the default scopes for a body without scope", m.str("scope"))
	}
	if m.str("application_type") != "native" || m.str("token_endpoint_auth_method") != "none" {
		t.Errorf("application_type %q, auth method %q", m.str("application_type"), m.str("token_endpoint_auth_method"))
	}
	if len(m.strs("redirect_uris")) != 4 {
		t.Errorf("redirect_uris = %v", m.strs("redirect_uris"))
	}
}

// goSDKBody is what the MCP Go SDK v1.8.0 sends (oauthex.RegisterClient
// marshalling the ClientRegistrationMetadata that auth's
// AuthorizationCodeHandler builds): redirect_uris, application_type
// inferred as "native" from the loopback redirect, and no
// token_endpoint_auth_method, so the RFC 7591 default client_secret_basic
// applies and a secret is issued. The SDK treats 201/200 as success and
// reads the RFC 7591 error body only from a 400.
const goSDKBody = `{"redirect_uris":["http://localhost:3000/callback"],"application_type":"native"}`

// TestGoSDKRegistration replays the SDK's request over a real loopback
// HTTP server, with the headers it sets.
func TestGoSDKRegistration(t *testing.T) {
	clk := newClock()
	st := memory.New(memory.Options{Clock: clk.Now})
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	defer srv.Close()
	cfg := baseConfig(st, clk, &syncBuffer{})
	cfg.Endpoint = srv.URL + "/register"
	cfg.SecretLifetime = 30 * 24 * time.Hour
	reg, err := dcr.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	reg.Mount(mux)
	h = mux

	post := func(body string) (*http.Response, map[string]any) {
		t.Helper()
		r, err := http.NewRequest(http.MethodPost, reg.Endpoint(), strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Accept", "application/json")
		resp, err := srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			t.Fatal(err)
		}
		return resp, m
	}
	resp, m := post(goSDKBody)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("status %d: %v", resp.StatusCode, m)
	}
	reply := registration(m)
	id, secret := reply.str("client_id"), reply.str("client_secret")
	if id == "" || secret == "" {
		t.Fatalf("client_id %q, secret issued %v", id, secret != "")
	}
	if reply.str("token_endpoint_auth_method") != "client_secret_basic" || reply.str("application_type") != "native" {
		t.Errorf("auth method %q, application_type %q", reply.str("token_endpoint_auth_method"), reply.str("application_type"))
	}
	if want := float64(clk.Now().Add(cfg.SecretLifetime).Unix()); reply["client_secret_expires_at"] != want {
		t.Errorf("client_secret_expires_at = %v, want %v", reply["client_secret_expires_at"], want)
	}
	if reply.str("registration_client_uri") != srv.URL+"/register/"+id {
		t.Errorf("registration_client_uri = %q", reply.str("registration_client_uri"))
	}
	sc, err := st.GetClient(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	if !sc.SecretHash.Equal(storage.HashOf(secret)) {
		t.Error("secret not stored as its hash")
	}
	if !sc.SecretExpiresAt.Equal(clk.Now().Add(cfg.SecretLifetime)) {
		t.Errorf("SecretExpiresAt = %v", sc.SecretExpiresAt)
	}

	// A refused registration is a 400 with an RFC 7591 error body, which
	// is what the SDK surfaces as a ClientRegistrationError.
	resp, m = post(`{"redirect_uris":["http://evil.example.net/callback"]}`)
	if resp.StatusCode != http.StatusBadRequest || m["error"] != "invalid_redirect_uri" {
		t.Errorf("refused registration: %d %v", resp.StatusCode, m)
	}
}

func TestConfidentialPrivateKeyJWT(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.GrantTypesSupported = []string{"authorization_code", "refresh_token", "client_credentials"}
		c.Anonymous.AllowClientCredentials = true
	})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	jwks, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	body := `{
		"client_name": "Backend agent",
		"redirect_uris": ["https://agent.example.com/oauth/callback"],
		"grant_types": ["authorization_code", "client_credentials", "refresh_token"],
		"token_endpoint_auth_method": "private_key_jwt",
		"jwks": ` + string(jwks) + `,
		"scope": "mcp:tools",
		"x-vendor-extension": {"ignored": true}
	}`
	m := f.mustRegister(t, body, nil)
	if _, ok := m["client_secret"]; ok {
		t.Error("private_key_jwt client got a client_secret")
	}
	if m.str("token_endpoint_auth_method") != "private_key_jwt" || m.str("application_type") != "web" {
		t.Errorf("auth method %q, application_type %q", m.str("token_endpoint_auth_method"), m.str("application_type"))
	}
	if !slices.Equal(m.strs("grant_types"), []string{"authorization_code", "client_credentials", "refresh_token"}) {
		t.Errorf("grant_types = %v", m.strs("grant_types"))
	}
	if _, ok := m["x-vendor-extension"]; ok {
		t.Error("unknown member echoed; it must be ignored")
	}
	var echoed jose.JSONWebKeySet
	raw, _ := json.Marshal(m["jwks"])
	if err := json.Unmarshal(raw, &echoed); err != nil || len(echoed.Keys) != 1 || echoed.Keys[0].KeyID != "k1" {
		t.Errorf("jwks not echoed: %v %s", err, raw)
	}
}

// TestMutualTLSRegistration: where the server offers them, a
// tls_client_auth client registers its one certificate subject and a
// self_signed_tls_client_auth client its certificate (x5c); neither gets
// a secret, both are echoed, and an RFC 7592 update can move the client
// from one subject to another.
func TestMutualTLSRegistration(t *testing.T) {
	f := newFixture(t, mtlsOffered)
	m := f.mustRegister(t, `{"redirect_uris":["https://agent.example.com/cb"],"token_endpoint_auth_method":"tls_client_auth",
		"tls_client_auth_subject_dn":"CN=agent,O=Example,C=US"}`, nil)
	if _, ok := m["client_secret"]; ok {
		t.Error("tls_client_auth client got a client_secret")
	}
	if m.str("tls_client_auth_subject_dn") != "CN=agent,O=Example,C=US" || m.str("token_endpoint_auth_method") != "tls_client_auth" {
		t.Errorf("not echoed: %v", m)
	}
	stored, err := f.store.GetClient(context.Background(), m.str("client_id"))
	if err != nil || stored.Metadata.TLSClientAuthSubjectDN != "CN=agent,O=Example,C=US" {
		t.Fatalf("stored: %+v %v", stored, err)
	}
	rec := f.do(t, req{method: http.MethodPut, path: itemPath(m), headers: bearer(m.str("registration_access_token")),
		body: `{"client_id":"` + m.str("client_id") + `","redirect_uris":["https://agent.example.com/cb"],
		"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_uri":"spiffe://example.com/agent"}`})
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	stored, _ = f.store.GetClient(context.Background(), m.str("client_id"))
	if stored.Metadata.TLSClientAuthSubjectDN != "" || stored.Metadata.TLSClientAuthSANURI != "spiffe://example.com/agent" {
		t.Fatalf("update kept the old subject: %+v", stored.Metadata)
	}

	cert := mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self"}})
	m = f.mustRegister(t, `{"redirect_uris":["https://agent.example.com/cb"],"token_endpoint_auth_method":"self_signed_tls_client_auth",
		"jwks":`+string(mtlstest.JWKS(t, cert))+`}`, nil)
	var echoed jose.JSONWebKeySet
	raw, _ := json.Marshal(m["jwks"])
	if err := json.Unmarshal(raw, &echoed); err != nil || len(echoed.Keys) != 1 || len(echoed.Keys[0].Certificates) != 1 ||
		!echoed.Keys[0].Certificates[0].Equal(cert.Leaf) || m["client_secret"] != nil {
		t.Fatalf("self-signed registration: %v %v", err, m)
	}
}

func TestConfidentialSecretNeverExpiresByDefault(t *testing.T) {
	f := newFixture(t, nil)
	m := f.mustRegister(t, `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_post"}`, nil)
	if len(m.str("client_secret")) < 43 {
		t.Errorf("client_secret %q is not 256 bits", m.str("client_secret"))
	}
	if v, ok := m["client_secret_expires_at"].(float64); !ok || v != 0 {
		t.Errorf("client_secret_expires_at = %v, want 0", m["client_secret_expires_at"])
	}
	// Defaults of RFC 7591 §2 are echoed as server-set members.
	if !slices.Equal(m.strs("grant_types"), []string{"authorization_code"}) || !slices.Equal(m.strs("response_types"), []string{"code"}) {
		t.Errorf("defaults not applied: %v %v", m.strs("grant_types"), m.strs("response_types"))
	}
}

func TestScopeHandling(t *testing.T) {
	tests := []struct {
		name   string
		policy func(*dcr.Policy)
		scope  string // JSON value, "" = member absent
		want   string
	}{
		{"absent gets defaults", nil, "", "mcp:tools mcp:resources"},
		{"empty gets defaults", nil, `""`, "mcp:tools mcp:resources"},
		{"white space only gets defaults", nil, `"  \t "`, "mcp:tools mcp:resources"},
		{"any white space separates, duplicates dropped", nil, `"mcp:tools\tmcp:prompts  mcp:tools\n"`, "mcp:tools mcp:prompts"},
		{"disallowed dropped when configured", func(p *dcr.Policy) { p.DropDisallowedScopes = true }, `"admin mcp:prompts"`, "mcp:prompts"},
		{"unsupported dropped when configured", func(p *dcr.Policy) { p.DropDisallowedScopes = true }, `"nope mcp:prompts"`, "mcp:prompts"},
		{"all dropped falls back to defaults", func(p *dcr.Policy) { p.DropDisallowedScopes = true }, `"admin"`, "mcp:tools mcp:resources"},
		{"defaults filtered by allowed list", func(p *dcr.Policy) { p.AllowedClientScopes = []string{"mcp:resources"} }, "", "mcp:resources"},
		{"allowed list when no default is allowed", func(p *dcr.Policy) { p.AllowedClientScopes = []string{"mcp:prompts"} }, "", "mcp:prompts"},
		{"unrestricted policy allows any supported scope", func(p *dcr.Policy) { p.AllowedClientScopes = nil }, `"admin"`, "admin"},
		{"register all allowed: a subset gets the whole list", registerAll, `"mcp:tools"`, "mcp:tools mcp:prompts mcp:resources offline_access"},
		{"register all allowed: absent scope gets the whole list", registerAll, "", "mcp:tools mcp:prompts mcp:resources offline_access"},
		{"register all allowed: dropped scopes, whole list", func(p *dcr.Policy) { registerAll(p); p.DropDisallowedScopes = true }, `"admin mcp:tools"`, "mcp:tools mcp:prompts mcp:resources offline_access"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, func(c *dcr.Config) {
				if tt.policy != nil {
					tt.policy(c.Anonymous)
				}
			})
			body := `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"`
			if tt.scope != "" {
				body += `,"scope":` + tt.scope
			}
			m := f.mustRegister(t, body+"}", nil)
			if m.str("scope") != tt.want {
				t.Errorf("scope = %q, want %q", m.str("scope"), tt.want)
			}
		})
	}
}

func registerAll(p *dcr.Policy) { p.RegisterAllAllowedScopes = true }

// TestRegisterAllAllowedScopesStillRefuses: registering the whole allowed
// list does not make a scope outside it acceptable, at registration or at
// an RFC 7592 update, and an update keeps the whole list.
func TestRegisterAllAllowedScopesStillRefuses(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) { registerAll(c.Anonymous) })
	rec := f.do(t, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"admin"}`})
	assertError(t, rec, http.StatusBadRequest, "invalid_client_metadata", "not an allowed client scope")
	m := f.mustRegister(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"mcp:tools"}`, nil)
	const all = "mcp:tools mcp:prompts mcp:resources offline_access"
	if m.str("scope") != all {
		t.Fatalf("registered scope %q", m.str("scope"))
	}
	c, err := f.store.GetClient(context.Background(), m.str("client_id"))
	if err != nil || c.Metadata.Scope != all {
		t.Fatalf("stored scope %q (%v)", c.Metadata.Scope, err)
	}
	upd := `{"client_id":"` + m.str("client_id") + `","redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"mcp:prompts"}`
	rec = f.do(t, req{method: http.MethodPut, path: itemPath(m), body: upd, headers: bearer(m.str("registration_access_token"))})
	if rec.Code != http.StatusOK || decode(t, rec).str("scope") != all {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
}

func TestInitialAccessToken(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.Anonymous = nil
		c.Authenticated = &dcr.Policy{Name: "partners", TrustedHosts: []string{"*"}, RateLimit: rate.Inf}
	})
	ctx := context.Background()
	if !f.reg.Enabled() {
		t.Fatal("registration with initial access tokens must count as enabled")
	}
	if _, err := f.reg.MintInitialAccessToken(ctx, "anonymous", 1, time.Hour); !errors.Is(err, dcr.ErrUnknownPolicy) {
		t.Errorf("minting for an unknown policy: %v", err)
	}
	if _, err := f.reg.MintInitialAccessToken(ctx, "partners", 0, time.Hour); err == nil {
		t.Error("zero uses accepted")
	}
	if _, err := f.reg.MintInitialAccessToken(ctx, "partners", 1, 0); err == nil {
		t.Error("zero lifetime accepted")
	}
	tok, err := f.reg.MintInitialAccessToken(ctx, "partners", 2, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"redirect_uris":["https://partner.example.org/cb"],"token_endpoint_auth_method":"none","scope":"admin"}`

	// A body that needs fixing does not spend a use.
	rec := f.do(t, req{body: `{"redirect_uris":["javascript:alert(1)"]}`, headers: bearer(tok)})
	assertError(t, rec, http.StatusBadRequest, "invalid_redirect_uri", "")

	for i := range 2 {
		rec := f.do(t, req{body: body, headers: bearer(tok)})
		if rec.Code != http.StatusCreated {
			t.Fatalf("use %d: status %d: %s", i+1, rec.Code, rec.Body)
		}
	}
	rec = f.do(t, req{body: body, headers: bearer(tok)})
	assertError(t, rec, http.StatusUnauthorized, "invalid_token", "no registrations left")
	if got := rec.Header().Get("WWW-Authenticate"); !strings.Contains(got, `error="invalid_token"`) {
		t.Errorf("WWW-Authenticate = %q", got)
	}
	if f.count(t) != 2 {
		t.Errorf("%d clients stored, want 2", f.count(t))
	}
}

// TestUnusedClientLapses checks the unused-client lifetime and that a
// client the authorization server marked used stays.
func TestUnusedClientLapses(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) { c.UnusedClientTTL = time.Hour })
	ctx := context.Background()
	unused := f.mustRegister(t, vscodeBody, nil)
	used := f.mustRegister(t, vscodeBody, nil)
	if err := f.store.MarkClientUsed(ctx, used.str("client_id"), f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour + time.Second)
	if _, err := f.store.GetClient(ctx, unused.str("client_id")); !errors.Is(err, storage.ErrExpired) {
		t.Errorf("unused client: %v, want ErrExpired", err)
	}
	if _, err := f.store.GetClient(ctx, used.str("client_id")); err != nil {
		t.Errorf("used client: %v", err)
	}
	rec := f.do(t, req{method: http.MethodGet, path: itemPath(unused), headers: bearer(unused.str("registration_access_token"))})
	assertError(t, rec, http.StatusUnauthorized, "invalid_token", "")
	rec = f.do(t, req{method: http.MethodGet, path: itemPath(used), headers: bearer(used.str("registration_access_token"))})
	if rec.Code != http.StatusOK {
		t.Errorf("used client GET: %d %s", rec.Code, rec.Body)
	}
}

func TestPolicyRejectionIsLogged(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do(t, req{body: `{"redirect_uris":["http://127.0.0.1/cb"],"scope":"admin"}`})
	assertError(t, rec, http.StatusBadRequest, "invalid_client_metadata", "policy 'anonymous': scope 'admin' is not an allowed client scope")
	logs := f.logs.String()
	if !strings.Contains(logs, "policy=anonymous") || !strings.Contains(logs, "not an allowed client scope") {
		t.Errorf("rejection not logged with policy and reason:\n%s", logs)
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.Anonymous.RateLimit = rate.Every(10 * time.Second)
		c.Anonymous.RateBurst = 2
	})
	for i := range 2 {
		f.mustRegister(t, vscodeBody, map[string]string{"X-N": string(rune('0' + i))})
	}
	rec := f.do(t, req{body: vscodeBody})
	assertError(t, rec, http.StatusTooManyRequests, "temporarily_unavailable", "too many registration requests")
	if got := rec.Header().Get("Retry-After"); got != "10" {
		t.Errorf("Retry-After = %q, want 10", got)
	}
	// Another address has its own bucket; the first one refills with time.
	other := f.do(t, req{body: vscodeBody, remote: "[::1]:4000"})
	if other.Code != http.StatusCreated {
		t.Errorf("other address: %d %s", other.Code, other.Body)
	}
	f.clock.Advance(10 * time.Second)
	f.mustRegister(t, vscodeBody, nil)
	if f.count(t) != 4 {
		t.Errorf("%d clients, want 4", f.count(t))
	}
}

func TestClientIPHook(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.Anonymous.TrustedHosts = append(c.Anonymous.TrustedHosts, "198.51.100.0/24")
		c.Anonymous.TrustedHosts = slices.DeleteFunc(c.Anonymous.TrustedHosts, func(s string) bool { return s == "localhost" })
		c.ClientIP = func(r *http.Request) netip.Addr {
			a, _ := netip.ParseAddr(r.Header.Get("X-Real-IP"))
			return a
		}
	})
	rec := f.do(t, req{body: vscodeBody, remote: strangerCaller, headers: map[string]string{"X-Real-IP": "198.51.100.20"}})
	if rec.Code != http.StatusCreated {
		t.Fatalf("trusted address from the hook: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, req{body: vscodeBody, headers: map[string]string{"X-Real-IP": "192.0.2.1"}})
	assertError(t, rec, http.StatusForbidden, "access_denied", "192.0.2.1 is not a trusted host")
}

func TestDefaultClientIPIgnoresForwardedHeaders(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do(t, req{body: vscodeBody, remote: strangerCaller, headers: map[string]string{
		"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1", "Forwarded": "for=127.0.0.1",
	}})
	assertError(t, rec, http.StatusForbidden, "access_denied", "203.0.113.9 is not a trusted host")
}

// TestClientCredentialsNeedsPolicy: client_credentials issues tokens with
// no user consent, so a policy refuses registrations asking for it unless
// it sets AllowClientCredentials; nothing is stored on refusal.
func TestClientCredentialsNeedsPolicy(t *testing.T) {
	bodies := []string{
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"mcp:tools"}`,
		`{"redirect_uris":["https://agent.example.com/cb"],"grant_types":["authorization_code","client_credentials"],"token_endpoint_auth_method":"client_secret_post"}`,
	}
	f := newFixture(t, func(c *dcr.Config) {
		c.GrantTypesSupported = []string{"authorization_code", "refresh_token", "client_credentials"}
	})
	for _, body := range bodies {
		rec := f.do(t, req{body: body})
		m := decode(t, rec)
		if rec.Code != http.StatusBadRequest || m.str("error") != "invalid_client_metadata" ||
			!strings.Contains(m.str("error_description"), "client_credentials") || !strings.Contains(m.str("error_description"), "anonymous") {
			t.Errorf("registration asking for client_credentials: %d %v", rec.Code, m)
		}
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("%d clients stored after refusals", n)
	}

	allowed := newFixture(t, func(c *dcr.Config) {
		c.GrantTypesSupported = []string{"authorization_code", "refresh_token", "client_credentials"}
		c.Anonymous.AllowClientCredentials = true
	})
	m := allowed.mustRegister(t, bodies[0], nil)
	if gts, _ := m["grant_types"].([]any); len(gts) != 1 || gts[0] != "client_credentials" {
		t.Errorf("grant_types = %v, want [client_credentials]", m["grant_types"])
	}
}
