package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// startLogin registers a client, starts an authorization in a fresh
// browser and returns the browser and the login page.
func startLogin(t *testing.T, s *testServer, scope string) (*browser, *page) {
	t.Helper()
	b, p, _ := startLoginClient(t, s, scope)
	return b, p
}

// startLoginClient is startLogin that also returns the client_id.
func startLoginClient(t *testing.T, s *testServer, scope string) (*browser, *page, string) {
	t.Helper()
	clientID := registerClient(t, s, "")
	b := newBrowser(t)
	p := b.get(t, authorizeURL(s, clientID, scope, "st-1"))
	if p.status != http.StatusOK || p.url.Path != "/login" || !p.isLogin() {
		t.Fatalf("login page: status %d at %s:\n%s", p.status, p.url, p.body)
	}
	return b, p, clientID
}

func loginForm(p *page, user, password string) url.Values {
	f := p.hidden()
	f.Set("username", user)
	f.Set("password", password)
	f.Set("action", "login")
	return f
}

func TestLoginPage(t *testing.T) {
	s := startServer(t)
	_, p := startLogin(t, s, "mcp:tools mcp:prompts")
	checkPageHeaders(t, p)
	for _, want := range []string{"test client", resourceName, `name="csrf"`, `name="request_id"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("login page lacks %q", want)
		}
	}
	// Cancel redirects to the client, which form-action must allow.
	if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "form-action 'self' http://127.0.0.1:47011;") {
		t.Errorf("CSP %q does not let Cancel reach the client", csp)
	}
}

// TestWrongCredentials: a clear error on the login page itself, 401, no
// redirect, and the form still works afterwards.
func TestWrongCredentials(t *testing.T) {
	s := startServerWith(t, func(c *config) { c.loginFailureRate = rate.Inf })
	for _, tc := range []struct{ name, user, password string }{
		{"wrong password", testUser, "nope"},
		{"wrong user", "mallory", testPassword},
		{"empty", "", ""},
		{"password prefix", testUser, testPassword[:5]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, p := startLogin(t, s, "mcp:tools")
			got := b.post(t, p.formURL(t), loginForm(p, tc.user, tc.password))
			if got.status != http.StatusUnauthorized {
				t.Fatalf("status %d, want 401", got.status)
			}
			if b.final != nil || got.header.Get("Location") != "" || got.url.Path != "/login" {
				t.Fatalf("wrong credentials redirected (final %v, Location %q, at %s)", b.final, got.header.Get("Location"), got.url)
			}
			if !strings.Contains(got.body, `role="alert">Wrong user name or password. Please try again.</p>`) {
				t.Fatalf("no clear error on the page:\n%s", got.body)
			}
			if got.header.Get("Set-Cookie") != "" && strings.Contains(got.header.Get("Set-Cookie"), "nq_session") {
				t.Fatalf("a session was set after a failed login")
			}
			checkPageHeaders(t, got)
			// The page offers the form again, and the right password works.
			ok := b.post(t, got.formURL(t), loginForm(got, testUser, testPassword))
			if ok.status != http.StatusOK || !ok.isConsent() || ok.url.Path != "/consent" {
				t.Fatalf("retry with the right password: status %d at %s\n%s", ok.status, ok.url, ok.body)
			}
		})
	}
}

// TestLoginCSRF: the form is refused from another site, without this
// browser's cookie, with a token for another request, or with a forged
// one.
func TestLoginCSRF(t *testing.T) {
	s := startServer(t)
	b, p := startLogin(t, s, "mcp:tools")
	_, other := startLogin(t, s, "mcp:tools")
	cases := []struct {
		name   string
		client *browser
		edit   func(url.Values)
		header map[string]string
	}{
		{"no cookie", newBrowser(t), func(url.Values) {}, nil},
		{"token of another request", b, func(f url.Values) { f.Set("csrf", other.hidden().Get("csrf")) }, nil},
		{"token of another browser", b, func(f url.Values) {
			f.Set("request_id", other.hidden().Get("request_id"))
			f.Set("csrf", other.hidden().Get("csrf"))
		}, nil},
		{"forged token", b, func(f url.Values) { f.Set("csrf", "AAAA") }, nil},
		{"missing token", b, func(f url.Values) { f.Del("csrf") }, nil},
		{"cross-site", b, func(url.Values) {}, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"foreign origin", b, func(url.Values) {}, map[string]string{"Origin": "https://evil.example"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := loginForm(p, testUser, testPassword)
			tc.edit(f)
			req, _ := http.NewRequest(http.MethodPost, p.formURL(t), strings.NewReader(f.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			got := tc.client.do(t, req)
			if got.status != http.StatusForbidden || got.isConsent() || tc.client.final != nil {
				t.Fatalf("status %d, want 403 without consent:\n%s", got.status, got.body)
			}
			checkPageHeaders(t, got)
		})
	}
	// The untouched form still works.
	if got := b.post(t, p.formURL(t), loginForm(p, testUser, testPassword)); got.status != http.StatusOK || !got.isConsent() {
		t.Fatalf("genuine login after refusals: status %d", got.status)
	}
}

// TestConsentFlow covers what comes after the login: the consent page of
// authz/consent, approval and denial, and the session that spares a second
// login.
func TestConsentFlow(t *testing.T) {
	s := startServer(t)
	var clientID string
	consentPage := func(t *testing.T) (*browser, *page) {
		b, p, id := startLoginClient(t, s, "mcp:tools mcp:prompts")
		clientID = id
		c := b.post(t, p.formURL(t), loginForm(p, testUser, testPassword))
		if c.status != http.StatusOK || !c.isConsent() {
			t.Fatalf("consent page: %d\n%s", c.status, c.body)
		}
		checkPageHeaders(t, c)
		if got := c.scopes(); len(got) != 2 || got[0] != scopeTools || got[1] != scopePrompts {
			t.Fatalf("listed scopes %v", got)
		}
		for _, want := range []string{"test client", "127.0.0.1", resourceName} {
			if !strings.Contains(c.body, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}
		return b, c
	}
	t.Run("approve", func(t *testing.T) {
		b, c := consentPage(t)
		f := c.hidden()
		f.Set("action", "approve")
		b.post(t, c.formURL(t), f)
		if b.final == nil {
			t.Fatal("no redirect to the client")
		}
		q := b.final.Query()
		if q.Get("code") == "" || q.Get("state") != "st-1" || q.Get("iss") != s.publicURL {
			t.Fatalf("callback %v", q)
		}
		if got := redeem(t, s, clientID, q.Get("code")); got != "mcp:tools mcp:prompts" {
			t.Fatalf("granted scope %q", got)
		}

		// Within the session, the next authorization skips the login.
		p := b.get(t, authorizeURL(s, clientID, "mcp:tools mcp:admin", "st-2"))
		if p.isLogin() || !p.isConsent() || p.url.Path != "/consent" {
			t.Fatalf("second authorization: status %d at %s, login form %v", p.status, p.url, p.isLogin())
		}
		if got := p.scopes(); len(got) != 2 || got[1] != scopeAdmin {
			t.Errorf("step-up consent lists %v", got)
		}
	})
	t.Run("deny", func(t *testing.T) {
		b, c := consentPage(t)
		f := c.hidden()
		f.Set("action", "deny")
		b.post(t, c.formURL(t), f)
		if b.final == nil {
			t.Fatal("no redirect to the client")
		}
		if q := b.final.Query(); q.Get("error") != "access_denied" || q.Get("state") != "st-1" || q.Get("iss") != s.publicURL || q.Get("code") != "" {
			t.Fatalf("callback %v", q)
		}
	})
	t.Run("cancel at login", func(t *testing.T) {
		b, p := startLogin(t, s, "mcp:tools")
		f := p.hidden()
		f.Set("action", "cancel")
		b.post(t, p.formURL(t), f)
		if b.final == nil || b.final.Query().Get("error") != "access_denied" {
			t.Fatalf("cancel: final %v", b.final)
		}
	})
	t.Run("forged session", func(t *testing.T) {
		clientID := registerClient(t, s, "")
		for _, v := range []string{"1700000000.AAAA", "x", "9999999999." + strings.Repeat("A", 43)} {
			b := newBrowser(t)
			u, _ := url.Parse(s.publicURL)
			b.Jar.SetCookies(u, []*http.Cookie{{Name: "nq_session", Value: v, Path: "/"}})
			p := b.get(t, authorizeURL(s, clientID, "mcp:tools", "st"))
			if !p.isLogin() || p.isConsent() {
				t.Fatalf("session %q: not sent to the login page (at %s)", v, p.url)
			}
		}
	})
	t.Run("replay after completion", func(t *testing.T) {
		b, c := consentPage(t)
		f := c.hidden()
		f.Set("action", "approve")
		b.post(t, c.formURL(t), f)
		if b.final == nil {
			t.Fatal("first approval did not redirect")
		}
		got := b.post(t, c.formURL(t), f)
		if b.final != nil || got.status < 400 {
			t.Fatalf("replayed approval: status %d, final %v", got.status, b.final)
		}
	})
}

func TestLoginUnknownRequest(t *testing.T) {
	s := startServer(t)
	b := newBrowser(t)
	for _, u := range []string{"/login", "/login?request_id=nope", "/login?request_id=" + strings.Repeat("x", 300)} {
		p := b.get(t, s.publicURL+u)
		if p.status != http.StatusBadRequest || !strings.Contains(p.body, "expired") {
			t.Errorf("%s: status %d\n%s", u, p.status, p.body)
		}
		checkPageHeaders(t, p)
	}
	req, _ := http.NewRequest(http.MethodPut, s.publicURL+"/login", nil)
	if p := b.do(t, req); p.status != http.StatusMethodNotAllowed {
		t.Errorf("PUT /login: %d", p.status)
	}
}

// TestLoginRateLimit: after a burst of failures even the right password
// is refused for a while, so guessing is slow.
func TestLoginRateLimit(t *testing.T) {
	// One refill a day: the test does not depend on how fast it runs.
	s := startServerWith(t, func(c *config) { c.loginFailureRate = rate.Every(24 * time.Hour) })
	b, p := startLogin(t, s, "mcp:tools")
	var last *page
	for range 6 {
		last = b.post(t, p.formURL(t), loginForm(p, testUser, "guess"))
	}
	if last.status != http.StatusTooManyRequests || !strings.Contains(last.body, "Too many failed sign-ins") {
		t.Fatalf("6th failure: status %d", last.status)
	}
	if got := b.post(t, p.formURL(t), loginForm(p, testUser, testPassword)); got.status != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: status %d", got.status)
	}
}

// redeem exchanges a code from authorizeURL and returns the granted scope.
func redeem(t *testing.T, s *testServer, clientID, code string) string {
	t.Helper()
	resp, err := http.PostForm(s.publicURL+"/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"redirect_uri":  {testRedirect},
		"client_id":     {clientID},
		"code_verifier": {testVerifier},
		"resource":      {s.mcpURL},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
		Scope       string `json:"scope"`
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token: status %d, %v, %+v", resp.StatusCode, err, tok)
	}
	info, err := s.verifier.Verify(context.Background(), tok.AccessToken)
	if err != nil {
		t.Fatalf("the issued token does not verify: %v", err)
	}
	if info.Subject != testUser || strings.Join(info.Scopes, " ") != tok.Scope {
		t.Fatalf("token info %+v, response scope %q", info, tok.Scope)
	}
	return tok.Scope
}

// TestServerErrorPage: the authorization server's own error pages (here
// an unknown client, which must not be redirected to) use the consent
// page's look and headers.
func TestServerErrorPage(t *testing.T) {
	s := startServer(t)
	b := newBrowser(t)
	p := b.get(t, authorizeURL(s, "no-such-client", "mcp:tools", "st"))
	if p.status != http.StatusBadRequest || b.final != nil {
		t.Fatalf("unknown client: %d, final %v", p.status, b.final)
	}
	checkPageHeaders(t, p)
	if !strings.Contains(p.body, "Unknown client.") {
		t.Errorf("page lacks the reason:\n%s", p.body)
	}
}
