package authz

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nqrust/identity/storage"
)

// issued is the result of a successful grant.
type issued struct {
	accessToken  string
	expiresIn    int64
	refreshToken string
	scopes       []string
}

// TokenHandler serves the token endpoint (RFC 6749 §3.2): POST with an
// application/x-www-form-urlencoded body, grant types authorization_code,
// refresh_token and client_credentials. Every response carries
// Cache-Control: no-store; errors follow RFC 6749 §5.2. Responses are
// readable cross-origin (browser-based MCP clients).
func (s *Server) TokenHandler() http.Handler {
	return s.recoverer(http.HandlerFunc(s.serveToken))
}

func (s *Server) serveToken(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		corsPreflight(w, "POST, OPTIONS")
		return
	}
	corsHeaders(w.Header())
	if r.Method != http.MethodPost {
		methodNotAllowed(w, "POST, OPTIONS")
		return
	}
	buf := s.bodyBuffer()
	defer s.releaseBodyBuffer(buf)
	res, err := s.token(w, r, buf)
	if err != nil {
		s.writeJSONError(w, r, err)
		return
	}
	// The body buffer is free again (parameters were copied out of it)
	// and holds the response.
	*buf = s.appendTokenResponse((*buf)[:0], &res)
	h := w.Header()
	h["Content-Type"] = jsonValue
	setNoStore(h)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(*buf)
}

// bodyBuffer returns a pooled buffer for reading request bodies.
func (s *Server) bodyBuffer() *[]byte {
	if b, ok := s.bodyPool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 2048)
	return &b
}

func (s *Server) releaseBodyBuffer(b *[]byte) {
	if cap(*b) <= 16<<10 {
		*b = (*b)[:0]
		s.bodyPool.Put(b)
	}
}

// token runs a token request to completion.
func (s *Server) token(w http.ResponseWriter, r *http.Request, buf *[]byte) (issued, error) {
	var p params
	if err := readForm(w, r, s.maxBody, &p, buf); err != nil {
		return issued{}, err
	}
	if p.dup != "" {
		return issued{}, errRepeated(p.dup)
	}
	gt := p.get("grant_type")
	switch gt {
	case GrantTypeAuthorizationCode, GrantTypeRefreshToken, GrantTypeClientCredentials:
	case "":
		return issued{}, errInvalidRequest("The grant_type parameter is missing.")
	default:
		return issued{}, oauthErr(ErrCodeUnsupportedGrantType, "The grant type is not supported.")
	}
	ctx := r.Context()
	e, err := s.authenticateClient(ctx, r, &p, gt)
	if err != nil {
		return issued{}, err
	}
	if !allowsGrant(&e.client, gt) {
		return issued{}, oauthErr(ErrCodeUnauthorizedClient, "The client may not use this grant type.")
	}
	var res issued
	switch gt {
	case GrantTypeAuthorizationCode:
		res, err = s.exchangeCode(ctx, e, &p)
	case GrantTypeRefreshToken:
		res, err = s.refresh(ctx, e, &p)
	default:
		res, err = s.clientCredentials(ctx, e, &p)
	}
	if err == nil {
		s.markClientUsed(ctx, e)
	}
	return res, err
}

// markClientUsed records a stored client's first issued token, so that a
// registered client that never goes through the authorization endpoint
// (client_credentials only) does not lapse after dcr's UnusedClientTTL.
// Clients already marked (at code issuance, or an earlier token) cost
// nothing. A store failure is logged, not returned: the grant has already
// consumed its code or rotated its refresh token, and the next token
// request tries again.
func (s *Server) markClientUsed(ctx context.Context, e *clientEntry) {
	if e.client.Kind == storage.ClientStatic || !e.client.FirstUsedAt.IsZero() {
		return
	}
	if err := s.store.MarkClientUsed(ctx, e.client.ID, s.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "authz: recording a client's first use failed", slog.String("client_id", e.client.ID), slog.Any("error", err))
	}
}

