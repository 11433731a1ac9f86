package authz

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// outcome says where an error went.
type outcome int

const (
	// page: an HTML error page, no redirect anywhere.
	page outcome = iota + 1
	// redirected: a 303 to the client's validated redirect URI with error.
	redirected
	// jsonError: an RFC 6749 §5.2 JSON error.
	jsonError
	// accepted: the request was valid (303 to the interaction URL).
	accepted
	// plain: a bare status check (no body convention).
	plain
)

type negCase struct {
	name   string
	cfg    func(*Config)
	do     func(e *env) *http.Response
	status int
	code   string
	out    outcome
	// after runs extra assertions with the same environment.
	after func(t *testing.T, e *env)
}

func authzWith(edit func(url.Values)) func(e *env) *http.Response {
	return func(e *env) *http.Response {
		v := authorizeParams()
		edit(v)
		return e.get("/authorize?" + v.Encode())
	}
}

func authzRaw(q string) func(e *env) *http.Response {
	return func(e *env) *http.Response { return e.get("/authorize?" + q) }
}

// codeForm is a valid authorization_code token request for the public
// client, with a fresh code.
func codeForm(e *env) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {e.code(authorizeParams())},
		"code_verifier": {testVerifier},
		"client_id":     {publicID},
		"redirect_uri":  {callback},
	}
}

func tokenWith(edit func(e *env, v url.Values)) func(e *env) *http.Response {
	return func(e *env) *http.Response {
		v := codeForm(e)
		edit(e, v)
		return e.post("/token", v, "", "")
	}
}

// refreshForm exchanges a code and returns a refresh request for it.
func refreshForm(e *env) url.Values {
	status, tj := e.exchange(e.code(authorizeParams()))
	if status != http.StatusOK || tj.RefreshToken == "" {
		e.t.Fatalf("exchange: %d %+v", status, tj)
	}
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {publicID}}
}

func refreshWith(edit func(e *env, v url.Values)) func(e *env) *http.Response {
	return func(e *env) *http.Response {
		v := refreshForm(e)
		edit(e, v)
		return e.post("/token", v, "", "")
	}
}

func rawPost(path, contentType, body string, header map[string]string) func(e *env) *http.Response {
	return func(e *env) *http.Response {
		req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(body))
		if err != nil {
			e.t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := noFollow.Do(req)
		if err != nil {
			e.t.Fatal(err)
		}
		return resp
	}
}

