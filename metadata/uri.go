package metadata

import (
	"errors"
	"net/netip"
	"net/url"
	"strings"
)

// IsLoopbackHost reports whether host names the local machine in one of the
// spellings RFC 8252 §7.3 and RFC 9700 §2.1 treat as loopback: "localhost"
// (any letter case), an IPv4 literal in 127.0.0.0/8 written in canonical
// dotted decimal, or the IPv6 literal "::1" (with or without brackets).
//
// host is a host without a port, as returned by [url.URL.Hostname]. Other
// spellings of the same addresses ("localhost.", "127.1", "0x7f.0.0.1",
// "2130706433", "0:0:0:0:0:0:0:1", "::ffff:127.0.0.1", zone suffixes) are
// refused on purpose: a check that accepts them invites parser differentials
// between this library, browsers and the client's listener.
func IsLoopbackHost(host string) bool {
	if len(host) == 9 && strings.EqualFold(host, "localhost") {
		return true
	}
	if host == "::1" || host == "[::1]" {
		return true
	}
	if len(host) < 7 || len(host) > 15 || !strings.HasPrefix(host, "127.") {
		return false
	}
	// netip accepts only four decimal octets without leading zeros, which is
	// exactly the canonical form we want.
	a, err := netip.ParseAddr(host)
	return err == nil && a.Is4()
}

// loopbackHTTP splits an http URI whose host is a loopback literal into its
// host and its path-and-query, without allocating. ok is false for anything
// else, including URIs with userinfo, a fragment, a backslash, control or
// space characters, an upper-case scheme, or a malformed port.
func loopbackHTTP(s string) (host, rest string, ok bool) {
	const prefix = "http://"
	if !strings.HasPrefix(s, prefix) {
		return "", "", false
	}
	if !plainURIChars(s) {
		return "", "", false
	}
	// '#' was refused above, so the authority ends at '/' or '?'.
	authority, rest := splitAuthority(s[len(prefix):])
	if strings.IndexByte(authority, '@') >= 0 {
		return "", "", false
	}
	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		i := strings.IndexByte(authority, ']')
		if i < 0 {
			return "", "", false
		}
		host, port = authority[:i+1], authority[i+1:]
	} else if i := strings.IndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i:]
	}
	if port != "" && (port[0] != ':' || !validPort(port[1:])) {
		return "", "", false
	}
	if !IsLoopbackHost(host) {
		return "", "", false
	}
	return host, rest, true
}

// validPort reports whether p is a decimal port in 1..65535 without a sign
// or leading zero.
func validPort(p string) bool {
	if len(p) == 0 || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c < '0' || c > '9' {
			return false
		}
		n = n*10 + int(c-'0')
	}
	return n <= 65535
}

// RedirectURIMatches reports whether the redirect_uri of an authorization
// request (requested) matches one registered for the client (registered).
//
// The comparison is simple string comparison (OAuth 2.1 §2.3.1, RFC 9700
// §2.1) with one exception, for native apps (RFC 8252 §7.3, OAuth 2.1
// §8.4.2): when both URIs use the "http" scheme and the same loopback host
// literal (see [IsLoopbackHost]; "localhost" compared without regard to
// case), the port is ignored on both sides and path and query must be
// byte-identical. So a registered "http://127.0.0.1:33418/" accepts
// "http://127.0.0.1:51234/", and a registered portless
// "http://localhost/callback" accepts "http://localhost:49152/callback".
//
// https loopback URIs are not relaxed, "127.0.0.1" and "localhost" are
// different hosts, and a URI with userinfo, a fragment, a backslash or a
// non-canonical loopback spelling never matches anything but itself
// byte for byte. An empty string never matches. The function does not
// allocate.
func RedirectURIMatches(registered, requested string) bool {
	if registered == "" || requested == "" {
		return false
	}
	if registered == requested {
		return true
	}
	h1, r1, ok := loopbackHTTP(registered)
	if !ok {
		return false
	}
	h2, r2, ok := loopbackHTTP(requested)
	if !ok {
		return false
	}
	return r1 == r2 && strings.EqualFold(h1, h2)
}

// ErrInvalidResource is returned (wrapped) by [CanonicalResource] for a
// value that is not a usable RFC 8707 resource indicator.
var ErrInvalidResource = errors.New("metadata: invalid resource indicator")

func resourceError(msg string) error {
	return &resourceErr{msg: msg}
}

type resourceErr struct{ msg string }

func (e *resourceErr) Error() string { return "metadata: invalid resource indicator: " + e.msg }
func (e *resourceErr) Unwrap() error { return ErrInvalidResource }

