package storagetest

import (
	"errors"
	"time"

	"github.com/nqrust/identity/storage"
)

var keyCases = []tc{
	{"AddThenListOldestFirst", func(h *h) {
		mid := h.key("kid-mid", time.Hour)
		old := h.key("kid-old", 2*time.Hour)
		young := h.key("kid-young", time.Minute)
		for _, k := range []*storage.SigningKey{mid, young, old} {
			h.ok(h.s.AddKey(h.ctx, k), "AddKey")
		}
		got, err := h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys")
		h.same("ListKeys", got, []*storage.SigningKey{old, mid, young})
	}},
	{"DuplicateIDConflicts", func(h *h) {
		k := h.key("kid", time.Hour)
		h.ok(h.s.AddKey(h.ctx, k), "AddKey")
		dup := h.key("kid", time.Minute)
		dup.Private = []byte("other")
		h.is(h.s.AddKey(h.ctx, dup), storage.ErrConflict, "AddKey duplicate")
		got, err := h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys")
		h.same("ListKeys", got, []*storage.SigningKey{k})
	}},
	{"EmptyList", func(h *h) {
		got, err := h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys of an empty store")
		if len(got) != 0 {
			h.Errorf("ListKeys of an empty store returned %d keys", len(got))
		}
	}},
	{"RetireThenExpire", func(h *h) {
		k := h.key("kid", time.Hour)
		active := h.key("kid-active", time.Minute)
		h.ok(h.s.AddKey(h.ctx, k), "AddKey")
		h.ok(h.s.AddKey(h.ctx, active), "AddKey")
		retired, expires := h.now(), h.now().Add(time.Hour)
		h.ok(h.s.RetireKey(h.ctx, k.ID, retired, expires), "RetireKey")
		want := clone(k)
		want.RetiredAt, want.ExpiresAt = retired, expires
		h.clk.Advance(time.Hour - Precision)
		got, err := h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys")
		h.same("ListKeys before the retired key expires", got, []*storage.SigningKey{want, active})
		h.clk.Advance(Precision)
		got, err = h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys")
		h.same("ListKeys once the retired key expired", got, []*storage.SigningKey{active})
		h.is(h.s.RetireKey(h.ctx, "no-such-key", retired, expires), storage.ErrNotFound, "RetireKey unknown")
	}},
}

var iatCases = []tc{
	{"UsesCountDown", func(h *h) {
		tok := h.iat(3)
		h.ok(h.s.SaveInitialAccessToken(h.ctx, tok), "SaveInitialAccessToken")
		for want := 3; want > 0; want-- {
			got, err := h.s.UseInitialAccessToken(h.ctx, tok.Hash)
			h.ok(err, "UseInitialAccessToken")
			w := clone(tok)
			w.RemainingUses = want
			h.same("token as it was before the use", got, w)
		}
		got, err := h.s.UseInitialAccessToken(h.ctx, tok.Hash)
		h.is(err, storage.ErrAlreadyUsed, "UseInitialAccessToken with no uses left")
		if got != nil && got.RemainingUses != 0 {
			h.Errorf("spent token reports %d remaining uses", got.RemainingUses)
		}
	}},
	{"NoUsesFromTheStart", func(h *h) {
		tok := h.iat(0)
		h.ok(h.s.SaveInitialAccessToken(h.ctx, tok), "SaveInitialAccessToken")
		_, err := h.s.UseInitialAccessToken(h.ctx, tok.Hash)
		h.is(err, storage.ErrAlreadyUsed, "UseInitialAccessToken with RemainingUses 0")
	}},
	{"DuplicateHashConflicts", func(h *h) {
		tok := h.iat(1)
		h.ok(h.s.SaveInitialAccessToken(h.ctx, tok), "SaveInitialAccessToken")
		dup := h.iat(50)
		dup.Hash = tok.Hash
		h.is(h.s.SaveInitialAccessToken(h.ctx, dup), storage.ErrConflict, "SaveInitialAccessToken duplicate")
		_, err := h.s.UseInitialAccessToken(h.ctx, tok.Hash)
		h.ok(err, "UseInitialAccessToken")
		_, err = h.s.UseInitialAccessToken(h.ctx, tok.Hash)
		h.is(err, storage.ErrAlreadyUsed, "the refused duplicate must not have replaced the token")
	}},
	{"UnknownIsNotFound", func(h *h) {
		_, err := h.s.UseInitialAccessToken(h.ctx, storage.HashOf("no-such-token"))
		h.is(err, storage.ErrNotFound, "UseInitialAccessToken unknown")
	}},
	{"ExpiredFromExpiresAt", func(h *h) {
		tok := h.iat(5)
		h.ok(h.s.SaveInitialAccessToken(h.ctx, tok), "SaveInitialAccessToken")
		h.clk.Advance(time.Hour - Precision)
		_, err := h.s.UseInitialAccessToken(h.ctx, tok.Hash)
		h.ok(err, "UseInitialAccessToken just before ExpiresAt")
		h.clk.Advance(Precision)
		_, err = h.s.UseInitialAccessToken(h.ctx, tok.Hash)
		h.is(err, storage.ErrExpired, "UseInitialAccessToken at ExpiresAt")
	}},
	{"ZeroExpiresAtNeverExpires", func(h *h) {
		tok := h.iat(1)
		tok.ExpiresAt = time.Time{}
		h.ok(h.s.SaveInitialAccessToken(h.ctx, tok), "SaveInitialAccessToken")
		h.clk.Advance(10 * 365 * 24 * time.Hour)
		_, err := h.s.UseInitialAccessToken(h.ctx, tok.Hash)
		h.ok(err, "UseInitialAccessToken ten years on")
	}},
}

