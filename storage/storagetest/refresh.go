package storagetest

import (
	"errors"
	"time"

	"github.com/nqrust/identity/storage"
)

var refreshCases = []tc{
	{"SaveThenGet", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.token(g)
		want := clone(tok)
		h.ok(h.s.SaveRefreshToken(h.ctx, tok), "SaveRefreshToken")
		got, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		h.ok(err, "GetRefreshToken")
		h.same("GetRefreshToken", got, want)
	}},
	{"DuplicateHashConflicts", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		dup := h.token(g)
		dup.Hash = tok.Hash
		h.is(h.s.SaveRefreshToken(h.ctx, dup), storage.ErrConflict, "SaveRefreshToken duplicate")
		got, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		h.ok(err, "GetRefreshToken")
		h.same("token after refused duplicate", got, tok)
	}},
	{"UnknownIsNotFound", func(h *h) {
		_, err := h.s.GetRefreshToken(h.ctx, storage.HashOf("no-such-token"))
		h.is(err, storage.ErrNotFound, "GetRefreshToken unknown")
		g := h.grant("g", "alice", "client-a")
		got, err := h.s.RotateRefreshToken(h.ctx, storage.HashOf("no-such-token"), h.token(g), h.now(), 0)
		h.is(err, storage.ErrNotFound, "RotateRefreshToken unknown")
		if got != nil {
			h.Errorf("RotateRefreshToken unknown returned a token")
		}
	}},
	{"ExpiredFromExpiresAt", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		h.clk.Advance(refreshTTL - Precision)
		_, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		h.ok(err, "GetRefreshToken just before ExpiresAt")
		h.clk.Advance(Precision)
		got, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		h.is(err, storage.ErrExpired, "GetRefreshToken at ExpiresAt")
		if got == nil {
			h.Fatal("GetRefreshToken must return an expired token together with ErrExpired")
		}
		h.same("expired token", got, tok)
		next := h.successor(tok)
		got, err = h.s.RotateRefreshToken(h.ctx, tok.Hash, next, h.now(), time.Minute)
		h.is(err, storage.ErrExpired, "RotateRefreshToken of an expired token")
		if got == nil || got.FamilyID != tok.FamilyID {
			h.Errorf("RotateRefreshToken of an expired token returned %+v, want the token", got)
		}
		_, err = h.s.GetRefreshToken(h.ctx, next.Hash)
		h.is(err, storage.ErrNotFound, "a failed rotation must not store next")
	}},
	{"RotateJudgesExpiryAtGivenNow", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		_, err := h.s.RotateRefreshToken(h.ctx, tok.Hash, h.successor(tok), tok.ExpiresAt, 0)
		h.is(err, storage.ErrExpired, "RotateRefreshToken with now = ExpiresAt")
		_, err = h.s.RotateRefreshToken(h.ctx, tok.Hash, h.successor(tok), tok.ExpiresAt.Add(-Precision), 0)
		h.ok(err, "RotateRefreshToken with now just before ExpiresAt")
	}},
	{"Rotate", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		h.clk.Advance(time.Minute)
		next := h.successor(tok)
		want := clone(next)
		want.FamilyID = tok.FamilyID
		now := h.now()
		got, err := h.s.RotateRefreshToken(h.ctx, tok.Hash, next, now, 0)
		h.ok(err, "RotateRefreshToken")
		rotated := clone(tok)
		rotated.RotatedAt = now
		h.same("RotateRefreshToken result", got, rotated)
		if next.FamilyID != tok.FamilyID {
			h.Errorf("next.FamilyID = %q after rotation, want %q (set by the store)", next.FamilyID, tok.FamilyID)
		}
		old, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		h.ok(err, "GetRefreshToken of the rotated token")
		h.same("rotated token", old, rotated)
		stored, err := h.s.GetRefreshToken(h.ctx, next.Hash)
		h.ok(err, "GetRefreshToken of the successor")
		h.same("successor", stored, want)

		h.clk.Advance(time.Minute)
		third := h.rotate(next)
		stored, err = h.s.GetRefreshToken(h.ctx, third.Hash)
		h.ok(err, "GetRefreshToken of the second successor")
		if stored.FamilyID != tok.FamilyID {
			h.Errorf("second successor FamilyID = %q, want %q", stored.FamilyID, tok.FamilyID)
		}
	}},
	{"ReuseIsAlreadyUsedWithToken", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		first := h.rotate(tok)
		h.clk.Advance(time.Second)
		again := h.successor(tok)
		got, err := h.s.RotateRefreshToken(h.ctx, tok.Hash, again, h.now(), 0)
		h.is(err, storage.ErrAlreadyUsed, "RotateRefreshToken reuse with grace 0")
		if got == nil || got.FamilyID != tok.FamilyID || got.GrantID != g.ID {
			h.Fatalf("reuse returned %+v, want the old token with its family and grant", got)
		}
		_, err = h.s.GetRefreshToken(h.ctx, again.Hash)
		h.is(err, storage.ErrNotFound, "a refused rotation must not store next")
		_, err = h.s.GetRefreshToken(h.ctx, first.Hash)
		if err != nil && !errors.Is(err, storage.ErrRevoked) {
			h.Errorf("first successor after reuse: error %v", err)
		}
	}},
	{"GraceAllowsRepeatWithoutExtending", func(h *h) {
		const grace = time.Minute
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		t0 := h.now()
		first := h.successor(tok)
		_, err := h.s.RotateRefreshToken(h.ctx, tok.Hash, first, t0, grace)
		h.ok(err, "RotateRefreshToken")
		h.clk.Advance(grace - time.Second)
		second := h.successor(tok)
		got, err := h.s.RotateRefreshToken(h.ctx, tok.Hash, second, h.now(), grace)
		h.ok(err, "RotateRefreshToken again inside the grace window")
		if got == nil {
			h.Fatal("RotateRefreshToken returned no token")
		}
		if !EqualTime(got.RotatedAt, t0) {
			h.Errorf("RotatedAt after a repeat = %v, want the first rotation %v", got.RotatedAt, t0)
		}
		for _, n := range []*storage.RefreshToken{first, second} {
			s, err := h.s.GetRefreshToken(h.ctx, n.Hash)
			h.ok(err, "GetRefreshToken of a successor")
			if s.FamilyID != tok.FamilyID {
				h.Errorf("successor FamilyID = %q, want %q", s.FamilyID, tok.FamilyID)
			}
		}
		h.clk.Advance(time.Second) // exactly grace after the first rotation
		third := h.successor(tok)
		got, err = h.s.RotateRefreshToken(h.ctx, tok.Hash, third, h.now(), grace)
		h.is(err, storage.ErrAlreadyUsed, "RotateRefreshToken once the grace window has passed")
		if got == nil || got.FamilyID != tok.FamilyID {
			h.Errorf("reuse returned %+v, want the old token", got)
		}
		_, err = h.s.GetRefreshToken(h.ctx, third.Hash)
		h.is(err, storage.ErrNotFound, "a refused rotation must not store next")
	}},
	{"NextHashTakenLeavesOldUntouched", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		other := h.saveToken(g)
		next := h.successor(tok)
		next.Hash = other.Hash
		_, err := h.s.RotateRefreshToken(h.ctx, tok.Hash, next, h.now(), 0)
		h.is(err, storage.ErrConflict, "RotateRefreshToken onto a taken hash")
		got, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		h.ok(err, "GetRefreshToken")
		h.same("old token after a failed rotation", got, tok)
		o, err := h.s.GetRefreshToken(h.ctx, other.Hash)
		h.ok(err, "GetRefreshToken of the token whose hash was reused")
		h.same("other token", o, other)
		h.rotate(tok)
	}},
	{"RevokedGrantRefusesTokens", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		at := h.now().Add(time.Second)
		h.ok(h.s.RevokeGrant(h.ctx, g.ID, at), "RevokeGrant")
		late := h.token(g)
		h.is(h.s.SaveRefreshToken(h.ctx, late), storage.ErrRevoked, "SaveRefreshToken for a revoked grant")
		_, err := h.s.GetRefreshToken(h.ctx, late.Hash)
		h.is(err, storage.ErrNotFound, "a token refused for its revoked grant must not be stored")
		next := h.successor(tok)
		got, err := h.s.RotateRefreshToken(h.ctx, tok.Hash, next, h.now(), time.Minute)
		h.is(err, storage.ErrRevoked, "RotateRefreshToken of a token of a revoked grant")
		if got == nil || got.FamilyID != tok.FamilyID || !EqualTime(got.RevokedAt, at) {
			h.Errorf("RotateRefreshToken of a token of a revoked grant returned %+v, want the token as stored", got)
		}
		_, err = h.s.GetRefreshToken(h.ctx, next.Hash)
		h.is(err, storage.ErrNotFound, "a refused rotation must not store next")
		// Another grant of the same client and subject is unaffected.
		live := h.saveGrant("alice", "client-a")
		h.ok(h.s.SaveRefreshToken(h.ctx, h.token(live)), "SaveRefreshToken for a live grant")
	}},
	{"RevokeFamily", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		next := h.rotate(tok)
		otherFam := h.saveToken(g)
		at := h.now().Add(time.Second)
		h.ok(h.s.RevokeRefreshFamily(h.ctx, tok.FamilyID, at), "RevokeRefreshFamily")
		h.tokensRevoked(at, tok, next)
		got, err := h.s.RotateRefreshToken(h.ctx, next.Hash, h.successor(next), h.now(), time.Minute)
		h.is(err, storage.ErrRevoked, "RotateRefreshToken of a revoked token")
		if got == nil || got.FamilyID != tok.FamilyID {
			h.Errorf("RotateRefreshToken of a revoked token returned %+v, want the token", got)
		}
		_, err = h.s.GetRefreshToken(h.ctx, otherFam.Hash)
		h.ok(err, "GetRefreshToken of another family")
		h.ok(h.s.RevokeRefreshFamily(h.ctx, tok.FamilyID, at.Add(time.Hour)), "RevokeRefreshFamily twice")
		err = h.s.RevokeRefreshFamily(h.ctx, "no-such-family", at)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			h.Errorf("RevokeRefreshFamily unknown: error %v, want nil or ErrNotFound", err)
		}
	}},
}
