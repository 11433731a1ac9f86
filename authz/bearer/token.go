package bearer

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"time"
)

// TokenVerifier checks an access token presented to this resource server
// and describes it. Both [Verifier] (JWT access tokens, RFC 9068) and
// [IntrospectionVerifier] (RFC 7662) implement it; so can a user type.
//
// Verify returns an error matching [ErrInvalidToken] for a token that must
// be refused and one matching [ErrUnavailable] when the token could not be
// checked. The *TokenInfo it returns may be shared between requests
// presenting the same token and must be treated as read-only.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (*TokenInfo, error)
}

// TokenInfo describes a verified access token. Times are zero when the
// corresponding claim was absent.
//
// A TokenInfo may be shared by every request that presents the same token
// (see [Config.CacheSize]); treat it, including its slices, as read-only.
type TokenInfo struct {
	// Subject is "sub": the resource owner, or the client for a
	// client-credentials token (RFC 9068 §2.2).
	Subject string
	// ClientID is "client_id": the client the token was issued to.
	ClientID string
	// Scopes is the "scope" claim split on spaces.
	Scopes []string
	// Audience is "aud", always as a list.
	Audience []string
	// Issuer is "iss".
	Issuer string
	// Expiry is "exp".
	Expiry time.Time
	// IssuedAt is "iat".
	IssuedAt time.Time
	// NotBefore is "nbf".
	NotBefore time.Time
	// AuthTime is "auth_time": when the user last authenticated.
	AuthTime time.Time
	// ID is "jti".
	ID string
	// Claims is the whole JWT claims set (or introspection response) as
	// received, for claims this struct does not model. Decode it with
	// encoding/json into a type of your own.
	Claims json.RawMessage
}

// HasScope reports whether the token was granted scope s (exact match).
func (t *TokenInfo) HasScope(s string) bool {
	if t == nil {
		return false
	}
	for _, g := range t.Scopes {
		if g == s {
			return true
		}
	}
	return false
}

type tokenInfoKey struct{}

// WithTokenInfo returns a copy of ctx carrying info; [Middleware] calls it
// for every request it lets through.
func WithTokenInfo(ctx context.Context, info *TokenInfo) context.Context {
	return context.WithValue(ctx, tokenInfoKey{}, info)
}

// TokenInfoFromContext returns the verified token [Middleware] put in the
// request context.
func TokenInfoFromContext(ctx context.Context) (*TokenInfo, bool) {
	info, ok := ctx.Value(tokenInfoKey{}).(*TokenInfo)
	return info, ok && info != nil
}

// jwtClaims is the part of an RFC 9068 claims set the verifier checks.
// It is decoded straight into a struct, not a map, so that a first-seen
// token costs one pass of encoding/json and a handful of small
// allocations. Numeric dates are float64 (JSON numbers may have
// fractions) preset to NaN so that "absent" and "null" can be told from 0.
type jwtClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  audience `json:"aud"`
	Expiry    float64  `json:"exp"`
	NotBefore float64  `json:"nbf"`
	IssuedAt  float64  `json:"iat"`
	AuthTime  float64  `json:"auth_time"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	Scope     string   `json:"scope"`
	// Confirmation is "cnf" (RFC 7800), present on sender-constrained
	// tokens; only its presence matters.
	Confirmation json.RawMessage `json:"cnf"`
}

func newClaims() jwtClaims {
	n := nan()
	return jwtClaims{Expiry: n, NotBefore: n, IssuedAt: n, AuthTime: n}
}

// nan marks a numeric date as absent before decoding.
func nan() float64 { return math.NaN() }

// audience is "aud", which RFC 7519 §4.1.3 allows as a string or an array
// of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// maxNumericDate bounds numeric dates to values time.Unix represents
// exactly and that no real token carries (year 10000).
const maxNumericDate = 253402300800

// numericDate converts a decoded NumericDate. ok is false for a value
// that is present but unusable (negative, infinite, absurdly large).
// Absent values (NaN) give the zero time with ok true.
func numericDate(f float64) (t time.Time, present, ok bool) {
	if math.IsNaN(f) {
		return time.Time{}, false, true
	}
	if f < 0 || f > maxNumericDate {
		return time.Time{}, true, false
	}
	sec, frac := math.Modf(f)
	return time.Unix(int64(sec), int64(frac*1e9)), true, true
}

// splitScope splits an RFC 6749 §3.3 scope string. Runs of spaces are
// tolerated; empty entries are dropped.
func splitScope(s string) []string {
	if s == "" {
		return nil
	}
	n := strings.Count(s, " ") + 1
	out := make([]string, 0, n)
	for s != "" {
		var f string
		f, s, _ = strings.Cut(s, " ")
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}
