package metadata

import (
	"errors"
	"testing"
)

func TestIsLoopbackHost(t *testing.T) {
	tests := []struct {
		host string
		want bool
	}{
		{"localhost", true},
		{"LocalHost", true},
		{"127.0.0.1", true},
		{"127.1.2.3", true},
		{"127.255.255.255", true},
		{"::1", true},
		{"[::1]", true},
		{"localhost.", false},
		{"localhost.example.com", false},
		{"evil-localhost", false},
		{"127.1", false},
		{"127.0.0.01", false},
		{"0177.0.0.1", false},
		{"0x7f.0.0.1", false},
		{"2130706433", false},
		{"128.0.0.1", false},
		{"0:0:0:0:0:0:0:1", false},
		{"::ffff:127.0.0.1", false},
		{"::1%eth0", false},
		{"[::1", false},
		{"", false},
		{"127.0.0.1.", false},
		{"127.0.0.1 ", false},
		{"0.0.0.0", false},
	}
	for _, tt := range tests {
		if got := IsLoopbackHost(tt.host); got != tt.want {
			t.Errorf("IsLoopbackHost(%q) = %v, want %v", tt.host, got, tt.want)
		}
	}
}

func TestRedirectURIMatches(t *testing.T) {
	tests := []struct {
		name                string
		registered, request string
		want                bool
	}{
		{"exact https", "https://app.example.com/cb", "https://app.example.com/cb", true},
		{"https path case differs", "https://app.example.com/cb", "https://app.example.com/CB", false},
		{"https host case differs", "https://app.example.com/cb", "https://APP.example.com/cb", false},
		{"https trailing slash", "https://app.example.com/cb", "https://app.example.com/cb/", false},
		{"https extra query", "https://app.example.com/cb", "https://app.example.com/cb?x=1", false},
		{"https port not relaxed", "https://app.example.com/cb", "https://app.example.com:8443/cb", false},
		{"https loopback not relaxed", "https://localhost/cb", "https://localhost:8443/cb", false},
		{"https 127 not relaxed", "https://127.0.0.1:1/cb", "https://127.0.0.1:2/cb", false},
		{"vscode any port", "http://127.0.0.1:33418/", "http://127.0.0.1:51234/", true},
		{"vscode same port", "http://127.0.0.1:33418/", "http://127.0.0.1:33418/", true},
		{"portless registered, port requested", "http://127.0.0.1/", "http://127.0.0.1:51234/", true},
		{"port registered, portless requested", "http://127.0.0.1:33418/", "http://127.0.0.1/", true},
		{"claude localhost portless", "http://localhost/callback", "http://localhost:49152/callback", true},
		{"localhost case insensitive", "http://localhost/callback", "http://LOCALHOST:49152/callback", true},
		{"localhost with port both sides", "http://localhost:6274/oauth/callback", "http://localhost:9999/oauth/callback", true},
		{"ipv6 loopback", "http://[::1]/cb", "http://[::1]:8080/cb", true},
		{"ipv6 vs ipv4", "http://[::1]/cb", "http://127.0.0.1:8080/cb", false},
		{"localhost vs 127", "http://localhost/callback", "http://127.0.0.1:49152/callback", false},
		{"different 127 address", "http://127.0.0.1/cb", "http://127.0.0.2:80/cb", false},
		{"loopback path differs", "http://127.0.0.1/callback", "http://127.0.0.1:5000/other", false},
		{"loopback path case differs", "http://127.0.0.1/callback", "http://127.0.0.1:5000/Callback", false},
		{"loopback empty path vs slash", "http://127.0.0.1:1", "http://127.0.0.1:2/", false},
		{"loopback query must match", "http://127.0.0.1/cb?a=1", "http://127.0.0.1:2/cb?a=2", false},
		{"loopback query matches", "http://127.0.0.1/cb?a=1", "http://127.0.0.1:2/cb?a=1", true},
		{"evil host", "http://127.0.0.1/cb", "http://evil.example/cb", false},
		{"evil host with port", "http://localhost/cb", "http://evil.example:80/cb", false},
		{"userinfo trick", "http://127.0.0.1/", "http://127.0.0.1@evil.com/", false},
		{"userinfo trick with port", "http://127.0.0.1/", "http://127.0.0.1:80@evil.com/", false},
		{"userinfo on loopback", "http://127.0.0.1/", "http://evil.com@127.0.0.1:80/", false},
		{"backslash", "http://127.0.0.1/", "http://127.0.0.1:80\\@evil.com/", false},
		{"backslash path", "http://127.0.0.1/cb", "http://127.0.0.1:1\\cb", false},
		{"encoded host", "http://127.0.0.1/", "http://%31%32%37.0.0.1:80/", false},
		{"trailing dot", "http://localhost/cb", "http://localhost.:80/cb", false},
		{"decimal ip", "http://127.0.0.1/cb", "http://2130706433:80/cb", false},
		{"short ip", "http://127.0.0.1/cb", "http://127.1:80/cb", false},
		{"subdomain of localhost", "http://localhost/cb", "http://localhost.evil.com:80/cb", false},
		{"fragment", "http://127.0.0.1/cb", "http://127.0.0.1:80/cb#x", false},
		{"uppercase scheme not relaxed", "http://127.0.0.1/cb", "HTTP://127.0.0.1:80/cb", false},
		{"bad port", "http://127.0.0.1/cb", "http://127.0.0.1:99999/cb", false},
		{"empty port", "http://127.0.0.1/cb", "http://127.0.0.1:/cb", false},
		{"port zero", "http://127.0.0.1/cb", "http://127.0.0.1:0/cb", false},
		{"port leading zero", "http://127.0.0.1/cb", "http://127.0.0.1:080/cb", false},
		{"signed port", "http://127.0.0.1/cb", "http://127.0.0.1:+80/cb", false},
		{"http to https", "http://127.0.0.1/cb", "https://127.0.0.1/cb", false},
		{"private-use exact", "com.example.app:/cb", "com.example.app:/cb", true},
		{"private-use differs", "com.example.app:/cb", "com.example.app:/cb2", false},
		{"empty registered", "", "", false},
		{"empty requested", "http://127.0.0.1/", "", false},
		{"whitespace", "http://127.0.0.1/cb", "http://127.0.0.1:80/cb ", false},
		{"query on empty path", "http://127.0.0.1?x", "http://127.0.0.1:1?x", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := RedirectURIMatches(tt.registered, tt.request); got != tt.want {
				t.Errorf("RedirectURIMatches(%q, %q) = %v, want %v", tt.registered, tt.request, got, tt.want)
			}
			// Matching is symmetric for every case above.
			if got := RedirectURIMatches(tt.request, tt.registered); got != tt.want {
				t.Errorf("RedirectURIMatches(%q, %q) = %v, want %v (reversed)", tt.request, tt.registered, got, tt.want)
			}
		})
	}
}

func TestRedirectURIMatchesDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		RedirectURIMatches("http://localhost/callback", "http://localhost:49152/callback")
		RedirectURIMatches("http://127.0.0.1:33418/", "http://127.0.0.1:51234/")
	})
	if allocs != 0 {
		t.Fatalf("RedirectURIMatches allocates %v times", allocs)
	}
}

func TestResourceEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{"https://example.com/mcp", "https://example.com/mcp", true},
		{"https://example.com", "https://example.com/", true},
		{"HTTPS://Example.COM", "https://example.com/", true},
		{"https://EXAMPLE.com/mcp", "https://example.com/mcp", true},
		{"https://example.com/MCP", "https://example.com/mcp", false},
		{"https://example.com/mcp/", "https://example.com/mcp", false},
		{"https://example.com:443/", "https://example.com/", false},
		{"https://example.com/%6Dcp", "https://example.com/mcp", false},
		{"https://example.com?x=1", "https://example.com/?x=1", true},
		{"https://example.com?x=1", "https://example.com/?x=2", false},
		{"https://example.com/mcp?x", "https://example.com/mcp", false},
		{"http://example.com/", "https://example.com/", false},
		{"https://example.com/#f", "https://example.com/", false},
		{"https://u@example.com/", "https://example.com/", false},
		{"https://u@example.com/", "https://U@example.com/", false},
		{"https://example.com.", "https://example.com", false},
		{"https://example.com/ ", "https://example.com/", false},
		{"urn:example:res", "URN:example:res", true},
		{"urn:example:res", "urn:EXAMPLE:res", false},
		{"", "", false},
		{"https://example.com", "", false},
		{"https://a.example.com/", "https://b.example.com/", false},
		{"/mcp", "/mcp", true}, // identical strings are always equal
		{"/mcp", "/mcp/", false},
		{"https://h:abc", "https://H:abc", false},
		{"https://h/%zz", "HTTPS://h/%zz", false},
		{"https://h%41/", "https://H%41/", false},
		{"https://[::1]:8443", "https://[::1]:8443/", true},
	}
	for _, tt := range tests {
		if got := ResourceEqual(tt.a, tt.b); got != tt.want {
			t.Errorf("ResourceEqual(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
		if got := ResourceEqual(tt.b, tt.a); got != tt.want {
			t.Errorf("ResourceEqual(%q, %q) = %v, want %v (reversed)", tt.b, tt.a, got, tt.want)
		}
	}
	allocs := testing.AllocsPerRun(100, func() {
		ResourceEqual("HTTPS://Example.COM", "https://example.com/")
	})
	if allocs != 0 {
		t.Fatalf("ResourceEqual allocates %v times", allocs)
	}
}

func TestCanonicalResource(t *testing.T) {
	tests := []struct {
		in, want string
		ok       bool
	}{
		{"https://example.com/mcp", "https://example.com/mcp", true},
		{"HTTPS://Example.COM", "https://example.com/", true},
		{"https://Example.com:8443/MCP/", "https://example.com:8443/MCP/", true},
		{"https://example.com?x=Y", "https://example.com/?x=Y", true},
		{"https://example.com/a%2Fb", "https://example.com/a%2Fb", true},
		{"URN:Example:Res", "urn:Example:Res", true},
		{"https://example.com/#", "", false},
		{"https://example.com/mcp#frag", "", false},
		{"/mcp", "", false},
		{"example.com/mcp", "", false},
		{"", "", false},
		{"https://", "", false},
		{"https://user:pw@example.com/", "", false},
		{"https://exa mple.com/", "", false},
		{"https://example.com/\\x", "", false},
		{"https://exämple.com/", "", false},
		{"1https://example.com/", "", false},
		{"https://example.com/%zz", "", false},
		{"urn:a:%zz", "", false},
		{"https://h:abc/", "", false},
		{"https://h%41/", "", false},
		{"https://[::1]x/", "", false},
		{"https://[]/", "", false},
		{"https://:443/", "", false},
		{"https://[::1]:8443", "https://[::1]:8443/", true},
	}
	for _, tt := range tests {
		got, err := CanonicalResource(tt.in)
		if tt.ok {
			if err != nil || got != tt.want {
				t.Errorf("CanonicalResource(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if !ResourceEqual(tt.in, got) {
				t.Errorf("ResourceEqual(%q, canonical %q) = false", tt.in, got)
			}
			continue
		}
		if err == nil {
			t.Errorf("CanonicalResource(%q) = %q, want error", tt.in, got)
		} else if !errors.Is(err, ErrInvalidResource) {
			t.Errorf("CanonicalResource(%q) error %v does not wrap ErrInvalidResource", tt.in, err)
		}
	}
}

func BenchmarkRedirectURIMatches(b *testing.B) {
	b.Run("exact", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			RedirectURIMatches("https://vscode.dev/redirect", "https://vscode.dev/redirect")
		}
	})
	b.Run("loopback-port", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			RedirectURIMatches("http://127.0.0.1:33418/", "http://127.0.0.1:51234/")
		}
	})
	b.Run("mismatch", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			RedirectURIMatches("https://app.example.com/callback", "https://app.example.com/callbacx")
		}
	})
}

func BenchmarkResourceEqual(b *testing.B) {
	b.Run("identical", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ResourceEqual("https://mcp.example.com/mcp", "https://mcp.example.com/mcp")
		}
	})
	b.Run("case-and-slash", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			ResourceEqual("HTTPS://MCP.Example.com", "https://mcp.example.com/")
		}
	})
}
