package attack

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/storage"
)

// TestPKCE covers PKCE downgrade and removal (RFC 9700 §2.1.1, §4.8.2;
// OAuth 2.1 §4.1.3): S256 is required at the authorization endpoint, and
// the token endpoint never redeems a code without the matching verifier.
func TestPKCE(t *testing.T) {
	w := newWorld(t, options{})

	authzRefusals := []struct {
		name string
		edit func(q url.Values, p pkce)
	}{
		{"plain-method", func(q url.Values, p pkce) {
			// A 43-character verifier sent as its own "plain" challenge
			// is a well-formed challenge: only the method gives it away.
			q.Set("code_challenge_method", "plain")
			q.Set("code_challenge", p.verifier[:43])
		}},
		{"missing-method", func(q url.Values, _ pkce) { q.Del("code_challenge_method") }},
		{"missing-challenge", func(q url.Values, _ pkce) { q.Del("code_challenge") }},
		{"removed-entirely", func(q url.Values, _ pkce) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"method-case", func(q url.Values, _ pkce) { q.Set("code_challenge_method", "s256") }},
		{"malformed-challenge", func(q url.Values, p pkce) { q.Set("code_challenge", p.challenge[:42]+"=") }},
		{"repeated-challenge", func(q url.Values, _ pkce) { q.Add("code_challenge", newPKCE().challenge) }},
	}
	for _, tc := range authzRefusals {
		t.Run("pkce/"+tc.name, func(t *testing.T) {
			p := newPKCE()
			q := authzParams(webPubID, webCB, p, w.resA, "a:read")
			tc.edit(q, p)
			w.nothingStored(t, func() {
				w.redirectErr(t, w.browser(user).get("/authorize?"+q.Encode()), webCB, "invalid_request", q.Get("state"))
			})
		})
	}

	t.Run("pkce/verifier-missing-at-token", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {pubID}, "code": {code}, "redirect_uri": {loopCB}})
			jsonError(t, r.resp, 400, "invalid_request")
		})
		// A thief without the verifier cannot even burn the code.
		if r := w.exchange(pubID, code, p.verifier, loopCB); r.status != 200 {
			t.Errorf("the legitimate exchange failed after the attempt: %d %s", r.status, r.body)
		}
	})
	t.Run("pkce/wrong-verifier", func(t *testing.T) {
		code := w.code(authzParams(pubID, loopCB, newPKCE(), w.resA, "a:read"))
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, newPKCE().verifier, loopCB).resp, 400, "invalid_grant")
		})
	})
	t.Run("pkce/short-verifier", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, p.verifier[:42], loopCB).resp, 400, "invalid_request")
		})
	})
	// A code row without a challenge (left by an older release, or a
	// store written by another tool) must not be redeemable with any
	// verifier: that would be a downgrade.
	t.Run("pkce/verifier-without-stored-challenge", func(t *testing.T) {
		code := w.injectCode(t, "", "")
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, newPKCE().verifier, loopCB).resp, 400, "invalid_request")
		})
	})
	t.Run("pkce/stored-plain-challenge", func(t *testing.T) {
		p := newPKCE()
		code := w.injectCode(t, p.verifier, "plain")
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, p.verifier, loopCB).resp, 400, "invalid_grant")
		})
	})
}

