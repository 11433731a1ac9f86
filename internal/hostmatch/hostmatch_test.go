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
