package interoptest

import (
	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// AccessTokenClaims are the claims of an access token the tests look at.
type AccessTokenClaims struct {
	Issuer   string           `json:"iss"`
	Subject  string           `json:"sub"`
	Audience jwt.Audience     `json:"aud"`
	ClientID string           `json:"client_id"`
	Scope    string           `json:"scope"`
	Expiry   *jwt.NumericDate `json:"exp"`
}

// UnverifiedClaims reads the claims of a JWT access token without
// verifying it. Tests use it to look at what the authorization server
// issued; whether the token is good is decided by the MCP endpoint, which
// verifies it.
func UnverifiedClaims(token string) (*AccessTokenClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		return nil, err
	}
	var c AccessTokenClaims
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		return nil, err
	}
	return &c, nil
}