// injectCode stores an authorization code for pubID directly, with the
// given challenge and method.
func (w *world) injectCode(t testing.TB, challenge, method string) string {
	t.Helper()
	ctx := context.Background()
	now := w.clock.Now()
	gid := "g-" + newPKCE().challenge[:16]
	if err := w.store.Store.CreateGrant(ctx, &storage.Grant{ID: gid, Subject: user, ClientID: pubID, Scopes: []string{"a:read"},
		Resources: []string{w.resA}, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	code := newPKCE().verifier
	if err := w.store.Store.SaveCode(ctx, &storage.AuthorizationCode{Hash: storage.HashOf(code), GrantID: gid, ClientID: pubID,
		RedirectURI: loopCB, CodeChallenge: challenge, CodeChallengeMethod: method, Subject: user, Scopes: []string{"a:read"},
		Resources: []string{w.resA}, AuthTime: now, IssuedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	return code
}

// TestCodeTheft covers stolen, injected and replayed authorization codes
// (RFC 9700 §4.5, OAuth 2.1 §4.1.3, §7.5.2).
func TestCodeTheft(t *testing.T) {
	w := newWorld(t, options{})

	t.Run("code/cross-client-public", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(webPubID, webCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, p.verifier, webCB).resp, 400, "invalid_grant")
		})
	})
	t.Run("code/cross-client-confidential", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(webPubID, webCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {p.verifier}, "redirect_uri": {webCB}}, confID, confSecret)
			jsonError(t, r.resp, 400, "invalid_grant")
		})
	})
	t.Run("code/injection-into-victim-session", func(t *testing.T) {
		// The attacker's own code, injected into the victim's callback:
		// the victim's client redeems it with the victim's verifier.
		attacker := newPKCE()
		code := w.code(authzParams(pubID, loopCB, attacker, w.resA, "a:read"))
		victim := newPKCE()
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, victim.verifier, loopCB).resp, 400, "invalid_grant")
		})
	})
	t.Run("code/replay-revokes-grant", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		first := w.exchange(pubID, code, p.verifier, loopCB)
		if first.status != 200 || first.RefreshToken == "" {
			t.Fatalf("first exchange: %d %s", first.status, first.body)
		}
		jsonError(t, w.exchange(pubID, code, p.verifier, loopCB).resp, 400, "invalid_grant")
		if m := w.introspect(first.AccessToken); m["active"] != false {
			t.Errorf("access token from a replayed code still active: %v", m)
		}
		r := w.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {pubID}, "refresh_token": {first.RefreshToken}})
		jsonError(t, r.resp, 400, "invalid_grant")
	})
	t.Run("code/invalid-replay-does-not-revoke", func(t *testing.T) {
		// Anyone who saw the code could otherwise log the user out.
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		first := w.exchange(pubID, code, p.verifier, loopCB)
		if first.status != 200 {
			t.Fatalf("exchange: %d %s", first.status, first.body)
		}
		jsonError(t, w.exchange(pubID, code, newPKCE().verifier, loopCB).resp, 400, "invalid_grant")
		jsonError(t, w.exchange(webPubID, code, p.verifier, loopCB).resp, 400, "invalid_grant")
		if m := w.introspect(first.AccessToken); m["active"] != true {
			t.Errorf("an invalid replay revoked the grant: %v", m)
		}
	})
	t.Run("code/redirect-uri-mismatch-at-token", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(webPubID, webCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(webPubID, code, p.verifier, webCB2).resp, 400, "invalid_grant")
		})
	})
	t.Run("code/redirect-uri-other-loopback-port", func(t *testing.T) {
		// Loopback ports are free at the authorization endpoint, but the
		// token request must repeat the very URI the code went to.
		p := newPKCE()
		code := w.code(authzParams(pubID, "http://127.0.0.1:51234/callback", p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, p.verifier, "http://127.0.0.1:4444/callback").resp, 400, "invalid_grant")
		})
	})
	t.Run("code/scope-param-at-exchange-ignored", func(t *testing.T) {
		// The token request cannot widen what the user approved.
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		r := w.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {pubID}, "code": {code},
			"code_verifier": {p.verifier}, "scope": {"a:read a:write"}})
		if r.status == 200 && (strings.Contains(r.Scope, "a:write") || r.Scope == "") {
			t.Fatalf("exchange widened the scope: %s", r.body)
		}
		if r.status == 200 {
			info, err := w.vA.Verify(context.Background(), r.AccessToken)
			if err != nil || strings.Join(info.Scopes, " ") != "a:read" {
				t.Errorf("token scopes %v (%v)", info, err)
			}
		}
	})
	t.Run("code/expired", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		w.clock.Advance(61 * time.Second)
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, code, p.verifier, loopCB).resp, 400, "invalid_grant")
		})
	})
	t.Run("code/confidential-client-without-secret", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(confID, webCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(confID, code, p.verifier, webCB).resp, 401, "invalid_client")
		})
	})
	t.Run("code/confidential-client-wrong-secret", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(confID, webCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {p.verifier}}, confID, confSecret+"x")
			jsonError(t, r.resp, 401, "invalid_client")
			if strings.Contains(r.body, confSecret) {
				t.Errorf("the presented secret is echoed: %s", r.body)
			}
			if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
				t.Errorf("401 without a Basic challenge: %q", r.header.Get("WWW-Authenticate"))
			}
		})
	})
	t.Run("code/two-client-auth-methods", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(confID, webCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {p.verifier},
				"client_id": {confID}, "client_secret": {confSecret}}, confID, confSecret)
			jsonError(t, r.resp, 400, "invalid_request")
		})
	})
}

