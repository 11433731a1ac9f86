package dcr

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// OAuth error codes this package answers with. RFC 7591 §3.2.2 defines the
// first two for bad metadata; RFC 6750 §3.1 defines invalid_token for a bad
// initial or registration access token. access_denied (RFC 6749 §4.1.2.1)
// is used with 403 for a caller a policy refuses for who it is rather than
// for what it sent: an untrusted address, a web origin not allowed, the
// client limit, a management operation the policy no longer allows.
const (
	codeInvalidRedirectURI    = "invalid_redirect_uri"
	codeInvalidClientMetadata = "invalid_client_metadata"
	codeInvalidToken          = "invalid_token"
	codeAccessDenied          = "access_denied"
	codeInvalidRequest        = "invalid_request"
	codeServerError           = "server_error"
	codeTemporarilyUnavail    = "temporarily_unavailable"
)

// regError is an error answer: status, OAuth error code and a description
// that is safe to show the client (it never carries secrets or internals).
type regError struct {
	status int
	code   string
	desc   string
	// policy names the policy that refused, for the log.
	policy string
	// wwwAuthenticate, retryAfter and allow are response headers.
	wwwAuthenticate string
	retryAfter      string
	allow           string
	// cause is an internal error, logged but never sent.
	cause error
}

func (e *regError) Error() string { return e.code + ": " + e.desc }

// policyErr is a 400 refusal; when p is set the description names the
// policy.
func policyErr(p *compiledPolicy, code, format string, args ...any) *regError {
	e := &regError{status: http.StatusBadRequest, code: code, desc: fmt.Sprintf(format, args...)}
	if p != nil {
		e.policy = p.name
		e.desc = "policy " + quote(p.name) + ": " + e.desc
	}
	return e
}

// deniedErr is a 403 access_denied refusal by a policy (or, with p nil,
// by the server's configuration).
func deniedErr(p *compiledPolicy, format string, args ...any) *regError {
	e := policyErr(p, codeAccessDenied, format, args...)
	e.status = http.StatusForbidden
	return e
}

// tokenErr is a 401 invalid_token answer with the RFC 6750 challenge. With
// missing set, the request carried no token at all, and RFC 6750 §3.1 says
// the challenge then carries no error code.
func tokenErr(missing bool, desc string) *regError {
	e := &regError{status: http.StatusUnauthorized, code: codeInvalidToken, desc: desc}
	if missing {
		e.wwwAuthenticate = "Bearer"
	} else {
		e.wwwAuthenticate = `Bearer error="invalid_token", error_description="` + sanitize(desc) + `"`
	}
	return e
}

// storeErr maps a storage failure that is not the caller's fault.
func storeErr(err error) *regError {
	return &regError{status: http.StatusServiceUnavailable, code: codeTemporarilyUnavail,
		desc: "the registration service is temporarily unavailable", cause: err}
}

// writeJSON writes v with the headers every answer of this endpoint
// carries: registration responses contain credentials (RFC 7591 §3.2.1,
// OAuth 2.1 §3.2.3), so nothing is cached.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	body, err := json.Marshal(v)
	if err != nil {
		// Only our own types are marshalled; this cannot happen.
		status, body = http.StatusInternalServerError, []byte(`{"error":"server_error"}`)
	}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description,omitempty"`
}

func writeError(w http.ResponseWriter, e *regError) {
	h := w.Header()
	if e.wwwAuthenticate != "" {
		h.Set("WWW-Authenticate", e.wwwAuthenticate)
	}
	if e.retryAfter != "" {
		h.Set("Retry-After", e.retryAfter)
	}
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	writeJSON(w, e.status, errorBody{Error: e.code, ErrorDescription: sanitize(e.desc)})
}

// quote renders client input for an error description or log: single
// quotes, printable ASCII only, bounded length.
func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return "'" + sanitize(s) + "'"
}

// sanitize keeps error_description within the characters RFC 6749 §5.2
// allows (%x20-21 / %x23-5B / %x5D-7E), so that it is also safe inside a
// quoted WWW-Authenticate parameter.
func sanitize(s string) string {
	ok := true
	for i := 0; i < len(s); i++ {
		if !descChar(s[i]) {
			ok = false
			break
		}
	}
	if ok {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == '"':
			b.WriteByte('\'')
		case r == '\\' && i+1 < len(s) && s[i+1] == '"':
			// An escaped quote from strconv.Quote: one quote is enough.
			b.WriteByte('\'')
			size = 2
		case r == '§':
			b.WriteString("section ")
			if i+size < len(s) && s[i+size] == ' ' {
				size++
			}
		case r < utf8.RuneSelf && descChar(byte(r)):
			b.WriteByte(byte(r))
		default:
			b.WriteByte('?')
		}
		i += size
	}
	return b.String()
}

func descChar(c byte) bool {
	return c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
}

// retryAfterSeconds formats a Retry-After value of at least one second.
func retryAfterSeconds(secs float64) string {
	n := int64(secs)
	if float64(n) < secs {
		n++
	}
	if n < 1 {
		n = 1
	}
	return strconv.FormatInt(n, 10)
}