// exchangeCode runs the authorization_code grant (OAuth 2.1 §4.1.3).
func (s *Server) exchangeCode(ctx context.Context, e *clientEntry, p *params) (issued, error) {
	code := p.get("code")
	if code == "" {
		return issued{}, errInvalidRequest("The code parameter is missing.")
	}
	verifier := p.get("code_verifier")
	if verifier == "" {
		return issued{}, errInvalidRequest("The code_verifier parameter is missing (PKCE).")
	}
	if !validVerifier(verifier) {
		return issued{}, errInvalidRequest("The code_verifier is malformed.")
	}
	if len(code) > 256 {
		return issued{}, errInvalidGrant("The authorization code is invalid.")
	}
	redirectURI := p.get("redirect_uri")
	c, err := s.store.ConsumeCode(ctx, hashOf(code))
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrAlreadyUsed) && c != nil:
		// A second redemption. Revoke what the first one produced, but
		// only when this attempt is otherwise valid: an invalid replay must
		// not let anyone kill a grant (OAuth 2.1 §7.5.2).
		if c.ClientID == e.client.ID && pkceMatches(c, verifier) && (redirectURI == "" || redirectURI == c.RedirectURI) {
			if rerr := s.store.RevokeGrant(ctx, c.GrantID, s.now()); rerr != nil {
				return issued{}, storeErr(rerr)
			}
			s.log.LogAttrs(ctx, slog.LevelWarn, "authz: authorization code replayed; grant revoked",
				slog.String("client_id", c.ClientID), slog.String("grant_id", c.GrantID))
		}
		return issued{}, errInvalidGrant("The authorization code was already used.")
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired), errors.Is(err, storage.ErrAlreadyUsed), errors.Is(err, storage.ErrRevoked):
		return issued{}, &Error{Code: ErrCodeInvalidGrant, Description: "The authorization code is invalid or expired.", cause: err}
	default:
		return issued{}, storeErr(err)
	}
	now := s.now()
	switch {
	case c.ClientID != e.client.ID:
		return issued{}, errInvalidGrant("The authorization code was issued to another client.")
	case !now.Before(c.ExpiresAt):
		return issued{}, errInvalidGrant("The authorization code has expired.")
	case redirectURI != "" && redirectURI != c.RedirectURI:
		return issued{}, errInvalidGrant("The redirect_uri does not match the authorization request.")
	case c.CodeChallenge == "":
		return issued{}, errInvalidRequest("A code_verifier was sent but the authorization request had no code_challenge.")
	case !pkceMatches(c, verifier):
		return issued{}, errInvalidGrant("The code_verifier does not match the code_challenge.")
	}
	aud, err := narrowResources(p, c.Resources)
	if err != nil {
		return issued{}, err
	}
	atScopes, err := s.scopesFor(aud, c.Scopes, false)
	if err != nil {
		return issued{}, err
	}
	at, exp, err := s.mintAccessToken(&accessClaims{
		subject:  c.Subject,
		clientID: c.ClientID,
		scopes:   atScopes,
		audience: aud,
		authTime: c.AuthTime,
		grantID:  c.GrantID,
	}, now, 0)
	if err != nil {
		return issued{}, err
	}
	// The refresh token below keeps the whole grant (RFC 8707 §2.2); the
	// response's scope is the access token's.
	res := issued{accessToken: at, expiresIn: exp, scopes: atScopes}
	if s.issuesRefreshToken(&e.client, c.Scopes) {
		rt, err := s.randomToken(32)
		if err != nil {
			return issued{}, storeErr(err)
		}
		expiresAt := now.Add(s.refreshTokenLifetime)
		if grantEnd := c.IssuedAt.Add(s.grantLifetime); grantEnd.Before(expiresAt) {
			expiresAt = grantEnd
		}
		err = s.store.SaveRefreshToken(ctx, &storage.RefreshToken{
			Hash:      hashOf(rt),
			FamilyID:  c.GrantID,
			GrantID:   c.GrantID,
			ClientID:  c.ClientID,
			Subject:   c.Subject,
			Scopes:    c.Scopes,
			Resources: c.Resources,
			AuthTime:  c.AuthTime,
			IssuedAt:  now,
			ExpiresAt: expiresAt,
		})
		if errors.Is(err, storage.ErrRevoked) {
			// A concurrent replay of this code revoked the grant.
			return issued{}, &Error{Code: ErrCodeInvalidGrant, Description: "The grant was revoked.", cause: err}
		}
		if err != nil {
			return issued{}, storeErr(err)
		}
		res.refreshToken = rt
	}
	return res, nil
}