var consentCases = []tc{
	{"SaveThenGet", func(h *h) {
		c := h.consent("alice", "client-a")
		want := clone(c)
		h.ok(h.s.SaveConsent(h.ctx, c), "SaveConsent")
		got, err := h.s.GetConsent(h.ctx, "alice", "client-a")
		h.ok(err, "GetConsent")
		h.same("GetConsent", got, want)
	}},
	{"SaveReplaces", func(h *h) {
		h.ok(h.s.SaveConsent(h.ctx, h.consent("alice", "client-a")), "SaveConsent")
		c := h.consent("alice", "client-a")
		c.Scopes = []string{"mcp:tools", "mcp:resources", "openid"}
		c.Resources = nil
		c.ExpiresAt = time.Time{}
		h.ok(h.s.SaveConsent(h.ctx, c), "SaveConsent replacing")
		got, err := h.s.GetConsent(h.ctx, "alice", "client-a")
		h.ok(err, "GetConsent")
		h.same("replaced consent", got, c)
	}},
	{"KeyedBySubjectAndClient", func(h *h) {
		a := h.consent("alice", "client-a")
		a.Scopes = []string{"a"}
		b := h.consent("alice", "client-b")
		b.Scopes = []string{"b"}
		c := h.consent("bob", "client-a")
		c.Scopes = []string{"c"}
		// Pairs that collide if a store joins subject and client naively.
		d := h.consent("x|y", "z")
		d.Scopes = []string{"d"}
		e := h.consent("x", "y|z")
		e.Scopes = []string{"e"}
		all := []*storage.Consent{a, b, c, d, e}
		for _, x := range all {
			h.ok(h.s.SaveConsent(h.ctx, x), "SaveConsent")
		}
		for _, x := range all {
			got, err := h.s.GetConsent(h.ctx, x.Subject, x.ClientID)
			h.ok(err, "GetConsent")
			h.same("consent of "+x.Subject+"/"+x.ClientID, got, x)
		}
	}},
	{"UnknownIsNotFound", func(h *h) {
		h.ok(h.s.SaveConsent(h.ctx, h.consent("alice", "client-a")), "SaveConsent")
		_, err := h.s.GetConsent(h.ctx, "alice", "client-b")
		h.is(err, storage.ErrNotFound, "GetConsent unknown client")
		_, err = h.s.GetConsent(h.ctx, "bob", "client-a")
		h.is(err, storage.ErrNotFound, "GetConsent unknown subject")
	}},
	{"ExpiredFromExpiresAt", func(h *h) {
		c := h.consent("alice", "client-a")
		h.ok(h.s.SaveConsent(h.ctx, c), "SaveConsent")
		h.clk.Advance(grantTTL - Precision)
		_, err := h.s.GetConsent(h.ctx, "alice", "client-a")
		h.ok(err, "GetConsent just before ExpiresAt")
		h.clk.Advance(Precision)
		got, err := h.s.GetConsent(h.ctx, "alice", "client-a")
		h.is(err, storage.ErrExpired, "GetConsent at ExpiresAt")
		h.sameIfAny("expired consent", got, c)
	}},
	{"ZeroExpiresAtNeverExpires", func(h *h) {
		c := h.consent("alice", "client-a")
		c.ExpiresAt = time.Time{}
		h.ok(h.s.SaveConsent(h.ctx, c), "SaveConsent")
		h.clk.Advance(10 * 365 * 24 * time.Hour)
		_, err := h.s.GetConsent(h.ctx, "alice", "client-a")
		h.ok(err, "GetConsent ten years on")
	}},
	{"Revoke", func(h *h) {
		h.ok(h.s.SaveConsent(h.ctx, h.consent("alice", "client-a")), "SaveConsent")
		h.ok(h.s.SaveConsent(h.ctx, h.consent("alice", "client-b")), "SaveConsent")
		h.ok(h.s.RevokeConsent(h.ctx, "alice", "client-a"), "RevokeConsent")
		_, err := h.s.GetConsent(h.ctx, "alice", "client-a")
		h.is(err, storage.ErrNotFound, "GetConsent after revoke")
		_, err = h.s.GetConsent(h.ctx, "alice", "client-b")
		h.ok(err, "GetConsent of another client")
		h.ok(h.s.RevokeConsent(h.ctx, "alice", "client-a"), "RevokeConsent when absent")
	}},
}

var jtiCases = []tc{
	{"ReserveOnceUntilExpiry", func(h *h) {
		until := h.now().Add(5 * time.Minute)
		h.ok(h.s.ReserveJTI(h.ctx, "client-a:jti-1", until), "ReserveJTI")
		h.is(h.s.ReserveJTI(h.ctx, "client-a:jti-1", until), storage.ErrAlreadyUsed, "ReserveJTI replay")
		h.ok(h.s.ReserveJTI(h.ctx, "client-b:jti-1", until), "ReserveJTI of another key")
		h.clk.Advance(5*time.Minute - Precision)
		h.is(h.s.ReserveJTI(h.ctx, "client-a:jti-1", until.Add(time.Hour)), storage.ErrAlreadyUsed,
			"ReserveJTI replay just before expiry")
		h.clk.Advance(Precision)
		h.ok(h.s.ReserveJTI(h.ctx, "client-a:jti-1", h.now().Add(time.Minute)), "ReserveJTI once the record expired")
		err := h.s.ReserveJTI(h.ctx, "client-a:jti-1", h.now().Add(time.Minute))
		if !errors.Is(err, storage.ErrAlreadyUsed) {
			h.Errorf("ReserveJTI after re-reserving: error %v, want ErrAlreadyUsed", err)
		}
	}},
}
