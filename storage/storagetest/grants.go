package storagetest

import (
	"errors"
	"time"

	"github.com/nqrust/identity/storage"
)

var grantCases = []tc{
	{"CreateThenGet", func(h *h) {
		g := h.grant(h.id("grant"), "alice", "client-a")
		want := clone(g)
		h.ok(h.s.CreateGrant(h.ctx, g), "CreateGrant")
		got, err := h.s.GetGrant(h.ctx, g.ID)
		h.ok(err, "GetGrant")
		h.same("GetGrant", got, want)
	}},
	{"DuplicateIDConflicts", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		h.is(h.s.CreateGrant(h.ctx, h.grant(g.ID, "bob", "client-b")), storage.ErrConflict, "CreateGrant duplicate")
		got, err := h.s.GetGrant(h.ctx, g.ID)
		h.ok(err, "GetGrant")
		h.same("grant after refused duplicate", got, g)
	}},
	{"UnknownIsNotFound", func(h *h) {
		_, err := h.s.GetGrant(h.ctx, "no-such-grant")
		h.is(err, storage.ErrNotFound, "GetGrant unknown")
	}},
	{"ExpiredFromExpiresAt", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		h.clk.Advance(grantTTL - Precision)
		_, err := h.s.GetGrant(h.ctx, g.ID)
		h.ok(err, "GetGrant just before ExpiresAt")
		h.clk.Advance(Precision)
		got, err := h.s.GetGrant(h.ctx, g.ID)
		h.is(err, storage.ErrExpired, "GetGrant at ExpiresAt")
		if got == nil {
			h.Fatal("GetGrant must return an expired grant together with ErrExpired")
		}
		h.same("expired grant", got, g)
	}},
	{"RevokeReturnsRevokedGrant", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		at := h.now().Add(time.Second)
		h.ok(h.s.RevokeGrant(h.ctx, g.ID, at), "RevokeGrant")
		got, err := h.s.GetGrant(h.ctx, g.ID)
		h.is(err, storage.ErrRevoked, "GetGrant after revoke")
		if got == nil {
			h.Fatal("GetGrant must return a revoked grant together with ErrRevoked")
		}
		want := clone(g)
		want.RevokedAt = at
		h.same("revoked grant", got, want)
		h.ok(h.s.RevokeGrant(h.ctx, g.ID, at.Add(time.Minute)), "revoking twice is not an error")
		_, err = h.s.GetGrant(h.ctx, g.ID)
		h.is(err, storage.ErrRevoked, "GetGrant after second revoke")
	}},
	{"RevokeUnknown", func(h *h) {
		err := h.s.RevokeGrant(h.ctx, "no-such-grant", h.now())
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.Errorf("RevokeGrant unknown: error %v, want nil or ErrNotFound", err)
		}
		h.ok(h.s.RevokeClientGrants(h.ctx, "no-such-client", h.now()), "RevokeClientGrants with no grants")
	}},
	{"RevokeReachesFamiliesAndUnusedCodes", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		other := h.saveGrant("alice", "client-a")
		unused := h.saveCode(g)
		used := h.saveCode(g)
		_, err := h.s.ConsumeCode(h.ctx, used.Hash)
		h.ok(err, "ConsumeCode")
		fam1 := h.saveToken(g)
		fam1next := h.rotate(fam1)
		fam2 := h.saveToken(g)
		otherCode := h.saveCode(other)
		otherTok := h.saveToken(other)

		at := h.now().Add(time.Second)
		h.ok(h.s.RevokeGrant(h.ctx, g.ID, at), "RevokeGrant")

		h.tokensRevoked(at, fam1, fam1next, fam2)
		got, err := h.s.ConsumeCode(h.ctx, unused.Hash)
		h.is(err, storage.ErrNotFound, "ConsumeCode of an unused code of a revoked grant")
		if got != nil {
			h.Errorf("ConsumeCode returned a deleted code")
		}
		got, err = h.s.ConsumeCode(h.ctx, used.Hash)
		h.is(err, storage.ErrAlreadyUsed, "ConsumeCode replay after revoke")
		if got == nil || got.GrantID != g.ID {
			h.Errorf("replayed code after revoke: got %+v, want the code of grant %s", got, g.ID)
		}
		_, err = h.s.RotateRefreshToken(h.ctx, fam1next.Hash, h.successor(fam1next), h.now(), 0)
		h.is(err, storage.ErrRevoked, "RotateRefreshToken of a revoked family")

		_, err = h.s.GetGrant(h.ctx, other.ID)
		h.ok(err, "GetGrant of another grant")
		_, err = h.s.GetRefreshToken(h.ctx, otherTok.Hash)
		h.ok(err, "GetRefreshToken of another grant")
		_, err = h.s.ConsumeCode(h.ctx, otherCode.Hash)
		h.ok(err, "ConsumeCode of another grant")
	}},
	{"RevokeClientGrants", func(h *h) {
		a1 := h.saveGrant("alice", "client-a")
		a2 := h.saveGrant("bob", "client-a")
		b := h.saveGrant("alice", "client-b")
		a1code := h.saveCode(a1)
		a1tok := h.saveToken(a1)
		a2tok := h.saveToken(a2)
		bcode := h.saveCode(b)
		btok := h.saveToken(b)
		at := h.now().Add(time.Second)
		h.ok(h.s.RevokeClientGrants(h.ctx, "client-a", at), "RevokeClientGrants")
		for _, g := range []*storage.Grant{a1, a2} {
			got, err := h.s.GetGrant(h.ctx, g.ID)
			h.is(err, storage.ErrRevoked, "GetGrant of the client's grant")
			if got != nil && !EqualTime(got.RevokedAt, at) {
				h.Errorf("grant %s RevokedAt = %v, want %v", g.ID, got.RevokedAt, at)
			}
		}
		h.tokensRevoked(at, a1tok, a2tok)
		_, err := h.s.ConsumeCode(h.ctx, a1code.Hash)
		h.is(err, storage.ErrNotFound, "ConsumeCode of the client's unused code")
		_, err = h.s.GetGrant(h.ctx, b.ID)
		h.ok(err, "GetGrant of another client's grant")
		_, err = h.s.GetRefreshToken(h.ctx, btok.Hash)
		h.ok(err, "GetRefreshToken of another client's grant")
		_, err = h.s.ConsumeCode(h.ctx, bcode.Hash)
		h.ok(err, "ConsumeCode of another client's grant")
	}},
	{"ListLiveNewestFirst", func(h *h) {
		old := h.saveGrant("alice", "client-a")
		h.clk.Advance(time.Minute)
		revoked := h.saveGrant("alice", "client-b")
		h.clk.Advance(time.Minute)
		short := h.grant(h.id("grant"), "alice", "client-c")
		short.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.CreateGrant(h.ctx, short), "CreateGrant")
		h.clk.Advance(time.Minute)
		newest := h.saveGrant("alice", "client-a")
		h.saveGrant("bob", "client-a")
		h.saveGrant("alice2", "client-a")
		h.ok(h.s.RevokeGrant(h.ctx, revoked.ID, h.now()), "RevokeGrant")
		h.clk.Advance(time.Hour)

		got, err := h.s.ListGrants(h.ctx, "alice")
		h.ok(err, "ListGrants")
		h.same("ListGrants(alice)", got, []*storage.Grant{newest, old})

		got, err = h.s.ListGrants(h.ctx, "nobody")
		h.ok(err, "ListGrants of a subject without grants")
		if len(got) != 0 {
			h.Errorf("ListGrants(nobody) returned %d grants", len(got))
		}
	}},
}

// tokensRevoked checks that every token reads back revoked at at.
func (h *h) tokensRevoked(at time.Time, toks ...*storage.RefreshToken) {
	h.Helper()
	for i, tok := range toks {
		got, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		if !errors.Is(err, storage.ErrRevoked) {
			h.Errorf("token %d: GetRefreshToken error %v, want ErrRevoked", i, err)
			continue
		}
		if got == nil {
			h.Errorf("token %d: GetRefreshToken must return a revoked token together with ErrRevoked", i)
			continue
		}
		if !EqualTime(got.RevokedAt, at) {
			h.Errorf("token %d: RevokedAt = %v, want %v", i, got.RevokedAt, at)
		}
	}
}
