package consent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/storage"
)

func TestNewValidatesConfig(t *testing.T) {
	hs := newHarness(t, options{})
	auth := hs.authenticate
	bad := template.Must(template.New("x").Parse(`{{define "other"}}{{end}}`))
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"no server", Config{Authenticate: auth, LoginURL: "/login"}, "Server"},
		{"no authenticate", Config{Server: hs.srv, LoginURL: "/login"}, "Authenticate"},
		{"no login", Config{Server: hs.srv, Authenticate: auth}, "LoginURL"},
		{"relative login", Config{Server: hs.srv, Authenticate: auth, LoginURL: "login"}, "LoginURL"},
		{"scheme-relative login", Config{Server: hs.srv, Authenticate: auth, LoginURL: "//evil.example/login"}, "LoginURL"},
		{"login fragment", Config{Server: hs.srv, Authenticate: auth, LoginURL: "/login#x"}, "LoginURL"},
		{"login javascript", Config{Server: hs.srv, Authenticate: auth, LoginURL: "javascript:alert(1)"}, "LoginURL"},
		{"short key", Config{Server: hs.srv, Authenticate: auth, LoginURL: "/login", CSRFKey: make([]byte, 16)}, "CSRFKey"},
		{"negative remember", Config{Server: hs.srv, Authenticate: auth, LoginURL: "/login", RememberFor: -time.Second}, "RememberFor"},
		{"huge logo cap", Config{Server: hs.srv, Authenticate: auth, LoginURL: "/login", MaxLogoBytes: 1 << 30}, "MaxLogoBytes"},
		{"template without consent", Config{Server: hs.srv, Authenticate: auth, LoginURL: "/login", Template: bad}, `"consent"`},
		{"failing rand", Config{Server: hs.srv, Authenticate: auth, LoginURL: "/login", Rand: errReader{}}, "CSRF key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %s", err, tc.want)
			}
		})
	}
	for _, ok := range []string{"/login", "/auth/login?next=1", "https://id.example.com/login", "http://127.0.0.1:8080/login"} {
		if _, err := New(Config{Server: hs.srv, Authenticate: auth, LoginURL: ok}); err != nil {
			t.Errorf("LoginURL %q: %v", ok, err)
		}
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("no entropy") }

func TestUnauthenticatedGoesToLogin(t *testing.T) {
	for _, tc := range []struct{ login, want string }{
		{"/login", "/login?request_id="},
		{"/login?tenant=a", "/login?tenant=a&request_id="},
		{"https://id.example.com/login?", "https://id.example.com/login?request_id="},
	} {
		hs := newHarness(t, options{consent: func(c *Config) { c.LoginURL = tc.login }})
		c := hs.client("")
		f := c.park(webID, webCallback)
		r := c.page(f.id)
		if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != tc.want+url.QueryEscape(f.id) {
			t.Fatalf("%s: %d %q", tc.login, r.StatusCode, r.Header.Get("Location"))
		}
		if r.Header.Get("Referrer-Policy") != "no-referrer" || r.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("login redirect headers: %v", r.Header)
		}
		// A POST without a session is sent to log in too, not approved.
		p := c.post(url.Values{"request_id": {f.id}, "csrf_token": {strings.Repeat("A", 43)}, "action": {"approve"}},
			"Cookie", InsecureCookieName+"="+strings.Repeat("B", 43))
		if p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Header.Get("Location"), tc.want) {
			t.Fatalf("POST without session: %d %q", p.StatusCode, p.Header.Get("Location"))
		}
		hs.stillPending(f.id)
	}
}

// TestPageShowsTheRequest checks the facts MCP and CIMD require on the
// consent page, for each kind of client.
func TestPageShowsTheRequest(t *testing.T) {
	hs := newHarness(t, options{})
	c := hs.client("alice")
	for _, tc := range []struct {
		name, client, redirect string
		want, wantNot          []string
	}{
		{
			name: "loopback", client: loopbackID, redirect: "http://127.0.0.1:4711/callback",
			want: []string{"<strong>Loopback Tool</strong> wants to access your account", "Make sure you started this.",
				"on your own computer (<strong>127.0.0.1</strong>)", "sent back to <strong>127.0.0.1</strong>",
				"Use the tools of your MCP servers", "<code>mcp:tools</code>", "Read your prompts", "Example MCP server",
				`<img class="logo" src="?logo=`},
			wantNot: []string{"Remember my decision", "registered itself"},
		},
		{
			name: "web", client: webID, redirect: webCallback,
			want:    []string{"<strong>Web App</strong> wants", "sent back to <strong>app.example.com</strong>", "Remember my decision", `<span class="logo monogram" aria-hidden="true">W</span>`},
			wantNot: []string{"Make sure you started this", "registered itself", "<img"},
		},
		{
			name: "registered", client: registeredID, redirect: "https://evil.example/cb",
			want:    []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "registered itself dynamically: its name and logo are not verified", "sent back to <strong>evil.example</strong>"},
			wantNot: []string{"<script>", "Make sure you started this"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := c.park(tc.client, tc.redirect)
			r := c.page(f.id)
			if r.StatusCode != http.StatusOK {
				t.Fatalf("status %d\n%s", r.StatusCode, r.body)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(r.body, w) {
					t.Errorf("page has %q", w)
				}
			}
			if !strings.Contains(r.body, `name="request_id" value="`+f.id+`"`) {
				t.Error("page lacks the request ID")
			}
			// "mcp:raw" was not requested; nothing else leaks in.
			if strings.Contains(r.body, "mcp:raw") {
				t.Error("page shows a scope that was not requested")
			}
		})
	}
}