// TestRefreshTheft covers refresh-token reuse and binding (RFC 9700
// §4.14.2, OAuth 2.1 §4.3).
func TestRefreshTheft(t *testing.T) {
	w := newWorld(t, options{})
	refresh := func(client, rt string, extra ...string) *tokenResp {
		f := url.Values{"grant_type": {"refresh_token"}, "client_id": {client}, "refresh_token": {rt}}
		for i := 0; i+1 < len(extra); i += 2 {
			f.Add(extra[i], extra[i+1])
		}
		return w.token(f)
	}

	t.Run("refresh/reuse-revokes-family", func(t *testing.T) {
		first := w.tokens(pubID, loopCB, w.resA, "a:read")
		second := refresh(pubID, first.RefreshToken)
		if second.status != 200 || second.RefreshToken == "" {
			t.Fatalf("rotation: %d %s", second.status, second.body)
		}
		// The thief presents the rotated token ...
		jsonError(t, refresh(pubID, first.RefreshToken).resp, 400, "invalid_grant")
		// ... and the whole family and grant die with it.
		jsonError(t, refresh(pubID, second.RefreshToken).resp, 400, "invalid_grant")
		if m := w.introspect(second.AccessToken); m["active"] != false {
			t.Errorf("access token of a revoked family still active: %v", m)
		}
	})
	t.Run("refresh/other-client", func(t *testing.T) {
		tr := w.tokens(pubID, loopCB, w.resA, "a:read")
		w.nothingStored(t, func() {
			jsonError(t, refresh(webPubID, tr.RefreshToken).resp, 400, "invalid_grant")
		})
		if r := refresh(pubID, tr.RefreshToken); r.status != 200 {
			t.Errorf("the owner's refresh failed after a foreign attempt: %d %s", r.status, r.body)
		}
	})
	t.Run("refresh/scope-widening", func(t *testing.T) {
		tr := w.tokens(pubID, loopCB, w.resA, "a:read")
		w.nothingStored(t, func() {
			jsonError(t, refresh(pubID, tr.RefreshToken, "scope", "a:read a:write").resp, 400, "invalid_scope")
		})
	})
	t.Run("refresh/resource-outside-grant", func(t *testing.T) {
		tr := w.tokens(pubID, loopCB, w.resA, "a:read")
		w.nothingStored(t, func() {
			jsonError(t, refresh(pubID, tr.RefreshToken, "resource", w.resB).resp, 400, "invalid_target")
		})
	})
	t.Run("refresh/confidential-without-secret", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(confID, webCB, p, w.resA, "a:read"))
		tr := w.token(url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {p.verifier}}, confID, confSecret)
		if tr.RefreshToken == "" {
			t.Fatalf("exchange: %d %s", tr.status, tr.body)
		}
		w.nothingStored(t, func() {
			jsonError(t, refresh(confID, tr.RefreshToken).resp, 401, "invalid_client")
		})
	})
}

