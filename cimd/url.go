package cimd

import (
	"net/netip"
	"net/url"
	"strings"

	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/metadata"
)

// MaxClientIDLength bounds a client_id URL, in bytes. It equals
// metadata.MaxURILength (2000), the bound every other URI member of client
// metadata has, so that a document whose client_id passed here also passes
// metadata validation. Real client IDs are under 100 bytes.
const MaxClientIDLength = metadata.MaxURILength

// ValidateClientIDURL checks raw against the Client ID URL rules of
// draft-ietf-oauth-client-id-metadata-document-02 §3, tightened where the
// draft leaves room for parser tricks. It returns nil or an *Error of
// ClassURL whose Reason says which rule failed:
//
//   - at most MaxClientIDLength bytes of printable ASCII (no spaces,
//     controls or non-ASCII: look-alike hosts never get this far);
//   - scheme exactly "https" (lower case), or "http" when allowHTTP;
//   - no userinfo, no fragment, no query (the draft says SHOULD NOT for a
//     query; refused here as in Keycloak);
//   - a host that is a lower-case DNS name or a canonical IP literal (so
//     "VSCode.dev", "2130706433" or "0x7f.1" are refused rather than
//     compared case-insensitively or resolved); an optional decimal port;
//   - a non-empty path ("/" is allowed, though the draft does not
//     recommend it);
//   - no "." or ".." segment, and no percent-encoded dot, slash or
//     backslash (%2e, %2f, %5c in any case) and no backslash anywhere in
//     the path, as Keycloak refuses.
//
// Client IDs are compared by simple string equality everywhere (draft §3):
// this function never normalises, it only accepts or refuses.
func ValidateClientIDURL(raw string, allowHTTP bool) error {
	if e := validateClientIDURL(raw, allowHTTP); e != nil {
		return e
	}
	return nil
}

func validateClientIDURL(raw string, allowHTTP bool) *Error {
	if raw == "" {
		return urlErr(ReasonEmptyClientID)
	}
	if len(raw) > MaxClientIDLength {
		return urlErr(ReasonTooLong)
	}
	var rest string
	switch {
	case strings.HasPrefix(raw, "https://"):
		rest = raw[len("https://"):]
	case strings.HasPrefix(raw, "http://"):
		if !allowHTTP {
			return urlErr(ReasonHTTPNotAllowed)
		}
		rest = raw[len("http://"):]
	default:
		if strings.Contains(raw, ":") {
			return urlErr(ReasonScheme)
		}
		return urlErr(ReasonMalformedURL)
	}
	authEnd := strings.IndexAny(rest, "/?#")
	if authEnd < 0 {
		authEnd = len(rest)
	}
	authority, path := rest[:authEnd], rest[authEnd:]
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c == '\\' && i >= len(raw)-len(path) {
			return urlErr(ReasonPathTraversal)
		}
		if c <= 0x20 || c >= 0x7f || c == '\\' {
			return urlErr(ReasonCharacters)
		}
	}
	if strings.IndexByte(raw, '#') >= 0 {
		return urlErr(ReasonFragment)
	}
	if strings.IndexByte(authority, '@') >= 0 {
		return urlErr(ReasonUserinfo)
	}
	if strings.IndexByte(raw, '?') >= 0 {
		return urlErr(ReasonQuery)
	}

	host, port := authority, ""
	if strings.HasPrefix(authority, "[") {
		end := strings.IndexByte(authority, ']')
		if end < 0 {
			return urlErr(ReasonMalformedURL)
		}
		host, port = authority[1:end], authority[end+1:]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return urlErr(ReasonInvalidHost)
		}
	} else if i := strings.LastIndexByte(authority, ':'); i >= 0 {
		host, port = authority[:i], authority[i:]
	}
	if host == "" {
		return urlErr(ReasonNoHost)
	}
	if !safehttp.ValidHost(host) || strings.ToLower(host) != host {
		return urlErr(ReasonInvalidHost)
	}
	if port != "" && (port[0] != ':' || !validPort(port[1:])) {
		return urlErr(ReasonPort)
	}

	if path == "" {
		return urlErr(ReasonEmptyPath)
	}
	for seg := range strings.SplitSeq(path[1:], "/") {
		if seg == "." || seg == ".." {
			return urlErr(ReasonPathTraversal)
		}
		for i := 0; i < len(seg); i++ {
			if seg[i] != '%' {
				continue
			}
			if i+2 >= len(seg) || !isHex(seg[i+1]) || !isHex(seg[i+2]) {
				return urlErr(ReasonMalformedURL)
			}
			switch strings.ToLower(seg[i+1 : i+3]) {
			case "2e", "2f", "5c":
				return urlErr(ReasonPathTraversal)
			}
		}
	}
	// The hand split above decides; net/url must agree with it, so that
	// the fetch goes exactly where the checks looked.
	u, err := url.Parse(raw)
	if err != nil || u.Host != authority || u.User != nil || u.Hostname() != host || u.EscapedPath() != path {
		return urlErr(ReasonMalformedURL)
	}
	return nil
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// validPort reports whether p is a decimal port in 1..65535 without a
// leading zero.
func validPort(p string) bool {
	if p == "" || len(p) > 5 || p[0] == '0' {
		return false
	}
	n := 0
	for i := 0; i < len(p); i++ {
		if p[i] < '0' || p[i] > '9' {
			return false
		}
		n = n*10 + int(p[i]-'0')
	}
	return n <= 65535
}