// hashOf is storage.HashOf without the heap copy of the secret for the
// short values (codes, tokens) that pass through the token endpoint.
func hashOf(secret string) storage.Hash {
	var buf [128]byte
	if len(secret) > len(buf) {
		return storage.HashOf(secret)
	}
	n := copy(buf[:], secret)
	return storage.Hash(sha256.Sum256(buf[:n]))
}

// pkceMatches verifies an S256 code_verifier in constant time.
func pkceMatches(c *storage.AuthorizationCode, verifier string) bool {
	if c.CodeChallengeMethod != "S256" || len(c.CodeChallenge) != challengeMinLen {
		return false
	}
	var buf [challengeMaxLen]byte
	if len(verifier) > len(buf) {
		return false
	}
	sum := sha256.Sum256(buf[:copy(buf[:], verifier)])
	var enc [challengeMinLen]byte
	base64.RawURLEncoding.Encode(enc[:], sum[:])
	return subtle.ConstantTimeCompare(enc[:], []byte(c.CodeChallenge)) == 1
}

// issuesRefreshToken applies Config.RefreshTokens.
func (s *Server) issuesRefreshToken(c *storage.Client, scopes []string) bool {
	if !allowsGrant(c, GrantTypeRefreshToken) {
		return false
	}
	switch s.refreshPolicy {
	case RefreshWhenAllowed:
		return true
	case RefreshOnOfflineAccess:
		return slices.Contains(scopes, ScopeOfflineAccess)
	}
	return false
}

// narrowResources applies the token request's "resource" parameters: each
// must be one of the granted resources (RFC 8707 §2.2). Without any, the
// token is for every granted resource.
func narrowResources(p *params, granted []string) ([]string, error) {
	n := 0
	for _, q := range p.list() {
		if q.name == "resource" {
			n++
		}
	}
	if n == 0 {
		return granted, nil
	}
	if n > maxResources {
		return nil, errInvalidTarget("Too many resource parameters.")
	}
	var out []string
	for _, q := range p.list() {
		if q.name != "resource" {
			continue
		}
		v := q.value
		j := slices.Index(granted, v) // the common case, without parsing
		if j < 0 {
			if _, ok := canonicalResource(v); !ok {
				return nil, errInvalidTarget("Each resource must be an absolute URI without a fragment.")
			}
			j = slices.IndexFunc(granted, func(g string) bool { return resourceEqual(g, v) })
		}
		if j < 0 {
			return nil, errInvalidTarget("The resource was not part of the grant.")
		}
		if n == 1 {
			// One resource: a view of the grant's list, no allocation.
			return granted[j : j+1 : j+1], nil
		}
		if !slices.Contains(out, granted[j]) {
			out = append(out, granted[j])
		}
	}
	return out, nil
}

