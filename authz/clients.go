package authz

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// Client authentication methods (RFC 7591 §2, RFC 7523).
const (
	AuthMethodNone              = "none"
	AuthMethodClientSecretBasic = "client_secret_basic"
	AuthMethodClientSecretPost  = "client_secret_post"
	AuthMethodPrivateKeyJWT     = "private_key_jwt"
)

// Grant types.
const (
	GrantTypeAuthorizationCode = "authorization_code"
	GrantTypeRefreshToken      = "refresh_token"
	GrantTypeClientCredentials = "client_credentials"
)

const clientAssertionTypeJWT = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Bounds for private_key_jwt assertions.
const (
	assertionMaxLifetime = 5 * time.Minute
	clockSkew            = 60 * time.Second
)

// assertionAlgorithms are the JWS algorithms accepted for client
// assertions: asymmetric only, never "none" or HMAC.
var assertionAlgorithms = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// addStaticClient validates a pre-registered client and keeps it in memory.
func (s *Server) addStaticClient(sc *StaticClient) error {
	md := sc.Metadata
	id := md.ClientID
	where := fmt.Sprintf("authz: Config.Clients[%q]", id)
	if id == "" || !validClientID(id) {
		return fmt.Errorf("authz: Config.Clients: client_id %q is empty or has characters outside %%x20-7E", id)
	}
	if _, dup := s.clients[id]; dup {
		return fmt.Errorf("%s: duplicate client_id", where)
	}
	if md.ClientSecret != "" {
		return fmt.Errorf("%s: put the secret in StaticClient.Secret, not Metadata.ClientSecret", where)
	}
	md.RedirectURIs = slices.Clone(md.RedirectURIs)
	for _, ru := range md.RedirectURIs {
		if !validRedirectURI(ru) {
			return fmt.Errorf("%s: invalid redirect URI %q (absolute, no fragment, https or http on loopback)", where, ru)
		}
	}
	if len(md.GrantTypes) == 0 {
		md.GrantTypes = []string{GrantTypeAuthorizationCode, GrantTypeRefreshToken}
	} else {
		md.GrantTypes = slices.Clone(md.GrantTypes)
	}
	for _, g := range md.GrantTypes {
		switch g {
		case GrantTypeAuthorizationCode, GrantTypeRefreshToken, GrantTypeClientCredentials:
		default:
			return fmt.Errorf("%s: unsupported grant type %q", where, g)
		}
	}
	if len(md.ResponseTypes) == 0 && slices.Contains(md.GrantTypes, GrantTypeAuthorizationCode) {
		md.ResponseTypes = []string{"code"}
	}
	for _, rt := range md.ResponseTypes {
		if rt != "code" {
			return fmt.Errorf("%s: unsupported response type %q", where, rt)
		}
	}
	if slices.Contains(md.GrantTypes, GrantTypeAuthorizationCode) && len(md.RedirectURIs) == 0 {
		return fmt.Errorf("%s: authorization_code needs at least one redirect URI", where)
	}
	if md.Scope != "" {
		for _, sc := range strings.Fields(md.Scope) {
			if !validScopeToken(sc) {
				return fmt.Errorf("%s: invalid scope %q", where, sc)
			}
		}
	}
	e := &clientEntry{mayIntrospect: sc.MayIntrospect}
	if md.TokenEndpointAuthMethod == "" {
		switch {
		case sc.Secret != "":
			md.TokenEndpointAuthMethod = AuthMethodClientSecretBasic
		case len(md.JWKS) > 0 || md.JWKSURI != "":
			md.TokenEndpointAuthMethod = AuthMethodPrivateKeyJWT
		default:
			md.TokenEndpointAuthMethod = AuthMethodNone
		}
	}
	switch md.TokenEndpointAuthMethod {
	case AuthMethodClientSecretBasic, AuthMethodClientSecretPost:
		if len(sc.Secret) < 16 {
			return fmt.Errorf("%s: %s needs a Secret of at least 16 characters", where, md.TokenEndpointAuthMethod)
		}
		e.client.SecretHash = storage.HashOf(sc.Secret)
	case AuthMethodPrivateKeyJWT:
		if sc.Secret != "" {
			return fmt.Errorf("%s: private_key_jwt clients have no Secret", where)
		}
		if err := s.staticKeys(&md, e); err != nil {
			return fmt.Errorf("%s: %v", where, err)
		}
	case AuthMethodTLSClientAuth, AuthMethodSelfSignedTLSClientAuth:
		// Checked with the subject members below.
	case AuthMethodNone:
		if sc.Secret != "" {
			return fmt.Errorf("%s: a public client (none) has no Secret", where)
		}
		if slices.Contains(md.GrantTypes, GrantTypeClientCredentials) {
			return fmt.Errorf("%s: client_credentials needs a confidential client", where)
		}
		if sc.MayIntrospect {
			return fmt.Errorf("%s: MayIntrospect needs a confidential client", where)
		}
	default:
		return fmt.Errorf("%s: unsupported token_endpoint_auth_method %q", where, md.TokenEndpointAuthMethod)
	}
	if err := s.staticMTLS(&StaticClient{Metadata: md, Secret: sc.Secret}, e); err != nil {
		return fmt.Errorf("%s: %v", where, err)
	}
	e.client.ID = id
	e.client.Kind = storage.ClientStatic
	e.client.Metadata = md
	s.clients[id] = e
	return nil
}

