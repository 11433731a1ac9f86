package authz

import (
	"context"
	"errors"
	"html"
	"log/slog"
	"net/http"
	"time"

	"github.com/nqrust/identity/storage"
)

// OAuth error codes used by this package (RFC 6749 §4.1.2.1 and §5.2,
// RFC 7009 §2.2.1, RFC 8707 §2).
const (
	ErrCodeInvalidRequest          = "invalid_request"
	ErrCodeInvalidClient           = "invalid_client"
	ErrCodeInvalidGrant            = "invalid_grant"
	ErrCodeUnauthorizedClient      = "unauthorized_client"
	ErrCodeUnsupportedGrantType    = "unsupported_grant_type"
	ErrCodeUnsupportedResponseType = "unsupported_response_type"
	ErrCodeInvalidScope            = "invalid_scope"
	ErrCodeInvalidTarget           = "invalid_target"
	ErrCodeAccessDenied            = "access_denied"
	ErrCodeServerError             = "server_error"
	ErrCodeTemporarilyUnavailable  = "temporarily_unavailable"
	ErrCodeUnsupportedTokenType    = "unsupported_token_type"

	// The OpenID Connect Core §3.1.2.6 codes a host may answer a
	// prompt=none request with through [Server.DenyWithError].
	ErrCodeLoginRequired            = "login_required"
	ErrCodeConsentRequired          = "consent_required"
	ErrCodeInteractionRequired      = "interaction_required"
	ErrCodeAccountSelectionRequired = "account_selection_required"
)

// Error is an OAuth error as the protocol shows it to clients: a code from
// the RFC 6749 family, a human-readable description, and the HTTP status a
// JSON error response carries. Every refusal the server makes is an *Error
// (possibly wrapping an internal cause that is logged but never shown), so
// callers of the Go API can use errors.As to read the code.
type Error struct {
	// Code is the "error" member, such as "invalid_grant".
	Code string
	// Description is "error_description": one sentence, ASCII, no secrets.
	Description string
	// Status is the HTTP status of a JSON error response; 0 means 400.
	Status int
	// URI is the optional "error_uri".
	URI string

	// cause is the internal reason, for logs only.
	cause error
	// retryAfter, when set, becomes a Retry-After header.
	retryAfter time.Duration
}

// Error returns "code: description".
func (e *Error) Error() string {
	if e.Description == "" {
		return e.Code
	}
	return e.Code + ": " + e.Description
}

// Unwrap returns the internal cause, if any.
func (e *Error) Unwrap() error { return e.cause }

// status returns the HTTP status for a JSON error response.
func (e *Error) status() int {
	if e.Status != 0 {
		return e.Status
	}
	return http.StatusBadRequest
}

func oauthErr(code, desc string) *Error { return &Error{Code: code, Description: desc} }

func errInvalidRequest(desc string) *Error { return oauthErr(ErrCodeInvalidRequest, desc) }
func errInvalidGrant(desc string) *Error   { return oauthErr(ErrCodeInvalidGrant, desc) }
func errInvalidScope(desc string) *Error   { return oauthErr(ErrCodeInvalidScope, desc) }
func errInvalidTarget(desc string) *Error  { return oauthErr(ErrCodeInvalidTarget, desc) }

// errRepeated reports a repeated parameter, naming it only when the name is
// a plain identifier: parameter names are attacker-chosen text that must
// not be reflected into error descriptions.
func errRepeated(name string) *Error {
	ok := name != "" && len(name) <= 40
	for i := 0; ok && i < len(name); i++ {
		c := name[i]
		ok = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
	}
	if !ok {
		return errInvalidRequest("A parameter is repeated.")
	}
	return errInvalidRequest("The " + name + " parameter is repeated.")
}

// descriptionText limits an error_description to the characters OAuth
// allows (%x20-21 / %x23-5B / %x5D-7E, OAuth 2.1 §4.1.2.1 and §3.2.4) and
// to 200 bytes; descriptions may carry text from policies.
func descriptionText(s string) string {
	clean := len(s) <= 200
	for i := 0; clean && i < len(s); i++ {
		c := s[i]
		clean = c >= 0x20 && c <= 0x7e && c != '"' && c != '\\'
	}
	if clean {
		return s
	}
	b := make([]byte, 0, min(len(s), 200))
	for i := 0; i < len(s) && len(b) < 200; i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\'')
		case c >= 0x20 && c <= 0x7e && c != '\\':
			b = append(b, c)
		}
	}
	return string(b)
}

func errInvalidClient(desc string) *Error {
	return &Error{Code: ErrCodeInvalidClient, Description: desc, Status: http.StatusUnauthorized}
}

// asOAuthError turns any error from the request path into the *Error a
// client sees. Store outages and deadlines become 503 server_error so that
// clients retry instead of discarding credentials; anything unexpected
// becomes 500 server_error without detail.
func asOAuthError(err error) *Error {
	var oe *Error
	if errors.As(err, &oe) {
		return oe
	}
	if isUnavailable(err) {
		return &Error{Code: ErrCodeServerError, Description: "The service is temporarily unavailable.", Status: http.StatusServiceUnavailable, cause: err}
	}
	return &Error{Code: ErrCodeServerError, Description: "Internal error.", Status: http.StatusInternalServerError, cause: err}
}

func isUnavailable(err error) bool {
	return errors.Is(err, storage.ErrUnavailable) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)
}

