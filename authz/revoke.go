package authz

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/nqrust/identity/storage"
)

// RevocationHandler serves the RFC 7009 revocation endpoint. The caller
// authenticates as at the token endpoint (public clients with their
// client_id). Revoking a refresh token revokes its whole family and its
// grant, so the access tokens of that grant stop introspecting as active;
// revoking an access token issued from a grant revokes that grant (RFC
// 7009 §2.1 MAY) with its refresh tokens. Tokens of other clients and
// unknown tokens are answered 200 without effect, as RFC 7009 §2.2 asks.
// Access tokens minted without a grant (client_credentials,
// IssueAccessToken) cannot be revoked; they are short-lived.
func (s *Server) RevocationHandler() http.Handler {
	return s.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			corsPreflight(w, "POST, OPTIONS")
			return
		}
		corsHeaders(w.Header())
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST, OPTIONS")
			return
		}
		if err := s.revoke(w, r); err != nil {
			s.writeJSONError(w, r, err)
			return
		}
		h := w.Header()
		setNoStore(h)
		w.WriteHeader(http.StatusOK)
	}))
}

func (s *Server) revoke(w http.ResponseWriter, r *http.Request) error {
	var p params
	if err := readForm(w, r, s.maxBody, &p, nil); err != nil {
		return err
	}
	if p.dup != "" {
		return errRepeated(p.dup)
	}
	ctx := r.Context()
	e, err := s.authenticateClient(ctx, r, &p, "")
	if err != nil {
		return err
	}
	token := p.get("token")
	if token == "" {
		return errInvalidRequest("The token parameter is missing.")
	}
	// The hint only orders the attempts; an unknown hint is ignored.
	if strings.Count(token, ".") == 2 {
		return s.revokeAccessToken(ctx, e, token)
	}
	return s.revokeRefreshToken(ctx, e, token)
}

func (s *Server) revokeRefreshToken(ctx context.Context, e *clientEntry, token string) error {
	if len(token) > 256 {
		return nil
	}
	rt, err := s.store.GetRefreshToken(ctx, storage.HashOf(token))
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound):
		return nil
	case errors.Is(err, storage.ErrRevoked), errors.Is(err, storage.ErrExpired):
		// Revoke the grant anyway: an expired member of a live family is
		// still evidence of what the client wants gone.
	default:
		return storeErr(err)
	}
	if rt == nil || rt.ClientID != e.client.ID {
		return nil
	}
	now := s.now()
	if err := s.store.RevokeRefreshFamily(ctx, rt.FamilyID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storeErr(err)
	}
	if err := s.store.RevokeGrant(ctx, rt.GrantID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storeErr(err)
	}
	return nil
}

func (s *Server) revokeAccessToken(ctx context.Context, e *clientEntry, token string) error {
	c, err := s.parseAccessToken(ctx, token)
	if err != nil || c.ClientID != e.client.ID {
		return nil
	}
	gid := c.grantID()
	if gid == "" {
		return nil
	}
	if err := s.store.RevokeGrant(ctx, gid, s.now()); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return storeErr(err)
	}
	return nil
}

// IntrospectionHandler serves the RFC 7662 introspection endpoint. Only
// confidential clients may call it; they see their own tokens, and clients
// configured with MayIntrospect (resource servers) see every token. Any
// token the caller may not see, and every unknown, expired or revoked
// token, gives {"active":false}. Bad caller credentials give 401.
func (s *Server) IntrospectionHandler() http.Handler {
	return s.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			methodNotAllowed(w, "POST")
			return
		}
		body, err := s.introspect(w, r)
		if err != nil {
			s.writeJSONError(w, r, err)
			return
		}
		h := w.Header()
		h["Content-Type"] = jsonValue
		setNoStore(h)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(body)
	}))
}

var inactive = []byte(`{"active":false}`)