// TestTokenTypeConfusion presents one kind of token where another is
// expected (RFC 9068 §4, §5; RFC 8725 §3.11).
func TestTokenTypeConfusion(t *testing.T) {
	w := newWorld(t, options{})
	tr := w.tokens(pubID, loopCB, w.resA, "a:read")
	if r := w.callMCP(w.resA, "Bearer "+tr.AccessToken); r.status != 200 {
		t.Fatalf("control: the access token is refused at its resource: %d %s", r.status, r.body)
	}

	bearerRefusals := []struct {
		name, token string
	}{
		{"refresh-token-as-access-token", tr.RefreshToken},
		{"id-token-typ-jwt", w.forge("JWT", w.claims(w.resA))},
		{"no-typ", w.forge("", w.claims(w.resA))},
		{"typ-jose", w.forge("JOSE", w.claims(w.resA))},
		{"client-assertion-as-access-token", sign(t, w.pkKey, jose.ES256, "pk1", "JWT", map[string]any{
			"iss": pkjwtID, "sub": pkjwtID, "aud": w.issuer + "/token", "jti": "j1",
			"exp": w.clock.Now().Add(time.Minute).Unix()})},
		{"foreign-key-same-kid", sign(t, evilKey, jose.ES256, w.kid, "at+jwt", w.claims(w.resA))},
		{"sender-constrained-cnf", w.forge("at+jwt", with(w.claims(w.resA), "cnf", map[string]any{"jkt": "abc"}))},
		{"issuer-trailing-slash", w.forge("at+jwt", with(w.claims(w.resA), "iss", w.issuer+"/"))},
		{"issuer-case", w.forge("at+jwt", with(w.claims(w.resA), "iss", strings.ToUpper(w.issuer)))},
		{"missing-sub", w.forge("at+jwt", with(w.claims(w.resA), "sub", nil))},
		{"missing-client-id", w.forge("at+jwt", with(w.claims(w.resA), "client_id", nil))},
	}
	for _, tc := range bearerRefusals {
		t.Run("token-type/"+tc.name, func(t *testing.T) {
			challenge(t, w.callMCP(w.resA, "Bearer "+tc.token), 401, "invalid_token", w.prmA)
		})
	}

	t.Run("token-type/code-as-access-token", func(t *testing.T) {
		code := w.code(authzParams(pubID, loopCB, newPKCE(), w.resA, "a:read"))
		challenge(t, w.callMCP(w.resA, "Bearer "+code), 401, "invalid_token", w.prmA)
	})
	t.Run("token-type/access-token-as-refresh-token", func(t *testing.T) {
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {pubID}, "refresh_token": {tr.AccessToken}})
			jsonError(t, r.resp, 400, "invalid_grant")
		})
	})
	t.Run("token-type/access-token-as-code", func(t *testing.T) {
		w.nothingStored(t, func() {
			jsonError(t, w.exchange(pubID, tr.AccessToken, newPKCE().verifier, loopCB).resp, 400, "invalid_grant")
		})
	})
	t.Run("token-type/registration-token-as-access-token", func(t *testing.T) {
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
		challenge(t, w.callMCP(w.resA, "Bearer "+reg["registration_access_token"].(string)), 401, "invalid_token", w.prmA)
	})
	t.Run("token-type/access-token-as-registration-token", func(t *testing.T) {
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`)
		r := w.browser("").get("/register/"+reg["client_id"].(string), "Authorization", "Bearer "+tr.AccessToken)
		if r.status != 401 || r.jsonErr() != "invalid_token" {
			t.Errorf("got %d %s, want 401 invalid_token", r.status, r.body)
		}
		if strings.Contains(r.body, "redirect_uris") {
			t.Errorf("the registration leaked: %s", r.body)
		}
	})
}

// with sets (or, for nil, deletes) a claim.
func with(m map[string]any, k string, v any) map[string]any {
	if v == nil {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

// register registers a client anonymously and returns the response,
// which must be 201.
func (w *world) register(t testing.TB, body string) map[string]any {
	t.Helper()
	r := w.browser("").send(http.MethodPost, "/register", body, "Content-Type", "application/json")
	var m map[string]any
	if r.status != http.StatusCreated || json.Unmarshal([]byte(r.body), &m) != nil {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	return m
}

// TestAudienceConfusion covers tokens meant for one resource used at
// another on the same origin (RFC 8707, RFC 9068 §5, MCP "Token
// Passthrough").
func TestAudienceConfusion(t *testing.T) {
	w := newWorld(t, options{})
	ta := w.tokens(pubID, loopCB, w.resA, "a:read")
	tb := w.tokens(pubID, loopCB, w.resB, "b:read")
	if r := w.callMCP(w.resA, "Bearer "+ta.AccessToken); r.status != 200 {
		t.Fatalf("control A: %d %s", r.status, r.body)
	}
	if r := w.callMCP(w.resB, "Bearer "+tb.AccessToken); r.status != 200 {
		t.Fatalf("control B: %d %s", r.status, r.body)
	}

	t.Run("audience/token-for-a-at-b", func(t *testing.T) {
		challenge(t, w.callMCP(w.resB, "Bearer "+ta.AccessToken), 401, "invalid_token", w.prmB)
	})
	t.Run("audience/token-for-b-at-a", func(t *testing.T) {
		challenge(t, w.callMCP(w.resA, "Bearer "+tb.AccessToken), 401, "invalid_token", w.prmA)
	})
	t.Run("audience/client-credentials-token-for-a-at-b", func(t *testing.T) {
		cc := w.token(url.Values{"grant_type": {"client_credentials"}, "resource": {w.resA}, "scope": {"a:read"}}, confID, confSecret)
		if cc.status != 200 {
			t.Fatalf("client_credentials: %d %s", cc.status, cc.body)
		}
		challenge(t, w.callMCP(w.resB, "Bearer "+cc.AccessToken), 401, "invalid_token", w.prmB)
	})
	forgedAud := []struct{ name, aud string }{
		{"forged-aud-bare-origin", w.issuer},
		{"forged-aud-origin-slash", w.issuer + "/"},
		{"forged-aud-trailing-slash", w.resA + "/"},
		{"forged-aud-path-extension", w.resA + "x"},
		{"forged-aud-subpath", w.resA + "/tools"},
		{"forged-aud-other-port", strings.Replace(w.resA, "127.0.0.1:", "127.0.0.1:1", 1)},
		{"forged-aud-localhost-alias", strings.Replace(w.resA, "127.0.0.1", "localhost", 1)},
	}
	for _, tc := range forgedAud {
		t.Run("audience/"+tc.name, func(t *testing.T) {
			challenge(t, w.callMCP(w.resA, "Bearer "+w.forge("at+jwt", w.claims(tc.aud))), 401, "invalid_token", w.prmA)
		})
	}
	t.Run("audience/narrow-to-ungranted-resource-at-token", func(t *testing.T) {
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {pubID}, "code": {code},
				"code_verifier": {p.verifier}, "resource": {w.resB}})
			jsonError(t, r.resp, 400, "invalid_target")
		})
	})
	authzTargets := []struct{ name, resource, scope, code string }{
		{"resource-trailing-slash", w.resA + "/", "a:read", "invalid_target"},
		{"resource-bare-origin", w.issuer, "a:read", "invalid_target"},
		{"resource-path-prefix", w.issuer + "/mcp", "a:read", "invalid_target"},
		{"resource-foreign", "https://evil.example/mcp-a", "a:read", "invalid_target"},
		{"resource-with-fragment", w.resA + "#x", "a:read", "invalid_target"},
		{"scope-of-b-for-a", w.resA, "b:read", "invalid_scope"},
		{"scopes-of-both-without-resource", "", "a:read b:read", "invalid_scope"},
	}
	for _, tc := range authzTargets {
		t.Run("audience/"+tc.name, func(t *testing.T) {
			q := authzParams(pubID, loopCB, newPKCE(), tc.resource, tc.scope)
			w.nothingStored(t, func() {
				w.redirectErr(t, w.browser(user).get("/authorize?"+q.Encode()), loopCB, tc.code, q.Get("state"))
			})
		})
	}
	t.Run("audience/two-resource-token-narrowed", func(t *testing.T) {
		// A grant for both resources yields, on request, a token for one;
		// that token must not open the other.
		p := newPKCE()
		q := authzParams(pubID, loopCB, p, w.resA, "a:read b:read")
		q.Add("resource", w.resB)
		code := w.code(q)
		r := w.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {pubID}, "code": {code},
			"code_verifier": {p.verifier}, "resource": {w.resA}})
		if r.status != 200 {
			t.Fatalf("exchange: %d %s", r.status, r.body)
		}
		challenge(t, w.callMCP(w.resB, "Bearer "+r.AccessToken), 401, "invalid_token", w.prmB)
		if got := w.callMCP(w.resA, "Bearer "+r.AccessToken); got.status != 200 {
			t.Errorf("narrowed token refused at its own resource: %d", got.status)
		}
	})
}

// TestImpersonation covers client impersonation (RFC 9700 §4.15) and
// untrusted metadata-document client_ids (CIMD §8).
func TestImpersonation(t *testing.T) {
	w := newWorld(t, options{})

	t.Run("impersonation/user-subject-equals-client-id", func(t *testing.T) {
		// A user whose name is the client_id would get tokens whose sub
		// looks like the client's own client_credentials tokens.
		b := w.browser(webPubID)
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		r := b.get("/authorize?" + q.Encode())
		_, csrf := b.consentPage(r.loc())
		if csrf == "" {
			t.Fatalf("no consent page for %q", r.loc())
		}
		d := w.stored(func() {
			errorPage(t, b.decide(requestID(r.loc()), csrf, "approve"), "invalid_request", "The subject must not equal the client_id.")
		})
		if d["CreateGrant"] != 0 || d["SaveCode"] != 0 || d["ConsumeAuthorizationRequest"] != 0 {
			t.Errorf("a grant or code was stored: %v", d)
		}
	})
	for _, tc := range []struct{ name, field string }{
		{"dcr-chosen-client-id-user-subject", user},
		{"dcr-chosen-client-id-static", confID},
		{"dcr-chosen-client-id-url", "https://vscode.dev/oauth/client-metadata.json"},
	} {
		t.Run("impersonation/"+tc.name, func(t *testing.T) {
			body, _ := json.Marshal(map[string]any{"client_id": tc.field, "client_secret": "chosen-secret-0123456789",
				"redirect_uris": []string{"http://127.0.0.1/cb"}, "token_endpoint_auth_method": "none"})
			reg := w.register(t, string(body))
			id, _ := reg["client_id"].(string)
			if id == tc.field || strings.ContainsAny(id, ":/") || id == "" {
				t.Errorf("registration got client_id %q (asked for %q)", id, tc.field)
			}
			if _, ok := reg["client_secret"]; ok {
				t.Errorf("a public client was given a secret: %v", reg)
			}
			if c, err := w.store.GetClient(context.Background(), tc.field); err == nil {
				t.Errorf("the chosen client_id was stored: %+v", c)
			}
		})
	}
	t.Run("impersonation/public-client-credentials", func(t *testing.T) {
		// A client without credentials must not get tokens in its own
		// name (sub = client_id) through client_credentials.
		r := w.browser("").send(http.MethodPost, "/register", `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none",
			"grant_types":["client_credentials"]}`, "Content-Type", "application/json")
		if r.status == http.StatusCreated {
			var m map[string]any
			_ = json.Unmarshal([]byte(r.body), &m)
			tr := w.token(url.Values{"grant_type": {"client_credentials"}, "client_id": {m["client_id"].(string)}, "resource": {w.resA}})
			if tr.status == 200 || tr.AccessToken != "" {
				t.Fatalf("a public client got a client_credentials token: %s", tr.body)
			}
			jsonError(t, tr.resp, 400, "unauthorized_client")
		} else if r.status != 400 || r.jsonErr() != "invalid_client_metadata" {
			t.Errorf("registration: %d %s", r.status, r.body)
		}
	})
	t.Run("impersonation/dcr-client-beyond-registered-scope", func(t *testing.T) {
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"a:read"}`)
		q := authzParams(reg["client_id"].(string), "http://127.0.0.1/cb", newPKCE(), w.resA, "a:write")
		w.nothingStored(t, func() {
			w.redirectErr(t, w.browser(user).get("/authorize?"+q.Encode()), "http://127.0.0.1/cb", "invalid_scope", q.Get("state"))
		})
	})
	t.Run("impersonation/metadata-document-withdrawn-ends-refresh", func(t *testing.T) {
		// Once the document is gone (or no longer acceptable), the
		// client's refresh tokens stop working when the cache expires.
		id := "https://docs.vscode.dev/withdrawn.json"
		w.site.json(id, cimdDoc(id))
		tr := w.tokens(id, "http://127.0.0.1:40000/callback", w.resA, "a:read")
		if tr.RefreshToken == "" {
			t.Fatalf("no refresh token: %s", tr.body)
		}
		w.site.handle(id, func(rw http.ResponseWriter, r *http.Request) { http.NotFound(rw, r) })
		w.clock.Advance(301 * time.Second) // past the minimum cache time
		w.nothingStored(t, func() {
			r := w.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {id}, "refresh_token": {tr.RefreshToken}})
			jsonError(t, r.resp, 401, "invalid_client")
		})
	})
	t.Run("impersonation/dcr-ids-never-url-shaped", func(t *testing.T) {
		for range 20 {
			reg := w.register(t, `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_basic"}`)
			if id := reg["client_id"].(string); strings.ContainsAny(id, ":/@?#") || len(id) < 16 {
				t.Fatalf("client_id %q could pass for a URL or is guessable", id)
			}
		}
	})
	t.Run("impersonation/metadata-document-untrusted-domain", func(t *testing.T) {
		id := "https://evil.example/oauth/client.json"
		w.site.json(id, cimdDoc(id, "https://evil.example/cb"))
		q := authzParams(id, "https://evil.example/cb", newPKCE(), w.resA, "a:read")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", "Unknown client.")
		})
		if n := w.site.hitsFor(id); n != 0 {
			t.Errorf("an untrusted client_id was fetched %d times", n)
		}
	})
	for _, tc := range []struct{ name, id string }{
		{"metadata-document-lookalike-suffix", "https://vscode.dev.evil.example/client.json"},
		{"metadata-document-lookalike-prefix", "https://evilvscode.dev/client.json"},
		{"metadata-document-userinfo", "https://vscode.dev@evil.example/client.json"},
		{"metadata-document-upper-case-host", "https://VSCODE.dev/client.json"},
	} {
		t.Run("impersonation/"+tc.name, func(t *testing.T) {
			q := authzParams(tc.id, "http://127.0.0.1/callback", newPKCE(), w.resA, "a:read")
			before := w.site.totalHits()
			w.nothingStored(t, func() {
				r := w.browser(user).get("/authorize?" + q.Encode())
				errorPage(t, r, "invalid_request", "")
			})
			if w.site.totalHits() != before {
				t.Errorf("a look-alike client_id was fetched")
			}
		})
	}
	t.Run("impersonation/metadata-document-claims-other-client-id", func(t *testing.T) {
		id := "https://docs.vscode.dev/claims-other.json"
		w.site.json(id, cimdDoc("https://vscode.dev/oauth/client-metadata.json"))
		q := authzParams(id, "http://127.0.0.1/callback", newPKCE(), w.resA, "a:read")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request",
				cimd.ReasonClientIDMismatch)
		})
	})
	t.Run("impersonation/metadata-document-shadows-static-url-client", func(t *testing.T) {
		// A document published at the URL a static client uses as its
		// client_id must not take that client over.
		w.site.json(urlStatic, cimdDoc(urlStatic, "https://docs.vscode.dev/cb"))
		q := authzParams(urlStatic, "https://docs.vscode.dev/cb", newPKCE(), w.resA, "a:read")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", "The redirect_uri is not registered for this client.")
		})
		if n := w.site.hitsFor(urlStatic); n != 0 {
			t.Errorf("the document shadowing a static client was fetched %d times", n)
		}
	})
}

