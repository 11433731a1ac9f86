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
	if p.status != http.StatusOK || p.url.Path != "/login" || !strings.Contains(p.body, `name="password"`) {
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
			if !strings.Contains(got.body, `role="alert">Wrong username or password. Please try again.</p>`) {
				t.Fatalf("no clear error on the page:\n%s", got.body)
			}
			checkPageHeaders(t, got)
			// The page offers the form again, and the right password works.
			ok := b.post(t, got.formURL(t), loginForm(got, testUser, testPassword))
			if ok.status != http.StatusOK || !strings.Contains(ok.body, "Allow access?") {
				t.Fatalf("retry with the right password: status %d\n%s", ok.status, ok.body)
			}
		})
	}
}

// TestLoginCSRF: the forms are refused without this browser's cookie, with
// a token for another request, or with a forged one.
func TestLoginCSRF(t *testing.T) {
	s := startServer(t)
	b, p := startLogin(t, s, "mcp:tools")
	_, other := startLogin(t, s, "mcp:tools")
	cases := []struct {
		name   string
		client *browser
		edit   func(url.Values)
	}{
		{"no cookie", newBrowser(t), func(url.Values) {}},
		{"token of another request", b, func(f url.Values) { f.Set("csrf", other.hidden().Get("csrf")) }},
		{"token of another browser", b, func(f url.Values) {
			f.Set("request_id", other.hidden().Get("request_id"))
			f.Set("csrf", other.hidden().Get("csrf"))
		}},
		{"forged token", b, func(f url.Values) { f.Set("csrf", "AAAA") }},
		{"missing token", b, func(f url.Values) { f.Del("csrf") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := loginForm(p, testUser, testPassword)
			tc.edit(f)
			got := tc.client.post(t, p.formURL(t), f)
			if got.status != http.StatusForbidden || strings.Contains(got.body, "Allow access?") || tc.client.final != nil {
				t.Fatalf("status %d, want 403 without consent:\n%s", got.status, got.body)
			}
			checkPageHeaders(t, got)
		})
	}
	// The untouched form still works.
	if got := b.post(t, p.formURL(t), loginForm(p, testUser, testPassword)); got.status != http.StatusOK {
		t.Fatalf("genuine login after refusals: status %d", got.status)
	}
}

// TestConsent covers the consent form: the ticket proves the login, the
// user may narrow the scopes or deny.
func TestConsent(t *testing.T) {
	s := startServer(t)
	var clientID string
	consentPage := func(t *testing.T) (*browser, *page) {
		b, p, id := startLoginClient(t, s, "mcp:tools mcp:prompts")
		clientID = id
		c := b.post(t, p.formURL(t), loginForm(p, testUser, testPassword))
		if c.status != http.StatusOK || !strings.Contains(c.body, "Allow access?") {
			t.Fatalf("consent page: %d\n%s", c.status, c.body)
		}
		checkPageHeaders(t, c)
		if got := c.scopes(); len(got) != 2 || got[0] != scopeTools || got[1] != scopePrompts {
			t.Fatalf("offered scopes %v", got)
		}
		if !strings.Contains(c.body, "127.0.0.1") {
			t.Errorf("consent page does not show the redirect host")
		}
		return b, c
	}
	t.Run("allow narrowed", func(t *testing.T) {
		b, c := consentPage(t)
		f := c.hidden()
		f.Set("action", "allow")
		f["scope"] = []string{scopePrompts, "mcp:admin"} // not requested: ignored
		b.post(t, c.formURL(t), f)
		if b.final == nil {
			t.Fatal("no redirect to the client")
		}
		q := b.final.Query()
		if q.Get("code") == "" || q.Get("state") != "st-1" || q.Get("iss") != s.publicURL {
			t.Fatalf("callback %v", q)
		}
		if got := redeem(t, s, clientID, q.Get("code")); got != scopePrompts {
			t.Fatalf("granted scope %q, want only the one the user kept", got)
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
	t.Run("no scope chosen", func(t *testing.T) {
		b, c := consentPage(t)
		f := c.hidden()
		f.Set("action", "allow")
		got := b.post(t, c.formURL(t), f)
		if got.status != http.StatusBadRequest || b.final != nil || !strings.Contains(got.body, "Choose at least one permission") {
			t.Fatalf("status %d:\n%s", got.status, got.body)
		}
	})
	t.Run("forged ticket", func(t *testing.T) {
		for _, ticket := range []string{"", "1700000000.AAAA", "x"} {
			b, c := consentPage(t)
			f := c.hidden()
			f.Set("ticket", ticket)
			f.Set("action", "allow")
			f["scope"] = []string{scopeTools}
			got := b.post(t, c.formURL(t), f)
			if got.status != http.StatusForbidden || b.final != nil {
				t.Fatalf("ticket %q: status %d", ticket, got.status)
			}
		}
	})
	t.Run("ticket of another request", func(t *testing.T) {
		b, c1 := consentPage(t)
		// A second authorization in the same browser.
		clientID := registerClient(t, s, "")
		p2 := b.get(t, authorizeURL(s, clientID, "mcp:tools", "st-2"))
		f := p2.hidden()
		f.Set("ticket", c1.hidden().Get("ticket"))
		f.Set("action", "allow")
		f["scope"] = []string{scopeTools}
		got := b.post(t, c1.formURL(t), f)
		if got.status != http.StatusForbidden || b.final != nil {
			t.Fatalf("status %d", got.status)
		}
	})
	t.Run("replay after completion", func(t *testing.T) {
		b, c := consentPage(t)
		f := c.hidden()
		f.Set("action", "allow")
		f["scope"] = []string{scopeTools}
		b.post(t, c.formURL(t), f)
		if b.final == nil {
			t.Fatal("first approval did not redirect")
		}
		got := b.post(t, c.formURL(t), f)
		if b.final != nil || got.status != http.StatusBadRequest {
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
	if p := b.get(t, s.publicURL+"/consent"); p.status != http.StatusMethodNotAllowed {
		t.Errorf("GET /consent: %d", p.status)
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
