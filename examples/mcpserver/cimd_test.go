package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func asMetadata(t *testing.T, s *testServer) map[string]any {
	t.Helper()
	resp, err := http.Get(s.publicURL + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestCIMDDomains: -cimd-domains decides which client_id URLs are
// resolved; empty turns the feature off.
func TestCIMDDomains(t *testing.T) {
	var docURL string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": docURL, "client_name": "doc", "redirect_uris": []string{testRedirect}, "token_endpoint_auth_method": "none",
		})
	}))
	defer docs.Close()
	docURL = docs.URL + "/client.json"

	for _, tc := range []struct {
		name      string
		domains   string
		advertise bool
		accepted  bool
	}{
		{"any host", "*", true, true},
		{"listed", "127.0.0.1", true, true},
		{"not listed", "vscode.dev,*.example.org", true, false},
		{"off", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServerWith(t, func(c *config) { c.fetchClient = docs.Client() }, "-cimd-domains", tc.domains)
			if got := asMetadata(t, s)["client_id_metadata_document_supported"] == true; got != tc.advertise {
				t.Errorf("client_id_metadata_document_supported = %v, want %v", got, tc.advertise)
			}
			b := newBrowser(t)
			p := b.get(t, authorizeURL(s, docURL, "mcp:tools", "st"))
			if tc.accepted {
				if !p.isLogin() || p.status != http.StatusOK {
					t.Fatalf("document client refused: %d at %s\n%s", p.status, p.url, p.body)
				}
				return
			}
			if p.status != http.StatusBadRequest || p.isLogin() || b.final != nil {
				t.Fatalf("document client on an untrusted domain: %d at %s", p.status, p.url)
			}
		})
	}
}

// The document's redirect URIs bind the client: another redirect URI is
// refused with an error page, never a redirect.
func TestCIMDRedirectMismatch(t *testing.T) {
	var docURL string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": docURL, "client_name": "doc", "redirect_uris": []string{"http://127.0.0.1/elsewhere"}, "token_endpoint_auth_method": "none",
		})
	}))
	defer docs.Close()
	docURL = docs.URL + "/client.json"
	s := startServerWith(t, func(c *config) { c.fetchClient = docs.Client() })
	b := newBrowser(t)
	p := b.get(t, authorizeURL(s, docURL, "mcp:tools", "st"))
	if p.status != http.StatusBadRequest || b.final != nil || p.isLogin() {
		t.Fatalf("status %d at %s", p.status, p.url)
	}
	if u, _ := url.Parse(p.url.String()); u.Path != "/authorize" {
		t.Fatalf("left the authorization endpoint: %s", u)
	}
}
