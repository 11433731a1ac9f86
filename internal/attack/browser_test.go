package attack

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestCORS covers cross-origin reads (RFC 9700 §2.6): never on the
// authorization endpoint or the consent page, exact origins on
// registration, any origin without credentials where tokens are not
// cookie-bound.
func TestCORS(t *testing.T) {
	w := newWorld(t, options{})
	const evil = "https://evil.example"

	t.Run("cors/authorize-get-with-origin", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		r := w.browser(user).get("/authorize?"+q.Encode(), "Origin", evil)
		noCORS(t, r)
		q.Set("response_type", "token")
		noCORS(t, w.browser(user).get("/authorize?"+q.Encode(), "Origin", evil))
		noCORS(t, w.browser(user).get("/authorize?client_id=nobody", "Origin", evil))
	})
	t.Run("cors/authorize-post-with-origin", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		noCORS(t, w.browser(user).postForm("/authorize", q, "Origin", evil))
	})
	t.Run("cors/authorize-preflight", func(t *testing.T) {
		w.nothingStored(t, func() {
			r := w.browser(user).send(http.MethodOptions, "/authorize", "", "Origin", evil, "Access-Control-Request-Method", "POST")
			noCORS(t, r)
			if r.status < 400 {
				t.Errorf("preflight answered %d", r.status)
			}
		})
	})
	t.Run("cors/consent-page", func(t *testing.T) {
		b := w.browser(user)
		r := b.get("/authorize?" + authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read").Encode())
		noCORS(t, b.get(r.loc(), "Origin", evil))
		noCORS(t, b.send(http.MethodOptions, "/consent", "", "Origin", evil, "Access-Control-Request-Method", "POST"))
	})
	for _, origin := range []string{evil, "https://INSPECTOR.example", "https://inspector.example.evil.example", "null", "https://inspector.example:443"} {
		t.Run("cors/registration-foreign-origin/"+url.PathEscape(origin), func(t *testing.T) {
			w.nothingStored(t, func() {
				r := w.browser("").send(http.MethodPost, "/register", `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`,
					"Content-Type", "application/json", "Origin", origin)
				if r.status != 403 || r.jsonErr() != "access_denied" {
					t.Errorf("got %d %s, want 403 access_denied", r.status, r.body)
				}
				noCORS(t, r)
				p := w.browser("").send(http.MethodOptions, "/register", "", "Origin", origin, "Access-Control-Request-Method", "POST")
				noCORS(t, p)
			})
		})
	}
	t.Run("cors/registration-listed-origin-exact", func(t *testing.T) {
		r := w.browser("").send(http.MethodPost, "/register", `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none"}`,
			"Content-Type", "application/json", "Origin", "https://inspector.example")
		if r.status != 201 || r.header.Get("Access-Control-Allow-Origin") != "https://inspector.example" {
			t.Fatalf("got %d, ACAO %q", r.status, r.header.Get("Access-Control-Allow-Origin"))
		}
		if r.header.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(strings.Join(r.header.Values("Vary"), ","), "Origin") {
			t.Errorf("credentials %q, Vary %q", r.header.Get("Access-Control-Allow-Credentials"), r.header.Values("Vary"))
		}
	})
	t.Run("cors/token-metadata-jwks-no-credentials", func(t *testing.T) {
		b := w.browser("")
		for _, r := range []*resp{
			b.postForm("/token", url.Values{"grant_type": {"client_credentials"}}, "Origin", evil),
			b.send(http.MethodOptions, "/token", "", "Origin", evil, "Access-Control-Request-Method", "POST"),
			b.get("/.well-known/oauth-authorization-server", "Origin", evil),
			b.get("/jwks", "Origin", evil),
			b.get("/.well-known/oauth-protected-resource/mcp-a", "Origin", evil),
		} {
			if acao := r.header.Get("Access-Control-Allow-Origin"); acao != "*" {
				t.Errorf("ACAO %q, want *", acao)
			}
			if r.header.Get("Access-Control-Allow-Credentials") != "" {
				t.Errorf("credentials allowed cross-origin")
			}
		}
	})
	t.Run("cors/mcp-resource-no-credentials", func(t *testing.T) {
		r := w.callMCP(w.resA, "", "Origin", evil)
		challenge(t, r, 401, "", w.prmA)
		if r.header.Get("Access-Control-Allow-Credentials") != "" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "WWW-Authenticate") {
			t.Errorf("credentials %q, expose %q", r.header.Get("Access-Control-Allow-Credentials"), r.header.Get("Access-Control-Expose-Headers"))
		}
	})
}

