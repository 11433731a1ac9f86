package storagetest

import (
	"time"

	"github.com/nqrust/identity/storage"
)

// Each case hands the store a record, then overwrites everything reachable
// from the value it handed over and from every value it got back, and
// checks that the store still holds the original.
var copyCases = []tc{
	{"Client", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		want := storedForm(c)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		scribbleAll(c)
		got, err := h.s.GetClient(h.ctx, want.ID)
		h.ok(err, "GetClient")
		h.same("client after changing the created value", got, want)
		scribbleAll(got)
		got, err = h.s.GetClient(h.ctx, want.ID)
		h.ok(err, "GetClient")
		h.same("client after changing a returned value", got, want)

		u := clone(want)
		u.Metadata.ClientName = "renamed"
		want = clone(u)
		h.ok(h.s.UpdateClient(h.ctx, u), "UpdateClient")
		scribbleAll(u)
		got, err = h.s.GetClient(h.ctx, want.ID)
		h.ok(err, "GetClient")
		h.same("client after changing the updated value", got, want)
	}},
	{"AuthorizationRequest", func(h *h) {
		r := h.request(h.id("req"))
		want := clone(r)
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, r), "SaveAuthorizationRequest")
		scribbleAll(r)
		got, err := h.s.GetAuthorizationRequest(h.ctx, want.ID)
		h.ok(err, "GetAuthorizationRequest")
		scribbleAll(got)
		got, err = h.s.ConsumeAuthorizationRequest(h.ctx, want.ID)
		h.ok(err, "ConsumeAuthorizationRequest")
		h.same("consumed request", got, want)
	}},
	{"Grant", func(h *h) {
		g := h.grant(h.id("grant"), "alice", "client-a")
		want := clone(g)
		h.ok(h.s.CreateGrant(h.ctx, g), "CreateGrant")
		scribbleAll(g)
		got, err := h.s.GetGrant(h.ctx, want.ID)
		h.ok(err, "GetGrant")
		scribbleAll(got)
		list, err := h.s.ListGrants(h.ctx, "alice")
		h.ok(err, "ListGrants")
		h.same("listed grants", list, []*storage.Grant{want})
		scribbleAll(list[0])
		got, err = h.s.GetGrant(h.ctx, want.ID)
		h.ok(err, "GetGrant")
		h.same("grant", got, want)
	}},
	{"Code", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		c := h.code(g)
		want := clone(c)
		h.ok(h.s.SaveCode(h.ctx, c), "SaveCode")
		scribbleAll(c)
		got, err := h.s.ConsumeCode(h.ctx, want.Hash)
		h.ok(err, "ConsumeCode")
		scribbleAll(got)
		got, err = h.s.ConsumeCode(h.ctx, want.Hash)
		h.is(err, storage.ErrAlreadyUsed, "ConsumeCode replay")
		h.same("replayed code", got, want)
	}},
	{"RefreshToken", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.token(g)
		want := clone(tok)
		h.ok(h.s.SaveRefreshToken(h.ctx, tok), "SaveRefreshToken")
		scribbleAll(tok)
		got, err := h.s.GetRefreshToken(h.ctx, want.Hash)
		h.ok(err, "GetRefreshToken")
		scribbleAll(got)

		next := h.successor(want)
		wantNext := clone(next)
		wantNext.FamilyID = want.FamilyID
		now := h.now()
		got, err = h.s.RotateRefreshToken(h.ctx, want.Hash, next, now, 0)
		h.ok(err, "RotateRefreshToken")
		scribbleAll(got, next)
		want.RotatedAt = now
		got, err = h.s.GetRefreshToken(h.ctx, want.Hash)
		h.ok(err, "GetRefreshToken")
		h.same("rotated token", got, want)
		got, err = h.s.GetRefreshToken(h.ctx, wantNext.Hash)
		h.ok(err, "GetRefreshToken")
		h.same("successor", got, wantNext)
	}},
	{"SigningKey", func(h *h) {
		k := h.key("kid", time.Hour)
		want := clone(k)
		h.ok(h.s.AddKey(h.ctx, k), "AddKey")
		scribbleAll(k)
		got, err := h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys")
		scribbleAll(got)
		got, err = h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys")
		h.same("keys", got, []*storage.SigningKey{want})
	}},
	{"InitialAccessToken", func(h *h) {
		tok := h.iat(2)
		want := clone(tok)
		h.ok(h.s.SaveInitialAccessToken(h.ctx, tok), "SaveInitialAccessToken")
		scribbleAll(tok)
		got, err := h.s.UseInitialAccessToken(h.ctx, want.Hash)
		h.ok(err, "UseInitialAccessToken")
		h.same("token before first use", got, want)
		scribbleAll(got)
		got, err = h.s.UseInitialAccessToken(h.ctx, want.Hash)
		h.ok(err, "UseInitialAccessToken")
		want.RemainingUses = 1
		h.same("token before second use", got, want)
	}},
	{"Consent", func(h *h) {
		c := h.consent("alice", "client-a")
		want := clone(c)
		h.ok(h.s.SaveConsent(h.ctx, c), "SaveConsent")
		scribbleAll(c)
		got, err := h.s.GetConsent(h.ctx, "alice", "client-a")
		h.ok(err, "GetConsent")
		scribbleAll(got)
		got, err = h.s.GetConsent(h.ctx, "alice", "client-a")
		h.ok(err, "GetConsent")
		h.same("consent", got, want)
	}},
}