// staticKeys checks the jwks or jwks_uri of a pre-registered client that
// authenticates with keys, parsing inline keys once.
func (s *Server) staticKeys(md *metadata.Client, e *clientEntry) error {
	switch {
	case len(md.JWKS) > 0 && md.JWKSURI != "":
		return errors.New("set jwks or jwks_uri, not both")
	case md.JWKSURI != "":
		if u, err := url.Parse(md.JWKSURI); err != nil || u.Scheme != "https" || u.Host == "" {
			return errors.New("jwks_uri must be an https URL")
		}
	default:
		ks, err := parseClientJWKS(md.JWKS)
		if err != nil {
			return err
		}
		e.jwks = ks
	}
	return nil
}

// validClientID checks RFC 6749 Appendix A VSCHAR.
func validClientID(id string) bool {
	if len(id) > 2048 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x20 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseClientJWKS parses a client's "jwks": public keys only.
func parseClientJWKS(raw json.RawMessage) (*jose.JSONWebKeySet, error) {
	if len(raw) == 0 {
		return nil, errors.New("the method needs jwks or jwks_uri")
	}
	ks, err := metadata.ParsePublicJWKS(raw)
	if err != nil {
		return nil, fmt.Errorf("jwks must hold public keys only: %v", err)
	}
	return ks, nil
}

// lookupClient finds a client: pre-registered ones first, then the store.
// Unknown, deleted and expired clients give invalid_client.
func (s *Server) lookupClient(ctx context.Context, id string) (*clientEntry, error) {
	if e, ok := s.clients[id]; ok {
		return e, nil
	}
	c, err := s.store.GetClient(ctx, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
			return nil, &Error{Code: ErrCodeInvalidClient, Description: "Unknown client.", Status: http.StatusUnauthorized, cause: err}
		}
		return nil, storeErr(err)
	}
	return &clientEntry{client: *c}, nil
}

// authMethod returns the client's registered authentication method, with
// the defaults of this library: a metadata-document client without one is
// public (standards-checklist "Decisions taken"); other clients follow
// RFC 7591 (client_secret_basic) when they hold a secret.
func authMethod(c *storage.Client) string {
	if m := c.Metadata.TokenEndpointAuthMethod; m != "" {
		return m
	}
	switch {
	case c.Kind == storage.ClientMetadataDocument:
		return AuthMethodNone
	case !c.SecretHash.IsZero():
		return AuthMethodClientSecretBasic
	case len(c.Metadata.JWKS) > 0 || c.Metadata.JWKSURI != "":
		return AuthMethodPrivateKeyJWT
	}
	return AuthMethodNone
}

// isConfidential reports whether the client authenticates with a credential.
func isConfidential(c *storage.Client) bool { return authMethod(c) != AuthMethodNone }

// allowsGrant reports whether the client may use a grant type. A client
// without grant_types uses the RFC 7591 default, authorization_code.
func allowsGrant(c *storage.Client, g string) bool {
	if len(c.Metadata.GrantTypes) == 0 {
		return g == GrantTypeAuthorizationCode
	}
	return slices.Contains(c.Metadata.GrantTypes, g)
}

