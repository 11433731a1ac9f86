package bearer

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/metadata"
)

func getJSON(t *testing.T, h http.Handler, path string) (int, map[string]any) {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "https://h.example"+path, nil))
	var m map[string]any
	if w.Code == 200 {
		if err := json.Unmarshal(w.Body.Bytes(), &m); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return w.Code, m
}

func TestMountProtectedResourceMetadata(t *testing.T) {
	tests := []struct {
		resource string
		wantURL  string
		paths    []string
	}{
		{"https://h.example/mcp", "https://h.example/.well-known/oauth-protected-resource/mcp",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}},
		{"https://h.example/tenant/a/mcp", "https://h.example/.well-known/oauth-protected-resource/tenant/a/mcp",
			[]string{"/.well-known/oauth-protected-resource/tenant/a/mcp", "/.well-known/oauth-protected-resource"}},
		{"https://h.example", "https://h.example/.well-known/oauth-protected-resource",
			[]string{"/.well-known/oauth-protected-resource"}},
		{"https://h.example:8443/mcp", "https://h.example:8443/.well-known/oauth-protected-resource/mcp",
			[]string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}},
	}
	for _, tt := range tests {
		t.Run(tt.resource, func(t *testing.T) {
			mux := http.NewServeMux()
			doc := ProtectedResourceMetadata(tt.resource, []string{testIssuer}, []string{"mcp:read", "mcp:write"})
			u, err := MountProtectedResourceMetadata(mux, doc)
			if err != nil {
				t.Fatal(err)
			}
			if u != tt.wantURL {
				t.Errorf("URL = %q, want %q", u, tt.wantURL)
			}
			for _, p := range tt.paths {
				code, m := getJSON(t, mux, p)
				if code != 200 {
					t.Fatalf("GET %s: %d", p, code)
				}
				// Byte-identical resource (RFC 9728 §3.3).
				if m["resource"] != tt.resource {
					t.Errorf("%s: resource = %q, want %q", p, m["resource"], tt.resource)
				}
				as, _ := m["authorization_servers"].([]any)
				if len(as) != 1 || as[0] != testIssuer {
					t.Errorf("authorization_servers = %v", m["authorization_servers"])
				}
				bm, _ := m["bearer_methods_supported"].([]any)
				if len(bm) != 1 || bm[0] != "header" {
					t.Errorf("bearer_methods_supported = %v", m["bearer_methods_supported"])
				}
				sc, _ := m["scopes_supported"].([]any)
				if len(sc) != 2 {
					t.Errorf("scopes_supported = %v", m["scopes_supported"])
				}
			}
			// A trailing-slash variant of the path is not the document.
			if code, _ := getJSON(t, mux, tt.paths[0]+"/"); code == 200 {
				t.Errorf("%s/ served the document", tt.paths[0])
			}
		})
	}
}

func TestMountProtectedResourceMetadataConflicts(t *testing.T) {
	mux := http.NewServeMux()
	a := ProtectedResourceMetadata("https://h.example/a", []string{testIssuer}, nil)
	b := ProtectedResourceMetadata("https://h.example/b", []string{testIssuer}, nil)
	if _, err := MountProtectedResourceMetadata(mux, a); err != nil {
		t.Fatal(err)
	}
	// A second resource on the same mux: its own path is mounted, the root
	// stays with the first.
	if _, err := MountProtectedResourceMetadata(mux, b); err != nil {
		t.Fatalf("second resource: %v", err)
	}
	if _, m := getJSON(t, mux, "/.well-known/oauth-protected-resource/b"); m["resource"] != "https://h.example/b" {
		t.Errorf("b = %v", m)
	}
	if _, m := getJSON(t, mux, "/.well-known/oauth-protected-resource"); m["resource"] != "https://h.example/a" {
		t.Errorf("root = %v", m)
	}
	// The same resource twice: refused, no panic.
	if _, err := MountProtectedResourceMetadata(mux, a); err == nil {
		t.Error("duplicate mount accepted")
	}
}

func TestMetadataHandlerValidation(t *testing.T) {
	for name, doc := range map[string]*metadata.ProtectedResource{
		"nil":              nil,
		"no resource":      {AuthorizationServers: []string{testIssuer}},
		"no servers":       {Resource: testResource},
		"fragment":         {Resource: testResource + "#x", AuthorizationServers: []string{testIssuer}},
		"query method":     {Resource: testResource, AuthorizationServers: []string{testIssuer}, BearerMethodsSupported: []string{"header", "query"}},
		"offline_access":   {Resource: testResource, AuthorizationServers: []string{testIssuer}, ScopesSupported: []string{"offline_access"}},
		"http non-loopbak": {Resource: "http://h.example/mcp", AuthorizationServers: []string{testIssuer}},
	} {
		if _, err := MetadataHandler(doc); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := MountProtectedResourceMetadata(http.NewServeMux(), doc); err == nil {
			t.Errorf("%s: mounted", name)
		}
	}
	// The caller's document is not modified.
	doc := &metadata.ProtectedResource{Resource: testResource, AuthorizationServers: []string{testIssuer}}
	if _, err := MetadataHandler(doc); err != nil {
		t.Fatal(err)
	}
	if doc.BearerMethodsSupported != nil {
		t.Error("caller's document modified")
	}
	if _, err := MountProtectedResourceMetadata(nil, doc); err == nil {
		t.Error("nil mux accepted")
	}
}

var resourceMetadataParam = regexp.MustCompile(`resource_metadata="([^"]*)"`)

// The discovery flow an MCP client runs, over real HTTP on loopback: the
// 401 challenge names the metadata URL, whose document names this exact
// resource and the authorization server; then a token for the resource
// gets through.
func TestDiscoveryFlowOverHTTP(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	defer srv.Close()
	resource := srv.URL + "/mcp"

	prmURL, err := MountProtectedResourceMetadata(mux, ProtectedResourceMetadata(resource, []string{testIssuer}, []string{"mcp:read"}))
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewVerifier(Config{Issuer: testIssuer, Resource: resource, Keys: StaticKeys(keySet(es)), Clock: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/mcp", Middleware(v, Options{ResourceMetadataURL: prmURL, Scopes: []string{"mcp:read"}})(echoHandler()))

	resp, err := http.Post(resource, "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	m := resourceMetadataParam.FindStringSubmatch(resp.Header.Get("WWW-Authenticate"))
	if m == nil {
		t.Fatalf("no resource_metadata in %q", resp.Header.Get("WWW-Authenticate"))
	}
	resp, err = http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var doc metadata.ProtectedResource
	if err := json.Unmarshal(body, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Resource != resource || doc.AuthorizationServers[0] != testIssuer {
		t.Fatalf("document = %s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, resource, strings.NewReader(`{"x":1}`))
	req.Header.Set("Authorization", "Bearer "+mint(t, es, with(claimsAt(t0), "aud", doc.Resource), mintOpt{}))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != `{"x":1}` {
		t.Fatalf("with token: %d %s", resp.StatusCode, body)
	}
}