// scopesFor down-scopes an access token to its audience (RFC 8707 §2.2):
// a granted scope stays when at least one of the audience's resources
// accepts it (see resourcesAccept; offline_access always stays). A token
// narrowed to one of several granted resources thus carries only that
// resource's scopes, and a resource never learns of scopes meant for
// another. It returns scopes itself, without allocating, when every scope
// stays.
//
// With strict set, a request that would keep none of the granted resource
// scopes (offline_access alone does not count) fails with invalid_scope.
// The refresh grant is strict: it checks before rotating, so the refresh
// token survives the refusal. The code exchange is not: the code is
// already consumed when the grant's scopes are known, and a refusal would
// turn the client's corrected retry into a replay that revokes the grant,
// so it issues the token with what is left.
func (s *Server) scopesFor(aud, scopes []string, strict bool) ([]string, error) {
	keep, real, realKept := 0, 0, 0
	for _, sc := range scopes {
		ok := s.resourcesAccept(aud, sc)
		if ok {
			keep++
		}
		if sc != ScopeOfflineAccess {
			real++
			if ok {
				realKept++
			}
		}
	}
	if strict && real > 0 && realKept == 0 {
		return nil, errInvalidScope("None of the granted scopes is accepted by the requested resource.")
	}
	if keep == len(scopes) {
		return scopes, nil
	}
	out := make([]string, 0, keep)
	for _, sc := range scopes {
		if s.resourcesAccept(aud, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}

// refresh runs the refresh_token grant with rotation and reuse detection
// (OAuth 2.1 §4.3; RFC 9700 §4.14.2).
func (s *Server) refresh(ctx context.Context, e *clientEntry, p *params) (issued, error) {
	rt := p.get("refresh_token")
	if rt == "" {
		return issued{}, errInvalidRequest("The refresh_token parameter is missing.")
	}
	if len(rt) > 256 {
		return issued{}, errInvalidGrant("The refresh token is invalid.")
	}
	hash := hashOf(rt)
	old, err := s.store.GetRefreshToken(ctx, hash)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrExpired):
		return issued{}, &Error{Code: ErrCodeInvalidGrant, Description: "The refresh token is invalid, expired or revoked.", cause: err}
	default:
		return issued{}, storeErr(err)
	}
	if old.ClientID != e.client.ID {
		return issued{}, errInvalidGrant("The refresh token was issued to another client.")
	}
	now := s.now()
	if !now.Before(old.ExpiresAt) {
		return issued{}, errInvalidGrant("The refresh token has expired.")
	}
	scopes := old.Scopes
	if v := p.get("scope"); v != "" {
		req, err := parseScope(v)
		if err != nil {
			return issued{}, err
		}
		for _, sc := range req {
			if !slices.Contains(old.Scopes, sc) {
				return issued{}, errInvalidScope("The requested scope exceeds the grant.")
			}
		}
		scopes = req
	}
	aud, err := narrowResources(p, old.Resources)
	if err != nil {
		return issued{}, err
	}
	// Down-scoped before the rotation, so that a request refused here
	// leaves the presented refresh token usable.
	if scopes, err = s.scopesFor(aud, scopes, true); err != nil {
		return issued{}, err
	}
	g, err := s.store.GetGrant(ctx, old.GrantID)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrExpired):
		return issued{}, &Error{Code: ErrCodeInvalidGrant, Description: "The grant was revoked or has expired.", cause: err}
	default:
		return issued{}, storeErr(err)
	}
	if !g.RevokedAt.IsZero() || (!g.ExpiresAt.IsZero() && !now.Before(g.ExpiresAt)) {
		return issued{}, errInvalidGrant("The grant was revoked or has expired.")
	}
	// Everything that can fail is done before the rotation: once the
	// presented token is rotated, a failure would leave the client with no
	// usable refresh token, and its retry would count as reuse and revoke
	// the grant. An access token minted for a rotation that then fails is
	// never sent.
	at, exp, err := s.mintAccessToken(&accessClaims{
		subject:  old.Subject,
		clientID: old.ClientID,
		scopes:   scopes,
		audience: aud,
		authTime: old.AuthTime,
		grantID:  old.GrantID,
	}, now, 0)
	if err != nil {
		return issued{}, err
	}
	next, err := s.randomToken(32)
	if err != nil {
		return issued{}, storeErr(err)
	}
	expiresAt := now.Add(s.refreshTokenLifetime)
	if !g.ExpiresAt.IsZero() && g.ExpiresAt.Before(expiresAt) {
		expiresAt = g.ExpiresAt
	}
	_, err = s.store.RotateRefreshToken(ctx, hash, &storage.RefreshToken{
		Hash:      hashOf(next),
		GrantID:   old.GrantID,
		ClientID:  old.ClientID,
		Subject:   old.Subject,
		Scopes:    old.Scopes,
		Resources: old.Resources,
		AuthTime:  old.AuthTime,
		IssuedAt:  now,
		ExpiresAt: expiresAt,
	}, now, s.refreshGrace)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrAlreadyUsed):
		// A rotated token came back: either the client or an attacker holds
		// a stolen copy. Kill the family and the grant, so that access
		// tokens from it also stop introspecting as active.
		if rerr := s.store.RevokeRefreshFamily(ctx, old.FamilyID, now); rerr != nil {
			return issued{}, storeErr(rerr)
		}
		if rerr := s.store.RevokeGrant(ctx, old.GrantID, now); rerr != nil {
			return issued{}, storeErr(rerr)
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "authz: refresh token reused; family and grant revoked",
			slog.String("client_id", old.ClientID), slog.String("grant_id", old.GrantID))
		return issued{}, errInvalidGrant("The refresh token was already used.")
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrExpired):
		return issued{}, &Error{Code: ErrCodeInvalidGrant, Description: "The refresh token is invalid, expired or revoked.", cause: err}
	default:
		return issued{}, storeErr(err)
	}
	return issued{accessToken: at, expiresIn: exp, refreshToken: next, scopes: scopes}, nil
}

