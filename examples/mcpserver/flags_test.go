package main

import (
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

func TestParseResourceFlags(t *testing.T) {
	env := func(string) string { return "" }
	c, err := parseConfig([]string{"-resource", "https://rs.example.com/mcp", "-resource", "http://127.0.0.1:9090/mcp", "-cimd-ca-file", "ca.pem"}, env, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.resources, []string{"https://rs.example.com/mcp", "http://127.0.0.1:9090/mcp"}) || c.cimdCAFile != "ca.pem" {
		t.Fatalf("resources %v, CA file %q", c.resources, c.cimdCAFile)
	}
	for _, tc := range []struct{ value, want string }{
		{"http://rs.example.com/mcp", "must use https"},
		{"/mcp", "absolute http or https URL"},
		{"urn:example:mcp", "absolute http or https URL"},
		{"https://rs.example.com/mcp#x", "fragment"},
		{"https://user@rs.example.com/mcp", "userinfo"},
	} {
		if _, err := parseConfig([]string{"-resource", tc.value}, env, io.Discard); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("-resource %q: %v, want an error mentioning %q", tc.value, err, tc.want)
		}
	}
	if _, err := parseConfig([]string{"-resource", "https://a.example/mcp", "-resource", "https://a.example/mcp"}, env, io.Discard); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("repeated -resource: %v", err)
	}
}

// authorizeFor runs a whole authorization for resource with a registered
// client and returns the token endpoint's status and answer.
func authorizeFor(t *testing.T, s *testServer, resource string) (int, map[string]any) {
	t.Helper()
	clientID := registerClient(t, s, "")
	b := newBrowser(t)
	q := url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {testRedirect}, "scope": {"mcp:tools"}, "state": {"st"},
		"code_challenge": {oauth2.S256ChallengeFromVerifier(testVerifier)}, "code_challenge_method": {"S256"}, "resource": {resource},
	}
	p := b.get(t, s.publicURL+"/authorize?"+q.Encode())
	if b.final != nil {
		// Refused with a redirect to the client.
		return http.StatusBadRequest, map[string]any{"error": b.final.Query().Get("error")}
	}
	if !p.isLogin() {
		t.Fatalf("no login page: %d at %s", p.status, p.url)
	}
	c := b.post(t, p.formURL(t), loginForm(p, testUser, testPassword))
	if !c.isConsent() {
		t.Fatalf("no consent page: %d", c.status)
	}
	f := c.hidden()
	f.Set("action", "approve")
	b.post(t, c.formURL(t), f)
	if b.final == nil {
		t.Fatal("no redirect to the client")
	}
	resp, err := http.PostForm(s.publicURL+"/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {b.final.Query().Get("code")}, "redirect_uri": {testRedirect},
		"client_id": {clientID}, "code_verifier": {testVerifier}, "resource": {resource},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, m
}

// TestResourceFlag: -resource lets the authorization server issue tokens
// for an MCP server on another origin; without it such a resource is
// refused with invalid_target.
func TestResourceFlag(t *testing.T) {
	const other = "https://rs.example.com/mcp"
	s := startServer(t)
	if status, m := authorizeFor(t, s, other); status != http.StatusBadRequest || m["error"] != "invalid_target" {
		t.Fatalf("without -resource: %d %v", status, m)
	}
	s = startServer(t, "-resource", other)
	status, m := authorizeFor(t, s, other)
	if status != http.StatusOK {
		t.Fatalf("with -resource: %d %v", status, m)
	}
	tok, err := jwt.ParseSigned(m["access_token"].(string), []jose.SignatureAlgorithm{jose.ES256})
	if err == nil {
		var claims jwt.Claims
		err = tok.UnsafeClaimsWithoutVerification(&claims)
		if err == nil && (len(claims.Audience) != 1 || claims.Audience[0] != other) {
			t.Fatalf("aud %v, want %s", claims.Audience, other)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	// The demo's own endpoint still works, and still refuses the token
	// issued for the other resource.
	if status, m := authorizeFor(t, s, s.mcpURL); status != http.StatusOK {
		t.Fatalf("own MCP endpoint: %d %v", status, m)
	}
	if status, _ := rawToolCall(t, s.mcpURL, m["access_token"].(string), "echo"); status != http.StatusUnauthorized {
		t.Fatalf("token for the other resource at the demo's endpoint: %d", status)
	}
}

// TestCIMDCAFile: -cimd-ca-file makes outbound fetches trust a
// development CA, here the one of a local TLS server serving a metadata
// document; without it the document cannot be fetched.
func TestCIMDCAFile(t *testing.T) {
	var docURL string
	docs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id": docURL, "client_name": "doc", "redirect_uris": []string{testRedirect}, "token_endpoint_auth_method": "none",
		})
	}))
	// Refused handshakes are the point of one case; keep them quiet.
	docs.Config.ErrorLog = log.New(io.Discard, "", 0)
	docs.StartTLS()
	defer docs.Close()
	docURL = docs.URL + "/client.json"
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		args     []string
		accepted bool
	}{
		{"system roots only", []string{"-allow-private-fetch"}, false},
		{"with the CA file", []string{"-allow-private-fetch", "-cimd-ca-file", caFile}, true},
		// The CA file does not open loopback addresses by itself.
		{"CA file without -allow-private-fetch", []string{"-cimd-ca-file", caFile}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServer(t, tc.args...)
			b := newBrowser(t)
			p := b.get(t, authorizeURL(s, docURL, "mcp:tools", "st"))
			if got := p.isLogin() && p.status == http.StatusOK; got != tc.accepted {
				t.Fatalf("document client accepted %v, want %v: %d at %s", got, tc.accepted, p.status, p.url)
			}
		})
	}
	if _, err := newServer(t.Context(), &config{cimdCAFile: filepath.Join(t.TempDir(), "missing.pem"), store: "memory"}, "http://127.0.0.1:1", nil); err == nil || !strings.Contains(err.Error(), "-cimd-ca-file") {
		t.Errorf("missing CA file: %v", err)
	}
	empty := filepath.Join(t.TempDir(), "empty.pem")
	_ = os.WriteFile(empty, []byte("not a certificate"), 0o600)
	if _, err := newServer(t.Context(), &config{cimdCAFile: empty, store: "memory"}, "http://127.0.0.1:1", nil); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("CA file without certificates: %v", err)
	}
}
