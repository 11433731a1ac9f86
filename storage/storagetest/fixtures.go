package storagetest

import (
	"time"

	"github.com/nqrust/identity/storage"
)

// Fixtures: fully populated records, every field set so that a store that
// drops one is caught. Lifetimes are relative to the harness clock.

const (
	codeTTL    = 10 * time.Minute
	refreshTTL = 24 * time.Hour
	grantTTL   = 30 * 24 * time.Hour
)

func (h *h) client(id string, kind storage.ClientKind) *storage.Client {
	now := h.now()
	return &storage.Client{
		ID:                    id,
		Kind:                  kind,
		Metadata:              fullMetadata("md-" + id),
		SecretHash:            h.secret("client"),
		SecretExpiresAt:       now.Add(90 * 24 * time.Hour),
		RegistrationTokenHash: h.secret("registration"),
		CreatedAt:             now.Add(-time.Hour),
		UpdatedAt:             now.Add(-time.Minute),
	}
}

// storedForm is what a store must hand back for a client it was given:
// the same, without clear-text secrets.
func storedForm(c *storage.Client) *storage.Client {
	w := clone(c)
	w.Metadata.ClientSecret = ""
	w.Metadata.RegistrationAccessToken = ""
	return w
}

func (h *h) request(id string) *storage.AuthorizationRequest {
	now := h.now()
	return &storage.AuthorizationRequest{
		ID:                  id,
		ClientID:            "client-" + id,
		RedirectURI:         "http://127.0.0.1:33418/callback?x=" + id,
		State:               "state " + id,
		Scopes:              []string{"openid", "mcp:tools"},
		Resources:           []string{"https://mcp.example.com/mcp"},
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Nonce:               "nonce-" + id,
		Prompt:              "consent",
		CreatedAt:           now,
		ExpiresAt:           now.Add(codeTTL),
	}
}

func (h *h) grant(id, subject, clientID string) *storage.Grant {
	now := h.now()
	return &storage.Grant{
		ID:        id,
		Subject:   subject,
		ClientID:  clientID,
		Scopes:    []string{"openid", "mcp:tools"},
		Resources: []string{"https://mcp.example.com/mcp", "https://other.example.com/"},
		AuthTime:  now.Add(-time.Minute),
		CreatedAt: now,
		ExpiresAt: now.Add(grantTTL),
	}
}

func (h *h) code(g *storage.Grant) *storage.AuthorizationCode {
	now := h.now()
	return &storage.AuthorizationCode{
		Hash:                h.secret("code"),
		GrantID:             g.ID,
		ClientID:            g.ClientID,
		RedirectURI:         "http://127.0.0.1:33418/callback",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Subject:             g.Subject,
		Scopes:              []string{"openid"},
		Resources:           []string{"https://mcp.example.com/mcp"},
		Nonce:               "nonce",
		AuthTime:            g.AuthTime,
		IssuedAt:            now,
		ExpiresAt:           now.Add(codeTTL),
	}
}

// token returns the first token of a new family of g.
func (h *h) token(g *storage.Grant) *storage.RefreshToken {
	now := h.now()
	return &storage.RefreshToken{
		Hash:      h.secret("refresh"),
		FamilyID:  h.id("family"),
		GrantID:   g.ID,
		ClientID:  g.ClientID,
		Subject:   g.Subject,
		Scopes:    []string{"openid", "offline_access"},
		Resources: []string{"https://mcp.example.com/mcp"},
		AuthTime:  g.AuthTime,
		IssuedAt:  now,
		ExpiresAt: now.Add(refreshTTL),
	}
}

// successor returns the token that rotating prev would store. Its FamilyID
// is deliberately wrong: the store must set it.
func (h *h) successor(prev *storage.RefreshToken) *storage.RefreshToken {
	n := clone(prev)
	now := h.now()
	n.Hash = h.secret("refresh")
	n.FamilyID = "set-by-the-store"
	n.IssuedAt = now
	n.ExpiresAt = now.Add(refreshTTL)
	n.RotatedAt = time.Time{}
	n.RevokedAt = time.Time{}
	return n
}

func (h *h) key(id string, age time.Duration) *storage.SigningKey {
	now := h.now()
	return &storage.SigningKey{
		ID:        id,
		Algorithm: "ES256",
		Private:   []byte("pkcs8-der-" + id),
		CreatedAt: now.Add(-age),
		NotBefore: now.Add(-age + time.Minute),
	}
}

func (h *h) iat(uses int) *storage.InitialAccessToken {
	now := h.now()
	return &storage.InitialAccessToken{
		Hash:          h.secret("iat"),
		Policy:        "trusted-partners",
		ExpiresAt:     now.Add(time.Hour),
		RemainingUses: uses,
		CreatedAt:     now,
	}
}

func (h *h) consent(subject, clientID string) *storage.Consent {
	now := h.now()
	return &storage.Consent{
		Subject:   subject,
		ClientID:  clientID,
		Scopes:    []string{"openid", "mcp:tools"},
		Resources: []string{"https://mcp.example.com/mcp"},
		CreatedAt: now,
		ExpiresAt: now.Add(grantTTL),
	}
}

// saveGrant stores a fresh grant and returns it.
func (h *h) saveGrant(subject, clientID string) *storage.Grant {
	h.Helper()
	g := h.grant(h.id("grant"), subject, clientID)
	h.ok(h.s.CreateGrant(h.ctx, g), "CreateGrant")
	return g
}

// saveCode stores a fresh code of g and returns it.
func (h *h) saveCode(g *storage.Grant) *storage.AuthorizationCode {
	h.Helper()
	c := h.code(g)
	h.ok(h.s.SaveCode(h.ctx, c), "SaveCode")
	return c
}

// saveToken stores the first token of a fresh family of g and returns it.
func (h *h) saveToken(g *storage.Grant) *storage.RefreshToken {
	h.Helper()
	t := h.token(g)
	h.ok(h.s.SaveRefreshToken(h.ctx, t), "SaveRefreshToken")
	return t
}

// rotate rotates prev with grace 0 and returns the stored successor as the
// caller would know it (FamilyID set).
func (h *h) rotate(prev *storage.RefreshToken) *storage.RefreshToken {
	h.Helper()
	next := h.successor(prev)
	_, err := h.s.RotateRefreshToken(h.ctx, prev.Hash, next, h.now(), 0)
	h.ok(err, "RotateRefreshToken")
	return next
}