// storeErr wraps an unexpected store error as a server error, keeping the
// cause for logs.
func storeErr(err error) *Error {
	if isUnavailable(err) {
		return &Error{Code: ErrCodeServerError, Description: "The service is temporarily unavailable.", Status: http.StatusServiceUnavailable, cause: err}
	}
	return &Error{Code: ErrCodeServerError, Description: "Internal error.", Status: http.StatusInternalServerError, cause: err}
}

// setNoStore marks a response as carrying credentials (RFC 6749 §5.1).
func setNoStore(h http.Header) {
	h["Cache-Control"] = noStoreValue
	h["Pragma"] = noCacheValue
}

var (
	noStoreValue = []string{"no-store"}
	noCacheValue = []string{"no-cache"}
	jsonValue    = []string{"application/json"}
)

// writeJSONError writes an RFC 6749 §5.2 error body. It never includes the
// internal cause.
func (s *Server) writeJSONError(w http.ResponseWriter, r *http.Request, err error) {
	oe := asOAuthError(err)
	s.logError(r, oe)
	h := w.Header()
	setNoStore(h)
	h["Content-Type"] = jsonValue
	if oe.status() == http.StatusUnauthorized {
		// A 401 must carry a challenge (RFC 9110 §15.5.2); RFC 6749 §5.2
		// names Basic for clients that tried the Authorization header.
		h.Set("WWW-Authenticate", `Basic realm="`+s.realm+`", charset="UTF-8"`)
	}
	switch {
	case oe.retryAfter > 0:
		h.Set("Retry-After", retryAfterValue(oe.retryAfter))
	case oe.Code == ErrCodeServerError && oe.status() == http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	}
	b := make([]byte, 0, 128)
	b = append(b, `{"error":`...)
	b = appendJSONString(b, oe.Code)
	if d := descriptionText(oe.Description); d != "" {
		b = append(b, `,"error_description":`...)
		b = appendJSONString(b, d)
	}
	if oe.URI != "" {
		b = append(b, `,"error_uri":`...)
		b = appendJSONString(b, oe.URI)
	}
	b = append(b, '}')
	w.WriteHeader(oe.status())
	_, _ = w.Write(b)
}

// logError logs server-side failures at error level and client mistakes at
// debug level. Descriptions are ours (never client secrets); causes may be
// store errors, which carry no secrets either.
func (s *Server) logError(r *http.Request, oe *Error) {
	if oe.status() >= 500 {
		s.log.LogAttrs(r.Context(), slog.LevelError, "authz: request failed",
			slog.String("path", r.URL.Path), slog.String("error", oe.Code), slog.Any("cause", oe.cause))
		return
	}
	if s.log.Enabled(r.Context(), slog.LevelDebug) {
		s.log.LogAttrs(r.Context(), slog.LevelDebug, "authz: request refused",
			slog.String("path", r.URL.Path), slog.String("error", oe.Code), slog.String("description", oe.Description), slog.Any("cause", oe.cause))
	}
}

// writeErrorPage answers with an HTML error page when the authorization
// endpoint, Approve or Deny must not redirect: the client or its redirect
// URI could not be trusted, or the request is gone, so the error goes to
// the user instead (OAuth 2.1 §4.1.2.1). Config.ErrorPage renders it when
// set, after the security headers are in place.
func (s *Server) writeErrorPage(w http.ResponseWriter, r *http.Request, err error) {
	oe := asOAuthError(err)
	s.logError(r, oe)
	status := oe.status()
	if status == http.StatusUnauthorized {
		// invalid_client is 401 in JSON answers, but a browser has no
		// credentials to offer.
		status = http.StatusBadRequest
	}
	desc := descriptionText(oe.Description)
	if desc == "" {
		desc = "The request could not be processed."
	}
	setPageSecurityHeaders(w.Header())
	if s.errorPage != nil {
		s.errorPage(w, r, &Error{Code: oe.Code, Description: desc, Status: status, URI: oe.URI, cause: oe.cause})
		return
	}
	h := w.Header()
	h.Set("Content-Security-Policy", builtinPageCSP)
	h["Content-Type"] = []string{"text/html; charset=utf-8"}
	w.WriteHeader(status)
	_, _ = w.Write([]byte("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">" +
		"<title>Authorization error</title></head><body><h1>Authorization error</h1><p>" +
		html.EscapeString(desc) + "</p><p><code>" + html.EscapeString(oe.Code) + "</code></p></body></html>\n"))
}

// builtinPageCSP is the policy of the built-in error page, which has no
// style, script, image or form: nothing may load at all.
const builtinPageCSP = "default-src 'none'; frame-ancestors 'none'; form-action 'none'; base-uri 'none'"

// setPageSecurityHeaders forbids framing (clickjacking, RFC 9700 §4.16),
// sniffing, referrers and caching of the error pages the server answers
// with. The Content-Security-Policy names only frame-ancestors, so that a
// Config.ErrorPage hook may add what its page loads.
func setPageSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h["Cache-Control"] = noStoreValue
	h["Pragma"] = noCacheValue
}

// methodNotAllowed answers 405 with an Allow header.
func methodNotAllowed(w http.ResponseWriter, allow string) {
	h := w.Header()
	h.Set("Allow", allow)
	h["Content-Type"] = jsonValue
	setNoStore(h)
	w.WriteHeader(http.StatusMethodNotAllowed)
	_, _ = w.Write([]byte(`{"error":"invalid_request","error_description":"Method not allowed."}`))
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < 0x7f && c != '<' && c != '>' && c != '&' {
			continue
		}
		if c >= 0x80 {
			// UTF-8 passes through; the strings we write were validated.
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		case '\r':
			b = append(b, '\\', 'r')
		case '\t':
			b = append(b, '\\', 't')
		default:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
