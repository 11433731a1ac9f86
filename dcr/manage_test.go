package dcr_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// updateBody turns a registration answer into an RFC 7592 update body:
// the server-managed members removed, then changes applied (a nil value
// deletes the member).
func updateBody(t testing.TB, m registration, changes map[string]any) string {
	t.Helper()
	out := map[string]any{}
	for k, v := range m {
		out[k] = v
	}
	for _, k := range []string{"registration_access_token", "registration_client_uri", "client_secret_expires_at", "client_id_issued_at", "client_secret"} {
		delete(out, k)
	}
	for k, v := range changes {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	b, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestManageLifecycle(t *testing.T) {
	var deleted atomic.Value
	f := newFixture(t, func(c *dcr.Config) {
		c.OnDelete = func(_ context.Context, id string) { deleted.Store(id) }
	})
	ctx := context.Background()
	m := f.mustRegister(t, inspectorBody, nil)
	id, rat, path := m.str("client_id"), m.str("registration_access_token"), itemPath(m)

	// GET returns the current registration and echoes the token.
	rec := f.do(t, req{method: http.MethodGet, path: path, headers: bearer(rat)})
	if rec.Code != http.StatusOK {
		t.Fatalf("GET: %d %s", rec.Code, rec.Body)
	}
	assertNoStore(t, rec)
	got := decode(t, rec)
	for _, k := range []string{"client_id", "client_name", "client_uri", "scope", "registration_client_uri", "registration_access_token", "token_endpoint_auth_method", "application_type"} {
		if got.str(k) != m.str(k) {
			t.Errorf("GET %s = %q, registration said %q", k, got.str(k), m.str(k))
		}
	}
	if got["client_id_issued_at"] != m["client_id_issued_at"] {
		t.Errorf("client_id_issued_at changed")
	}

	// PUT replaces: client_uri omitted is deleted, a redirect URI changes.
	f.clock.Advance(time.Minute)
	body := updateBody(t, got, map[string]any{
		"client_uri":    nil,
		"redirect_uris": []string{"http://localhost:6274/oauth/callback"},
		"client_name":   "MCP Inspector (renamed)",
	})
	rec = f.do(t, req{method: http.MethodPut, path: path, body: body, headers: bearer(rat)})
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	upd := decode(t, rec)
	if _, ok := upd["client_uri"]; ok {
		t.Error("omitted client_uri was kept")
	}
	if upd.str("client_name") != "MCP Inspector (renamed)" || len(upd.strs("redirect_uris")) != 1 {
		t.Errorf("update not applied: %v", upd)
	}
	if upd.str("registration_access_token") != rat || upd.str("client_id") != id {
		t.Error("PUT answer lacks the client_id or registration access token")
	}
	if upd["client_id_issued_at"] != m["client_id_issued_at"] {
		t.Error("client_id_issued_at changed on update")
	}
	sc, err := f.store.GetClient(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Metadata.ClientURI != "" || sc.Metadata.ClientName != "MCP Inspector (renamed)" || !sc.UpdatedAt.Equal(f.clock.Now()) {
		t.Errorf("stored client not replaced: %+v", sc.Metadata)
	}

	// Becoming confidential issues a secret; sending it back must match.
	rec = f.do(t, req{method: http.MethodPut, path: path, headers: bearer(rat),
		body: updateBody(t, upd, map[string]any{"token_endpoint_auth_method": "client_secret_basic"})})
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT to confidential: %d %s", rec.Code, rec.Body)
	}
	conf := decode(t, rec)
	secret := conf.str("client_secret")
	if secret == "" || conf["client_secret_expires_at"] != float64(0) {
		t.Fatalf("no secret issued: %v", conf)
	}
	rec = f.do(t, req{method: http.MethodPut, path: path, headers: bearer(rat),
		body: updateBody(t, conf, map[string]any{"client_secret": secret, "client_name": "again"})})
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT with the right secret: %d %s", rec.Code, rec.Body)
	}
	if again := decode(t, rec); again.str("client_secret") != "" || again["client_secret_expires_at"] != float64(0) {
		t.Errorf("a valid secret must be kept, not reissued: %v", again)
	}
	sc, _ = f.store.GetClient(ctx, id)
	if !sc.SecretHash.Equal(storage.HashOf(secret)) {
		t.Error("secret changed")
	}

	// DELETE revokes the client's grants, then the client.
	if err := f.store.CreateGrant(ctx, &storage.Grant{ID: "g1", Subject: "alice", ClientID: id, CreatedAt: f.clock.Now(), ExpiresAt: f.clock.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	rec = f.do(t, req{method: http.MethodDelete, path: path, headers: bearer(rat)})
	if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
		t.Fatalf("DELETE: %d %s", rec.Code, rec.Body)
	}
	if _, err := f.store.GetGrant(ctx, "g1"); !errors.Is(err, storage.ErrRevoked) {
		t.Errorf("grant after DELETE: %v, want ErrRevoked", err)
	}
	if _, err := f.store.GetClient(ctx, id); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("client after DELETE: %v, want ErrNotFound", err)
	}
	if deleted.Load() != id {
		t.Errorf("OnDelete got %v", deleted.Load())
	}
	rec = f.do(t, req{method: http.MethodGet, path: path, headers: bearer(rat)})
	assertError(t, rec, http.StatusUnauthorized, "invalid_token", "")
	rec = f.do(t, req{method: http.MethodDelete, path: path, headers: bearer(rat)})
	assertError(t, rec, http.StatusUnauthorized, "invalid_token", "")
}

func TestSecretReissuedWhenExpired(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) { c.SecretLifetime = time.Hour; c.UnusedClientTTL = -1 })
	m := f.mustRegister(t, `{"redirect_uris":["https://app.example.com/cb"]}`, nil)
	first := m.str("client_secret")
	if first == "" || m["client_secret_expires_at"] != float64(f.clock.Now().Add(time.Hour).Unix()) {
		t.Fatalf("registration: %v", m)
	}
	f.clock.Advance(2 * time.Hour)
	rec := f.do(t, req{method: http.MethodPut, path: itemPath(m), headers: bearer(m.str("registration_access_token")), body: updateBody(t, m, nil)})
	if rec.Code != http.StatusOK {
		t.Fatalf("PUT: %d %s", rec.Code, rec.Body)
	}
	upd := decode(t, rec)
	if upd.str("client_secret") == "" || upd.str("client_secret") == first {
		t.Error("an expired secret must be replaced on update")
	}
	if upd["client_secret_expires_at"] != float64(f.clock.Now().Add(time.Hour).Unix()) {
		t.Errorf("client_secret_expires_at = %v", upd["client_secret_expires_at"])
	}
}

