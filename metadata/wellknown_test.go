package metadata

import (
	"errors"
	"slices"
	"testing"
)

func TestAuthorizationServerMetadataURL(t *testing.T) {
	tests := []struct{ issuer, want string }{
		{"https://h", "https://h/.well-known/oauth-authorization-server"},
		{"https://h/", "https://h/.well-known/oauth-authorization-server"},
		{"https://h/t1", "https://h/.well-known/oauth-authorization-server/t1"},
		{"https://h/t1/", "https://h/.well-known/oauth-authorization-server/t1"},
		{"https://h:8443/a/b", "https://h:8443/.well-known/oauth-authorization-server/a/b"},
		{"http://127.0.0.1:8080", "http://127.0.0.1:8080/.well-known/oauth-authorization-server"},
		{"https://h/realms/Demo", "https://h/.well-known/oauth-authorization-server/realms/Demo"},
	}
	for _, tt := range tests {
		got, err := AuthorizationServerMetadataURL(tt.issuer)
		if err != nil || got != tt.want {
			t.Errorf("AuthorizationServerMetadataURL(%q) = %q, %v; want %q", tt.issuer, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "h", "/t1", "ftp://h/", "https://h/?q=1", "https://h/#f", "https://u@h/", "HTTPS://h", "https:///t1", "https://h/ t"} {
		if got, err := AuthorizationServerMetadataURL(bad); err == nil || !errors.Is(err, ErrInvalidURL) {
			t.Errorf("AuthorizationServerMetadataURL(%q) = %q, %v; want ErrInvalidURL", bad, got, err)
		}
	}
}

func TestProtectedResourceMetadataURL(t *testing.T) {
	tests := []struct{ resource, want, root string }{
		{"https://h", "https://h/.well-known/oauth-protected-resource", "https://h/.well-known/oauth-protected-resource"},
		{"https://h/", "https://h/.well-known/oauth-protected-resource", "https://h/.well-known/oauth-protected-resource"},
		{"https://h/t1", "https://h/.well-known/oauth-protected-resource/t1", "https://h/.well-known/oauth-protected-resource"},
		{"https://h/t1/", "https://h/.well-known/oauth-protected-resource/t1", "https://h/.well-known/oauth-protected-resource"},
		{"https://h/mcp?tenant=a", "https://h/.well-known/oauth-protected-resource/mcp?tenant=a", "https://h/.well-known/oauth-protected-resource"},
		{"http://localhost:3000/mcp", "http://localhost:3000/.well-known/oauth-protected-resource/mcp", "http://localhost:3000/.well-known/oauth-protected-resource"},
	}
	for _, tt := range tests {
		got, err := ProtectedResourceMetadataURL(tt.resource)
		if err != nil || got != tt.want {
			t.Errorf("ProtectedResourceMetadataURL(%q) = %q, %v; want %q", tt.resource, got, err, tt.want)
		}
		root, err := ProtectedResourceMetadataRootURL(tt.resource)
		if err != nil || root != tt.root {
			t.Errorf("ProtectedResourceMetadataRootURL(%q) = %q, %v; want %q", tt.resource, root, err, tt.root)
		}
	}
	for _, bad := range []string{"", "mcp", "https://h/mcp#x", "https://a:b@h/mcp", "urn:x"} {
		if _, err := ProtectedResourceMetadataURL(bad); !errors.Is(err, ErrInvalidURL) {
			t.Errorf("ProtectedResourceMetadataURL(%q) err = %v; want ErrInvalidURL", bad, err)
		}
	}
}

func TestOpenIDConfigurationURLs(t *testing.T) {
	tests := []struct {
		issuer string
		want   []string
	}{
		{"https://h", []string{"https://h/.well-known/openid-configuration"}},
		{"https://h/", []string{"https://h/.well-known/openid-configuration"}},
		{"https://h/t1", []string{"https://h/.well-known/openid-configuration/t1", "https://h/t1/.well-known/openid-configuration"}},
		{"https://h/t1/", []string{"https://h/.well-known/openid-configuration/t1", "https://h/t1/.well-known/openid-configuration"}},
	}
	for _, tt := range tests {
		got, err := OpenIDConfigurationURLs(tt.issuer)
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("OpenIDConfigurationURLs(%q) = %q, %v; want %q", tt.issuer, got, err, tt.want)
		}
	}
}

func TestAuthorizationServerProbeURLs(t *testing.T) {
	tests := []struct {
		issuer, rev string
		want        []string
	}{
		{"https://h/t1", MCPRevision20250326, []string{
			"https://h/.well-known/oauth-authorization-server", "https://h/authorize", "https://h/token", "https://h/register"}},
		{"https://h/t1", MCPRevision20250618, []string{"https://h/.well-known/oauth-authorization-server/t1"}},
		{"https://h", MCPRevision20250618, []string{"https://h/.well-known/oauth-authorization-server"}},
		{"https://h/t1", MCPRevision20251125, []string{
			"https://h/.well-known/oauth-authorization-server/t1",
			"https://h/.well-known/openid-configuration/t1",
			"https://h/t1/.well-known/openid-configuration"}},
		{"https://h/", MCPRevision20260728, []string{
			"https://h/.well-known/oauth-authorization-server",
			"https://h/.well-known/openid-configuration"}},
		{"https://h", "2024-11-05", nil},
		{"not a url", MCPRevision20260728, nil},
	}
	for _, tt := range tests {
		if got := AuthorizationServerProbeURLs(tt.issuer, tt.rev); !slices.Equal(got, tt.want) {
			t.Errorf("AuthorizationServerProbeURLs(%q, %q) = %q; want %q", tt.issuer, tt.rev, got, tt.want)
		}
	}
}

func TestWellKnownPaths(t *testing.T) {
	p, err := AuthorizationServerWellKnownPaths("https://h/t1/")
	if err != nil {
		t.Fatal(err)
	}
	if p.AuthorizationServer != "/.well-known/oauth-authorization-server/t1" ||
		!slices.Equal(p.OpenIDConfiguration, []string{"/.well-known/openid-configuration/t1", "/t1/.well-known/openid-configuration"}) ||
		p.Legacy != "/.well-known/oauth-authorization-server" {
		t.Errorf("paths for https://h/t1/ = %+v", p)
	}
	p, err = AuthorizationServerWellKnownPaths("https://h")
	if err != nil {
		t.Fatal(err)
	}
	if p.AuthorizationServer != "/.well-known/oauth-authorization-server" ||
		!slices.Equal(p.OpenIDConfiguration, []string{"/.well-known/openid-configuration"}) || p.Legacy != "" {
		t.Errorf("paths for https://h = %+v", p)
	}
	// Every probe URL of every revision except the 2025-03-26 fallback
	// endpoints lands on one of the mounted paths.
	for _, issuer := range []string{"https://h", "https://h/", "https://h/t1", "https://h/t1/"} {
		p, _ := AuthorizationServerWellKnownPaths(issuer)
		mounted := append([]string{p.AuthorizationServer, p.Legacy}, p.OpenIDConfiguration...)
		for _, rev := range []string{MCPRevision20250326, MCPRevision20250618, MCPRevision20251125, MCPRevision20260728} {
			for _, u := range AuthorizationServerProbeURLs(issuer, rev) {
				path := u[len("https://h"):]
				if path == "/authorize" || path == "/token" || path == "/register" {
					continue
				}
				if !slices.Contains(mounted, path) {
					t.Errorf("issuer %q revision %s probes %q, not mounted (%q)", issuer, rev, u, mounted)
				}
			}
		}
	}

	prm, err := ProtectedResourceWellKnownPaths("https://h/mcp/")
	if err != nil || !slices.Equal(prm, []string{"/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"}) {
		t.Errorf("ProtectedResourceWellKnownPaths = %q, %v", prm, err)
	}
	prm, err = ProtectedResourceWellKnownPaths("https://h/")
	if err != nil || !slices.Equal(prm, []string{"/.well-known/oauth-protected-resource"}) {
		t.Errorf("ProtectedResourceWellKnownPaths = %q, %v", prm, err)
	}
}
