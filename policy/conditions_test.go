package policy

import (
	"context"
	"strings"
	"testing"

	"github.com/nqrust/identity/storage"
)

func TestClientIDURIMatrix(t *testing.T) {
	vscode, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"vscode.dev"}})
	if err != nil {
		t.Fatal(err)
	}
	wildcard, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"HTTPS", "http"}, Domains: []string{"*.example.org", "[::1]"}})
	if err != nil {
		t.Fatal(err)
	}
	noDomains, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}})
	if err != nil {
		t.Fatal(err)
	}
	noSchemes, err := NewClientIDURI(ClientIDURIConfig{Domains: []string{"vscode.dev"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		cond     Condition
		clientID string
		want     bool
		reason   string // substring of the Explain reason
	}{
		{"exact host", vscode, "https://vscode.dev/oauth/client-metadata.json", true, `trusted domain "vscode.dev"`},
		{"host with port", vscode, "https://vscode.dev:443/x", true, ""},
		{"upper-case host", vscode, "https://VSCode.dev/x", true, ""},
		{"upper-case scheme", vscode, "HTTPS://vscode.dev/x", true, ""},
		{"suffix attack", vscode, "https://vscode.dev.evil.com/x", false, `host "vscode.dev.evil.com" matches no trusted domain`},
		{"prefix attack", vscode, "https://evilvscode.dev/x", false, "matches no trusted domain"},
		{"subdomain of exact pattern", vscode, "https://insiders.vscode.dev/x", false, "matches no trusted domain"},
		{"userinfo trick", vscode, "https://vscode.dev@evil.com/x", false, "userinfo"},
		{"userinfo on trusted host", vscode, "https://evil@vscode.dev/x", false, "userinfo"},
		{"http not listed", vscode, "http://vscode.dev/x", false, `scheme "http" is not one of`},
		{"IDN look-alike", vscode, "https://vscodе.dev/x", false, "not an absolute URI with a host"}, // Cyrillic "е"
		{"punycode look-alike", vscode, "https://xn--vscod-4we.dev/x", false, "matches no trusted domain"},
		{"percent-encoded host", vscode, "https://vscode%2Edev/x", false, "not an absolute URI with a host"},
		{"trailing dot", vscode, "https://vscode.dev./x", false, "matches no trusted domain"},
		{"backslash", vscode, `https://vscode.dev\@evil.com/x`, false, "userinfo"},
		{"backslash in host", vscode, `https://vscode.dev\.evil.com/x`, false, "not an absolute URI with a host"},
		{"not a URL", vscode, "static-client", false, "not an absolute URI"},
		{"opaque URI", vscode, "https:vscode.dev/x", false, "not an absolute URI"},
		{"no host", vscode, "https:///x", false, "not an absolute URI"},
		{"empty client_id", vscode, "", false, "no client_id"},
		{"bad port", vscode, "https://vscode.dev:x/", false, "not an absolute URI"},
		{"empty domain list", noDomains, "https://vscode.dev/x", false, "no trusted domain is configured"},
		{"empty scheme list", noSchemes, "https://vscode.dev/x", false, "no URI scheme is configured"},
		{"wildcard apex", wildcard, "https://example.org/c", true, ""},
		{"wildcard deep", wildcard, "https://a.b.example.org/c", true, `"*.example.org"`},
		{"wildcard look-alike", wildcard, "https://badexample.org/c", false, ""},
		{"configured scheme upper-case", wildcard, "https://a.example.org/c", true, ""},
		{"IPv6 literal", wildcard, "http://[::1]:8080/c", true, ""},
		{"bad IPv6 literal", wildcard, "http://[::1x]/c", false, "not an absolute URI"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := authzReq(c.clientID)
			got, err := c.cond.Match(context.Background(), r)
			if err != nil || got != c.want {
				t.Fatalf("Match = %v, %v; want %v", got, err, c.want)
			}
			got2, reason, err := c.cond.(Explainer).Explain(context.Background(), r)
			if err != nil || got2 != c.want {
				t.Fatalf("Explain = %v, %v; want %v", got2, err, c.want)
			}
			if !strings.Contains(reason, c.reason) || reason == "" {
				t.Errorf("reason = %q, want it to contain %q", reason, c.reason)
			}
		})
	}
}