func TestMetadataDocumentClientShowsClientIDHost(t *testing.T) {
	hs := newHarness(t, options{})
	c := hs.client("alice")
	f := c.park(cimdClientID, "https://tools.example.org/cb")
	r := c.page(f.id)
	for _, w := range []string{"<strong>Tools</strong> wants", "Identified by the website <strong>tools.example.org</strong>.", "sent back to <strong>tools.example.org</strong>"} {
		if !strings.Contains(r.body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if q := callback(t, c.decide(f.id, "approve"), "https://tools.example.org/cb?"); q.Get("code") == "" {
		t.Fatalf("callback %v", q)
	}
}

func TestPageDataCleansSelfAssertedStrings(t *testing.T) {
	p := &authz.Pending{
		ID: "req", ClientID: "https://app.example.org/client.json", ClientName: "Example\u202Egnp.exe",
		ClientKind: storage.ClientMetadataDocument, ClientIDHost: "app.example.org",
		RedirectURI: "https://app.example.org/cb", RedirectHost: "app.example.org",
		Scopes: []authz.ScopeInfo{{Name: "mcp:tools"}},
	}
	d := newPageData(English(), p)
	var b bytes.Buffer
	if err := builtinConsent.ExecuteTemplate(&b, "consent", d); err != nil {
		t.Fatal(err)
	}
	body := b.String()
	for _, w := range []string{"Identified by the website <strong>app.example.org</strong>.", "<strong>Examplegnp.exe</strong>", `<span class="name">mcp:tools</span>`} {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if strings.Contains(body, "\u202E") {
		t.Error("bidi override survived")
	}

	// Length caps.
	long := strings.Repeat("A", 1000)
	p.ClientName = long
	p.Scopes = []authz.ScopeInfo{{Name: long, Description: long}}
	p.Resources = []authz.ResourceInfo{{Identifier: "https://r.example/" + long, Name: long}}
	d = newPageData(English(), p)
	if n := len([]rune(d.Client.Name)); n != maxNameLen || !strings.HasSuffix(d.Client.Name, "…") {
		t.Errorf("name length %d", n)
	}
	if len([]rune(d.Scopes[0].Name)) != maxScopeNameLen || len([]rune(d.Scopes[0].Description)) != maxDescriptionLen {
		t.Errorf("scope lengths %d %d", len([]rune(d.Scopes[0].Name)), len([]rune(d.Scopes[0].Description)))
	}
	if len([]rune(d.Resources[0].Name)) != maxNameLen || len([]rune(d.Resources[0].Identifier)) != maxIdentifierLen {
		t.Errorf("resource lengths")
	}
}

// tlsState marks a request as received over TLS.
var tlsState tls.ConnectionState

var styleRE = regexp.MustCompile(`(?s)<style>(.*?)</style>`)

func TestSecurityHeadersAndCookie(t *testing.T) {
	hs := newHarness(t, options{loopbackRedirect: "http://127.0.0.1:9999/callback"})
	c := hs.client("alice")
	f := c.park(loopbackID, "http://127.0.0.1:9999/callback")
	r := c.page(f.id)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("status %d", r.StatusCode)
	}
	m := styleRE.FindStringSubmatch(r.body)
	if m == nil {
		t.Fatal("no inline style")
	}
	sum := sha256.Sum256([]byte(m[1]))
	hash := "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	want := "default-src 'none'; style-src " + hash + "; img-src 'self'; form-action 'self' http://127.0.0.1:9999; frame-ancestors 'none'; base-uri 'none'"
	if got := r.Header.Get("Content-Security-Policy"); got != want {
		t.Errorf("CSP\n got %s\nwant %s", got, want)
	}
	for k, v := range map[string]string{
		"X-Frame-Options": "DENY", "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff",
		"Cache-Control": "no-store", "Content-Type": "text/html; charset=utf-8",
	} {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s = %q, want %q", k, got, v)
		}
	}
	if strings.Contains(strings.ToLower(r.body), "<script") {
		t.Error("page contains a script element")
	}
	// Plain http on loopback: the development cookie.
	var ck *http.Cookie
	for _, x := range r.Cookies() {
		if x.Name == InsecureCookieName {
			ck = x
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure || ck.Domain != "" || len(ck.Value) != cookieLen {
		t.Fatalf("cookie = %+v (all: %v)", ck, r.Header["Set-Cookie"])
	}
	// A second page load keeps the binding cookie.
	if r2 := c.page(f.id); len(r2.Cookies()) != 0 {
		t.Errorf("cookie re-issued: %v", r2.Header["Set-Cookie"])
	}

	// Behind TLS (directly, or a proxy for a public host name) the
	// cookie is __Host- prefixed and Secure.
	for _, setup := range []func(*http.Request){
		func(r *http.Request) { r.Host = "id.example.com" },
		func(r *http.Request) { r.TLS = &tlsState; r.Host = "127.0.0.1" },
	} {
		req := httptest.NewRequest(http.MethodGet, "/consent?request_id="+url.QueryEscape(f.id), nil)
		setup(req)
		req.AddCookie(&http.Cookie{Name: "session", Value: "alice"})
		rec := httptest.NewRecorder()
		hs.h.ServeHTTP(rec, req)
		cs := rec.Result().Cookies()
		if rec.Code != http.StatusOK || len(cs) != 1 || cs[0].Name != CookieName || !cs[0].Secure || !cs[0].HttpOnly ||
			cs[0].SameSite != http.SameSiteLaxMode || cs[0].Path != "/" || cs[0].Domain != "" {
			t.Errorf("host %s: %d cookies %v", req.Host, rec.Code, rec.Header()["Set-Cookie"])
		}
	}
}

func TestApproveIssuesACodeThatExchanges(t *testing.T) {
	hs := newHarness(t, options{})
	c := hs.client("alice")
	f := c.park(webID, webCallback)
	r := c.decide(f.id, "approve")
	q := callback(t, r, webCallback+"?")
	if q.Get("code") == "" || q.Get("state") != f.state || q.Get("iss") != hs.issuer {
		t.Fatalf("callback = %v", q)
	}
	tok, err := f.oauth.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(f.verifier), oauth2.SetAuthURLParam("resource", testResource))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.Extra("scope") != "mcp:tools mcp:prompts" {
		t.Fatalf("token = %+v scope %v", tok, tok.Extra("scope"))
	}
	// The request is consumed: the same form again fails cleanly.
	if _, err := hs.srv.PendingRequest(context.Background(), f.id); !errors.Is(err, authz.ErrRequestNotFound) {
		t.Fatalf("request still pending: %v", err)
	}
	again := c.page(f.id)
	if again.StatusCode != http.StatusBadRequest || !strings.Contains(again.body, "expired or was already completed") {
		t.Fatalf("reused request: %d\n%s", again.StatusCode, again.body)
	}
	if again.Header.Get("X-Frame-Options") != "DENY" {
		t.Error("error page is frameable")
	}
}

func TestDenyRedirectsWithAccessDenied(t *testing.T) {
	hs := newHarness(t, options{})
	c := hs.client("alice")
	f := c.park(webID, webCallback)
	r := c.decide(f.id, "deny")
	q := callback(t, r, webCallback+"?")
	if q.Get("error") != "access_denied" || q.Get("state") != f.state || q.Get("iss") != hs.issuer || q.Get("code") != "" {
		t.Fatalf("callback = %v", q)
	}
	if _, err := hs.srv.PendingRequest(context.Background(), f.id); !errors.Is(err, authz.ErrRequestNotFound) {
		t.Fatalf("denied request still pending: %v", err)
	}
}

// TestForgedFormsAreRefused covers every way a POST can fail the CSRF
// defences; none may consume the request or issue a code.
func TestForgedFormsAreRefused(t *testing.T) {
	hs := newHarness(t, options{})
	alice := hs.client("alice")
	f := alice.park(webID, webCallback)
	page := alice.page(f.id)
	token := csrfFrom(t, page.body)
	other := alice.park(webID, webCallback)
	// The attacker's own session mints a valid token for the attacker.
	mallory := hs.client("mallory")
	mallorysToken := csrfFrom(t, mallory.page(f.id).body)

	good := func() url.Values {
		return url.Values{"request_id": {f.id}, "csrf_token": {token}, "action": {"approve"}}
	}
	with := func(k, v string) url.Values {
		form := good()
		if v == "" {
			form.Del(k)
		} else {
			form.Set(k, v)
		}
		return form
	}
	for _, tc := range []struct {
		name   string
		c      *client
		form   url.Values
		hdr    []string
		status int
	}{
		{"no token", alice, with("csrf_token", ""), nil, http.StatusForbidden},
		{"garbage token", alice, with("csrf_token", strings.Repeat("x", 43)), nil, http.StatusForbidden},
		{"short token", alice, with("csrf_token", token[:20]), nil, http.StatusForbidden},
		{"token of another request", alice, url.Values{"request_id": {other.id}, "csrf_token": {token}, "action": {"approve"}}, nil, http.StatusForbidden},
		{"attacker's own token", alice, with("csrf_token", mallorysToken), nil, http.StatusForbidden},
		{"no binding cookie", alice, good(), []string{"Cookie", "session=alice"}, http.StatusForbidden},
		{"other binding cookie", alice, good(), []string{"Cookie", "session=alice; " + InsecureCookieName + "=" + strings.Repeat("A", 43)}, http.StatusForbidden},
		{"cross-site fetch metadata", alice, good(), []string{"Sec-Fetch-Site", "cross-site"}, http.StatusForbidden},
		{"same-site fetch metadata", alice, good(), []string{"Sec-Fetch-Site", "same-site"}, http.StatusForbidden},
		{"foreign origin", alice, good(), []string{"Sec-Fetch-Site", "", "Origin", "http://evil.example"}, http.StatusForbidden},
		{"duplicate action", alice, url.Values{"request_id": {f.id}, "csrf_token": {token}, "action": {"deny", "approve"}}, nil, http.StatusBadRequest},
		{"unknown action", alice, with("action", "grant"), nil, http.StatusBadRequest},
		{"no request id", alice, with("request_id", ""), nil, http.StatusBadRequest},
		{"multipart", alice, good(), []string{"Content-Type", "multipart/form-data; boundary=x"}, http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.c.post(tc.form, tc.hdr...)
			if r.StatusCode != tc.status || r.Header.Get("Location") != "" {
				t.Fatalf("status %d (want %d), Location %q", r.StatusCode, tc.status, r.Header.Get("Location"))
			}
			if r.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Error("error page without security headers")
			}
			hs.stillPending(f.id)
		})
	}
	t.Run("oversized body", func(t *testing.T) {
		form := good()
		form.Set("pad", strings.Repeat("a", maxFormBytes))
		r := alice.post(form)
		if r.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", r.StatusCode)
		}
		hs.stillPending(f.id)
	})
	// After all that, the genuine form still works.
	q := callback(t, alice.post(good()), webCallback+"?")
	if q.Get("code") == "" {
		t.Fatalf("genuine form failed: %v", q)
	}
}