// authenticateClient identifies and authenticates the caller of the token,
// revocation or introspection endpoint. Exactly one method may be used,
// and it must be the client's registered one. grantType is the token
// request's grant type ("" at revocation and introspection); with it the
// client is resolved through the policies (see tokenClient).
//
// Failed authentications (invalid_client) count against the client_id and
// the client address (Config.AuthFailureLimit); past the limit attempts
// are refused before any credential is looked at.
func (s *Server) authenticateClient(ctx context.Context, r *http.Request, p *params, grantType string) (*clientEntry, error) {
	att, err := s.authLimit.start(r, s.now())
	if err != nil {
		return nil, err
	}
	e, err := s.authenticate(ctx, r, p, grantType, &att)
	if err != nil {
		s.authLimit.failed(&att, err, s.now())
	}
	return e, err
}

// attemptClient finds the client an authentication attempt claims to be,
// unless that client_id has failed too often.
func (s *Server) attemptClient(ctx context.Context, r *http.Request, p *params, id, grantType string, att *authAttempt) (*clientEntry, error) {
	if err := s.authLimit.claim(att, id, s.now()); err != nil {
		return nil, err
	}
	return s.tokenClient(ctx, r, p, id, grantType)
}

func (s *Server) authenticate(ctx context.Context, r *http.Request, p *params, grantType string, att *authAttempt) (*clientEntry, error) {
	var basicID, basicSecret, rawSecret string
	hasBasic := false
	if auth := r.Header.Get("Authorization"); auth != "" {
		if len(auth) > 6 && strings.EqualFold(auth[:6], "basic ") {
			id, secret, raw, err := parseBasic(auth[6:])
			if err != nil {
				return nil, &Error{Code: ErrCodeInvalidClient, Description: "Malformed HTTP Basic credentials.", Status: http.StatusUnauthorized}
			}
			basicID, basicSecret, rawSecret, hasBasic = id, secret, raw, true
		}
	}
	if p.isDup("client_id") || p.isDup("client_secret") || p.isDup("client_assertion") || p.isDup("client_assertion_type") {
		return nil, errInvalidRequest("Duplicate client authentication parameters.")
	}
	postSecret := p.get("client_secret")
	assertion := p.get("client_assertion")
	assertionType := p.get("client_assertion_type")
	paramID := p.get("client_id")
	n := 0
	if hasBasic {
		n++
	}
	if postSecret != "" {
		n++
	}
	if assertion != "" || assertionType != "" {
		n++
	}
	if n > 1 {
		return nil, errInvalidRequest("Use exactly one client authentication method.")
	}
	switch {
	case hasBasic:
		if paramID != "" && paramID != basicID {
			return nil, &Error{Code: ErrCodeInvalidClient, Description: "client_id does not match the authenticated client.", Status: http.StatusUnauthorized}
		}
		e, err := s.attemptClient(ctx, r, p, basicID, grantType, att)
		if err != nil {
			return nil, err
		}
		m := authMethod(&e.client)
		if rawSecret == "" && isMTLSMethod(m) {
			// The Basic header only names the client, as client_id in the
			// body would (x/oauth2's AuthStyleAutoDetect tries it first);
			// the certificate authenticates it.
			if err := s.authenticateCertificate(ctx, r, e); err != nil {
				return nil, err
			}
			return e, nil
		}
		if rawSecret == "" && m == AuthMethodNone {
			// "client_id:" with an empty password identifies a public
			// client, as golang.org/x/oauth2's AuthStyleAutoDetect (used
			// by the MCP Go SDK) sends it first; answering invalid_client
			// would only make it retry with client_id in the body. It
			// proves nothing, exactly like a bare client_id. A non-empty
			// secret for a public client stays invalid_client below.
			return e, nil
		}
		err = s.checkSecret(e, AuthMethodClientSecretBasic, basicSecret)
		if err != nil && rawSecret != basicSecret {
			// Many clients do not form-encode the secret as RFC 6749
			// §2.3.1 asks; accept the secret as sent too.
			err = s.checkSecret(e, AuthMethodClientSecretBasic, rawSecret)
		}
		if err != nil {
			return nil, err
		}
		return e, nil
	case postSecret != "":
		if paramID == "" {
			return nil, errInvalidClient("client_id is required.")
		}
		e, err := s.attemptClient(ctx, r, p, paramID, grantType, att)
		if err != nil {
			return nil, err
		}
		if err := s.checkSecret(e, AuthMethodClientSecretPost, postSecret); err != nil {
			return nil, err
		}
		return e, nil
	case assertion != "" || assertionType != "":
		if assertionType != clientAssertionTypeJWT {
			return nil, errInvalidRequest("Unsupported client_assertion_type.")
		}
		if assertion == "" {
			return nil, errInvalidRequest("client_assertion is required.")
		}
		return s.verifyClientAssertion(ctx, r, p, assertion, paramID, grantType, att)
	default:
		if paramID == "" {
			return nil, errInvalidClient("Client authentication is required.")
		}
		e, err := s.attemptClient(ctx, r, p, paramID, grantType, att)
		if err != nil {
			return nil, err
		}
		switch m := authMethod(&e.client); {
		case isMTLSMethod(m):
			// RFC 8705 §2: client_id names the client, the connection's
			// certificate authenticates it.
			if err := s.authenticateCertificate(ctx, r, e); err != nil {
				return nil, err
			}
		case m != AuthMethodNone:
			return nil, errInvalidClient("The client must authenticate with " + m + ".")
		}
		return e, nil
	}
}

