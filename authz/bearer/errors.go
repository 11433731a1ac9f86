package bearer

import (
	"errors"
)

// ErrInvalidToken is matched (with [errors.Is]) by every error a
// [TokenVerifier] returns for a token that must be refused: malformed,
// badly signed, expired, issued by someone else, meant for another
// resource, or reported inactive by introspection. [Middleware] answers it
// with 401 and error="invalid_token". The concrete error is a
// *[TokenError] whose [Reason] says why, for logs and metrics.
var ErrInvalidToken = errors.New("bearer: invalid token")

// ErrUnavailable is matched by errors that mean the token could not be
// checked at all because something the verifier depends on failed: the
// JWKS endpoint or the introspection endpoint is down, answers garbage, or
// refuses this resource server's credentials. It says nothing about the
// token, so [Middleware] answers 503 instead of telling the client to
// re-authorize.
var ErrUnavailable = errors.New("bearer: token verification unavailable")

// Reason classifies why a token was refused. It is meant for logs and
// metrics; [Middleware] only shows it to clients, as a fixed
// error_description, when [Options.ErrorDescription] is set.
type Reason uint8

// Reasons a token is refused.
const (
	// ReasonMalformed: not a compact JWS, bad base64 or JSON, a claim of the
	// wrong type, a token too long, or a critical header we do not know.
	ReasonMalformed Reason = iota + 1
	// ReasonBadType: the JOSE header "typ" is not "at+jwt" (RFC 9068 §4),
	// introspection describes another kind of token (a refresh token), or
	// the token is sender-constrained ("cnf"), which needs a proof of
	// possession this package does not check.
	ReasonBadType
	// ReasonBadAlgorithm: "alg" is not one of the accepted algorithms, or
	// does not fit the key named by "kid".
	ReasonBadAlgorithm
	// ReasonUnknownKey: no verification key has the token's "kid" (or the
	// token has no "kid" and there is more than one key).
	ReasonUnknownKey
	// ReasonBadSignature: the signature does not verify.
	ReasonBadSignature
	// ReasonWrongIssuer: "iss" is not exactly the configured issuer.
	ReasonWrongIssuer
	// ReasonWrongAudience: "aud" does not name this resource server.
	ReasonWrongAudience
	// ReasonExpired: "exp" is in the past (beyond the leeway).
	ReasonExpired
	// ReasonNotYetValid: "nbf" or "iat" is in the future (beyond the leeway).
	ReasonNotYetValid
	// ReasonMissingClaim: a required claim ("exp", "sub", "client_id") is
	// absent or empty.
	ReasonMissingClaim
	// ReasonInactive: the introspection endpoint answered "active": false.
	ReasonInactive
)

var reasonNames = [...]string{
	ReasonMalformed:     "malformed",
	ReasonBadType:       "bad_type",
	ReasonBadAlgorithm:  "bad_algorithm",
	ReasonUnknownKey:    "unknown_key",
	ReasonBadSignature:  "bad_signature",
	ReasonWrongIssuer:   "wrong_issuer",
	ReasonWrongAudience: "wrong_audience",
	ReasonExpired:       "expired",
	ReasonNotYetValid:   "not_yet_valid",
	ReasonMissingClaim:  "missing_claim",
	ReasonInactive:      "inactive",
}

// String returns a short snake_case name such as "expired", suitable as a
// log attribute or metric label.
func (r Reason) String() string {
	if int(r) < len(reasonNames) && reasonNames[r] != "" {
		return reasonNames[r]
	}
	return "unknown"
}

// description is the error_description sent to clients when the
// middleware is configured to send one. The texts are fixed so that no
// token content or internal detail can reach a response.
func (r Reason) description() string {
	switch r {
	case ReasonExpired:
		return "The access token expired"
	case ReasonNotYetValid:
		return "The access token is not valid yet"
	case ReasonWrongAudience:
		return "The access token was not issued for this resource"
	case ReasonWrongIssuer:
		return "The access token was issued by an untrusted issuer"
	case ReasonInactive:
		return "The access token is not active"
	default:
		return "The access token is invalid"
	}
}

// TokenError describes a refused token. It matches [ErrInvalidToken] with
// [errors.Is]. It never contains the token or any part of it: Detail is
// one of a fixed set of texts chosen by this package.
type TokenError struct {
	// Reason classifies the failure.
	Reason Reason
	// Detail adds a fixed, human-readable hint for logs, such as the name
	// of the missing claim; it may be empty.
	Detail string
}

// Error implements error.
func (e *TokenError) Error() string {
	s := "bearer: invalid token: " + e.Reason.String()
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Is makes errors.Is(err, ErrInvalidToken) true.
func (e *TokenError) Is(target error) bool { return target == ErrInvalidToken }

func invalid(r Reason, detail string) error { return &TokenError{Reason: r, Detail: detail} }

// unavailableError wraps ErrUnavailable with a cause that is safe to log
// (it never includes a token).
type unavailableError struct {
	msg   string
	cause error
}

func (e *unavailableError) Error() string {
	if e.cause != nil {
		return "bearer: token verification unavailable: " + e.msg + ": " + e.cause.Error()
	}
	return "bearer: token verification unavailable: " + e.msg
}

func (e *unavailableError) Is(target error) bool { return target == ErrUnavailable }
func (e *unavailableError) Unwrap() error        { return e.cause }

func unavailable(msg string, cause error) error { return &unavailableError{msg: msg, cause: cause} }