func TestRememberedConsent(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	hs := newHarness(t, options{consent: func(c *Config) { c.Clock = clock; c.RememberFor = time.Hour }})
	c := hs.client("alice")

	// Without "remember", the next request asks again.
	callback(t, c.decide(c.park(webID, webCallback).id, "approve"), webCallback)
	if r := c.page(c.park(webID, webCallback).id); r.StatusCode != http.StatusOK {
		t.Fatalf("unremembered consent skipped the page: %d", r.StatusCode)
	}
	// With it, the next request with the same scopes is approved at once.
	callback(t, c.decide(c.park(webID, webCallback).id, "approve", "remember", "1"), webCallback)
	saved, err := hs.store.GetConsent(context.Background(), "alice", webID)
	if err != nil || strings.Join(saved.Scopes, " ") != "mcp:tools mcp:prompts" || len(saved.Resources) != 1 || saved.Resources[0] != testResource ||
		!saved.ExpiresAt.Equal(now.Add(time.Hour)) {
		t.Fatalf("saved consent = %+v, %v", saved, err)
	}
	f := c.park(webID, webCallback)
	q := callback(t, c.page(f.id), webCallback+"?")
	if q.Get("code") == "" || q.Get("state") != f.state {
		t.Fatalf("remembered consent: %v", q)
	}
	// A subset of the scopes is covered too.
	f = c.park(webID, webCallback, "scope", "mcp:tools")
	if q := callback(t, c.page(f.id), webCallback+"?"); q.Get("code") == "" {
		t.Fatal("subset not covered")
	}
	// More scopes than remembered: ask.
	f = c.park(webID, webCallback, "scope", "mcp:tools mcp:raw")
	if r := c.page(f.id); r.StatusCode != http.StatusOK {
		t.Fatalf("wider request skipped the page: %d", r.StatusCode)
	}
	// Another user has their own decisions.
	if r := hs.client("bob").page(c.park(webID, webCallback).id); r.StatusCode != http.StatusOK {
		t.Fatalf("bob inherited alice's consent: %d", r.StatusCode)
	}
	// prompt=consent always asks.
	f = c.park(webID, webCallback, "prompt", "consent")
	if r := c.page(f.id); r.StatusCode != http.StatusOK {
		t.Fatalf("prompt=consent skipped the page: %d", r.StatusCode)
	}
	// Expiry.
	now = now.Add(2 * time.Hour)
	if r := c.page(c.park(webID, webCallback).id); r.StatusCode != http.StatusOK {
		t.Fatalf("expired consent skipped the page: %d", r.StatusCode)
	}
	now = now.Add(-2 * time.Hour)
	// Revocation.
	if err := hs.h.Revoke(context.Background(), "alice", webID); err != nil {
		t.Fatal(err)
	}
	if r := c.page(c.park(webID, webCallback).id); r.StatusCode != http.StatusOK {
		t.Fatalf("revoked consent skipped the page: %d", r.StatusCode)
	}
}

