package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/nqrust/identity/authz/bearer"
)

// Keys of auth.TokenInfo.Extra set by [SDKTokenVerifier].
const (
	extraClientID = "client_id"
	extraIssuer   = "iss"
	extraAudience = "aud"
	extraTokenID  = "jti"
)

// SDKTokenVerifier adapts a verifier of package authz/bearer to the MCP Go
// SDK's auth.TokenVerifier, for servers that use the SDK's
// auth.RequireBearerToken middleware. Copy it into your server if you
// need it; it is exported here only to show the shape.
//
// The SDK's TokenInfo gets the token's scopes, its expiry, the subject as
// UserID (the SDK binds sessions to it) and, in Extra, "client_id", "iss",
// "aud" ([]string) and "jti". A refused token maps to auth.ErrInvalidToken
// (401); a verifier that cannot check tokens right now maps to a plain
// error, which the SDK answers with 500.
//
// When [bearer.Middleware] already ran on the request (as in this
// example, where it produces the RFC 6750 and MCP step-up challenges the
// SDK middleware cannot), the token it verified is taken from the request
// context instead of verifying again.
//
// Prefer bearer.Middleware on its own where you can: auth.RequireBearerToken
// sends no error code in its challenges and a fixed scope list, so MCP
// clients cannot step up from its 403s. Its one advantage is that tool
// handlers then find the token in req.Extra.TokenInfo.
func SDKTokenVerifier(v bearer.TokenVerifier) auth.TokenVerifier {
	return func(ctx context.Context, token string, r *http.Request) (*auth.TokenInfo, error) {
		var info *bearer.TokenInfo
		if r != nil {
			info, _ = bearer.TokenInfoFromContext(r.Context())
		}
		if info == nil {
			if v == nil {
				return nil, errors.New("no token verifier")
			}
			var err error
			info, err = v.Verify(ctx, token)
			switch {
			case errors.Is(err, bearer.ErrInvalidToken):
				return nil, fmt.Errorf("%w: %v", auth.ErrInvalidToken, err)
			case err != nil:
				return nil, fmt.Errorf("cannot verify the token: %w", err)
			}
		}
		return &auth.TokenInfo{
			Scopes:     info.Scopes,
			Expiration: info.Expiry,
			UserID:     info.Subject,
			Extra: map[string]any{
				extraClientID: info.ClientID,
				extraIssuer:   info.Issuer,
				extraAudience: info.Audience,
				extraTokenID:  info.ID,
			},
		}, nil
	}
}
