// Package hostmatch matches host names against trusted-domain patterns, with
// the semantics shared by the CIMD trusted domains, the client-id-uri
// condition and the dynamic-registration trusted hosts:
//
//   - "example.org" matches exactly that host;
//   - "*.example.org" matches example.org itself and any subdomain at any depth;
//   - "*" alone matches any host;
//   - any other "*" matches within one DNS label ("api-*.example.org").
//
// Matching is case-insensitive. Hosts that are not plain ASCII, that are
// empty, or that end in a dot never match: look-alike and alternate
// spellings of a trusted name are refused rather than normalised.
package hostmatch

import (
	"fmt"
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
		if !isASCII(p) || strings.ContainsAny(p, "/:@?#[]{}!\\ ") && !strings.HasPrefix(p, "[") {
			return nil, fmt.Errorf("hostmatch: invalid pattern %q", p)
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
	if m == nil || host == "" || !isASCII(host) || strings.HasSuffix(host, ".") {
		return ""
	}
	h := strings.ToLower(host)
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

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}
