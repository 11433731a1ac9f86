package attack

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nqrust/identity/cimd"
)

// TestRedirects covers open redirection and redirect_uri tricks (RFC 9700
// §4.1, §4.11; OAuth 2.1 §7.13.2): every request whose redirect URI is not
// exactly a registered one is shown an error page, never redirected, and
// leaves nothing in the store.
func TestRedirects(t *testing.T) {
	w := newWorld(t, options{})
	notRegistered := "The redirect_uri is not registered for this client."

	// Control: the registered URIs work, so the refusals below are about
	// the tricks and nothing else.
	w.tokens(webPubID, webCB, w.resA, "a:read")
	w.tokens(pubID, "http://127.0.0.1:51234/callback", w.resA, "a:read")

	tricks := []struct {
		name, client, redirect string
	}{
		{"userinfo-trick", webPubID, "https://app.example.com@evil.example/cb"},
		{"userinfo-on-registered-host", webPubID, "https://evil.example@app.example.com/cb"},
		{"backslash-authority", webPubID, `https://app.example.com\@evil.example/cb`},
		{"backslash-path", webPubID, `https://app.example.com\cb`},
		{"encoded-host", webPubID, "https://app.%65xample.com/cb"},
		{"encoded-evil-host", webPubID, "https://%65vil.example/cb"},
		{"trailing-dot-host", webPubID, "https://app.example.com./cb"},
		{"host-case", webPubID, "https://APP.example.com/cb"},
		{"scheme-case", webPubID, "HTTPS://app.example.com/cb"},
		{"path-case", webPubID, "https://app.example.com/CB"},
		{"port-default-added", webPubID, "https://app.example.com:443/cb"},
		{"port-non-loopback", webPubID, "https://app.example.com:8443/cb"},
		{"path-suffix-segment", webPubID, "https://app.example.com/cb/evil"},
		{"path-suffix-chars", webPubID, "https://app.example.com/cbx"},
		{"path-prefix", webPubID, "https://app.example.com/x/cb"},
		{"dot-segment", webPubID, "https://app.example.com/cb/../evil"},
		{"encoded-slash", webPubID, "https://app.example.com/cb%2F..%2Fevil"},
		{"query-added", webPubID, "https://app.example.com/cb?next=https://evil.example/"},
		{"fragment", webPubID, "https://app.example.com/cb#https://evil.example/"},
		{"scheme-downgrade", webPubID, "http://app.example.com/cb"},
		{"open-redirect-foreign-host", webPubID, "https://evil.example/cb"},
		{"javascript-scheme", webPubID, "javascript:alert(document.domain)//https://app.example.com/cb"},
		{"data-scheme", webPubID, "data:text/html,<script>alert(1)</script>"},
		{"protocol-relative", webPubID, "//evil.example/cb"},
		{"leading-space", webPubID, " https://app.example.com/cb"},
		{"crlf", webPubID, "https://app.example.com/cb\r\nSet-Cookie: pwned=1"},
		{"nul-byte", webPubID, "https://app.example.com/cb\x00.evil.example"},
		{"loopback-host-suffix", pubID, "http://127.0.0.1.evil.example/callback"},
		{"loopback-userinfo", pubID, "http://127.0.0.1@evil.example/callback"},
		{"loopback-https", pubID, "https://127.0.0.1/callback"},
		{"loopback-localhost-swap", pubID, "http://localhost:5000/callback"},
		{"loopback-decimal-ip", pubID, "http://2130706433:5000/callback"},
		{"loopback-path-suffix", pubID, "http://127.0.0.1:5000/callback/evil"},
		{"loopback-other-client", webPubID, "http://127.0.0.1:5000/callback"},
	}
	for _, tc := range tricks {
		t.Run("redirect/"+tc.name, func(t *testing.T) {
			q := authzParams(tc.client, tc.redirect, newPKCE(), w.resA, "a:read")
			w.nothingStored(t, func() {
				r := w.browser(user).get("/authorize?" + q.Encode())
				errorPage(t, r, "invalid_request", notRegistered)
			})
		})
	}

	t.Run("redirect/open-redirect-unknown-client", func(t *testing.T) {
		q := authzParams("no-such-client", "https://evil.example/cb", newPKCE(), w.resA, "a:read")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", "Unknown client.")
		})
	})
	t.Run("redirect/open-redirect-missing-uri-ambiguous", func(t *testing.T) {
		q := authzParams(webPubID, "", newPKCE(), w.resA, "a:read")
		q.Del("redirect_uri")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", "The redirect_uri parameter is required for this client.")
		})
	})
	t.Run("redirect/client-without-redirect-uris", func(t *testing.T) {
		for _, ru := range []string{"", "https://evil.example/cb"} {
			q := authzParams(rsID, ru, newPKCE(), w.resA, "a:read")
			if ru == "" {
				q.Del("redirect_uri")
			}
			w.nothingStored(t, func() {
				r := w.browser(user).get("/authorize?" + q.Encode())
				errorPage(t, r, "invalid_request", "")
			})
		}
	})
	t.Run("redirect/duplicate-redirect-uri", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		q.Add("redirect_uri", "https://evil.example/cb")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", "The redirect_uri parameter is repeated.")
		})
	})
	t.Run("redirect/duplicate-client-id", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		q.Add("client_id", pubID)
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", "The client_id parameter is repeated.")
		})
	})
	t.Run("redirect/metadata-document-redirect-outside-document", func(t *testing.T) {
		id := "https://vscode.dev/oauth/redirect-trick.json"
		w.site.json(id, cimdDoc(id))
		q := authzParams(id, "https://evil.example/cb", newPKCE(), w.resA, "a:read")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request",
				cimd.ReasonRedirectURIMismatch)
		})
		if n := w.site.hitsFor(id); n != 1 {
			t.Errorf("document fetched %d times, want 1 (the refusal must come from the redirect rule)", n)
		}
	})
	t.Run("redirect/error-after-validation-only-to-registered-uri", func(t *testing.T) {
		// The redirect URI is registered, the rest is bad: the error goes
		// to that exact URI, never to a URI named elsewhere in the request.
		q := authzParams(webPubID, webCB2, newPKCE(), w.resA, "a:read")
		q.Set("response_type", "token")
		q.Set("return_to", "https://evil.example/")
		w.nothingStored(t, func() {
			r := w.browser(user).get("/authorize?" + q.Encode())
			w.redirectErr(t, r, webCB2, "unsupported_response_type", q.Get("state"))
		})
	})

	// 307 would make the browser repeat a credential-bearing POST at the
	// next hop (OAuth 2.1 §7.5.3, RFC 9700 §4.12): every redirect that
	// answers a POST is 303.
	t.Run("redirect/post-authorize-answers-303", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		r := w.browser(user).postForm("/authorize", q)
		if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc(), "/consent?request_id=") {
			t.Fatalf("POST /authorize: %d %q, want 303 to the consent page", r.status, r.loc())
		}
	})
	t.Run("redirect/post-authorize-error-answers-303", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		q.Del("code_challenge")
		w.nothingStored(t, func() {
			r := w.browser(user).postForm("/authorize", q)
			w.redirectErr(t, r, webCB, "invalid_request", q.Get("state"))
		})
	})
	t.Run("redirect/post-consent-answers-303", func(t *testing.T) {
		for _, action := range []string{"approve", "deny"} {
			b := w.browser(user)
			q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
			r := b.get("/authorize?" + q.Encode())
			_, csrf := b.consentPage(r.loc())
			d := b.decide(requestID(r.loc()), csrf, action)
			if d.status != http.StatusSeeOther || !strings.HasPrefix(d.loc(), webCB+"?") {
				t.Fatalf("%s: %d %q, want 303 to %s", action, d.status, d.loc(), webCB)
			}
		}
	})
}