func TestLoopbackOnlyConsentIsNotRemembered(t *testing.T) {
	for _, optIn := range []bool{false, true} {
		hs := newHarness(t, options{consent: func(c *Config) { c.RememberLoopbackOnly = optIn }})
		c := hs.client("alice")
		const redirect = "http://127.0.0.1:4711/callback"
		f := c.park(loopbackID, redirect)
		page := c.page(f.id)
		if offered := strings.Contains(page.body, `name="remember"`); offered != optIn {
			t.Fatalf("optIn=%v: checkbox offered=%v", optIn, offered)
		}
		// Posting "remember" anyway is ignored unless the host opted in.
		form := url.Values{"request_id": {f.id}, "csrf_token": {csrfFrom(t, page.body)}, "action": {"approve"}, "remember": {"1"}}
		callback(t, c.post(form), redirect)
		_, err := hs.store.GetConsent(context.Background(), "alice", loopbackID)
		if optIn != (err == nil) {
			t.Fatalf("optIn=%v: stored consent err = %v", optIn, err)
		}
		r := c.page(c.park(loopbackID, redirect).id)
		if skipped := r.StatusCode == http.StatusSeeOther; skipped != optIn {
			t.Fatalf("optIn=%v: second request status %d", optIn, r.StatusCode)
		}
	}
}

