package authz

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/nqrust/identity/storage/memory"
)

func fuzzServer(f *testing.F) *Server {
	cfg := testConfig()
	cfg.Issuer = "https://as.example.com"
	cfg.Store = memory.New(memory.Options{})
	srv, err := New(cfg)
	if err != nil {
		f.Fatal(err)
	}
	return srv
}

// FuzzAuthorizationRequest checks that no query makes the authorization
// endpoint fail with 5xx or redirect anywhere but the interaction URL or a
// registered redirect URI.
func FuzzAuthorizationRequest(f *testing.F) {
	srv := fuzzServer(f)
	h := srv.AuthorizationHandler()
	f.Add(authorizeParams().Encode())
	f.Add("client_id=public-client&redirect_uri=http%3A%2F%2F127.0.0.1%3A1%2Fcallback&response_type=code")
	f.Add("client_id=public-client&client_id=x")
	f.Add("client_id=public-client&redirect_uri=http%3A%2F%2F127.0.0.1%2Fcallback")
	f.Add("redirect_uri=%zz&client_id=%00")
	f.Add("client_id=public-client&redirect_uri=http://127.0.0.1:9999/callback&resource=%23&scope=%22")
	f.Fuzz(func(t *testing.T, q string) {
		req := &http.Request{Method: http.MethodGet, URL: &url.URL{Path: "/authorize", RawQuery: q}, Header: http.Header{}}
		w := &recorder{h: http.Header{}}
		h.ServeHTTP(w, req.WithContext(t.Context()))
		if w.status >= 500 && w.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %q", w.status, q)
		}
		loc := w.h.Get("Location")
		if loc == "" || strings.HasPrefix(loc, "/login?request_id=") || strings.HasPrefix(loc, httpsCallback+"?") {
			return
		}
		// Otherwise only the registered loopback callback, on any port.
		u, err := url.Parse(loc)
		if err != nil || u.Scheme != "http" || u.Hostname() != "127.0.0.1" || u.Path != "/callback" || u.User != nil {
			t.Fatalf("redirected to %q for %q", loc, q)
		}
	})
}

// FuzzTokenRequest checks that no body makes the token endpoint fail with
// 5xx or answer without Cache-Control: no-store.
func FuzzTokenRequest(f *testing.F) {
	srv := fuzzServer(f)
	h := srv.TokenHandler()
	f.Add("grant_type=authorization_code&code=x&code_verifier="+testVerifier+"&client_id=public-client", "")
	f.Add("grant_type=refresh_token&refresh_token=x&client_id=public-client&scope=a", "")
	f.Add("grant_type=client_credentials&resource=https%3A%2F%2Fmcp.example.com%2Fmcp", "Basic Y29uZi1jbGllbnQ6Y29uZi1zZWNyZXQtMDEyMzQ1Njc4OQ==")
	f.Add("grant_type=client_credentials&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c", "")
	f.Add("a=%", "Basic %%%")
	f.Fuzz(func(t *testing.T, body, auth string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://as.example.com/token", strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if auth != "" {
			req.Header["Authorization"] = []string{auth}
		}
		w := &recorder{h: http.Header{}}
		h.ServeHTTP(w, req)
		if w.status >= 500 && w.status != http.StatusServiceUnavailable {
			t.Fatalf("status %d for %q / %q: %s", w.status, body, auth, w.body.String())
		}
		if w.h.Get("Cache-Control") != "no-store" {
			t.Fatalf("no Cache-Control: no-store for %q", body)
		}
	})
}