// TestMixUp covers the mix-up defence (RFC 9207, RFC 9700 §4.4): every
// authorization response, success or error, carries iss, exactly once,
// equal to the metadata issuer, whatever the request says.
func TestMixUp(t *testing.T) {
	w := newWorld(t, options{})

	t.Run("mixup/metadata-advertises-iss-and-issuer-is-exact", func(t *testing.T) {
		for _, p := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
			r := w.browser("").get(p)
			var md map[string]any
			if err := json.Unmarshal([]byte(r.body), &md); err != nil || r.status != 200 {
				t.Fatalf("%s: %d %v", p, r.status, err)
			}
			if md["issuer"] != w.issuer || md["authorization_response_iss_parameter_supported"] != true {
				t.Errorf("%s: issuer %v, iss supported %v", p, md["issuer"], md["authorization_response_iss_parameter_supported"])
			}
		}
	})
	t.Run("mixup/iss-on-success", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		r := w.browser(user).authorize(q)
		u, _ := url.Parse(r.loc())
		if r.status != http.StatusSeeOther || u.Query().Get("code") == "" {
			t.Fatalf("authorize: %d %q", r.status, r.loc())
		}
		if got := u.Query()["iss"]; len(got) != 1 || got[0] != w.issuer {
			t.Errorf("iss = %q, want exactly [%q]", got, w.issuer)
		}
		if u.Query().Get("state") != q.Get("state") {
			t.Errorf("state = %q", u.Query().Get("state"))
		}
	})
	t.Run("mixup/iss-not-taken-from-host-header", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		q.Set("response_type", "id_token")
		r := w.browser(user).get("/authorize?"+q.Encode(), "Host", "evil.example")
		w.redirectErr(t, r, webCB, "unsupported_response_type", q.Get("state"))
		md := w.browser("").get("/.well-known/oauth-authorization-server", "Host", "evil.example")
		if strings.Contains(md.body, "evil.example") {
			t.Errorf("metadata reflects the Host header: %s", md.body)
		}
	})
	t.Run("mixup/iss-param-in-request-ignored", func(t *testing.T) {
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		q.Set("iss", "https://evil.example")
		q.Set("response_type", "token")
		r := w.browser(user).get("/authorize?" + q.Encode())
		w.redirectErr(t, r, webCB, "unsupported_response_type", q.Get("state"))
	})

	errorsAfterValidation := []struct {
		name, code string
		edit       func(url.Values)
	}{
		{"unsupported_response_type", "unsupported_response_type", func(q url.Values) { q.Set("response_type", "token") }},
		{"missing-response-type", "invalid_request", func(q url.Values) { q.Del("response_type") }},
		{"response-mode-fragment", "invalid_request", func(q url.Values) { q.Set("response_mode", "fragment") }},
		{"missing-pkce", "invalid_request", func(q url.Values) { q.Del("code_challenge"); q.Del("code_challenge_method") }},
		{"invalid_scope", "invalid_scope", func(q url.Values) { q.Set("scope", "b:read") }},
		{"invalid_target", "invalid_target", func(q url.Values) { q.Set("resource", "https://evil.example/mcp") }},
		{"repeated-scope", "invalid_request", func(q url.Values) { q.Add("scope", "a:write") }},
	}
	for _, tc := range errorsAfterValidation {
		t.Run("mixup/iss-on-error/"+tc.name, func(t *testing.T) {
			q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
			tc.edit(q)
			w.nothingStored(t, func() {
				w.redirectErr(t, w.browser(user).get("/authorize?"+q.Encode()), webCB, tc.code, q.Get("state"))
			})
		})
	}
	t.Run("mixup/iss-on-error/access_denied", func(t *testing.T) {
		b := w.browser(user)
		q := authzParams(webPubID, webCB, newPKCE(), w.resA, "a:read")
		r := b.get("/authorize?" + q.Encode())
		_, csrf := b.consentPage(r.loc())
		w.redirectErr(t, b.decide(requestID(r.loc()), csrf, "deny"), webCB, "access_denied", q.Get("state"))
	})
}