func TestManageRefused(t *testing.T) {
	f := newFixture(t, nil)
	ctx := context.Background()
	m := f.mustRegister(t, `{"redirect_uris":["https://app.example.com/cb"],"client_name":"A"}`, nil)
	other := f.mustRegister(t, vscodeBody, nil)
	rat, path := m.str("registration_access_token"), itemPath(m)
	put := func(changes map[string]any) string { return updateBody(t, m, changes) }
	static := &storage.Client{ID: "static-client", Kind: storage.ClientStatic, RegistrationTokenHash: storage.HashOf("a.static"),
		Metadata: metadata.Client{ClientID: "static-client"}}
	if err := f.store.CreateClient(ctx, static, 0); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		r      req
		status int
		code   string
		desc   string
	}{
		{"GET without token", req{method: http.MethodGet, path: path}, 401, "invalid_token", "required"},
		{"GET with a wrong token", req{method: http.MethodGet, path: path, headers: bearer("a.wrong")}, 401, "invalid_token", ""},
		{"GET with a token without kind", req{method: http.MethodGet, path: path, headers: bearer("wrong")}, 401, "invalid_token", ""},
		{"GET with another client's token", req{method: http.MethodGet, path: path, headers: bearer(other.str("registration_access_token"))}, 401, "invalid_token", ""},
		{"GET an unknown client", req{method: http.MethodGet, path: "/register/unknown", headers: bearer(rat)}, 401, "invalid_token", ""},
		{"GET an overlong client id", req{method: http.MethodGet, path: "/register/" + strings.Repeat("x", 200), headers: bearer(rat)}, 401, "invalid_token", ""},
		{"GET a static client", req{method: http.MethodGet, path: "/register/static-client", headers: bearer("a.static")}, 401, "invalid_token", ""},
		{"GET with Basic", req{method: http.MethodGet, path: path, headers: map[string]string{"Authorization": "Basic eDp5"}}, 401, "invalid_token", "Bearer"},
		{"DELETE with another client's token", req{method: http.MethodDelete, path: path, headers: bearer(other.str("registration_access_token"))}, 401, "invalid_token", ""},
		{"PUT without token", req{method: http.MethodPut, path: path, body: put(nil)}, 401, "invalid_token", ""},
		{"PUT changing client_id", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"client_id": other.str("client_id")})}, 400, "invalid_client_metadata", "client_id"},
		{"PUT without client_id", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"client_id": nil})}, 400, "invalid_client_metadata", "client_id"},
		{"PUT with a client_secret the client never had", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"client_secret": "guess"})}, 400, "invalid_client_metadata", "client_secret"},
		{"PUT carrying registration_access_token", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"registration_access_token": rat})}, 400, "invalid_client_metadata", "registration_access_token"},
		{"PUT carrying registration_client_uri", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"registration_client_uri": endpoint + "/x"})}, 400, "invalid_client_metadata", "registration_client_uri"},
		{"PUT carrying client_secret_expires_at", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"client_secret_expires_at": 0})}, 400, "invalid_client_metadata", "client_secret_expires_at"},
		{"PUT carrying client_id_issued_at", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"client_id_issued_at": 1})}, 400, "invalid_client_metadata", "client_id_issued_at"},
		{"PUT with an invalid redirect", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"redirect_uris": []string{"javascript:x"}})}, 400, "invalid_redirect_uri", ""},
		{"PUT to an untrusted host", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"redirect_uris": []string{"https://evil.example.net/cb"}})}, 400, "invalid_redirect_uri", "policy 'anonymous'"},
		{"PUT with a disallowed scope", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(map[string]any{"scope": "admin"})}, 400, "invalid_client_metadata", "admin"},
		{"PUT with a wrong content type", req{method: http.MethodPut, path: path, headers: bearer(rat), body: put(nil), ctype: "text/plain"}, 400, "invalid_client_metadata", "Content-Type"},
		{"GET from a disallowed origin", req{method: http.MethodGet, path: path, headers: map[string]string{"Authorization": "Bearer " + rat, "Origin": "https://evil.example.net"}}, 403, "access_denied", "origin"},
		{"GET from an untrusted address", req{method: http.MethodGet, path: path, headers: bearer(rat), remote: strangerCaller}, 403, "access_denied", "not a trusted host"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := f.do(t, tt.r)
			assertError(t, rec, tt.status, tt.code, tt.desc)
			if tt.status == http.StatusUnauthorized && !strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("WWW-Authenticate = %q", rec.Header().Get("WWW-Authenticate"))
			}
		})
	}
	// Nothing above changed the client.
	sc, err := f.store.GetClient(ctx, m.str("client_id"))
	if err != nil || sc.Metadata.ClientName != "A" || sc.Metadata.RedirectURIs[0] != "https://app.example.com/cb" {
		t.Errorf("client changed by refused requests: %v %+v", err, sc)
	}
	if rec := f.do(t, req{method: http.MethodGet, path: path}); rec.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Errorf("missing token challenge = %q, want bare Bearer", rec.Header().Get("WWW-Authenticate"))
	}
}