// TestConcurrentRedemption races redemptions of one code and one refresh
// token: at most one wins (storage compare-and-swap, OAuth 2.1 §4.1.3).
func TestConcurrentRedemption(t *testing.T) {
	w := newWorld(t, options{})
	t.Run("code/concurrent-redemption-no-usable-second-token", func(t *testing.T) {
		// Every racer is a valid redemption, so each one that finds the
		// code used is a replay that revokes the grant (OAuth 2.1 §4.1.3).
		// Whether the first redemption answers 200 before that revocation
		// or fails because of it depends on timing; what must hold is that
		// at most one gets tokens and none of them works afterwards.
		p := newPKCE()
		code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
		const n = 16
		results := make(chan *tokenResp, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() { results <- w.exchange(pubID, code, p.verifier, loopCB) })
		}
		wg.Wait()
		close(results)
		var winners []*tokenResp
		for r := range results {
			switch {
			case r.status == 200:
				winners = append(winners, r)
			case r.status != 400 || r.Error != "invalid_grant":
				t.Errorf("a losing redemption got %d %q, want 400 invalid_grant", r.status, r.Error)
			}
		}
		if len(winners) > 1 {
			t.Fatalf("%d redemptions of one code got tokens", len(winners))
		}
		for _, r := range winners {
			if m := w.introspect(r.AccessToken); m["active"] != false {
				t.Errorf("the winner's access token is still active after the replays: %v", m)
			}
			if r.RefreshToken != "" {
				if rr := w.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {pubID}, "refresh_token": {r.RefreshToken}}); rr.status != 400 {
					t.Errorf("the winner's refresh token still works after the replays: %d", rr.status)
				}
			}
		}
	})
	t.Run("refresh/concurrent-reuse-one-winner", func(t *testing.T) {
		tr := w.tokens(pubID, loopCB, w.resA, "a:read")
		const n = 16
		results := make(chan *tokenResp, n)
		var wg sync.WaitGroup
		for range n {
			wg.Go(func() {
				results <- w.token(url.Values{"grant_type": {"refresh_token"}, "client_id": {pubID}, "refresh_token": {tr.RefreshToken}})
			})
		}
		wg.Wait()
		close(results)
		wins := 0
		for r := range results {
			if r.status == 200 {
				wins++
			}
		}
		if wins != 1 {
			t.Errorf("%d winners for one refresh token", wins)
		}
	})
}
