package consent

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"strings"
)

// Cookie names. The browser binding cookie is "__Host-" prefixed, which
// makes browsers insist on Secure, Path=/ and no Domain, so that no
// sibling subdomain and no plain-http page can plant or overwrite it. On
// plain http to a loopback host (local development) browsers refuse Secure
// and "__Host-" cookies, so the fallback name without the prefix is used
// there, and only there.
const (
	CookieName         = "__Host-nq-consent"
	InsecureCookieName = "nq-consent-dev"
)

const (
	csrfLabel = "nqrust-identity consent csrf v1"
	// cookieBytes and the token are 256-bit random / HMAC values, so
	// guessing either is hopeless.
	cookieBytes = 32
	cookieLen   = 43 // base64url without padding of 32 bytes
	tokenLen    = 43
)

// secureRequest reports whether the browser sees this origin over https. A
// request without TLS is taken as https too (a TLS-terminating proxy in
// front), except when its host is a loopback name or address: that is a
// developer talking plain http to their own machine.
func secureRequest(r *http.Request) bool {
	if r.TLS != nil {
		return true
	}
	return !isLoopbackHostPort(r.Host)
}

func isLoopbackHostPort(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(host, "[]"))
	return ip != nil && ip.IsLoopback()
}

// bindingCookie returns the browser binding value of r, if it carries a
// well-formed one under the name used for r's origin.
func bindingCookie(r *http.Request) (string, bool) {
	name := CookieName
	if !secureRequest(r) {
		name = InsecureCookieName
	}
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) != cookieLen {
		return "", false
	}
	if _, err := base64.RawURLEncoding.DecodeString(c.Value); err != nil {
		return "", false
	}
	return c.Value, true
}

// newBindingCookie mints a binding value and sets its cookie on w. The
// cookie lives as long as the browser session: it only ties a form to the
// browser that loaded it.
func newBindingCookie(w http.ResponseWriter, r *http.Request, rnd io.Reader) (string, error) {
	var b [cookieBytes]byte
	if _, err := io.ReadFull(rnd, b[:]); err != nil {
		return "", err
	}
	v := base64.RawURLEncoding.EncodeToString(b[:])
	c := &http.Cookie{
		Name:     CookieName,
		Value:    v,
		Path:     "/",
		Secure:   true,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
	}
	if !secureRequest(r) {
		c.Name = InsecureCookieName
		c.Secure = false
	}
	http.SetCookie(w, c)
	return v, nil
}

// csrfToken binds a form to one parked request, one user and one browser:
// HMAC-SHA256 under the handler's key over the request ID, the subject and
// the browser binding value. A token from the attacker's own session (their
// subject, their cookie) or for another request is useless to them, and
// a page on another site cannot read the victim's.
func csrfToken(key []byte, requestID, subject, binding string) string {
	var stack [256]byte
	msg := append(stack[:0], csrfLabel...)
	for _, part := range [...]string{requestID, subject, binding} {
		// Length prefixes keep one part from sliding into the next.
		msg = binary.BigEndian.AppendUint32(msg, uint32(len(part)))
		msg = append(msg, part...)
	}
	m := hmac.New(sha256.New, key)
	m.Write(msg)
	var sum [sha256.Size]byte
	return base64.RawURLEncoding.EncodeToString(m.Sum(sum[:0]))
}

// validCSRF compares a posted token with the expected one in constant time.
func validCSRF(key []byte, posted, requestID, subject, binding string) bool {
	if len(posted) != tokenLen {
		return false
	}
	want := csrfToken(key, requestID, subject, binding)
	return hmac.Equal([]byte(posted), []byte(want))
}