func TestPutSecretMismatch(t *testing.T) {
	f := newFixture(t, nil)
	m := f.mustRegister(t, `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_basic"}`, nil)
	rec := f.do(t, req{method: http.MethodPut, path: itemPath(m), headers: bearer(m.str("registration_access_token")),
		body: updateBody(t, m, map[string]any{"client_secret": m.str("client_secret") + "x"})})
	assertError(t, rec, http.StatusBadRequest, "invalid_client_metadata", "client_secret does not match")
}

// TestUpdateUsesRegistrationPolicy checks that an update is judged by the
// policy the client registered under, not by whoever calls.
func TestUpdateUsesRegistrationPolicy(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.Anonymous.AllowedClientScopes = []string{"mcp:tools"}
		c.Authenticated = &dcr.Policy{Name: "partners", TrustedHosts: []string{"*"}, AllowedClientScopes: []string{"mcp:tools", "admin"}, RateLimit: rate.Inf}
	})
	tok, err := f.reg.MintInitialAccessToken(context.Background(), "partners", 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"mcp:tools"}`
	partner := f.mustRegister(t, body, bearer(tok))
	anon := f.mustRegister(t, body, nil)

	rec := f.do(t, req{method: http.MethodPut, path: itemPath(partner), headers: bearer(partner.str("registration_access_token")),
		body: updateBody(t, partner, map[string]any{"scope": "mcp:tools admin"})})
	if rec.Code != http.StatusOK || decode(t, rec).str("scope") != "mcp:tools admin" {
		t.Errorf("partner update: %d %s", rec.Code, rec.Body)
	}
	rec = f.do(t, req{method: http.MethodPut, path: itemPath(anon), headers: bearer(anon.str("registration_access_token")),
		body: updateBody(t, anon, map[string]any{"scope": "mcp:tools admin"})})
	assertError(t, rec, http.StatusBadRequest, "invalid_client_metadata", "policy 'anonymous': scope 'admin'")
}

// TestPolicyRemoved checks what a client registered under a policy that is
// later switched off may still do: read and delete, not update.
func TestPolicyRemoved(t *testing.T) {
	f := newFixture(t, nil)
	m := f.mustRegister(t, vscodeBody, nil)
	cfg := baseConfig(f.store, f.clock, f.logs)
	cfg.Anonymous = nil
	reg, err := dcr.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if reg.Enabled() {
		t.Error("Enabled with no policy")
	}
	f.h = reg.Handler()
	auth := bearer(m.str("registration_access_token"))
	if rec := f.do(t, req{method: http.MethodGet, path: itemPath(m), headers: auth}); rec.Code != http.StatusOK {
		t.Errorf("GET: %d %s", rec.Code, rec.Body)
	}
	rec := f.do(t, req{method: http.MethodPut, path: itemPath(m), headers: auth, body: updateBody(t, m, nil)})
	assertError(t, rec, http.StatusForbidden, "access_denied", "no longer configured")
	if rec := f.do(t, req{method: http.MethodDelete, path: itemPath(m), headers: auth}); rec.Code != http.StatusNoContent {
		t.Errorf("DELETE: %d %s", rec.Code, rec.Body)
	}
}
