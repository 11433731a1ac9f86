package hostmatch

import "testing"

func TestMatch(t *testing.T) {
	m := MustCompile("vscode.dev", "*.example.org", "api-*.corp.test", "127.0.0.1", "[::1]")
	cases := []struct {
		host string
		want bool
	}{
		{"vscode.dev", true},
		{"VSCode.DEV", true},
		{"insiders.vscode.dev", false},
		{"vscode.dev.evil.com", false},
		{"evilvscode.dev", false},
		{"vscode.dev.", false},
		{"vscodе.dev", false}, // Cyrillic "е"
		{"xn--vscod-4we.dev", false},
		{"example.org", true},
		{"a.example.org", true},
		{"a.b.c.example.org", true},
		{"badexample.org", false},
		{"example.org.evil", false},
		{"api-1.corp.test", true},
		{"api-1.x.corp.test", false},
		{"127.0.0.1", true},
		{"127.0.0.2", false},
		{"[::1]", true},
		{"", false},
	}
	for _, c := range cases {
		if got := m.Match(c.host); got != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.host, got, c.want)
		}
	}
	if (&Matcher{}).Match("a") || (*Matcher)(nil).Match("a") {
		t.Error("zero matcher must match nothing")
	}
	if !MustCompile("*").Match("anything.example") {
		t.Error("* must match any host")
	}
	if got := m.MatchPattern("a.example.org"); got != "*.example.org" {
		t.Errorf("MatchPattern = %q", got)
	}
	if got := m.MatchPattern("api-2.corp.test"); got != "api-*.corp.test" {
		t.Errorf("MatchPattern glob = %q", got)
	}
	for _, bad := range []string{"*.", "a/b", "a@b", "é.com"} {
		if _, err := Compile([]string{bad}); err == nil {
			t.Errorf("Compile(%q) accepted", bad)
		}
	}
}

// A pattern starting with '[' is an IPv6 literal and nothing else: before
// this was enforced, "[!a]*" reached the glob compiler as a character class
// and matched nearly every host.
func TestBracketPatterns(t *testing.T) {
	for _, bad := range []string{"[!a]*", "[a-z]*.example.org", "[*]", "[{a,b}]", "[::1", "[127.0.0.1]", "[fe80::1%eth0]", "[]"} {
		if _, err := Compile([]string{bad}); err == nil {
			t.Errorf("Compile(%q) accepted", bad)
		}
	}
	m := MustCompile("[::1]", "[2001:DB8::1]")
	for _, c := range []struct {
		host string
		want bool
	}{
		{"[::1]", true}, {"::1", true}, {"2001:db8::1", true}, {"[2001:db8::1]", true},
		{"0:0:0:0:0:0:0:1", false}, {"::2", false}, {"b", false}, {"localhost", false},
	} {
		if got := m.Match(c.host); got != c.want {
			t.Errorf("Match(%q) = %v, want %v", c.host, got, c.want)
		}
	}
	if !MustCompile("*").Match("::1") {
		t.Error(`"*" must match an IPv6 literal`)
	}
	if MustCompile("*.example.org").Match("::ffff:1.2.3.4") {
		t.Error("a domain pattern matched an IPv6 literal")
	}
}

// "**" is gobwas/glob's "anything, dots included"; allowing it would let
// "a**.example.org" match "a.evil.com.example.org" and, written "***",
// any host at all. Found by FuzzMatch.
func TestDoubleStarRefused(t *testing.T) {
	for _, bad := range []string{"**", "***", "a**.example.org", "*.**.example.org"} {
		if _, err := Compile([]string{bad}); err == nil {
			t.Errorf("Compile(%q) accepted", bad)
		}
	}
}

// Hosts with an empty label are not valid DNS names; an apex pattern must
// not accept them as subdomains.
func TestEmptyLabelsNeverMatch(t *testing.T) {
	m := MustCompile("*.example.org", "*", "example.org")
	for _, h := range []string{".example.org", "a..example.org", "..", ".", "example..org"} {
		if m.Match(h) {
			t.Errorf("Match(%q) = true", h)
		}
	}
}