func TestWithoutStoreNothingIsRemembered(t *testing.T) {
	hs := newHarness(t, options{consent: func(c *Config) { c.Store = nil }})
	c := hs.client("alice")
	f := c.park(webID, webCallback)
	if p := c.page(f.id); strings.Contains(p.body, `name="remember"`) {
		t.Fatal("checkbox offered without a store")
	}
	callback(t, c.decide(f.id, "approve", "remember", "1"), webCallback)
	if r := c.page(c.park(webID, webCallback).id); r.StatusCode != http.StatusOK {
		t.Fatalf("consent remembered without a store: %d", r.StatusCode)
	}
	if err := hs.h.Revoke(context.Background(), "alice", webID); err != nil {
		t.Fatal(err)
	}
}

func TestPrompt(t *testing.T) {
	hs := newHarness(t, options{})
	anon := hs.client("")
	alice := hs.client("alice")

	// prompt=none without a session: login_required (OpenID Connect Core
	// §3.1.2.6), no login page.
	f := anon.park(webID, webCallback, "prompt", "none")
	if q := callback(t, anon.page(f.id), webCallback+"?"); q.Get("error") != "login_required" || q.Get("state") != f.state || q.Has("code") {
		t.Fatalf("prompt=none anonymous: %v", q)
	}
	// prompt=none with a session but no remembered consent:
	// consent_required.
	f = alice.park(webID, webCallback, "prompt", "none")
	if q := callback(t, alice.page(f.id), webCallback+"?"); q.Get("error") != "consent_required" || q.Get("state") != f.state || q.Has("code") {
		t.Fatalf("prompt=none without consent: %v", q)
	}
	// prompt=none with remembered consent: a code.
	callback(t, alice.decide(alice.park(webID, webCallback).id, "approve", "remember", "1"), webCallback)
	f = alice.park(webID, webCallback, "prompt", "none")
	if q := callback(t, alice.page(f.id), webCallback+"?"); q.Get("code") == "" {
		t.Fatalf("prompt=none with consent: %v", q)
	}

	// prompt=login with a session older than the request: log in again.
	hs.signIn("carol", time.Now().Add(-time.Hour))
	carol := hs.client("")
	u, _ := url.Parse(hs.issuer)
	carol.c.Jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: "carol", Path: "/"}})
	f = carol.park(webID, webCallback, "prompt", "login")
	r := carol.page(f.id)
	if r.StatusCode != http.StatusSeeOther || r.Header.Get("Location") != "/login?request_id="+url.QueryEscape(f.id)+"&prompt=login" {
		t.Fatalf("prompt=login: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	hs.signIn("carol", time.Now())
	if r := carol.page(f.id); r.StatusCode != http.StatusOK {
		t.Fatalf("prompt=login after a fresh login: %d", r.StatusCode)
	}
}

func TestUnknownAndExpiredRequests(t *testing.T) {
	hs := newHarness(t, options{})
	c := hs.client("alice")
	for _, id := range []string{"", "nope", strings.Repeat("x", 500)} {
		r := c.page(id)
		if r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "expired or was already completed") {
			t.Errorf("id %q: %d", id, r.StatusCode)
		}
	}
	// A POST with a valid token for a request that is gone.
	f := c.park(webID, webCallback)
	page := c.page(f.id)
	callback(t, c.decide(f.id, "deny"), webCallback)
	r := c.post(url.Values{"request_id": {f.id}, "csrf_token": {csrfFrom(t, page.body)}, "action": {"approve"}})
	if r.StatusCode != http.StatusBadRequest || r.Header.Get("Location") != "" {
		t.Fatalf("completed request: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
}

func TestMethods(t *testing.T) {
	hs := newHarness(t, options{})
	c := hs.client("alice")
	f := c.park(webID, webCallback)
	req, _ := http.NewRequest(http.MethodPut, hs.issuer+"/consent?request_id="+f.id, nil)
	r := c.do(req)
	if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "GET, POST" {
		t.Fatalf("PUT: %d %v", r.StatusCode, r.Header)
	}
	// HEAD must not complete a request, even one that remembered consent
	// would approve on GET.
	callback(t, c.decide(c.park(webID, webCallback).id, "approve", "remember", "1"), webCallback)
	f = c.park(webID, webCallback)
	req, _ = http.NewRequest(http.MethodHead, hs.issuer+"/consent?request_id="+f.id, nil)
	if r := c.do(req); r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Location") != "" {
		t.Fatalf("HEAD: %d %q", r.StatusCode, r.Header.Get("Location"))
	}
	hs.stillPending(f.id)
}

var logoRE = regexp.MustCompile(`src="\?logo=([A-Za-z0-9_-]+)"`)

func TestLogos(t *testing.T) {
	for _, tc := range []struct {
		path  string
		shown bool
	}{
		{"/app.png", true},
		{"/logo.svg", false},
		{"/mislabelled.png", false},
		{"/big.png", false},
		{"/moved.png", false},
		{"/missing.png", false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			hs := newHarness(t, options{authz: func(cfg *authz.Config) {
				cfg.Clients[0].Metadata.LogoURI = "https://" + logoHost + tc.path
			}})
			c := hs.client("alice")
			page := c.page(c.park(loopbackID, "http://127.0.0.1/callback").id)
			m := logoRE.FindStringSubmatch(page.body)
			if (m != nil) != tc.shown {
				t.Fatalf("logo shown = %v\n%s", m != nil, page.body)
			}
			if !tc.shown {
				if !strings.Contains(page.body, `class="logo monogram"`) {
					t.Error("no monogram in place of the logo")
				}
				if strings.Contains(page.body, logoHost) {
					t.Error("page hot-links the logo host")
				}
				return
			}
			if strings.Contains(page.body, logoHost) {
				t.Error("page mentions the logo host")
			}
			r := c.get("/consent?logo=" + m[1])
			if r.StatusCode != http.StatusOK || r.body != string(testPNG(48)) {
				t.Fatalf("logo: %d, %d bytes", r.StatusCode, len(r.body))
			}
			for k, v := range map[string]string{
				"Content-Type": "image/png", "X-Content-Type-Options": "nosniff",
				"Content-Security-Policy": "default-src 'none'; sandbox", "Cross-Origin-Resource-Policy": "same-origin",
			} {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q", k, got)
				}
			}
			// Fetched once: further pages and logo requests use the cache.
			hits := hs.logos.hits.Load()
			c.page(c.park(loopbackID, "http://127.0.0.1/callback").id)
			c.get("/consent?logo=" + m[1])
			if got := hs.logos.hits.Load(); got != hits || got != 1 {
				t.Fatalf("logo fetched %d times", got)
			}
			// The handler is no image proxy.
			if r := c.get("/consent?logo=" + strings.Repeat("A", 22)); r.StatusCode != http.StatusNotFound {
				t.Fatalf("unknown logo key: %d", r.StatusCode)
			}
		})
	}
}