func TestNegativeCases(t *testing.T) {
	evil := "http://evil.example/callback"
	cases := []negCase{
		// --- authorization endpoint: before the redirect URI is trusted ---
		{name: "unknown client", do: authzWith(func(v url.Values) { v.Set("client_id", "nobody") }), status: 400, code: "invalid_request", out: page},
		{name: "missing client_id", do: authzWith(func(v url.Values) { v.Del("client_id") }), status: 400, code: "invalid_request", out: page},
		{name: "duplicate client_id", do: authzWith(func(v url.Values) { v.Add("client_id", publicID) }), status: 400, code: "invalid_request", out: page},
		{name: "client_id with control character", do: authzWith(func(v url.Values) { v.Set("client_id", "a\x01b") }), status: 400, code: "invalid_request", out: page},
		{name: "mismatched redirect_uri", do: authzWith(func(v url.Values) { v.Set("redirect_uri", "https://app.example.com/other") }), status: 400, code: "invalid_request", out: page},
		{name: "open redirect to evil host", do: authzWith(func(v url.Values) { v.Set("redirect_uri", evil) }), status: 400, code: "invalid_request", out: page},
		{name: "open redirect on loopback port of evil scheme https", do: authzWith(func(v url.Values) { v.Set("redirect_uri", "https://127.0.0.1:9999/callback") }), status: 400, code: "invalid_request", out: page},
		{name: "redirect_uri path traversal suffix", do: authzWith(func(v url.Values) { v.Set("redirect_uri", callback+"/../../evil") }), status: 400, code: "invalid_request", out: page},
		{name: "redirect_uri with added query", do: authzWith(func(v url.Values) { v.Set("redirect_uri", callback+"?next="+evil) }), status: 400, code: "invalid_request", out: page},
		{name: "redirect_uri with userinfo", do: authzWith(func(v url.Values) { v.Set("redirect_uri", "http://evil.example@127.0.0.1:9999/callback") }), status: 400, code: "invalid_request", out: page},
		{name: "loopback redirect other path", do: authzWith(func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9999/other") }), status: 400, code: "invalid_request", out: page},
		{name: "loopback localhost is not 127.0.0.1", do: authzWith(func(v url.Values) { v.Set("redirect_uri", "http://localhost:9999/callback") }), status: 400, code: "invalid_request", out: page},
		{name: "loopback on another port accepted", do: authzWith(func(v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:61234/callback") }), status: 303, out: accepted},
		{name: "redirect_uri required with several registered", do: authzWith(func(v url.Values) { v.Del("redirect_uri") }), status: 400, code: "invalid_request", out: page},
		{name: "duplicate redirect_uri", do: authzWith(func(v url.Values) { v.Add("redirect_uri", callback) }), status: 400, code: "invalid_request", out: page},
		{name: "client without redirect URIs", do: authzWith(func(v url.Values) { v.Set("client_id", rsID); v.Del("redirect_uri") }), status: 400, code: "invalid_request", out: page},
		{name: "malformed percent-encoding", do: authzRaw("client_id=" + publicID + "&redirect_uri=%zz"), status: 400, code: "invalid_request", out: page},
		{name: "too many parameters", do: authzRaw(strings.Repeat("x=1&", 70) + "client_id=" + publicID), status: 400, code: "invalid_request", out: page},
		{name: "PUT on authorization endpoint", do: func(e *env) *http.Response {
			req, _ := http.NewRequest(http.MethodPut, e.ts.URL+"/authorize", nil)
			resp, err := noFollow.Do(req)
			if err != nil {
				e.t.Fatal(err)
			}
			return resp
		}, status: 405, code: "invalid_request", out: page},
		{name: "POST authorization with JSON body", do: rawPost("/authorize", "application/json", `{"client_id":"public-client"}`, nil), status: 400, code: "invalid_request", out: page},

		// --- authorization endpoint: redirected errors ---
		{name: "missing response_type", do: authzWith(func(v url.Values) { v.Del("response_type") }), status: 303, code: "invalid_request", out: redirected},
		{name: "implicit response_type", do: authzWith(func(v url.Values) { v.Set("response_type", "token") }), status: 303, code: "unsupported_response_type", out: redirected},
		{name: "plain PKCE", do: authzWith(func(v url.Values) { v.Set("code_challenge_method", "plain"); v.Set("code_challenge", testVerifier) }), status: 303, code: "invalid_request", out: redirected},
		{name: "missing PKCE", do: authzWith(func(v url.Values) { v.Del("code_challenge"); v.Del("code_challenge_method") }), status: 303, code: "invalid_request", out: redirected},
		{name: "missing code_challenge_method", do: authzWith(func(v url.Values) { v.Del("code_challenge_method") }), status: 303, code: "invalid_request", out: redirected},
		{name: "malformed code_challenge", do: authzWith(func(v url.Values) { v.Set("code_challenge", "short!") }), status: 303, code: "invalid_request", out: redirected},
		{name: "unregistered resource", do: authzWith(func(v url.Values) { v.Set("resource", "https://unknown.example/mcp") }), status: 303, code: "invalid_target", out: redirected},
		{name: "resource with fragment", do: authzWith(func(v url.Values) { v.Set("resource", testResource+"#frag") }), status: 303, code: "invalid_target", out: redirected},
		{name: "relative resource", do: authzWith(func(v url.Values) { v.Set("resource", "/mcp") }), status: 303, code: "invalid_target", out: redirected},
		{name: "one good one unregistered resource", do: authzWith(func(v url.Values) { v.Add("resource", "https://unknown.example/") }), status: 303, code: "invalid_target", out: redirected},
		{name: "only unknown scopes", do: authzWith(func(v url.Values) { v.Set("scope", "admin root") }), status: 303, code: "invalid_scope", out: redirected},
		{name: "scope not accepted by the resource", do: authzWith(func(v url.Values) { v.Set("scope", "other:read") }), status: 303, code: "invalid_scope", out: redirected},
		{name: "malformed scope", do: authzWith(func(v url.Values) { v.Set("scope", `mcp:tools "x"`) }), status: 303, code: "invalid_scope", out: redirected},
		{name: "scopes mapping to two audiences", do: authzWith(func(v url.Values) { v.Del("resource"); v.Set("scope", "mcp:admin other:read") }), status: 303, code: "invalid_scope", out: redirected},
		{name: "no resource and no default", do: authzWith(func(v url.Values) { v.Del("resource"); v.Set("scope", "mcp:tools") }), status: 303, code: "invalid_target", out: redirected},
		{name: "duplicate state", do: authzWith(func(v url.Values) { v.Add("state", "other") }), status: 303, code: "invalid_request", out: redirected},
		{name: "duplicate scope", do: authzWith(func(v url.Values) { v.Add("scope", "mcp:prompts") }), status: 303, code: "invalid_request", out: redirected},
		{name: "duplicate code_challenge", do: authzWith(func(v url.Values) { v.Add("code_challenge", challengeOf(testVerifier)) }), status: 303, code: "invalid_request", out: redirected},
		{name: "fragment response_mode", do: authzWith(func(v url.Values) { v.Set("response_mode", "fragment") }), status: 303, code: "invalid_request", out: redirected},
		{name: "client not allowed the code grant", do: authzWith(func(v url.Values) { v.Set("client_id", "cc-only"); v.Set("redirect_uri", httpsCallback) }), status: 303, code: "unauthorized_client", out: redirected},

		// --- token endpoint: request shape ---
		{name: "GET on token endpoint", do: func(e *env) *http.Response { return e.get("/token") }, status: 405, code: "invalid_request", out: jsonError},
		{name: "wrong content type", do: rawPost("/token", "application/json", `{"grant_type":"authorization_code"}`, nil), status: 400, code: "invalid_request", out: jsonError},
		{name: "missing content type", do: rawPost("/token", "", "grant_type=client_credentials", nil), status: 400, code: "invalid_request", out: jsonError},
		{name: "body over the size limit", do: rawPost("/token", "application/x-www-form-urlencoded", "grant_type=authorization_code&pad="+strings.Repeat("a", DefaultMaxBodyBytes), nil), status: 413, code: "invalid_request", out: jsonError},
		{name: "missing grant_type", do: tokenWith(func(e *env, v url.Values) { v.Del("grant_type") }), status: 400, code: "invalid_request", out: jsonError},
		{name: "password grant", do: tokenWith(func(e *env, v url.Values) { v.Set("grant_type", "password") }), status: 400, code: "unsupported_grant_type", out: jsonError},
		{name: "duplicate code parameter", do: tokenWith(func(e *env, v url.Values) { v.Add("code", "x") }), status: 400, code: "invalid_request", out: jsonError},
		{name: "duplicate grant_type", do: tokenWith(func(e *env, v url.Values) { v.Add("grant_type", "authorization_code") }), status: 400, code: "invalid_request", out: jsonError},

		// --- token endpoint: client authentication ---
		{name: "invalid_client over Basic", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}}, confID, "wrong-secret-0123456789")
		}, status: 401, code: "invalid_client", out: jsonError, after: nil},
		{name: "unknown client over Basic", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}}, "nobody", "whatever")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "malformed Basic header", do: rawPost("/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", map[string]string{"Authorization": "Basic !!!"}), status: 401, code: "invalid_client", out: jsonError},
		{name: "Basic and client_secret_post together", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_secret": {confSecret}}, confID, confSecret)
		}, status: 400, code: "invalid_request", out: jsonError},
		{name: "confidential client without credentials", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {confID}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "no client identification at all", do: rawPost("/token", "application/x-www-form-urlencoded", "grant_type=client_credentials", nil), status: 401, code: "invalid_client", out: jsonError},
		{name: "post client using Basic", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}}, postID, postSecret)
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "basic client using client_secret_post", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {confID}, "client_secret": {confSecret}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "public client sending a secret", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {publicID}, "client_secret": {"whatever-whatever"}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "client_id differs from Basic id", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {publicID}}, confID, confSecret)
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "unsupported client_assertion_type", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {"urn:example:other"}, "client_assertion": {"a.b.c"}}, "", "")
		}, status: 400, code: "invalid_request", out: jsonError},
		{name: "malformed client_assertion", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {clientAssertionTypeJWT}, "client_assertion": {"not-a-jwt"}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "expired dynamically registered client", do: func(e *env) *http.Response {
			err := e.store.CreateClient(context.Background(), &storage.Client{ID: "dyn-expired", Kind: storage.ClientRegistered,
				Metadata:  metadata.Client{ClientID: "dyn-expired", RedirectURIs: []string{httpsCallback}, TokenEndpointAuthMethod: "none"},
				CreatedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(time.Minute)}, 0)
			if err != nil {
				e.t.Fatal(err)
			}
			e.clock.Advance(2 * time.Minute)
			return e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {"dyn-expired"}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "deleted dynamically registered client", do: func(e *env) *http.Response {
			ctx := context.Background()
			c := &storage.Client{ID: "dyn-deleted", Kind: storage.ClientRegistered,
				Metadata:  metadata.Client{ClientID: "dyn-deleted", RedirectURIs: []string{httpsCallback}, TokenEndpointAuthMethod: "none"},
				CreatedAt: e.clock.Now()}
			if err := e.store.CreateClient(ctx, c, 0); err != nil {
				e.t.Fatal(err)
			}
			if err := e.store.DeleteClient(ctx, c.ID); err != nil {
				e.t.Fatal(err)
			}
			return e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {"x"}, "client_id": {c.ID}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},

		// --- grant types per client ---
		{name: "client_credentials by a public client", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {publicID}}, "", "")
		}, status: 400, code: "unauthorized_client", out: jsonError},
		{name: "grant type not registered for the client", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {postID}, "client_secret": {postSecret}}, "", "")
		}, status: 400, code: "unauthorized_client", out: jsonError},
		{name: "client_credentials for an unregistered resource", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://unknown.example/"}}, confID, confSecret)
		}, status: 400, code: "invalid_target", out: jsonError},
		{name: "client_credentials with only unknown scopes", do: func(e *env) *http.Response {
			return e.post("/token", url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}, "scope": {"root"}}, confID, confSecret)
		}, status: 400, code: "invalid_scope", out: jsonError},

		// --- authorization_code grant ---
		{name: "missing code", do: tokenWith(func(e *env, v url.Values) { v.Del("code") }), status: 400, code: "invalid_request", out: jsonError},
		{name: "missing code_verifier", do: tokenWith(func(e *env, v url.Values) { v.Del("code_verifier") }), status: 400, code: "invalid_request", out: jsonError},
		{name: "malformed code_verifier", do: tokenWith(func(e *env, v url.Values) { v.Set("code_verifier", "short") }), status: 400, code: "invalid_request", out: jsonError},
		{name: "wrong code_verifier", do: tokenWith(func(e *env, v url.Values) { v.Set("code_verifier", strings.Repeat("a", 43)) }), status: 400, code: "invalid_grant", out: jsonError},
		{name: "unknown code", do: tokenWith(func(e *env, v url.Values) { v.Set("code", "no-such-code") }), status: 400, code: "invalid_grant", out: jsonError},
		{name: "expired code", do: tokenWith(func(e *env, v url.Values) { e.clock.Advance(DefaultCodeLifetime + time.Second) }), status: 400, code: "invalid_grant", out: jsonError},
		{name: "code from another client", do: tokenWith(func(e *env, v url.Values) {
			v.Del("client_id")
			v.Set("client_id", postID)
			v.Set("client_secret", postSecret)
		}), status: 400, code: "invalid_grant", out: jsonError},
		{name: "redirect_uri differs at token", do: tokenWith(func(e *env, v url.Values) { v.Set("redirect_uri", "http://127.0.0.1:9999/other") }), status: 400, code: "invalid_grant", out: jsonError},
		{name: "token resource outside the grant", do: tokenWith(func(e *env, v url.Values) { v.Set("resource", otherResource) }), status: 400, code: "invalid_target", out: jsonError},
		{name: "token resource with fragment", do: tokenWith(func(e *env, v url.Values) { v.Set("resource", testResource+"#x") }), status: 400, code: "invalid_target", out: jsonError},
		{name: "code replay revokes the grant", do: func(e *env) *http.Response {
			v := codeForm(e)
			status, first := decodeToken(e.t, e.post("/token", v, "", ""))
			if status != 200 {
				e.t.Fatalf("first exchange: %d %+v", status, first)
			}
			e.t.Cleanup(func() {}) // keep first for after()
			replayFirst = first
			return e.post("/token", v, "", "")
		}, status: 400, code: "invalid_grant", out: jsonError, after: func(t *testing.T, e *env) {
			status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {replayFirst.RefreshToken}, "client_id": {publicID}}, "", ""))
			if status != 400 || tj.Error != "invalid_grant" {
				t.Fatalf("refresh after code replay: %d %+v", status, tj)
			}
			if m := e.introspect(replayFirst.AccessToken); m["active"] != false {
				t.Fatalf("access token after code replay: %v", m)
			}
		}},
		{name: "invalid code replay by another client revokes nothing", do: func(e *env) *http.Response {
			v := codeForm(e)
			status, first := decodeToken(e.t, e.post("/token", v, "", ""))
			if status != 200 {
				e.t.Fatalf("first exchange: %d", status)
			}
			replayFirst = first
			v.Set("client_id", postID)
			v.Set("client_secret", postSecret)
			return e.post("/token", v, "", "")
		}, status: 400, code: "invalid_grant", out: jsonError, after: func(t *testing.T, e *env) {
			if m := e.introspect(replayFirst.AccessToken); m["active"] != true {
				t.Fatalf("an invalid replay revoked the grant: %v", m)
			}
		}},

		// --- refresh_token grant ---
		{name: "unknown refresh token", do: refreshWith(func(e *env, v url.Values) { v.Set("refresh_token", "nope") }), status: 400, code: "invalid_grant", out: jsonError},
		{name: "missing refresh token", do: refreshWith(func(e *env, v url.Values) { v.Del("refresh_token") }), status: 400, code: "invalid_request", out: jsonError},
		{name: "refresh reuse revokes the family", do: func(e *env) *http.Response {
			v := refreshForm(e)
			status, next := decodeToken(e.t, e.post("/token", v, "", ""))
			if status != 200 {
				e.t.Fatalf("first refresh: %d", status)
			}
			replayFirst = next
			return e.post("/token", v, "", "")
		}, status: 400, code: "invalid_grant", out: jsonError, after: func(t *testing.T, e *env) {
			status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {replayFirst.RefreshToken}, "client_id": {publicID}}, "", ""))
			if status != 400 || tj.Error != "invalid_grant" {
				t.Fatalf("successor after reuse: %d %+v", status, tj)
			}
		}},
		{name: "scope widening on refresh", do: refreshWith(func(e *env, v url.Values) { v.Set("scope", "mcp:tools mcp:prompts") }), status: 400, code: "invalid_scope", out: jsonError},
		{name: "resource widening on refresh", do: refreshWith(func(e *env, v url.Values) { v.Set("resource", otherResource) }), status: 400, code: "invalid_target", out: jsonError},
		{name: "refresh token of another client", do: refreshWith(func(e *env, v url.Values) {
			v.Set("client_id", postID)
			v.Set("client_secret", postSecret)
		}), status: 400, code: "invalid_grant", out: jsonError},
		{name: "expired refresh token", do: refreshWith(func(e *env, v url.Values) { e.clock.Advance(DefaultRefreshTokenLifetime + time.Second) }), status: 400, code: "invalid_grant", out: jsonError},

		// --- introspection and revocation ---
		{name: "introspection without credentials", do: func(e *env) *http.Response {
			return e.post("/introspect", url.Values{"token": {"x"}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "introspection by a public client", do: func(e *env) *http.Response {
			return e.post("/introspect", url.Values{"token": {"x"}, "client_id": {publicID}}, "", "")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "introspection with a wrong secret", do: func(e *env) *http.Response {
			return e.post("/introspect", url.Values{"token": {"x"}}, rsID, "wrong-secret-wrong-secret")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "introspection without token", do: func(e *env) *http.Response {
			return e.post("/introspect", url.Values{}, rsID, rsSecret)
		}, status: 400, code: "invalid_request", out: jsonError},
		{name: "revocation without token", do: func(e *env) *http.Response {
			return e.post("/revoke", url.Values{"client_id": {publicID}}, "", "")
		}, status: 400, code: "invalid_request", out: jsonError},
		{name: "revocation with bad credentials", do: func(e *env) *http.Response {
			return e.post("/revoke", url.Values{"token": {"x"}}, confID, "wrong-secret-0123456789")
		}, status: 401, code: "invalid_client", out: jsonError},
		{name: "GET on revocation endpoint", do: func(e *env) *http.Response { return e.get("/revoke") }, status: 405, code: "invalid_request", out: jsonError},
		{name: "revocation of an unknown token", do: func(e *env) *http.Response {
			return e.post("/revoke", url.Values{"token": {"unknown"}, "client_id": {publicID}}, "", "")
		}, status: 200, out: plain},
	}
	if len(cases) < 50 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) {
				c.Scopes = append(c.Scopes, Scope{Name: "mcp:admin", Audiences: []string{testResource}})
				c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "cc-only", RedirectURIs: []string{httpsCallback}, GrantTypes: []string{"client_credentials"}}, Secret: "cc-secret-0123456789"})
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			resp := tc.do(e)
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d; body %s; Location %q", resp.StatusCode, tc.status, body, resp.Header.Get("Location"))
			}
			loc := resp.Header.Get("Location")
			switch tc.out {
			case page:
				if loc != "" {
					t.Fatalf("redirected to %q", loc)
				}
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("X-Frame-Options") != "DENY" ||
					!strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
					t.Fatalf("error page headers: %v", resp.Header)
				}
				if !strings.Contains(string(body), "<code>"+tc.code+"</code>") {
					t.Fatalf("page does not name %s: %s", tc.code, body)
				}
				if strings.Contains(string(body), "<b>") {
					t.Fatal("unescaped markup on the error page")
				}
				if resp.Header.Get("Access-Control-Allow-Origin") != "" {
					t.Fatal("CORS on the authorization endpoint")
				}
			case redirected:
				u, err := url.Parse(loc)
				if err != nil {
					t.Fatal(err)
				}
				base := u.Scheme + "://" + u.Host + u.Path
				if base != callback && base != httpsCallback {
					t.Fatalf("redirected to an unvalidated URI %q", loc)
				}
				q := u.Query()
				if q.Get("error") != tc.code {
					t.Fatalf("error = %q (%s), want %q", q.Get("error"), q.Get("error_description"), tc.code)
				}
				if q.Get("iss") != e.issuer {
					t.Fatalf("iss = %q", q.Get("iss"))
				}
				if q.Get("code") != "" {
					t.Fatal("error redirect carries a code")
				}
				if tc.name != "duplicate state" && q.Get("state") != "st-123" {
					t.Fatalf("state = %q", q.Get("state"))
				}
				if tc.name == "duplicate state" && q.Has("state") {
					t.Fatal("a repeated state was echoed")
				}
			case accepted:
				if !strings.HasPrefix(loc, "/login?request_id=") {
					t.Fatalf("Location = %q", loc)
				}
			case jsonError:
				if loc != "" {
					t.Fatalf("redirected to %q", loc)
				}
				var eb struct {
					Error string `json:"error"`
				}
				if err := json.Unmarshal(body, &eb); err != nil {
					t.Fatalf("body %q: %v", body, err)
				}
				if eb.Error != tc.code {
					t.Fatalf("error = %q, want %q; body %s", eb.Error, tc.code, body)
				}
				if resp.Header.Get("Cache-Control") != "no-store" {
					t.Fatalf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
				}
				if resp.StatusCode == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
					t.Fatalf("401 without a Basic challenge")
				}
			case plain:
				if loc != "" {
					t.Fatalf("redirected to %q", loc)
				}
			}
			if tc.after != nil {
				tc.after(t, e)
			}
		})
	}
}

// replayFirst carries a token response from a case's do to its after; the
// cases run sequentially.
var replayFirst tokenJSON
