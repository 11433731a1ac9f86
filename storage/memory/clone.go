package memory

import (
	"slices"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// The store keeps its own copies of everything it is handed and hands out
// fresh copies, so no caller can change stored state through a shared slice
// or pointer, and no caller sees another caller's later changes.

// packStrings replaces each of the slices with a copy, all the copies
// sharing one new backing array: one allocation instead of one per slice,
// and fewer objects for the garbage collector to trace. Each copy's
// capacity ends at its length, so appending to one never writes into the
// next. Nil stays nil; empty stays empty.
func packStrings(ss ...*[]string) {
	n, some := 0, false
	for _, s := range ss {
		n += len(*s)
		some = some || *s != nil
	}
	if !some {
		return
	}
	buf := make([]string, n)
	off := 0
	for _, s := range ss {
		if *s == nil {
			continue
		}
		k := copy(buf[off:], *s)
		*s = buf[off : off+k : off+k]
		off += k
	}
}

// The own functions give a shallow copy of a record its own slices and
// pointees, in place; the clone functions return such a copy.

func ownMetadata(m *metadata.Client) {
	packStrings(&m.RedirectURIs, &m.GrantTypes, &m.ResponseTypes, &m.Contacts, &m.PostLogoutRedirectURIs)
	m.JWKS = slices.Clone(m.JWKS)
	if m.ClientSecretExpiresAt != nil {
		v := *m.ClientSecretExpiresAt
		m.ClientSecretExpiresAt = &v
	}
}

func ownRequest(r *storage.AuthorizationRequest) { packStrings(&r.Scopes, &r.Resources) }
func ownGrant(g *storage.Grant)                  { packStrings(&g.Scopes, &g.Resources) }
func ownCode(c *storage.AuthorizationCode)       { packStrings(&c.Scopes, &c.Resources) }
func ownToken(t *storage.RefreshToken)           { packStrings(&t.Scopes, &t.Resources) }
func ownKey(k *storage.SigningKey)               { k.Private = slices.Clone(k.Private) }
func ownConsent(c *storage.Consent)              { packStrings(&c.Scopes, &c.Resources) }

func cloneClient(c *storage.Client) *storage.Client {
	d := *c
	ownMetadata(&d.Metadata)
	return &d
}

func cloneAuthorizationRequest(r *storage.AuthorizationRequest) *storage.AuthorizationRequest {
	d := *r
	ownRequest(&d)
	return &d
}

func cloneGrant(g *storage.Grant) *storage.Grant {
	d := *g
	ownGrant(&d)
	return &d
}

func cloneCode(c *storage.AuthorizationCode) *storage.AuthorizationCode {
	d := *c
	ownCode(&d)
	return &d
}

func cloneRefreshToken(t *storage.RefreshToken) *storage.RefreshToken {
	d := *t
	ownToken(&d)
	return &d
}

func cloneKey(k *storage.SigningKey) *storage.SigningKey {
	d := *k
	ownKey(&d)
	return &d
}

func cloneConsent(c *storage.Consent) *storage.Consent {
	d := *c
	ownConsent(&d)
	return &d
}
