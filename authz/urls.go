package authz

import (
	"net/url"
	"strings"

	"github.com/nqrust/identity/metadata"
)

// The URI rules are the library's decisions, implemented once in package
// metadata (standards-checklist "Decisions taken"): redirect URIs match
// exactly except for the port of http loopback URIs; resource indicators
// compare with lower-cased scheme and host and an empty path equal to "/".

func redirectURIMatches(registered, requested string) bool {
	return metadata.RedirectURIMatches(registered, requested)
}

func isLoopbackHost(host string) bool { return metadata.IsLoopbackHost(host) }

func canonicalResource(s string) (string, bool) {
	c, err := metadata.CanonicalResource(s)
	return c, err == nil
}

func resourceEqual(a, b string) bool { return metadata.ResourceEqual(a, b) }

// validRedirectURI checks a registered redirect URI: absolute, no fragment,
// no userinfo; https, http only on loopback, or a private-use scheme for
// native apps (RFC 8252 §7.1).
func validRedirectURI(s string) bool {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Fragment != "" || strings.Contains(s, "#") || u.User != nil {
		return false
	}
	switch u.Scheme {
	case "https":
		return u.Host != ""
	case "http":
		return isLoopbackHost(u.Hostname())
	case "javascript", "data", "file", "vbscript", "blob", "about":
		return false
	}
	// Private-use scheme (reverse domain name) for native apps.
	return strings.Contains(u.Scheme, ".")
}