// parseBasic decodes an HTTP Basic credential. id and secret are
// form-url-decoded as RFC 6749 §2.3.1 requires; raw is the secret as sent,
// for clients that skip the encoding.
func parseBasic(enc string) (id, secret, raw string, err error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", "", err
	}
	rawID, raw, ok := strings.Cut(string(b), ":")
	if !ok {
		return "", "", "", errors.New("no colon")
	}
	if id, err = url.QueryUnescape(rawID); err != nil {
		return "", "", "", err
	}
	if secret, err = url.QueryUnescape(raw); err != nil {
		secret = raw
	}
	if id == "" {
		return "", "", "", errors.New("empty id")
	}
	return id, secret, raw, nil
}

// checkSecret verifies a shared secret in constant time.
func (s *Server) checkSecret(e *clientEntry, used, secret string) error {
	m := authMethod(&e.client)
	if m != used {
		return errInvalidClient("The client must authenticate with " + m + ".")
	}
	if e.client.SecretHash.IsZero() || !storage.HashOf(secret).Equal(e.client.SecretHash) {
		return errInvalidClient("Client authentication failed.")
	}
	if !e.client.SecretExpiresAt.IsZero() && !s.now().Before(e.client.SecretExpiresAt) {
		return errInvalidClient("The client secret has expired.")
	}
	return nil
}

// assertionClaims are the claims of an RFC 7523 client assertion.
type assertionClaims struct {
	jwt.Claims
}

