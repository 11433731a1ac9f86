package safehttp

import (
	"net/netip"
	"net/url"
	"strconv"
)

// Kind classifies a failed fetch.
type Kind int

const (
	// KindBadURL: the URL is not absolute http(s), carries userinfo, or its
	// host is not a DNS name or canonical IP literal. Nothing was sent.
	KindBadURL Kind = iota + 1
	// KindBlockedAddress: the host is, or resolved to, a special-purpose
	// address (loopback, private, link-local, ...). Nothing was dialled.
	KindBlockedAddress
	// KindRedirect: the server answered 3xx. Redirects are never followed.
	KindRedirect
	// KindStatus: the server answered with a status other than 200 (or 304
	// where allowed) and other than 3xx.
	KindStatus
	// KindTooLarge: the body (after decompression) exceeded the byte cap.
	KindTooLarge
	// KindTimeout: the total timeout or the caller's deadline expired.
	KindTimeout
	// KindContentType: JSON was required and the response was not JSON.
	KindContentType
	// KindTransport: DNS, TCP, TLS, HTTP protocol or decoding failure, or
	// the caller cancelled.
	KindTransport
)

// String returns a short lower-case name such as "blocked-address".
func (k Kind) String() string {
	switch k {
	case KindBadURL:
		return "bad-url"
	case KindBlockedAddress:
		return "blocked-address"
	case KindRedirect:
		return "redirect"
	case KindStatus:
		return "status"
	case KindTooLarge:
		return "too-large"
	case KindTimeout:
		return "timeout"
	case KindContentType:
		return "content-type"
	case KindTransport:
		return "transport"
	}
	return "unknown"
}

// Error describes a refused or failed outbound fetch. Its message never
// contains any part of a response body; it may contain the URL (without
// userinfo and query), the status code, a blocked address and the media type.
type Error struct {
	// Kind is the class of failure.
	Kind Kind
	// URL is the requested URL with userinfo and query removed; empty when
	// the error comes from a dial without request context.
	URL string
	// Addr is the refused address (KindBlockedAddress).
	Addr netip.Addr
	// Category is why Addr was refused (KindBlockedAddress).
	Category Category
	// StatusCode is the HTTP status (KindStatus, KindRedirect).
	StatusCode int
	// ContentType is the media type received (KindContentType), truncated.
	ContentType string
	// Detail is a short fixed explanation.
	Detail string
	// Err is the underlying error, if any.
	Err error
}

func (e *Error) Error() string {
	s := "safehttp: "
	if e.URL != "" {
		s += "GET " + e.URL + ": "
	}
	s += e.Detail
	switch e.Kind {
	case KindBlockedAddress:
		if e.Addr.IsValid() {
			s += " " + e.Addr.String() + " (" + string(e.Category) + ")"
		}
	case KindStatus, KindRedirect:
		s += " " + strconv.Itoa(e.StatusCode)
	case KindContentType:
		s += " " + strconv.Quote(e.ContentType)
	}
	if e.Err != nil && e.Kind != KindBlockedAddress {
		s += ": " + clean(e.Err.Error(), 200)
	}
	return s
}

// clean makes server-influenced text (net/http quotes a malformed status
// line in its errors) safe for one log line: printable ASCII only, bounded.
func clean(s string, max int) string {
	b := make([]byte, 0, min(len(s), max))
	for i := 0; i < len(s) && len(b) < max; i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e {
			c = '?'
		}
		b = append(b, c)
	}
	if len(s) > max {
		b = append(b, "..."...)
	}
	return string(b)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// redact drops userinfo, query and fragment from a URL for messages.
func redact(u *url.URL) string {
	if u == nil {
		return ""
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path, RawPath: u.RawPath}
	return r.String()
}
