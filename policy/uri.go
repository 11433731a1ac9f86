package policy

import (
	"net/url"
	"strings"
)

// uriParts is the scheme and authority of an absolute URI, as split by
// splitURI. Strings point into the input.
type uriParts struct {
	scheme   string // as written
	host     string // as written; IPv6 literals keep their brackets
	userinfo bool   // an '@' appears in the authority
}

// splitURI splits "scheme://authority..." without allocating, so that
// conditions can reject the common non-matching client_ids for free. It is
// deliberately narrower than RFC 3986: the host must be a plain ASCII
// reg-name (letters, digits, '-', '.', '_') or a bracketed IPv6 literal,
// and the port, if any, digits only. Anything else reports ok == false.
// Callers that accept a URI on the strength of this split confirm it with
// net/url (see confirmURI), so that the two parsers must agree.
func splitURI(s string) (p uriParts, ok bool) {
	i := strings.Index(s, "://")
	if i <= 0 || !isAlpha(s[0]) {
		return p, false
	}
	for j := 1; j < i; j++ {
		if charClass[s[j]]&schemeChar == 0 {
			return p, false
		}
	}
	p.scheme = s[:i]
	rest := s[i+3:]
	end := len(rest)
	for j := 0; j < len(rest); j++ {
		if charClass[rest[j]]&authorityEnd != 0 {
			end = j
			break
		}
	}
	auth := rest[:end]
	if strings.IndexByte(auth, '@') >= 0 {
		p.userinfo = true
		auth = auth[strings.LastIndexByte(auth, '@')+1:]
	}
	host, port := auth, ""
	if len(auth) > 0 && auth[0] == '[' {
		k := strings.IndexByte(auth, ']')
		if k < 2 {
			return p, false
		}
		host, port = auth[:k+1], auth[k+1:]
		for j := 1; j < len(host)-1; j++ {
			if charClass[host[j]]&ipv6Char == 0 {
				return p, false
			}
		}
	} else {
		if k := strings.IndexByte(auth, ':'); k >= 0 {
			host, port = auth[:k], auth[k:]
		}
		for j := 0; j < len(host); j++ {
			if charClass[host[j]]&hostChar == 0 {
				return p, false
			}
		}
	}
	if port != "" {
		if port[0] != ':' {
			return p, false
		}
		for j := 1; j < len(port); j++ {
			if port[j] < '0' || port[j] > '9' {
				return p, false
			}
		}
	}
	if host == "" {
		return p, false
	}
	p.host = host
	return p, true
}

// Character classes for splitURI, as bits in charClass.
const (
	schemeChar   = 1 << iota // ALPHA / DIGIT / "+" / "-" / "." (RFC 3986 §3.1)
	hostChar                 // the reg-name subset splitURI accepts
	ipv6Char                 // inside an IPv6 literal's brackets
	authorityEnd             // ends the authority (RFC 3986 §3.2)
)

var charClass = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		b := byte(c)
		alnum := isAlpha(b) || '0' <= b && b <= '9'
		if alnum || b == '+' || b == '-' || b == '.' {
			t[c] |= schemeChar
		}
		if alnum || b == '-' || b == '.' || b == '_' {
			t[c] |= hostChar
		}
		if isHexDigit(b) || b == ':' || b == '.' {
			t[c] |= ipv6Char
		}
		if b == '/' || b == '?' || b == '#' {
			t[c] |= authorityEnd
		}
	}
	return t
}()

func isAlpha(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }

func isHexDigit(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// confirmURI parses s with net/url and reports whether it agrees with p:
// same scheme, no userinfo, same host. A client_id that the two parsers
// read differently is refused rather than trusted.
func confirmURI(s string, p uriParts) bool {
	u, err := url.Parse(s)
	if err != nil || u.Opaque != "" || u.User != nil || !strings.EqualFold(u.Scheme, p.scheme) {
		return false
	}
	h := p.host
	if strings.HasPrefix(h, "[") {
		h = h[1 : len(h)-1]
	}
	return u.Hostname() == h
}
