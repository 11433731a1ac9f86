package attack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestMalformedAuthorize sends malformed authorization requests: every one
// is refused with the exact error, on the error page while the redirect
// URI is unproven and by redirect after, and nothing is stored.
func TestMalformedAuthorize(t *testing.T) {
	w := newWorld(t, options{})
	good := func() url.Values { return authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read") }

	pages := []struct {
		name, raw, want string
		status          int
	}{
		{"query-too-long", good().Encode() + "&pad=" + strings.Repeat("a", 33<<10), "The request is too long.", 400},
		{"parameter-too-long", good().Encode() + "&x=" + strings.Repeat("a", 9<<10), "The request parameters are malformed or too many.", 400},
		{"too-many-parameters", good().Encode() + strings.Repeat("&p=1", 70), "The request parameters are malformed or too many.", 400},
		{"invalid-utf8-value", good().Encode() + "&nonce=%ff%fe", "The request parameters are malformed or too many.", 400},
		{"invalid-utf8-name", good().Encode() + "&%ff=1", "The request parameters are malformed or too many.", 400},
		{"bad-percent-escape", good().Encode() + "&nonce=%zz", "The request parameters are malformed or too many.", 400},
		{"semicolon-separator", strings.Replace(good().Encode(), "&", ";", 1), "The request parameters are malformed or too many.", 400},
		{"nul-in-client-id", strings.Replace(good().Encode(), "client_id="+webPubID, "client_id="+webPubID+"%00", 1), "The client_id parameter is malformed.", 400},
		{"crlf-in-client-id", strings.Replace(good().Encode(), "client_id="+webPubID, "client_id="+webPubID+"%0d%0aX-Injected:%201", 1), "The client_id parameter is malformed.", 400},
		{"redirect-uri-too-long", strings.Replace(good().Encode(), url.QueryEscape(webCB), url.QueryEscape(webCB+"?"+strings.Repeat("a", 2100)), 1), "The redirect_uri parameter is too long.", 400},
		{"missing-client-id", strings.Replace(good().Encode(), "client_id="+webPubID, "", 1), "The client_id parameter is missing.", 400},
	}
	for _, tc := range pages {
		t.Run("malformed/authorize-"+tc.name, func(t *testing.T) {
			w.nothingStored(t, func() {
				errorPage(t, w.browser(user).get("/authorize?"+tc.raw), "invalid_request", tc.want)
			})
		})
	}

	redirects := []struct {
		name  string
		edit  func(url.Values)
		code  string
		state bool // whether the state comes back
	}{
		{"duplicate-state", func(q url.Values) { q.Add("state", "other") }, "invalid_request", false},
		{"duplicate-response-type", func(q url.Values) { q.Add("response_type", "code") }, "invalid_request", true},
		{"duplicate-challenge-method", func(q url.Values) { q.Add("code_challenge_method", "plain") }, "invalid_request", true},
		{"duplicate-scope", func(q url.Values) { q.Add("scope", "a:write") }, "invalid_request", true},
		{"state-too-long", func(q url.Values) { q.Set("state", strings.Repeat("s", 2049)) }, "invalid_request", false},
		{"nonce-too-long", func(q url.Values) { q.Set("nonce", strings.Repeat("n", 513)) }, "invalid_request", true},
		{"scope-with-quote", func(q url.Values) { q.Set("scope", `a:read"`) }, "invalid_scope", true},
		{"scope-with-backslash", func(q url.Values) { q.Set("scope", `a:read\`) }, "invalid_scope", true},
		{"too-many-scopes", func(q url.Values) { q.Set("scope", strings.Repeat("a:read ", 120)) }, "invalid_scope", true},
		{"too-many-resources", func(q url.Values) {
			for range 11 {
				q.Add("resource", w.resA)
			}
		}, "invalid_target", true},
	}
	for _, tc := range redirects {
		t.Run("malformed/authorize-"+tc.name, func(t *testing.T) {
			q := good()
			state := q.Get("state")
			tc.edit(q)
			if !tc.state {
				state = ""
			}
			w.nothingStored(t, func() {
				w.redirectErr(t, w.browser(user).get("/authorize?"+q.Encode()), webCB, tc.code, state)
			})
		})
	}

	t.Run("malformed/authorize-post-json", func(t *testing.T) {
		b, _ := json.Marshal(map[string]string{"client_id": webPubID, "redirect_uri": webCB, "response_type": "code"})
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).send(http.MethodPost, "/authorize", string(b), "Content-Type", "application/json"),
				"invalid_request", "The request body must be application/x-www-form-urlencoded.")
		})
	})
	t.Run("malformed/authorize-post-too-large", func(t *testing.T) {
		body := good().Encode() + "&pad=" + strings.Repeat("a", 70<<10)
		w.nothingStored(t, func() {
			r := w.browser(user).send(http.MethodPost, "/authorize", body, "Content-Type", "application/x-www-form-urlencoded")
			if r.status != http.StatusRequestEntityTooLarge || r.loc() != "" {
				t.Errorf("got %d %q, want 413 without redirect", r.status, r.loc())
			}
			unframeable(t, r)
		})
	})
	t.Run("malformed/authorize-method-put", func(t *testing.T) {
		w.nothingStored(t, func() {
			r := w.browser(user).send(http.MethodPut, "/authorize?"+good().Encode(), "")
			if r.status != http.StatusMethodNotAllowed || r.loc() != "" || !strings.Contains(r.header.Get("Allow"), "POST") {
				t.Errorf("got %d %q Allow %q", r.status, r.loc(), r.header.Get("Allow"))
			}
		})
	})

	// Header injection through values that reach the Location header.
	t.Run("malformed/state-crlf-stays-in-location-query", func(t *testing.T) {
		evil := "x\r\nSet-Cookie: pwned=1\r\n\r\n<script>"
		for _, edit := range []func(url.Values){
			func(url.Values) {}, // success
			func(q url.Values) { q.Set("response_type", "token") }, // error redirect
		} {
			q := good()
			q.Set("state", evil)
			edit(q)
			r := w.browser(user).authorize(q)
			if r.status != http.StatusSeeOther {
				t.Fatalf("status %d", r.status)
			}
			if len(r.header.Values("Set-Cookie")) != 0 && strings.Contains(strings.Join(r.header.Values("Set-Cookie"), ";"), "pwned") {
				t.Fatalf("state injected a header: %v", r.header)
			}
			loc := r.loc()
			if strings.ContainsAny(loc, "\r\n<>\" ") || !strings.HasPrefix(loc, webCB+"?") {
				t.Fatalf("Location %q", loc)
			}
			u, _ := url.Parse(loc)
			if u.Query().Get("state") != evil {
				t.Errorf("state round trip: %q", u.Query().Get("state"))
			}
		}
	})
	t.Run("malformed/error-description-charset", func(t *testing.T) {
		// error_description must stay within OAuth's character set even
		// when the refusal is about attacker text.
		q := good()
		q.Set("scope", "a:read \x7f\"<x>")
		r := w.browser(user).get("/authorize?" + q.Encode())
		qs := w.redirectErr(t, r, webCB, "invalid_scope", q.Get("state"))
		for _, c := range qs.Get("error_description") {
			if c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
				t.Fatalf("error_description has %q: %q", c, qs.Get("error_description"))
			}
		}
	})
}

// TestMalformedToken sends malformed token requests.
func TestMalformedToken(t *testing.T) {
	w := newWorld(t, options{})
	p := newPKCE()
	code := w.code(authzParams(pubID, loopCB, p, w.resA, "a:read"))
	base := url.Values{"grant_type": {"authorization_code"}, "client_id": {pubID}, "code": {code}, "code_verifier": {p.verifier}, "redirect_uri": {loopCB}}
	raw := func(body string, hdr ...string) *resp {
		return w.browser("").send(http.MethodPost, "/token", body, append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
	}

	cases := []struct {
		name   string
		send   func() *resp
		status int
		code   string
	}{
		{"duplicate-grant-type", func() *resp { return raw(base.Encode() + "&grant_type=client_credentials") }, 400, "invalid_request"},
		{"duplicate-code", func() *resp { return raw(base.Encode() + "&code=other") }, 400, "invalid_request"},
		{"duplicate-client-id", func() *resp { return raw(base.Encode() + "&client_id=" + webPubID) }, 400, "invalid_request"},
		{"duplicate-verifier", func() *resp { return raw(base.Encode() + "&code_verifier=" + newPKCE().verifier) }, 400, "invalid_request"},
		{"json-body", func() *resp {
			b, _ := json.Marshal(map[string]string{"grant_type": "authorization_code", "code": code})
			return w.browser("").send(http.MethodPost, "/token", string(b), "Content-Type", "application/json")
		}, 400, "invalid_request"},
		{"multipart-body", func() *resp {
			return w.browser("").send(http.MethodPost, "/token", "--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nauthorization_code\r\n--b--\r\n",
				"Content-Type", "multipart/form-data; boundary=b")
		}, 400, "invalid_request"},
		{"charset-latin1", func() *resp {
			return w.browser("").send(http.MethodPost, "/token", base.Encode(), "Content-Type", "application/x-www-form-urlencoded; charset=iso-8859-1")
		}, 400, "invalid_request"},
		{"no-content-type", func() *resp { return w.browser("").send(http.MethodPost, "/token", base.Encode()) }, 400, "invalid_request"},
		{"body-too-large", func() *resp { return raw(base.Encode() + "&pad=" + strings.Repeat("a", 70<<10)) }, 413, "invalid_request"},
		{"invalid-utf8", func() *resp { return raw(base.Encode() + "&scope=%ff") }, 400, "invalid_request"},
		{"semicolon-separator", func() *resp { return raw(strings.Replace(base.Encode(), "&", ";", 2)) }, 400, "invalid_request"},
		{"nul-in-grant-type", func() *resp {
			return raw(strings.Replace(base.Encode(), "grant_type=authorization_code", "grant_type=authorization_code%00", 1))
		}, 400, "unsupported_grant_type"},
		{"params-in-query-ignored", func() *resp {
			return w.browser("").send(http.MethodPost, "/token?"+base.Encode(), "", "Content-Type", "application/x-www-form-urlencoded")
		}, 400, "invalid_request"},
		{"get-method", func() *resp { return w.browser("").get("/token?" + base.Encode()) }, 405, "invalid_request"},
		{"password-grant", func() *resp {
			return raw(url.Values{"grant_type": {"password"}, "client_id": {pubID}, "username": {user}, "password": {"x"}}.Encode())
		}, 400, "unsupported_grant_type"},
		{"implicit-grant", func() *resp { return raw(url.Values{"grant_type": {"implicit"}, "client_id": {pubID}}.Encode()) }, 400, "unsupported_grant_type"},
		{"malformed-basic", func() *resp { return raw(base.Encode(), "Authorization", "Basic !!!not-base64") }, 401, "invalid_client"},
		{"basic-without-colon", func() *resp { return raw(base.Encode(), "Authorization", "Basic d2ViLWNvbmY=") }, 401, "invalid_client"},
		{"repeated-name-with-quote-not-reflected", func() *resp { return raw(base.Encode() + "&x%22y=1&x%22y=2") }, 400, "invalid_request"},
	}
	for _, tc := range cases {
		t.Run("malformed/token-"+tc.name, func(t *testing.T) {
			var r *resp
			w.nothingStored(t, func() { r = tc.send() })
			jsonError(t, r, tc.status, tc.code)
			var m map[string]any
			if err := json.Unmarshal([]byte(r.body), &m); err != nil {
				t.Errorf("error body is not JSON: %q", r.body)
			}
			if strings.Contains(r.body, `x"y`) || strings.Contains(r.body, `x\"y`) {
				t.Errorf("attacker text reflected: %s", r.body)
			}
		})
	}
	// The code was never burnt by any of the above.
	if r := w.exchange(pubID, code, p.verifier, loopCB); r.status != 200 {
		t.Errorf("the code no longer works after malformed requests: %d %s", r.status, r.body)
	}
}

// TestMalformedRegistration sends malformed registrations.
func TestMalformedRegistration(t *testing.T) {
	w := newWorld(t, options{})
	send := func(body string, hdr ...string) *resp {
		if len(hdr) == 0 {
			hdr = []string{"Content-Type", "application/json"}
		}
		return w.browser("").send(http.MethodPost, "/register", body, hdr...)
	}
	ok := `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`
	cases := []struct {
		name, body string
		hdr        []string
		code       string
	}{
		{"deep-nesting", `{"redirect_uris":["http://127.0.0.1/cb"],"x":` + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + `}`, nil, "invalid_client_metadata"},
		{"deep-object-nesting", `{"x":` + strings.Repeat(`{"a":`, 40) + `1` + strings.Repeat("}", 40) + `,"redirect_uris":["http://127.0.0.1/cb"]}`, nil, "invalid_client_metadata"},
		{"text-plain", ok, []string{"Content-Type", "text/plain"}, "invalid_client_metadata"},
		{"form-encoded", "redirect_uris=http://127.0.0.1/cb", []string{"Content-Type", "application/x-www-form-urlencoded"}, "invalid_client_metadata"},
		{"too-large", `{"redirect_uris":["http://127.0.0.1/cb"],"client_name":"` + strings.Repeat("a", 70<<10) + `"}`, nil, "invalid_client_metadata"},
		{"invalid-json", `{"redirect_uris":["http://127.0.0.1/cb"]`, nil, "invalid_client_metadata"},
		{"trailing-data", ok + `{"a":1}`, nil, "invalid_client_metadata"},
		{"not-an-object", `["http://127.0.0.1/cb"]`, nil, "invalid_client_metadata"},
		{"duplicate-member", `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","token_endpoint_auth_method":"client_secret_basic"}`, nil, "invalid_client_metadata"},
		{"duplicate-member-escaped", `{"redirect_uris":["http://127.0.0.1/cb"],"redirect_uri\u0073":["https://app.example.com/cb"]}`, nil, "invalid_client_metadata"},
		{"invalid-utf8", "{\"redirect_uris\":[\"http://127.0.0.1/cb\"],\"client_name\":\"\xff\xfe\"}", nil, "invalid_client_metadata"},
		{"redirect-crlf", `{"redirect_uris":["http://127.0.0.1/cb\r\nX-Injected: 1"],"token_endpoint_auth_method":"none"}`, nil, "invalid_redirect_uri"},
		{"redirect-untrusted-host", `{"redirect_uris":["https://evil.example/cb"],"token_endpoint_auth_method":"none"}`, nil, "invalid_redirect_uri"},
		{"too-many-redirect-uris", `{"redirect_uris":[` + strings.TrimSuffix(strings.Repeat(`"http://127.0.0.1/cb",`, 21), ",") + `],"token_endpoint_auth_method":"none"}`, nil, "invalid_redirect_uri"},
		{"redirect-javascript", `{"redirect_uris":["javascript:alert(1)"],"token_endpoint_auth_method":"none"}`, nil, "invalid_redirect_uri"},
	}
	for _, tc := range cases {
		t.Run("malformed/register-"+tc.name, func(t *testing.T) {
			var r *resp
			w.nothingStored(t, func() { r = send(tc.body, tc.hdr...) })
			if r.status != 400 || r.jsonErr() != tc.code {
				t.Errorf("got %d %q, want 400 %s\n%s", r.status, r.jsonErr(), tc.code, r.body)
			}
			if !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.loc() != "" {
				t.Errorf("Content-Type %q, Location %q", r.header.Get("Content-Type"), r.loc())
			}
			if strings.Contains(r.body, "X-Injected") && !json.Valid([]byte(r.body)) {
				t.Errorf("invalid JSON with reflected input: %s", r.body)
			}
		})
	}
}

// TestMalformedBearer sends malformed requests to the protected MCP
// endpoints, including attempts to inject into WWW-Authenticate.
func TestMalformedBearer(t *testing.T) {
	w := newWorld(t, options{stepUp: true})
	tok := w.tokens(pubID, loopCB, w.resA, "a:read").AccessToken

	t.Run("malformed/bearer-two-authorization-headers", func(t *testing.T) {
		r := w.browser("").send(http.MethodPost, w.resA, "{}", "Authorization", "Bearer "+tok, "Authorization", "Bearer "+tok)
		challenge(t, r, 400, "invalid_request", w.prmA)
	})
	t.Run("malformed/bearer-token-in-query", func(t *testing.T) {
		challenge(t, w.browser("").send(http.MethodPost, w.resA+"?access_token="+tok, "{}"), 400, "invalid_request", w.prmA)
	})
	t.Run("malformed/bearer-token-in-form-body", func(t *testing.T) {
		r := w.browser("").send(http.MethodPost, w.resA, "access_token="+tok, "Content-Type", "application/x-www-form-urlencoded")
		challenge(t, r, 400, "invalid_request", w.prmA)
	})
	t.Run("malformed/bearer-oversized-token", func(t *testing.T) {
		challenge(t, w.callMCP(w.resA, "Bearer "+strings.Repeat("a", 20<<10)), 400, "invalid_request", w.prmA)
	})
	t.Run("malformed/bearer-not-token68", func(t *testing.T) {
		challenge(t, w.callMCP(w.resA, "Bearer a b"), 400, "invalid_request", w.prmA)
	})
	t.Run("malformed/bearer-empty", func(t *testing.T) {
		challenge(t, w.callMCP(w.resA, "Bearer "), 400, "invalid_request", w.prmA)
	})
	t.Run("malformed/bearer-other-scheme-is-no-credentials", func(t *testing.T) {
		challenge(t, w.callMCP(w.resA, "Basic "+tok), 401, "", w.prmA)
	})
	t.Run("malformed/www-authenticate-scope-injection", func(t *testing.T) {
		// The step-up rule reflects the Mcp-Name header into the required
		// scope; quotes, backslashes and spaces must not reach the header.
		for _, name := range []string{`x", error="invalid_token`, `x\", realm="evil`, "x y", "x,scope=admin"} {
			r := w.callMCP(w.resA, "Bearer "+tok, "Mcp-Name", name)
			challenge(t, r, 403, "insufficient_scope", w.prmA)
			wa := r.header.Get("WWW-Authenticate")
			if strings.Count(wa, "error=") != 1 || strings.Contains(wa, "realm=") || strings.Contains(wa, `error="invalid_token"`) {
				t.Errorf("Mcp-Name %q: challenge %q", name, wa)
			}
			if name == "x,scope=admin" && !strings.Contains(wa, `scope="a:read a:tool:x,scope=admin"`) {
				t.Errorf("Mcp-Name %q: comma inside the quoted scope expected, got %q", name, wa)
			}
		}
	})
}