// clientCredentials runs the client_credentials grant (OAuth 2.1 §4.2):
// confidential clients only, sub = client_id, no refresh token.
func (s *Server) clientCredentials(ctx context.Context, e *clientEntry, p *params) (issued, error) {
	if !isConfidential(&e.client) {
		return issued{}, oauthErr(ErrCodeUnauthorizedClient, "client_credentials requires a confidential client.")
	}
	resources, err := s.requestedResources(p.all("resource"))
	if err != nil {
		return issued{}, err
	}
	requested, err := parseScope(p.get("scope"))
	if err != nil {
		return issued{}, err
	}
	scopes, aud, err := s.decideScopes(&e.client, requested, resources)
	if err != nil {
		return issued{}, err
	}
	if err := ctx.Err(); err != nil {
		return issued{}, storeErr(err)
	}
	at, exp, err := s.mintAccessToken(&accessClaims{
		subject:  e.client.ID,
		clientID: e.client.ID,
		scopes:   scopes,
		audience: aud,
	}, s.now(), 0)
	if err != nil {
		return issued{}, err
	}
	return issued{accessToken: at, expiresIn: exp, scopes: scopes}, nil
}

// appendTokenResponse appends RFC 6749 §5.1 JSON to b. Every value is
// either a base64url string, a JWT or a validated scope token, so the body
// is built directly instead of through reflection.
func (s *Server) appendTokenResponse(b []byte, res *issued) []byte {
	b = append(b, `{"access_token":`...)
	b = appendJSONString(b, res.accessToken)
	b = append(b, `,"token_type":"Bearer","expires_in":`...)
	b = strconv.AppendInt(b, res.expiresIn, 10)
	if res.refreshToken != "" {
		b = append(b, `,"refresh_token":`...)
		b = appendJSONString(b, res.refreshToken)
	}
	if len(res.scopes) > 0 {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, strings.Join(res.scopes, " "))
	}
	return append(b, '}')
}

// lifetimeFor returns the access-token lifetime for an audience: a
// resource's own lifetime when it sets one, else the default; with several
// audiences the shortest of theirs.
func (s *Server) lifetimeFor(aud []string) time.Duration {
	var d time.Duration
	for _, a := range aud {
		l := s.accessTokenLifetime
		if r := s.findResource(a); r != nil && r.AccessTokenLifetime > 0 {
			l = r.AccessTokenLifetime
		}
		if d == 0 || l < d {
			d = l
		}
	}
	if d == 0 {
		d = s.accessTokenLifetime
	}
	return d
}