// TestConsentCSRF covers forged consent (MCP Security Best Practices,
// "Consent UI Requirements"): the decision needs this browser's binding
// cookie, a same-origin POST, and the token minted for this request, user
// and browser. A refused POST leaves the request pending and issues
// nothing.
func TestConsentCSRF(t *testing.T) {
	w := newWorld(t, options{})
	park := func(b *browser, client, redirect string) (id, csrf string) {
		t.Helper()
		r := b.get("/authorize?" + authzParams(client, redirect, newPKCE(), w.resA, "a:read").Encode())
		if r.status != http.StatusSeeOther {
			t.Fatalf("authorize: %d %s", r.status, r.body)
		}
		_, csrf = b.consentPage(r.loc())
		if csrf == "" {
			t.Fatalf("no consent page")
		}
		return requestID(r.loc()), csrf
	}
	refused := func(t *testing.T, id string, r *resp) {
		t.Helper()
		if r.status != http.StatusForbidden || r.loc() != "" {
			t.Errorf("got %d %q, want 403 without redirect\n%s", r.status, r.loc(), r.body)
		}
		unframeable(t, r)
		if _, err := w.az.PendingRequest(context.Background(), id); err != nil {
			t.Errorf("a refused POST consumed the request: %v", err)
		}
	}
	post := func(b *browser, form url.Values, hdr ...string) *resp {
		return b.postForm("/consent", form, hdr...)
	}
	same := []string{"Origin", "", "Sec-Fetch-Site", "same-origin"}
	sameOrigin := func() []string { s := append([]string(nil), same...); s[1] = w.issuer; return s }

	t.Run("csrf/consent-post-without-token", func(t *testing.T) {
		b := w.browser(user)
		id, _ := park(b, webPubID, webCB)
		w.nothingStored(t, func() {
			refused(t, id, post(b, url.Values{"request_id": {id}, "action": {"approve"}}, sameOrigin()...))
		})
	})
	t.Run("csrf/consent-post-wrong-token", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		w.nothingStored(t, func() {
			refused(t, id, post(b, url.Values{"request_id": {id}, "csrf_token": {csrf[:len(csrf)-2] + "AA"}, "action": {"approve"}}, sameOrigin()...))
		})
	})
	t.Run("csrf/consent-token-of-other-request", func(t *testing.T) {
		b := w.browser(user)
		_, csrfA := park(b, webPubID, webCB)
		idB, _ := park(b, pubID, loopCB)
		w.nothingStored(t, func() {
			refused(t, idB, post(b, url.Values{"request_id": {idB}, "csrf_token": {csrfA}, "action": {"approve"}}, sameOrigin()...))
		})
	})
	t.Run("csrf/consent-token-of-attacker-session", func(t *testing.T) {
		// Mallory parks a request for her client and lures Alice into
		// posting the approval with Mallory's token.
		mallory := w.browser("mallory")
		id, csrf := park(mallory, webPubID, webCB)
		alice := w.browser(user)
		alice.consentPage("/consent?request_id=" + url.QueryEscape(id)) // Alice's own binding cookie
		w.nothingStored(t, func() {
			refused(t, id, post(alice, url.Values{"request_id": {id}, "csrf_token": {csrf}, "action": {"approve"}}, sameOrigin()...))
		})
	})
	t.Run("csrf/consent-cross-site-post", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		w.nothingStored(t, func() {
			refused(t, id, post(b, url.Values{"request_id": {id}, "csrf_token": {csrf}, "action": {"approve"}},
				"Origin", "https://evil.example", "Sec-Fetch-Site", "cross-site"))
		})
	})
	t.Run("csrf/consent-foreign-origin-header", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		w.nothingStored(t, func() {
			refused(t, id, post(b, url.Values{"request_id": {id}, "csrf_token": {csrf}, "action": {"approve"}}, "Origin", "https://evil.example"))
		})
	})
	t.Run("csrf/consent-without-binding-cookie", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		other := w.browser(user) // same user, another browser: no binding cookie
		w.nothingStored(t, func() {
			refused(t, id, post(other, url.Values{"request_id": {id}, "csrf_token": {csrf}, "action": {"approve"}}, sameOrigin()...))
		})
	})
	t.Run("csrf/consent-get-never-approves", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		w.nothingStored(t, func() {
			r := b.get("/consent?" + url.Values{"request_id": {id}, "csrf_token": {csrf}, "action": {"approve"}}.Encode())
			if r.status != 200 || r.loc() != "" {
				t.Errorf("GET with a decision: %d %q", r.status, r.loc())
			}
		})
	})
	t.Run("csrf/consent-concurrent-approvals-one-code", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		const n = 12
		codes := make(chan string, n)
		done := make(chan struct{})
		for range n {
			go func() {
				defer func() { done <- struct{}{} }()
				r := b.decide(id, csrf, "approve")
				if u, err := url.Parse(r.loc()); err == nil && u.Query().Get("code") != "" {
					codes <- u.Query().Get("code")
				}
			}()
		}
		for range n {
			<-done
		}
		close(codes)
		if len(codes) != 1 {
			t.Errorf("%d codes for one consent", len(codes))
		}
	})
	t.Run("csrf/consent-after-request-expired", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		w.clock.Advance(10*time.Minute + time.Second)
		w.nothingStored(t, func() {
			r := b.decide(id, csrf, "approve")
			if r.status < 400 || r.loc() != "" {
				t.Errorf("approval of an expired request: %d %q", r.status, r.loc())
			}
			unframeable(t, r)
		})
	})
	t.Run("csrf/consent-decision-replayed", func(t *testing.T) {
		b := w.browser(user)
		id, csrf := park(b, webPubID, webCB)
		if r := b.decide(id, csrf, "approve"); r.status != http.StatusSeeOther || !strings.Contains(r.loc(), "code=") {
			t.Fatalf("approve: %d %q", r.status, r.loc())
		}
		w.nothingStored(t, func() {
			r := b.decide(id, csrf, "approve")
			if r.status == http.StatusSeeOther || strings.Contains(r.loc(), "code=") {
				t.Errorf("replayed approval: %d %q", r.status, r.loc())
			}
		})
	})
}