func TestLogoRules(t *testing.T) {
	t.Run("failures are cached briefly", func(t *testing.T) {
		now := time.Now()
		hs := newHarness(t, options{
			authz:   func(cfg *authz.Config) { cfg.Clients[0].Metadata.LogoURI = "https://" + logoHost + "/missing.png" },
			consent: func(c *Config) { c.Clock = func() time.Time { return now } },
		})
		c := hs.client("alice")
		c.page(c.park(loopbackID, "http://127.0.0.1/callback").id)
		c.page(c.park(loopbackID, "http://127.0.0.1/callback").id)
		if n := hs.logos.hits.Load(); n != 1 {
			t.Fatalf("failed logo fetched %d times", n)
		}
		now = now.Add(logoFailureLifetime + time.Second)
		c.page(c.park(loopbackID, "http://127.0.0.1/callback").id)
		if n := hs.logos.hits.Load(); n != 2 {
			t.Fatalf("failed logo not retried: %d", n)
		}
	})
	t.Run("http logos are not fetched", func(t *testing.T) {
		hs := newHarness(t, options{authz: func(cfg *authz.Config) { cfg.Clients[0].Metadata.LogoURI = "http://" + logoHost + "/app.png" }})
		c := hs.client("alice")
		if p := c.page(c.park(loopbackID, "http://127.0.0.1/callback").id); logoRE.MatchString(p.body) || hs.logos.hits.Load() != 0 {
			t.Fatal("http logo fetched")
		}
	})
	t.Run("disabled", func(t *testing.T) {
		hs := newHarness(t, options{consent: func(c *Config) { c.DisableLogos = true }})
		c := hs.client("alice")
		if p := c.page(c.park(loopbackID, "http://127.0.0.1/callback").id); logoRE.MatchString(p.body) || hs.logos.hits.Load() != 0 {
			t.Fatal("logo fetched although disabled")
		}
	})
	t.Run("default client refuses loopback", func(t *testing.T) {
		hs := newHarness(t, options{consent: func(c *Config) { c.LogoClient = nil }})
		c := hs.client("alice")
		if p := c.page(c.park(loopbackID, "http://127.0.0.1/callback").id); logoRE.MatchString(p.body) || hs.logos.hits.Load() != 0 {
			t.Fatal("default logo client reached a loopback server")
		}
	})
	t.Run("cache is bounded", func(t *testing.T) {
		lc, err := newLogoCache(nil, DefaultMaxLogoBytes, time.Now, nil)
		if err != nil {
			t.Fatal(err)
		}
		big := make([]byte, DefaultMaxLogoBytes)
		for i := range logoCacheBytes/DefaultMaxLogoBytes + 10 {
			lc.put(strings.Repeat("k", 1+i%7)+string(rune('a'+i%26))+time.Duration(i).String(), &logoEntry{data: big, expires: time.Now().Add(time.Hour)})
		}
		if lc.total > logoCacheBytes || lc.total != int64(lc.entries.Len())*DefaultMaxLogoBytes {
			t.Fatalf("cache holds %d bytes in %d entries", lc.total, lc.entries.Len())
		}
	})
}

