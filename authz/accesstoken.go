package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// accessClaims is what goes into an access token.
type accessClaims struct {
	subject  string
	clientID string
	scopes   []string
	audience []string
	authTime time.Time
	// grantID is empty for tokens not issued from a grant
	// (client_credentials, IssueAccessToken).
	grantID string
}

// mintAccessToken signs an RFC 9068 access token and returns it with its
// lifetime in seconds. The "jti" is "<grantID>.<random>" for tokens issued
// from a grant, so introspection and revocation find the grant without a
// lookup table; other tokens have a random jti.
//
// The claims are written straight into one buffer (no reflection, nothing
// marshalled twice) and signed with the cached signer.
func (s *Server) mintAccessToken(c *accessClaims, now time.Time, lifetime time.Duration) (string, int64, error) {
	if len(c.audience) == 0 {
		return "", 0, errInvalidTarget("The token has no audience.")
	}
	if lifetime <= 0 {
		lifetime = s.lifetimeFor(c.audience)
	}
	iat := now.Unix()
	exp := now.Add(lifetime).Unix()
	// One allocation holds the jti's random bytes and the payload.
	buf := make([]byte, 16+384+len(s.issuer)+len(c.subject)+len(c.clientID))
	rnd := buf[:16]
	if err := s.readRandom(rnd); err != nil {
		return "", 0, storeErr(err)
	}
	b := buf[16:16]
	b = append(b, `{"iss":`...)
	b = appendJSONString(b, s.issuer)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.subject)
	b = append(b, `,"aud":`...)
	if len(c.audience) == 1 {
		b = appendJSONString(b, c.audience[0])
	} else {
		b = append(b, '[')
		for i, a := range c.audience {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, a)
		}
		b = append(b, ']')
	}
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.clientID)
	if len(c.scopes) > 0 {
		b = append(b, `,"scope":"`...)
		for i, sc := range c.scopes {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, sc...)
		}
		b = append(b, '"')
	}
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, exp, 10)
	b = append(b, `,"jti":"`...)
	if c.grantID != "" {
		b = append(b, c.grantID...)
		b = append(b, '.')
	}
	b = base64.RawURLEncoding.AppendEncode(b, rnd)
	b = append(b, '"')
	if !c.authTime.IsZero() {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.authTime.Unix(), 10)
	}
	b = append(b, '}')
	jws, err := s.currentKeys(now).active.signer.Sign(b)
	if err != nil {
		return "", 0, storeErr(err)
	}
	tok, err := jws.CompactSerialize()
	if err != nil {
		return "", 0, storeErr(err)
	}
	return tok, exp - iat, nil
}

// TokenRequest asks [Server.IssueAccessToken] for an access token.
type TokenRequest struct {
	// Subject is the token "sub"; required.
	Subject string
	// ClientID is the token "client_id"; required.
	ClientID string
	// Scopes become the "scope" claim.
	Scopes []string
	// Resources are the audience; empty means Config.DefaultResource.
	// They need not be registered resources (tests of audience checks
	// want foreign audiences).
	Resources []string
	// Lifetime is the token lifetime; 0 means the configured one. It may
	// be negative to mint an already expired token for tests. A token
	// that lives longer than the configured lifetimes may outlive its key
	// after a rotation (see Server.RotateKey).
	Lifetime time.Duration
	// AuthTime is the "auth_time" claim; zero omits it.
	AuthTime time.Time
}

// IssueAccessToken mints an access token directly, without a client
// request, consent or grant: for tests (authz/authztest) and for hosts that
// issue tokens by other means. Such tokens cannot be revoked; they
// introspect as active until they expire.
func (s *Server) IssueAccessToken(ctx context.Context, req TokenRequest) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if req.Subject == "" || req.ClientID == "" {
		return "", errors.New("authz: IssueAccessToken needs Subject and ClientID")
	}
	for _, sc := range req.Scopes {
		if !validScopeToken(sc) {
			return "", errors.New("authz: IssueAccessToken: invalid scope " + strconv.Quote(sc))
		}
	}
	aud := req.Resources
	if len(aud) == 0 {
		if s.defaultResource == "" {
			return "", errors.New("authz: IssueAccessToken needs Resources (no DefaultResource configured)")
		}
		aud = []string{s.defaultResource}
	}
	for _, a := range aud {
		if _, ok := canonicalResource(a); !ok {
			return "", errors.New("authz: IssueAccessToken: resource " + strconv.Quote(a) + " must be an absolute URI without fragment")
		}
	}
	now := s.now()
	lifetime := req.Lifetime
	if lifetime < 0 {
		// Backdate so that exp lies in the past while iat < exp.
		now = now.Add(lifetime - time.Minute)
		lifetime = time.Minute
	}
	tok, _, err := s.mintAccessToken(&accessClaims{
		subject:  req.Subject,
		clientID: req.ClientID,
		scopes:   req.Scopes,
		audience: aud,
		authTime: req.AuthTime,
	}, now, lifetime)
	return tok, err
}

// tokenClaims are the claims of an access token this server issued.
type tokenClaims struct {
	Issuer   string       `json:"iss"`
	Subject  string       `json:"sub"`
	Audience jwt.Audience `json:"aud"`
	ClientID string       `json:"client_id"`
	Scope    string       `json:"scope,omitempty"`
	IssuedAt int64        `json:"iat"`
	Expiry   int64        `json:"exp"`
	ID       string       `json:"jti"`
	AuthTime int64        `json:"auth_time,omitempty"`
}

// grantID returns the grant part of the jti, or "".
func (c *tokenClaims) grantID() string {
	g, _, ok := strings.Cut(c.ID, ".")
	if !ok {
		return ""
	}
	return g
}

var errNotOurToken = errors.New("authz: not an access token of this server")

// parseAccessToken verifies the signature, type and issuer of an access
// token issued by this server. It does not check expiry.
func (s *Server) parseAccessToken(ctx context.Context, token string) (*tokenClaims, error) {
	if strings.Count(token, ".") != 2 || len(token) > 16<<10 {
		return nil, errNotOurToken
	}
	ks := s.currentKeys(s.now())
	algs := make([]jose.SignatureAlgorithm, len(ks.algs))
	for i, a := range ks.algs {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	jws, err := jose.ParseSignedCompact(token, algs)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errNotOurToken
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); !strings.EqualFold(typ, "at+jwt") && !strings.EqualFold(typ, "application/at+jwt") {
		return nil, errNotOurToken
	}
	key, err := s.VerificationKey(ctx, h.KeyID)
	if err != nil {
		return nil, errNotOurToken
	}
	payload, err := jws.Verify(key)
	if err != nil {
		return nil, errNotOurToken
	}
	var c tokenClaims
	if err := json.Unmarshal(payload, &c); err != nil || c.Issuer != s.issuer {
		return nil, errNotOurToken
	}
	return &c, nil
}
