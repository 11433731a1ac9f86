package memory

import (
	"slices"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// The store keeps its own copies of everything it is handed and hands out
// fresh copies, so no caller can change stored state through a shared slice
// or pointer, and no caller sees another caller's later changes.

func cloneMetadata(m metadata.Client) metadata.Client {
	m.RedirectURIs = slices.Clone(m.RedirectURIs)
	m.GrantTypes = slices.Clone(m.GrantTypes)
	m.ResponseTypes = slices.Clone(m.ResponseTypes)
	m.Contacts = slices.Clone(m.Contacts)
	m.PostLogoutRedirectURIs = slices.Clone(m.PostLogoutRedirectURIs)
	m.JWKS = slices.Clone(m.JWKS)
	if m.ClientSecretExpiresAt != nil {
		v := *m.ClientSecretExpiresAt
		m.ClientSecretExpiresAt = &v
	}
	return m
}

func cloneClient(c *storage.Client) *storage.Client {
	d := *c
	d.Metadata = cloneMetadata(c.Metadata)
	return &d
}

func cloneAuthorizationRequest(r *storage.AuthorizationRequest) *storage.AuthorizationRequest {
	d := *r
	d.Scopes = slices.Clone(r.Scopes)
	d.Resources = slices.Clone(r.Resources)
	return &d
}

func cloneGrant(g *storage.Grant) *storage.Grant {
	d := *g
	d.Scopes = slices.Clone(g.Scopes)
	d.Resources = slices.Clone(g.Resources)
	return &d
}

func cloneCode(c *storage.AuthorizationCode) *storage.AuthorizationCode {
	d := *c
	d.Scopes = slices.Clone(c.Scopes)
	d.Resources = slices.Clone(c.Resources)
	return &d
}

func cloneRefreshToken(t *storage.RefreshToken) *storage.RefreshToken {
	d := *t
	d.Scopes = slices.Clone(t.Scopes)
	d.Resources = slices.Clone(t.Resources)
	return &d
}

func cloneKey(k *storage.SigningKey) *storage.SigningKey {
	d := *k
	d.Private = slices.Clone(k.Private)
	return &d
}

func cloneConsent(c *storage.Consent) *storage.Consent {
	d := *c
	d.Scopes = slices.Clone(c.Scopes)
	d.Resources = slices.Clone(c.Resources)
	return &d
}