// CanonicalResource checks that raw is a usable RFC 8707 resource indicator
// and returns its canonical form: scheme and host lower-cased and, for a URI
// with an authority and an empty path, the path "/" added. Nothing else is
// changed: no percent-decoding, no default-port removal, no trailing-slash
// stripping.
//
// A resource indicator must be an absolute URI without a fragment (RFC 8707
// §2). This function also refuses userinfo, white space, control and
// non-ASCII characters, and backslashes. Errors wrap [ErrInvalidResource].
func CanonicalResource(raw string) (string, error) {
	if raw == "" {
		return "", resourceError("empty")
	}
	if len(raw) > MaxURILength {
		return "", resourceError("too long")
	}
	if strings.IndexByte(raw, '#') >= 0 {
		return "", resourceError("has a fragment")
	}
	if !plainURIChars(raw) {
		return "", resourceError("contains a character that must be percent-encoded, or a bad percent-encoding")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", resourceError("not a URI")
	}
	if u.Scheme == "" {
		return "", resourceError("not an absolute URI")
	}
	if u.User != nil {
		return "", resourceError("has userinfo")
	}
	scheme, rest, ok := splitScheme(raw)
	if !ok {
		return "", resourceError("not an absolute URI")
	}
	if !strings.HasPrefix(rest, "//") {
		if rest == "" {
			return "", resourceError("not an absolute URI")
		}
		return strings.ToLower(scheme) + ":" + rest, nil
	}
	authority, tail := splitAuthority(rest[2:])
	if authority == "" {
		return "", resourceError("has no host")
	}
	if !validAuthority(authority) {
		return "", resourceError("has an invalid host or port")
	}
	if tail == "" || tail[0] == '?' {
		tail = "/" + tail
	}
	return strings.ToLower(scheme) + "://" + strings.ToLower(authority) + tail, nil
}

// splitScheme splits "scheme:rest", checking the scheme's syntax
// (RFC 3986 §3.1).
func splitScheme(s string) (scheme, rest string, ok bool) {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		case c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.':
			if i == 0 {
				return "", "", false
			}
		case c == ':':
			if i == 0 {
				return "", "", false
			}
			return s[:i], s[i+1:], true
		default:
			return "", "", false
		}
	}
	return "", "", false
}

// splitAuthority splits what follows "//" into the authority and the rest
// (path, query).
func splitAuthority(s string) (authority, rest string) {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '/' || c == '?' || c == '#' {
			return s[:i], s[i:]
		}
	}
	return s, ""
}

// ResourceEqual reports whether two RFC 8707 resource indicators (or a
// resource and a token audience) name the same resource. The comparison is
// exact except that scheme and host are compared without regard to case and
// an empty path equals "/": "HTTPS://Example.COM" equals
// "https://example.com/", but "https://example.com/mcp/" does not equal
// "https://example.com/mcp", nor "https://example.com:443/" equal
// "https://example.com/". Values with a fragment, userinfo, white space or
// control characters only equal themselves byte for byte (and the empty
// string equals nothing). The function does not allocate.
func ResourceEqual(a, b string) bool {
	if a == "" || b == "" {
		return false
	}
	if a == b {
		return true
	}
	s1, a1, t1, ok := splitResource(a)
	if !ok {
		return false
	}
	s2, a2, t2, ok := splitResource(b)
	if !ok {
		return false
	}
	if !strings.EqualFold(s1, s2) || !strings.EqualFold(a1, a2) {
		return false
	}
	if a1 == "" && a2 == "" {
		return t1 == t2
	}
	// With an authority, an empty path is "/" (RFC 3986 §6.2.3).
	if t1 == t2 {
		return true
	}
	return emptyPathEqual(t1, t2) || emptyPathEqual(t2, t1)
}

// emptyPathEqual reports whether x has an empty path and y is x with "/"
// inserted before the query.
func emptyPathEqual(x, y string) bool {
	if x != "" && x[0] != '?' {
		return false
	}
	return len(y) == len(x)+1 && y[0] == '/' && y[1:] == x
}

// splitResource splits an absolute URI into scheme, authority (empty when
// the URI has none) and the rest, refusing anything CanonicalResource would
// refuse.
func splitResource(s string) (scheme, authority, rest string, ok bool) {
	if len(s) > MaxURILength {
		return "", "", "", false
	}
	if !plainURIChars(s) {
		return "", "", "", false
	}
	scheme, rest, ok = splitScheme(s)
	if !ok || rest == "" {
		return "", "", "", false
	}
	if !strings.HasPrefix(rest, "//") {
		return scheme, "", rest, true
	}
	authority, rest = splitAuthority(rest[2:])
	if !validAuthority(authority) {
		return "", "", "", false
	}
	return scheme, authority, rest, true
}

// plainURIChars reports whether s holds only printable ASCII without
// backslash or '#', and every '%' starts a valid percent-encoding.
func plainURIChars(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c <= 0x20 || c == 0x7f || c >= 0x80 || c == '\\' || c == '#':
			return false
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// validAuthority accepts "host" or "host:port" where host is a DNS name or
// IPv4 address (letters, digits, '-', '.', '_', '~') or a bracketed IPv6
// literal, and port is decimal digits. Userinfo, percent-encoding and other
// characters in the host are refused: they are legal in URIs but only ever
// used in resource indicators to confuse a parser.
func validAuthority(a string) bool {
	host, port := a, ""
	if strings.HasPrefix(a, "[") {
		i := strings.IndexByte(a, ']')
		if i < 0 {
			return false
		}
		for j := 1; j < i; j++ {
			if c := a[j]; !isHex(c) && c != ':' && c != '.' {
				return false
			}
		}
		if i == 1 {
			return false
		}
		host, port = "", a[i+1:]
		if port != "" && port[0] != ':' {
			return false
		}
	} else if i := strings.IndexByte(a, ':'); i >= 0 {
		host, port = a[:i], a[i:]
		if host == "" {
			return false
		}
	} else if a == "" {
		return false
	}
	for j := 0; j < len(host); j++ {
		c := host[j]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	for j := 1; j < len(port); j++ {
		if c := port[j]; c < '0' || c > '9' {
			return false
		}
	}
	return true
}