// Stores may be handed long identifiers full of characters that need
// escaping; they must keep them exactly and tell them apart.
var idCases = []tc{
	{"LongIDsRoundTrip", func(h *h) {
		clientID, subject, grantID := LongID("client", 1), LongID("subject", 2), LongID("grant", 3)
		if len(clientID) != 255 {
			h.Fatalf("LongID is %d bytes, want 255", len(clientID))
		}
		c := h.client(clientID, storage.ClientRegistered)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		near := h.client(clientID[:254]+"y", storage.ClientRegistered)
		h.ok(h.s.CreateClient(h.ctx, near, 0), "CreateClient with an ID differing in the last byte")
		got, err := h.s.GetClient(h.ctx, clientID)
		h.ok(err, "GetClient")
		h.same("client", got, storedForm(c))
		h.ok(h.s.MarkClientUsed(h.ctx, clientID, h.now()), "MarkClientUsed")

		r := h.request(LongID("request", 4))
		r.ClientID = clientID
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, r), "SaveAuthorizationRequest")
		gotR, err := h.s.ConsumeAuthorizationRequest(h.ctx, r.ID)
		h.ok(err, "ConsumeAuthorizationRequest")
		h.same("request", gotR, r)

		g := h.grant(grantID, subject, clientID)
		h.ok(h.s.CreateGrant(h.ctx, g), "CreateGrant")
		list, err := h.s.ListGrants(h.ctx, subject)
		h.ok(err, "ListGrants")
		h.same("grants", list, []*storage.Grant{g})
		list, err = h.s.ListGrants(h.ctx, subject[:254])
		h.ok(err, "ListGrants of a prefix of the subject")
		if len(list) != 0 {
			h.Errorf("ListGrants matched a prefix of the subject")
		}

		tok := h.token(g)
		tok.FamilyID = LongID("family", 5)
		h.ok(h.s.SaveRefreshToken(h.ctx, tok), "SaveRefreshToken")
		next := h.rotate(tok)
		if next.FamilyID != tok.FamilyID {
			h.Errorf("long family ID changed in rotation")
		}
		code := h.saveCode(g)

		k := h.key(LongID("kid", 6), time.Hour)
		h.ok(h.s.AddKey(h.ctx, k), "AddKey")
		h.ok(h.s.RetireKey(h.ctx, k.ID, h.now(), h.now().Add(time.Hour)), "RetireKey")

		cons := h.consent(subject, clientID)
		h.ok(h.s.SaveConsent(h.ctx, cons), "SaveConsent")
		gotC, err := h.s.GetConsent(h.ctx, subject, clientID)
		h.ok(err, "GetConsent")
		h.same("consent", gotC, cons)

		jti := LongID("jti", 7)
		h.ok(h.s.ReserveJTI(h.ctx, jti, h.now().Add(time.Minute)), "ReserveJTI")
		h.is(h.s.ReserveJTI(h.ctx, jti, h.now().Add(time.Minute)), storage.ErrAlreadyUsed, "ReserveJTI replay")
		h.ok(h.s.ReserveJTI(h.ctx, jti[:254]+"y", h.now().Add(time.Minute)), "ReserveJTI of a near key")

		h.ok(h.s.RevokeClientGrants(h.ctx, clientID, h.now()), "RevokeClientGrants")
		h.tokensRevoked(h.now(), tok, next)
		_, err = h.s.ConsumeCode(h.ctx, code.Hash)
		h.is(err, storage.ErrNotFound, "ConsumeCode after revoking the client's grants")
		h.ok(h.s.RevokeConsent(h.ctx, subject, clientID), "RevokeConsent")
		h.ok(h.s.DeleteClient(h.ctx, clientID), "DeleteClient")
		_, err = h.s.GetClient(h.ctx, near.ID)
		h.ok(err, "GetClient of the near ID after deleting the long one")
	}},
}
