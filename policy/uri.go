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
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		case i > 0 && ('0' <= c && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			goto scheme
		default:
			return p, false
		}
	}
	return p, false
scheme:
	p.scheme = s[:i]
	rest := s[i+1:]
	if !strings.HasPrefix(rest, "//") {
		return p, false
	}
	rest = rest[2:]
	end := len(rest)
	for j := 0; j < len(rest); j++ {
		if c := rest[j]; c == '/' || c == '?' || c == '#' {
			end = j
			break
		}
	}
	auth := rest[:end]
	if k := strings.LastIndexByte(auth, '@'); k >= 0 {
		p.userinfo = true
		auth = auth[k+1:]
	}
	host, port := auth, ""
	if strings.HasPrefix(auth, "[") {
		k := strings.IndexByte(auth, ']')
		if k < 0 {
			return p, false
		}
		host, port = auth[:k+1], auth[k+1:]
		for j := 1; j < len(host)-1; j++ {
			c := host[j]
			if !(isHexDigit(c) || c == ':' || c == '.') {
				return p, false
			}
		}
		if len(host) == 2 {
			return p, false
		}
	} else {
		if k := strings.IndexByte(auth, ':'); k >= 0 {
			host, port = auth[:k], auth[k:]
		}
		for j := 0; j < len(host); j++ {
			c := host[j]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
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