// TestClickjacking checks that every HTML page of the flow refuses to be
// framed (RFC 9700 §4.16).
func TestClickjacking(t *testing.T) {
	w := newWorld(t, options{})
	b := w.browser(user)
	t.Run("clickjacking/authorize-error-page", func(t *testing.T) {
		r := b.get("/authorize?client_id=nobody&redirect_uri=https://evil.example/")
		errorPage(t, r, "invalid_request", "")
	})
	t.Run("clickjacking/consent-page", func(t *testing.T) {
		r := b.get("/authorize?" + authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read").Encode())
		p, csrf := b.consentPage(r.loc())
		if csrf == "" {
			t.Fatalf("consent page: %d", p.status)
		}
		unframeable(t, p)
		if csp := p.header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "script-src") {
			t.Errorf("consent CSP %q", csp)
		}
	})
	t.Run("clickjacking/consent-error-page", func(t *testing.T) {
		r := b.get("/consent?request_id=unknown-request")
		if r.status < 400 {
			t.Errorf("unknown request: %d", r.status)
		}
		unframeable(t, r)
	})
	t.Run("clickjacking/login-page", func(t *testing.T) {
		anon := w.browser("")
		r := anon.get("/authorize?" + authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read").Encode())
		c := anon.get(r.loc())
		if c.status != http.StatusSeeOther || !strings.HasPrefix(c.loc(), "/login?") {
			t.Fatalf("consent without session: %d %q", c.status, c.loc())
		}
		unframeable(t, anon.get(c.loc()))
	})
	t.Run("clickjacking/consent-hostile-client-name-escaped", func(t *testing.T) {
		reg := w.register(t, `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","client_name":"<script>alert(1)</script><iframe src=//evil.example>"}`)
		r := b.get("/authorize?" + authzParams(reg["client_id"].(string), "http://127.0.0.1/cb", newPKCE(), w.resA, "a:read").Encode())
		p, _ := b.consentPage(r.loc())
		if p.status != 200 || strings.Contains(p.body, "<script>alert") || strings.Contains(p.body, "<iframe") {
			t.Errorf("consent page %d renders the client name as markup", p.status)
		}
		unframeable(t, p)
	})
}