func (s *Server) introspect(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var p params
	if err := readForm(w, r, s.maxBody, &p, nil); err != nil {
		return nil, err
	}
	if p.dup != "" {
		return nil, errRepeated(p.dup)
	}
	ctx := r.Context()
	e, err := s.authenticateClient(ctx, r, &p, "")
	if err != nil {
		return nil, err
	}
	if !isConfidential(&e.client) {
		return nil, errInvalidClient("Only confidential clients may introspect tokens.")
	}
	token := p.get("token")
	if token == "" {
		return nil, errInvalidRequest("The token parameter is missing.")
	}
	if strings.Count(token, ".") == 2 {
		return s.introspectAccessToken(ctx, e, token)
	}
	return s.introspectRefreshToken(ctx, e, token)
}

func (s *Server) mayIntrospect(e *clientEntry, tokenClient string) bool {
	return e.mayIntrospect || e.client.ID == tokenClient
}

func (s *Server) introspectAccessToken(ctx context.Context, e *clientEntry, token string) ([]byte, error) {
	c, err := s.parseAccessToken(ctx, token)
	if err != nil {
		return inactive, nil
	}
	now := s.now().Unix()
	if c.Expiry <= now || !s.mayIntrospect(e, c.ClientID) {
		return inactive, nil
	}
	if gid := c.grantID(); gid != "" {
		g, err := s.store.GetGrant(ctx, gid)
		if err != nil {
			if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRevoked) || errors.Is(err, storage.ErrExpired) {
				return inactive, nil
			}
			return nil, storeErr(err)
		}
		if !g.RevokedAt.IsZero() {
			return inactive, nil
		}
	}
	b := make([]byte, 0, 512)
	b = append(b, `{"active":true,"token_type":"Bearer"`...)
	if c.Scope != "" {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, c.Scope)
	}
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, c.ClientID)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, c.Subject)
	b = append(b, `,"aud":`...)
	b = appendAudience(b, c.Audience)
	b = append(b, `,"iss":`...)
	b = appendJSONString(b, c.Issuer)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, c.Expiry, 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, c.IssuedAt, 10)
	b = append(b, `,"jti":`...)
	b = appendJSONString(b, c.ID)
	if c.AuthTime != 0 {
		b = append(b, `,"auth_time":`...)
		b = strconv.AppendInt(b, c.AuthTime, 10)
	}
	return append(b, '}'), nil
}

func appendAudience(b []byte, aud []string) []byte {
	if len(aud) == 1 {
		return appendJSONString(b, aud[0])
	}
	b = append(b, '[')
	for i, a := range aud {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, a)
	}
	return append(b, ']')
}

func (s *Server) introspectRefreshToken(ctx context.Context, e *clientEntry, token string) ([]byte, error) {
	if len(token) > 256 {
		return inactive, nil
	}
	rt, err := s.store.GetRefreshToken(ctx, storage.HashOf(token))
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrRevoked) || errors.Is(err, storage.ErrExpired) {
			return inactive, nil
		}
		return nil, storeErr(err)
	}
	now := s.now()
	if !rt.RevokedAt.IsZero() || !rt.RotatedAt.IsZero() || !now.Before(rt.ExpiresAt) || !s.mayIntrospect(e, rt.ClientID) {
		return inactive, nil
	}
	b := make([]byte, 0, 384)
	b = append(b, `{"active":true,"token_type":"refresh_token"`...)
	if len(rt.Scopes) > 0 {
		b = append(b, `,"scope":`...)
		b = appendJSONString(b, strings.Join(rt.Scopes, " "))
	}
	b = append(b, `,"client_id":`...)
	b = appendJSONString(b, rt.ClientID)
	b = append(b, `,"sub":`...)
	b = appendJSONString(b, rt.Subject)
	if len(rt.Resources) > 0 {
		b = append(b, `,"aud":`...)
		b = appendAudience(b, rt.Resources)
	}
	b = append(b, `,"iss":`...)
	b = appendJSONString(b, s.issuer)
	b = append(b, `,"exp":`...)
	b = strconv.AppendInt(b, rt.ExpiresAt.Unix(), 10)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, rt.IssuedAt.Unix(), 10)
	return append(b, '}'), nil
}
