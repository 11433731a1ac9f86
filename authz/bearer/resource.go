package bearer

import (
	"errors"
	"net/url"
	"strings"

	"github.com/nqrust/identity/metadata"
)

// checkURL validates a configured URL: absolute, https (or http to a
// loopback host, for development and tests), a host, no userinfo, no
// fragment, nothing that would need escaping in a header.
func checkURL(what, raw string) error {
	if raw == "" {
		return errors.New("bearer: " + what + " is empty")
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c <= 0x20 || c >= 0x7f || c == '\\' || c == '"' {
			return errors.New("bearer: " + what + " contains a character that must be percent-encoded")
		}
	}
	u, err := url.Parse(raw)
	if err != nil {
		return errors.New("bearer: " + what + " is not a URL")
	}
	if u.Fragment != "" || strings.IndexByte(raw, '#') >= 0 {
		return errors.New("bearer: " + what + " has a fragment")
	}
	if u.User != nil {
		return errors.New("bearer: " + what + " has userinfo")
	}
	if u.Hostname() == "" {
		return errors.New("bearer: " + what + " has no host")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !metadata.IsLoopbackHost(u.Hostname()) {
			return errors.New("bearer: " + what + " must use https (http is allowed only for loopback hosts)")
		}
	default:
		return errors.New("bearer: " + what + " must be an https URL")
	}
	return nil
}
