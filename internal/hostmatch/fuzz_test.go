package hostmatch

import (
	"strings"
	"testing"
)

// hostSeeds are hosts real clients and attackers present: the MCP clients'
// redirect and metadata hosts, loopback spellings, and look-alikes.
var hostSeeds = []string{
	"vscode.dev", "insiders.vscode.dev", "code.visualstudio.com", "claude.ai", "chatgpt.com",
	"localhost", "LOCALHOST", "127.0.0.1", "::1", "[::1]", "example.org", "a.example.org",
	"A.B.Example.ORG", "example.org.", "badexample.org", "example.org.evil.com", "exаmple.org",
	"xn--exmple-4nf.org", "", ".", "..example.org", "a..example.org", "*.example.org", "[!a]",
}

// FuzzMatch checks what a match means for every kind of pattern, and that
// a list of patterns matches exactly what its members match one by one.
func FuzzMatch(f *testing.F) {
	patterns := []string{"*.example.org", "example.org", "api-*.corp.test", "*", "[::1]", "127.0.0.1", "*.vscode.dev", "localhost", "a*b", "*.*"}
	for i, h := range hostSeeds {
		f.Add(patterns[i%len(patterns)], patterns[(i+3)%len(patterns)], h)
	}
	f.Fuzz(func(t *testing.T, p1, p2, host string) {
		m1, err1 := Compile([]string{p1})
		m2, err2 := Compile([]string{p2})
		both, errBoth := Compile([]string{p1, p2})
		if (err1 == nil && err2 == nil) != (errBoth == nil) {
			t.Fatalf("Compile(%q, %q): list error %v, single errors %v, %v", p1, p2, errBoth, err1, err2)
		}
		if err1 != nil {
			return
		}
		got := m1.MatchPattern(host)
		if m1.Match(host) != (got != "") {
			t.Fatalf("Match and MatchPattern disagree on %q", host)
		}
		if got != "" {
			checkMatch(t, strings.ToLower(strings.TrimSpace(p1)), got, host)
		}
		if errBoth == nil && both.Match(host) != (m1.Match(host) || m2.Match(host)) {
			t.Fatalf("patterns %q, %q: list match %v, single matches %v, %v on %q",
				p1, p2, both.Match(host), m1.Match(host), m2.Match(host), host)
		}
	})
}

// checkMatch asserts what pattern p (normalised) matching host implies.
func checkMatch(t *testing.T, p, reported, host string) {
	t.Helper()
	if reported != p {
		t.Fatalf("pattern %q: MatchPattern(%q) reported %q", p, host, reported)
	}
	if host == "" || strings.HasPrefix(host, ".") || strings.HasSuffix(host, ".") || strings.Contains(host, "..") {
		t.Fatalf("pattern %q matched the host %q, which has an empty label", p, host)
	}
	for i := 0; i < len(host); i++ {
		if c := host[i]; c <= 0x20 || c >= 0x7f {
			t.Fatalf("pattern %q matched the non-ASCII or control host %q", p, host)
		}
	}
	h := strings.ToLower(host)
	switch {
	case p == "*":
	case strings.HasPrefix(p, "*.") && !strings.Contains(p[2:], "*"):
		apex := p[2:]
		if h != apex && !strings.HasSuffix(h, "."+apex) {
			t.Fatalf("pattern %q matched %q, which is neither %q nor a subdomain", p, host, apex)
		}
	case strings.HasPrefix(p, "["):
		if h != p && "["+h+"]" != p {
			t.Fatalf("IPv6 pattern %q matched %q", p, host)
		}
	case !strings.Contains(p, "*"):
		if h != p {
			t.Fatalf("exact pattern %q matched %q", p, host)
		}
	default:
		// A "*" inside a pattern stays within one label, and the fixed
		// text around the wildcards is where the pattern puts it.
		if strings.Count(h, ".") != strings.Count(p, ".") {
			t.Fatalf("pattern %q matched %q across labels", p, host)
		}
		if pre := p[:strings.IndexByte(p, '*')]; !strings.HasPrefix(h, pre) {
			t.Fatalf("pattern %q matched %q without its prefix", p, host)
		}
		if suf := p[strings.LastIndexByte(p, '*')+1:]; !strings.HasSuffix(h, suf) {
			t.Fatalf("pattern %q matched %q without its suffix", p, host)
		}
	}
}

// FuzzApexPattern is the property the trusted-domain features rely on,
// stated on its own: "*.example.org" matches example.org and its
// subdomains, whatever the letter case, and nothing else.
func FuzzApexPattern(f *testing.F) {
	for _, h := range hostSeeds {
		f.Add(h)
	}
	m := MustCompile("*.example.org")
	f.Fuzz(func(t *testing.T, host string) {
		if !m.Match(host) {
			return
		}
		for i := 0; i < len(host); i++ {
			if c := host[i]; c <= 0x20 || c >= 0x7f {
				t.Fatalf("matched non-ASCII host %q", host)
			}
		}
		h := strings.ToLower(host)
		if h != "example.org" && !strings.HasSuffix(h, ".example.org") {
			t.Fatalf("matched %q", host)
		}
	})
}