// verifyClientAssertion authenticates a private_key_jwt client (RFC 7523
// §2.2, §3): iss = sub = client_id, aud names this server, a short future
// exp, a jti never seen before, and a signature by one of the client's
// registered public keys.
func (s *Server) verifyClientAssertion(ctx context.Context, r *http.Request, p *params, assertion, paramID, grantType string, att *authAttempt) (*clientEntry, error) {
	tok, err := jwt.ParseSigned(assertion, assertionAlgorithms)
	if err != nil || len(tok.Headers) != 1 {
		return nil, errInvalidClient("The client assertion is malformed or uses an unsupported algorithm.")
	}
	var unverified assertionClaims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, errInvalidClient("The client assertion is malformed.")
	}
	clientID := unverified.Issuer
	if clientID == "" || unverified.Subject != clientID {
		return nil, errInvalidClient("The client assertion must have iss and sub equal to the client_id.")
	}
	if paramID != "" && paramID != clientID {
		return nil, errInvalidClient("client_id does not match the client assertion.")
	}
	e, err := s.attemptClient(ctx, r, p, clientID, grantType, att)
	if err != nil {
		return nil, err
	}
	if m := authMethod(&e.client); m != AuthMethodPrivateKeyJWT {
		return nil, errInvalidClient("The client must authenticate with " + m + ".")
	}
	var claims assertionClaims
	hdr := tok.Headers[0]
	verify := func(ks *jose.JSONWebKeySet) bool {
		for i := range ks.Keys {
			k := &ks.Keys[i]
			if hdr.KeyID != "" && k.KeyID != hdr.KeyID {
				continue
			}
			if k.Use != "" && k.Use != "sig" {
				continue
			}
			if k.Algorithm != "" && k.Algorithm != hdr.Algorithm {
				continue
			}
			if err := tok.Claims(k.Key, &claims); err == nil {
				return true
			}
		}
		return false
	}
	verified, err := s.matchClientKeys(ctx, e, verify)
	if err != nil {
		return nil, err
	}
	if !verified {
		return nil, errInvalidClient("The client assertion signature is invalid.")
	}
	now := s.now()
	switch {
	case claims.Issuer != clientID || claims.Subject != clientID:
		return nil, errInvalidClient("The client assertion must have iss and sub equal to the client_id.")
	case claims.Expiry == nil:
		return nil, errInvalidClient("The client assertion has no exp.")
	case !now.Before(claims.Expiry.Time().Add(clockSkew)):
		return nil, errInvalidClient("The client assertion has expired.")
	case claims.Expiry.Time().After(now.Add(assertionMaxLifetime + clockSkew)):
		return nil, errInvalidClient("The client assertion lives too long (exp at most 5 minutes ahead).")
	case claims.NotBefore != nil && claims.NotBefore.Time().After(now.Add(clockSkew)):
		return nil, errInvalidClient("The client assertion is not valid yet.")
	case claims.IssuedAt != nil && claims.IssuedAt.Time().After(now.Add(clockSkew)):
		return nil, errInvalidClient("The client assertion was issued in the future.")
	case claims.ID == "" || len(claims.ID) > 256:
		return nil, errInvalidClient("The client assertion needs a jti.")
	}
	if !s.assertionAudienceOK(claims.Audience) {
		return nil, errInvalidClient("The client assertion audience does not name this server.")
	}
	err = s.store.ReserveJTI(ctx, "client_assertion:"+clientID+":"+claims.ID, claims.Expiry.Time().Add(clockSkew))
	if errors.Is(err, storage.ErrAlreadyUsed) {
		return nil, errInvalidClient("The client assertion was already used.")
	}
	if err != nil {
		return nil, storeErr(err)
	}
	return e, nil
}

// matchClientKeys reports whether try accepts the client's registered key
// set: its parsed inline jwks, or the set at its jwks_uri, fetched through
// the safe client and cached; when a cached set does not match, the set
// is fetched once more, since the client may have rotated its keys.
func (s *Server) matchClientKeys(ctx context.Context, e *clientEntry, try func(*jose.JSONWebKeySet) bool) (bool, error) {
	switch {
	case e.jwks != nil:
		return try(e.jwks), nil
	case len(e.client.Metadata.JWKS) > 0:
		ks, err := parseClientJWKS(e.client.Metadata.JWKS)
		if err != nil {
			return false, &Error{Code: ErrCodeInvalidClient, Description: "The client's registered keys are invalid.", Status: http.StatusUnauthorized, cause: err}
		}
		return try(ks), nil
	case e.client.Metadata.JWKSURI != "":
		ks, fresh, err := s.remoteKeys(ctx, e.client.Metadata.JWKSURI, false)
		if err != nil {
			return false, err
		}
		if try(ks) {
			return true, nil
		}
		if fresh {
			return false, nil
		}
		if ks, _, err = s.remoteKeys(ctx, e.client.Metadata.JWKSURI, true); err != nil {
			return false, err
		}
		return try(ks), nil
	}
	return false, errInvalidClient("The client has no registered keys.")
}

// assertionAudienceOK accepts the issuer or the URL of one of the endpoints
// that authenticate clients (RFC 7523 §3: the audience identifies the
// authorization server; its token endpoint URL is the usual value).
func (s *Server) assertionAudienceOK(aud jwt.Audience) bool {
	for _, a := range aud {
		if a == s.issuer || a == s.tokenEndpoint || a == s.revocationEndpoint || a == s.introspectionEndpoint {
			return true
		}
	}
	return false
}
