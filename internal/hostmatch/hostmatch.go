package hostmatch

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/gobwas/glob"
)

// Matcher is a compiled list of patterns. The zero value matches nothing.
type Matcher struct {
	exact    map[string]struct{}
	apexes   map[string]struct{}
	globs    []glob.Glob
	anything bool
	patterns []string
}

// Compile compiles patterns once. Blank and duplicate entries are dropped.
func Compile(patterns []string) (*Matcher, error) {
	m := &Matcher{exact: map[string]struct{}{}, apexes: map[string]struct{}{}}
	seen := map[string]bool{}
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" || seen[p] {
			continue
		}
		seen[p] = true
		m.patterns = append(m.patterns, p)
		if strings.HasPrefix(p, "[") {
			// Only an IPv6 literal may start with '[': anything else
			// would reach the glob compiler as a character class
			// ("[!a]*" matches nearly every host).
			if !isIPv6Literal(p) {
				return nil, fmt.Errorf("hostmatch: invalid pattern %q: '[' only starts a bracketed IPv6 address", p)
			}
			m.exact[p] = struct{}{}
			continue
		}
		if !isASCII(p) || strings.ContainsAny(p, "/:@?#[]{}!\\ ") {
			return nil, fmt.Errorf("hostmatch: invalid pattern %q", p)
		}
		if strings.Contains(p, "**") {
			// gobwas/glob reads "**" as "anything, dots included".
			return nil, fmt.Errorf("hostmatch: invalid pattern %q: \"**\" is not allowed; \"*\" matches within one label, \"*.example.org\" any subdomain", p)
		}
		switch {
		case p == "*":
			m.anything = true
		case strings.HasPrefix(p, "*.") && !strings.Contains(p[2:], "*"):
			apex := p[2:]
			if apex == "" {
				return nil, fmt.Errorf("hostmatch: invalid pattern %q", p)
			}
			m.apexes[apex] = struct{}{}
		case strings.Contains(p, "*"):
			g, err := glob.Compile(p, '.')
			if err != nil {
				return nil, fmt.Errorf("hostmatch: invalid pattern %q: %w", p, err)
			}
			m.globs = append(m.globs, g)
		default:
			m.exact[p] = struct{}{}
		}
	}
	return m, nil
}

// MustCompile is like Compile but panics on an invalid pattern; for tests
// and package-level literals only.
func MustCompile(patterns ...string) *Matcher {
	m, err := Compile(patterns)
	if err != nil {
		panic(err)
	}
	return m
}

// Empty reports whether the matcher has no patterns (and so matches nothing).
func (m *Matcher) Empty() bool { return m == nil || len(m.patterns) == 0 }

// Patterns returns the normalised patterns.
func (m *Matcher) Patterns() []string {
	if m == nil {
		return nil
	}
	return append([]string(nil), m.patterns...)
}

// Match reports whether host matches any pattern. host is a bare host name
// or IP literal without port (IPv6 literals with or without brackets).
func (m *Matcher) Match(host string) bool {
	return m.MatchPattern(host) != ""
}

// MatchPattern returns the first pattern that matches host, or "".
func (m *Matcher) MatchPattern(host string) string {
	if m == nil || host == "" || !isASCII(host) || host[0] == '.' || host[len(host)-1] == '.' || strings.Contains(host, "..") {
		return ""
	}
	h := strings.ToLower(host)
	if strings.IndexByte(h, ':') >= 0 {
		// An IPv6 literal; patterns keep the brackets, url.URL.Hostname
		// drops them. No other pattern can match a host with ':'.
		if h[0] != '[' {
			h = "[" + h + "]"
		}
		if _, ok := m.exact[h]; ok {
			return h
		}
		if m.anything {
			return "*"
		}
		return ""
	}
	if _, ok := m.exact[h]; ok {
		return h
	}
	// Walk the suffixes of h at label boundaries: "a.b.example.org",
	// "b.example.org", "example.org", "org".
	for s := h; ; {
		if _, ok := m.apexes[s]; ok {
			return "*." + s
		}
		i := strings.IndexByte(s, '.')
		if i < 0 {
			break
		}
		s = s[i+1:]
	}
	for i, g := range m.globs {
		if g.Match(h) {
			return m.globPattern(i)
		}
	}
	if m.anything {
		return "*"
	}
	return ""
}

func (m *Matcher) globPattern(i int) string {
	n := 0
	for _, p := range m.patterns {
		if p != "*" && strings.Contains(p, "*") && !(strings.HasPrefix(p, "*.") && !strings.Contains(p[2:], "*")) {
			if n == i {
				return p
			}
			n++
		}
	}
	return "*"
}

// isIPv6Literal reports whether p is "[" IPv6 address "]" without a zone.
func isIPv6Literal(p string) bool {
	if len(p) < 4 || p[0] != '[' || p[len(p)-1] != ']' {
		return false
	}
	a, err := netip.ParseAddr(p[1 : len(p)-1])
	return err == nil && a.Is6() && a.Zone() == ""
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