func TestMessagesAndTemplates(t *testing.T) {
	fr := &Messages{Lang: "fr", Heading: "{client} veut accéder à votre compte", Approve: "Autoriser", Deny: "Refuser"}
	hs := newHarness(t, options{consent: func(c *Config) { c.Messages = fr }})
	c := hs.client("alice")
	p := c.page(c.park(webID, webCallback).id)
	for _, w := range []string{`<html lang="fr">`, "<strong>Web App</strong> veut accéder à votre compte", ">Autoriser</button>", ">Refuser</button>",
		"sent back to <strong>app.example.com</strong>"} { // untranslated fields keep English
		if !strings.Contains(p.body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if fr.Title != "" {
		t.Error("New modified the caller's Messages")
	}

	custom := template.Must(template.New("c").Parse(`{{define "consent"}}CUSTOM {{.Client.Name}} {{.CSRFToken}}{{end}}`))
	hs = newHarness(t, options{consent: func(c *Config) { c.Template = custom }})
	c = hs.client("alice")
	f := c.park(registeredID, "https://evil.example/cb")
	p = c.page(f.id)
	if !strings.HasPrefix(p.body, "CUSTOM &lt;script&gt;") || p.Header.Get("Content-Security-Policy") == "" {
		t.Fatalf("custom template: %q", p.body)
	}
	// The built-in error page still serves a template without "error".
	if r := c.page("nope"); r.StatusCode != http.StatusBadRequest || !strings.Contains(r.body, "Authorization problem") {
		t.Fatalf("error with custom template: %d %q", r.StatusCode, r.body)
	}

	failing := template.Must(template.New("c").Parse(`{{define "consent"}}half a page {{.Nope}}{{end}}`))
	hs = newHarness(t, options{consent: func(c *Config) { c.Template = failing }})
	c = hs.client("alice")
	r := c.page(c.park(webID, webCallback).id)
	if r.StatusCode != http.StatusInternalServerError || strings.Contains(r.body, "half a page") || !strings.Contains(r.body, "temporarily unavailable") {
		t.Fatalf("failing template: %d %q", r.StatusCode, r.body)
	}
}

func TestLayoutForHostPages(t *testing.T) {
	var b bytes.Buffer
	if err := loginPage.ExecuteTemplate(&b, "layout", struct{ RequestID string }{`"><script>`}); err != nil {
		t.Fatal(err)
	}
	body := b.String()
	for _, w := range []string{`<html lang="en">`, "<title>Sign in</title>", "<style>" + stylesheet + "</style>", `<main class="card">`, `value="&#34;&gt;&lt;script&gt;"`} {
		if !strings.Contains(body, w) {
			t.Errorf("layout page lacks %q", w)
		}
	}
	// Each Layout call is independent.
	a := template.Must(Layout().Parse(`{{define "title"}}A{{end}}`))
	bb := template.Must(Layout().Parse(`{{define "title"}}B{{end}}`))
	var x, y bytes.Buffer
	_ = a.ExecuteTemplate(&x, "layout", nil)
	_ = bb.ExecuteTemplate(&y, "layout", nil)
	if !strings.Contains(x.String(), "<title>A</title>") || !strings.Contains(y.String(), "<title>B</title>") {
		t.Fatal("Layout sets share state")
	}
	if Stylesheet() != stylesheet || !strings.Contains(stylesheet, ".card") {
		t.Fatal("Stylesheet")
	}
	h := http.Header{}
	SetPageHeaders(h, "https://app.example", "vscode:", "bad; script-src *", "")
	want := "default-src 'none'; style-src " + styleSource + "; img-src 'self'; form-action 'self' https://app.example vscode:; frame-ancestors 'none'; base-uri 'none'"
	if got := h.Get("Content-Security-Policy"); got != want {
		t.Fatalf("CSP %s", got)
	}
}

func TestClean(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"Plain", 80, "Plain"},
		{"  spaced \t\n out  ", 80, "spaced out"},
		{"bidi\u202Eevil\u202C\u2066x\u2069", 80, "bidievilx"},
		{"zero\u200Bwidth\u00ADsoft", 80, "zerowidthsoft"},
		{"ctl\x00\x1b[31m", 80, "ctl[31m"},
		{"bad\xffutf8", 80, "bad\uFFFDutf8"},
		{"abcdefghij", 5, "abcd…"},
		{"abcde", 5, "abcde"},
		{"ab cd ef", 5, "ab c…"},
		{"日本語のクライアント名", 4, "日本語…"},
		{"", 5, ""},
	} {
		if got := clean(tc.in, tc.max); got != tc.want {
			t.Errorf("clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestFormActionFor(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"http://127.0.0.1:4711/callback", "http://127.0.0.1:4711"},
		{"https://App.Example.com/cb?x=1", "https://app.example.com"},
		{"http://[::1]:8080/cb", "http://[::1]:8080"},
		{"vscode://vscode.github-authentication/did-authenticate", "vscode:"},
		{"com.example.app:/oauth", "com.example.app:"},
		{"/relative", ""},
		{"https:///nohost", ""},
	} {
		if got := FormAction(tc.in); got != tc.want {
			t.Errorf("FormAction(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, s := range []string{"'self'", "https://a b", "https://a;b", "*", "https://*.example", "data:,x", "1http:", "https://a/b"} {
		if validSource(s) {
			t.Errorf("validSource(%q) = true", s)
		}
	}
}

func TestCSRFTokenBindsEveryPart(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	base := csrfToken(key, "req", "alice", "cookie")
	if len(base) != tokenLen || !validCSRF(key, base, "req", "alice", "cookie") {
		t.Fatal("token does not verify")
	}
	for _, other := range []string{
		csrfToken(key, "req2", "alice", "cookie"),
		csrfToken(key, "req", "alice2", "cookie"),
		csrfToken(key, "req", "alice", "cookie2"),
		csrfToken(bytes.Repeat([]byte{8}, 32), "req", "alice", "cookie"),
		// Length prefixes keep parts from sliding into each other.
		csrfToken(key, "re", "qalice", "cookie"),
	} {
		if other == base {
			t.Fatal("token ignores a part")
		}
	}
}

func TestCSRFKeySharedBetweenHandlers(t *testing.T) {
	key := bytes.Repeat([]byte{1}, 32)
	hs := newHarness(t, options{consent: func(c *Config) { c.CSRFKey = key }})
	// A second node with the same key accepts the first node's form.
	h2, err := New(Config{Server: hs.srv, Authenticate: hs.authenticate, LoginURL: "/login", CSRFKey: key})
	if err != nil {
		t.Fatal(err)
	}
	c := hs.client("alice")
	f := c.park(webID, webCallback)
	page := c.page(f.id)
	form := url.Values{"request_id": {f.id}, "csrf_token": {csrfFrom(t, page.body)}, "action": {"approve"}}
	req := httptest.NewRequest(http.MethodPost, hs.issuer+"/consent", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, ck := range c.c.Jar.Cookies(req.URL) {
		req.AddCookie(ck)
	}
	rec := httptest.NewRecorder()
	h2.ServeHTTP(rec, req)
	if rec.Code != http.StatusSeeOther || !strings.Contains(rec.Header().Get("Location"), "code=") {
		t.Fatalf("second node: %d %q", rec.Code, rec.Header().Get("Location"))
	}
}