func TestClientIDURIConfigErrors(t *testing.T) {
	if _, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"ht tp"}, Domains: []string{"a"}}); err == nil || !strings.Contains(err.Error(), "client-id-uri-scheme[0]") {
		t.Errorf("bad scheme: %v", err)
	}
	if _, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"a/b"}}); err == nil || !strings.Contains(err.Error(), "client-id-uri-allow-permitted-domains") {
		t.Errorf("bad domain: %v", err)
	}
}

func TestClientKind(t *testing.T) {
	cimdOnly, err := NewClientKind(ClientKindConfig{Kinds: []string{"metadata-document"}})
	if err != nil {
		t.Fatal(err)
	}
	static, err := NewClientKind(ClientKindConfig{Kinds: []string{"static", "registered"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cond Condition
		r    *Request
		want bool
	}{
		{"resolved metadata document", cimdOnly, &Request{Event: EventTokenRequest, Client: &storage.Client{Kind: storage.ClientMetadataDocument}}, true},
		{"resolved static", cimdOnly, &Request{Event: EventTokenRequest, Client: &storage.Client{Kind: storage.ClientStatic}}, false},
		{"resolved static, listed", static, &Request{Event: EventTokenRequest, Client: &storage.Client{Kind: storage.ClientStatic}}, true},
		{"resolved registered, listed", static, &Request{Event: EventRefresh, Client: &storage.Client{Kind: storage.ClientRegistered}}, true},
		{"unresolved URL client_id", cimdOnly, authzReq("https://vscode.dev/x"), true},
		{"unresolved URL with userinfo", cimdOnly, authzReq("https://a@vscode.dev/x"), false},
		{"unresolved other scheme", cimdOnly, authzReq("ftp://vscode.dev/x"), false},
		{"unresolved plain client_id", cimdOnly, authzReq("my-client"), false},
		{"unresolved plain client_id, static listed", static, authzReq("my-client"), false},
		{"resolved client wins over URL shape", cimdOnly, &Request{Event: EventAuthorizationRequest, ClientID: "https://x.test/", Client: &storage.Client{Kind: storage.ClientStatic}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cond.Match(context.Background(), c.r)
			if err != nil || got != c.want {
				t.Errorf("Match = %v, %v; want %v", got, err, c.want)
			}
			got2, reason, _ := c.cond.(Explainer).Explain(context.Background(), c.r)
			if got2 != c.want || reason == "" {
				t.Errorf("Explain = %v, %q", got2, reason)
			}
		})
	}
	for _, bad := range []ClientKindConfig{{}, {Kinds: []string{"dynamic"}}} {
		if _, err := NewClientKind(bad); err == nil {
			t.Errorf("NewClientKind(%v) accepted", bad)
		}
	}
}

func TestGrantType(t *testing.T) {
	code, err := NewGrantType(GrantTypeConfig{GrantTypes: []string{"authorization_code"}})
	if err != nil {
		t.Fatal(err)
	}
	refresh, err := NewGrantType(GrantTypeConfig{GrantTypes: []string{"refresh_token"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		cond Condition
		r    *Request
		want bool
	}{
		{"authorization request with code", code, &Request{Event: EventAuthorizationRequest, ResponseType: "code"}, true},
		{"authorization request with token", code, &Request{Event: EventAuthorizationRequest, ResponseType: "token"}, false},
		{"token request", code, &Request{Event: EventTokenRequest, GrantType: "authorization_code"}, true},
		{"token request other grant", code, &Request{Event: EventTokenRequest, GrantType: "client_credentials"}, false},
		{"refresh with grant", refresh, &Request{Event: EventRefresh, GrantType: "refresh_token"}, true},
		{"refresh implied", refresh, &Request{Event: EventRefresh}, true},
		{"refresh is not code", code, &Request{Event: EventRefresh}, false},
		{"empty grant", code, &Request{Event: EventTokenRequest}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := c.cond.Match(context.Background(), c.r)
			if err != nil || got != c.want {
				t.Errorf("Match = %v, %v; want %v", got, err, c.want)
			}
			got2, reason, _ := c.cond.(Explainer).Explain(context.Background(), c.r)
			if got2 != c.want || reason == "" {
				t.Errorf("Explain = %v, %q", got2, reason)
			}
		})
	}
	if _, err := NewGrantType(GrantTypeConfig{}); err == nil {
		t.Error("empty grant-types accepted")
	}
	if _, err := NewGrantType(GrantTypeConfig{GrantTypes: []string{" "}}); err == nil {
		t.Error("blank grant type accepted")
	}
	// grant-type does not react to registration.
	if m, _ := maskOf(code); m&(1<<EventRegistration) != 0 {
		t.Error("grant-type reacts to registration")
	}
}

func TestSplitURI(t *testing.T) {
	cases := []struct {
		in         string
		ok         bool
		scheme     string
		host       string
		userinfo   bool
		confirmsOK bool
	}{
		{"https://a.b/c", true, "https", "a.b", false, true},
		{"https://a.b:8443?q", true, "https", "a.b", false, true},
		{"https://a.b#f", true, "https", "a.b", false, true},
		{"https://u:p@a.b/c", true, "https", "a.b", true, false},
		{"https://[::1]:1/", true, "https", "[::1]", false, true},
		{"https://[]/", false, "", "", false, false},
		{"https://[::1/", false, "", "", false, false},
		{"1https://a/", false, "", "", false, false},
		{"://a/", false, "", "", false, false},
		{"https//a/", false, "", "", false, false},
		{"https://a:80x/", false, "", "", false, false},
		{"https://a b/", false, "", "", false, false},
		{"https://é.b/", false, "", "", false, false},
	}
	for _, c := range cases {
		p, ok := splitURI(c.in)
		if ok != c.ok || (ok && (p.scheme != c.scheme || p.host != c.host || p.userinfo != c.userinfo)) {
			t.Errorf("splitURI(%q) = %+v, %v", c.in, p, ok)
		}
		if ok && confirmURI(c.in, p) != c.confirmsOK {
			t.Errorf("confirmURI(%q) = %v", c.in, !c.confirmsOK)
		}
	}
}

// TestClientIDURIPrefilter checks that the suffix pre-filter never rejects
// a host the trusted domains accept.
func TestClientIDURIPrefilter(t *testing.T) {
	patternSets := [][]string{
		{"vscode.dev"},
		{"*.example.org", "127.0.0.1", "[::1]"},
		{"api-*.corp.test"},
		{"*"},
	}
	hosts := []string{"vscode.dev", "VSCODE.DEV", "a.vscode.dev", "example.org", "A.Example.Org", "xexample.org",
		"127.0.0.1", "[::1]", "api-1.corp.test", "corp.test", "anything.test", "dev", ""}
	for _, ps := range patternSets {
		c, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: ps})
		if err != nil {
			t.Fatal(err)
		}
		cu := c.(*clientIDURI)
		for _, h := range hosts {
			if cu.domains.Match(h) && !cu.mayMatchHost(h) {
				t.Errorf("%v: pre-filter rejects %q, which the patterns accept", ps, h)
			}
		}
	}
	if c, _ := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"vscode.dev"}}); c.(*clientIDURI).mayMatchHost("evil.com") {
		t.Error("pre-filter does not filter")
	}
}

// TestClientIDMemo checks that the per-request split of client_id follows
// changes to ClientID (an executor or the host may rewrite it).
func TestClientIDMemo(t *testing.T) {
	c, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"vscode.dev"}})
	if err != nil {
		t.Fatal(err)
	}
	kind, err := NewClientKind(ClientKindConfig{Kinds: []string{"metadata-document"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := authzReq("https://vscode.dev/x")
	for _, step := range []struct {
		clientID   string
		uri, isDoc bool
	}{
		{"https://vscode.dev/x", true, true},
		{"https://evil.com/x", false, true},
		{"static", false, false},
		{"https://vscode.dev/y", true, true},
	} {
		r.ClientID = step.clientID
		if got, _ := c.Match(ctx, r); got != step.uri {
			t.Errorf("client-id-uri(%q) = %v after a change", step.clientID, got)
		}
		if got, _ := kind.Match(ctx, r); got != step.isDoc {
			t.Errorf("client-kind(%q) = %v after a change", step.clientID, got)
		}
		cp := *r
		cp.ClientID = "https://other.example/x"
		if got, _ := c.Match(ctx, &cp); got {
			t.Error("a copied request reused the original's split")
		}
	}
}
