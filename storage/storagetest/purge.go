package storagetest

import (
	"time"

	"github.com/nqrust/identity/storage"
)

// purgeAll calls PurgeExpired with limit until it returns fewer, checking
// every batch stays within the limit, and returns the total.
func (h *h) purgeAll(limit int) int {
	h.Helper()
	total := 0
	for range 1000 {
		n, err := h.s.PurgeExpired(h.ctx, h.now(), limit)
		h.ok(err, "PurgeExpired")
		if n < 0 || n > limit {
			h.Fatalf("PurgeExpired(limit %d) = %d", limit, n)
		}
		total += n
		if n < limit {
			return total
		}
	}
	h.Fatalf("PurgeExpired(limit %d) never returned fewer than limit", limit)
	return 0
}

var purgeCases = []tc{
	{"DeletesExpiredKeepsLive", func(h *h) {
		const soon, later = time.Hour, 48 * time.Hour
		t0 := h.now()

		// Records that will have expired.
		deadClient := h.client(h.id("client"), storage.ClientRegistered)
		deadClient.ExpiresAt = t0.Add(soon)
		h.ok(h.s.CreateClient(h.ctx, deadClient, 0), "CreateClient")
		deadReq := h.request(h.id("req"))
		deadReq.ExpiresAt = t0.Add(soon)
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, deadReq), "SaveAuthorizationRequest")
		deadGrant := h.grant(h.id("grant"), "alice", "client-a")
		deadGrant.ExpiresAt = t0.Add(soon)
		h.ok(h.s.CreateGrant(h.ctx, deadGrant), "CreateGrant")
		deadIAT := h.iat(1)
		deadIAT.ExpiresAt = t0.Add(soon)
		h.ok(h.s.SaveInitialAccessToken(h.ctx, deadIAT), "SaveInitialAccessToken")
		deadConsent := h.consent("alice", "client-a")
		deadConsent.ExpiresAt = t0.Add(soon)
		h.ok(h.s.SaveConsent(h.ctx, deadConsent), "SaveConsent")
		deadKey := h.key("kid-dead", time.Hour)
		h.ok(h.s.AddKey(h.ctx, deadKey), "AddKey")
		h.ok(h.s.RetireKey(h.ctx, deadKey.ID, t0, t0.Add(soon)), "RetireKey")
		h.ok(h.s.ReserveJTI(h.ctx, "jti-dead", t0.Add(soon)), "ReserveJTI")

		// Records that stay live: no expiry, or a later one.
		liveGrant := h.grant(h.id("grant"), "alice", "client-a")
		liveGrant.ExpiresAt = t0.Add(later)
		h.ok(h.s.CreateGrant(h.ctx, liveGrant), "CreateGrant")
		liveClient := h.client(h.id("client"), storage.ClientRegistered)
		h.ok(h.s.CreateClient(h.ctx, liveClient, 0), "CreateClient")
		laterClient := h.client(h.id("client"), storage.ClientRegistered)
		laterClient.ExpiresAt = t0.Add(later)
		h.ok(h.s.CreateClient(h.ctx, laterClient, 0), "CreateClient")
		liveReq := h.request(h.id("req"))
		liveReq.ExpiresAt = t0.Add(later)
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, liveReq), "SaveAuthorizationRequest")
		liveIAT := h.iat(1)
		liveIAT.ExpiresAt = time.Time{}
		h.ok(h.s.SaveInitialAccessToken(h.ctx, liveIAT), "SaveInitialAccessToken")
		liveConsent := h.consent("alice", "client-b")
		liveConsent.ExpiresAt = time.Time{}
		h.ok(h.s.SaveConsent(h.ctx, liveConsent), "SaveConsent")
		liveKey := h.key("kid-live", time.Minute)
		h.ok(h.s.AddKey(h.ctx, liveKey), "AddKey")
		h.ok(h.s.ReserveJTI(h.ctx, "jti-live", t0.Add(later)), "ReserveJTI")

		// Codes and tokens, used and unused, of the live grant.
		deadCode := h.code(liveGrant)
		deadCode.ExpiresAt = t0.Add(soon)
		h.ok(h.s.SaveCode(h.ctx, deadCode), "SaveCode")
		deadUsedCode := h.code(liveGrant)
		deadUsedCode.ExpiresAt = t0.Add(soon)
		h.ok(h.s.SaveCode(h.ctx, deadUsedCode), "SaveCode")
		_, err := h.s.ConsumeCode(h.ctx, deadUsedCode.Hash)
		h.ok(err, "ConsumeCode")
		usedCode := h.code(liveGrant)
		usedCode.ExpiresAt = t0.Add(later)
		h.ok(h.s.SaveCode(h.ctx, usedCode), "SaveCode")
		_, err = h.s.ConsumeCode(h.ctx, usedCode.Hash)
		h.ok(err, "ConsumeCode")
		liveCode := h.code(liveGrant)
		liveCode.ExpiresAt = t0.Add(later)
		h.ok(h.s.SaveCode(h.ctx, liveCode), "SaveCode")

		deadTok := h.token(liveGrant)
		deadTok.ExpiresAt = t0.Add(soon)
		h.ok(h.s.SaveRefreshToken(h.ctx, deadTok), "SaveRefreshToken")
		deadNext := h.successor(deadTok)
		deadNext.ExpiresAt = t0.Add(soon)
		_, err = h.s.RotateRefreshToken(h.ctx, deadTok.Hash, deadNext, t0, 0)
		h.ok(err, "RotateRefreshToken")
		rotatedTok := h.token(liveGrant)
		rotatedTok.ExpiresAt = t0.Add(later)
		h.ok(h.s.SaveRefreshToken(h.ctx, rotatedTok), "SaveRefreshToken")
		liveNext := h.successor(rotatedTok)
		liveNext.ExpiresAt = t0.Add(later)
		_, err = h.s.RotateRefreshToken(h.ctx, rotatedTok.Hash, liveNext, t0, 0)
		h.ok(err, "RotateRefreshToken")

		n, err := h.s.PurgeExpired(h.ctx, h.now(), 100)
		h.ok(err, "PurgeExpired")
		if n != 0 {
			h.Fatalf("PurgeExpired deleted %d records while none had expired", n)
		}

		h.clk.Advance(2 * soon)
		if total := h.purgeAll(3); total == 0 {
			h.Fatalf("PurgeExpired deleted nothing")
		}
		if n := h.purgeAll(3); n != 0 {
			h.Errorf("a second purge deleted %d more records", n)
		}

		// Everything expired is gone.
		_, err = h.s.GetClient(h.ctx, deadClient.ID)
		h.is(err, storage.ErrNotFound, "GetClient of a purged client")
		_, err = h.s.GetAuthorizationRequest(h.ctx, deadReq.ID)
		h.is(err, storage.ErrNotFound, "GetAuthorizationRequest of a purged request")
		_, err = h.s.GetGrant(h.ctx, deadGrant.ID)
		h.is(err, storage.ErrNotFound, "GetGrant of a purged grant")
		_, err = h.s.UseInitialAccessToken(h.ctx, deadIAT.Hash)
		h.is(err, storage.ErrNotFound, "UseInitialAccessToken of a purged token")
		_, err = h.s.GetConsent(h.ctx, deadConsent.Subject, deadConsent.ClientID)
		h.is(err, storage.ErrNotFound, "GetConsent of a purged consent")
		_, err = h.s.ConsumeCode(h.ctx, deadCode.Hash)
		h.is(err, storage.ErrNotFound, "ConsumeCode of a purged code")
		_, err = h.s.ConsumeCode(h.ctx, deadUsedCode.Hash)
		h.is(err, storage.ErrNotFound, "ConsumeCode of a purged used code")
		_, err = h.s.GetRefreshToken(h.ctx, deadTok.Hash)
		h.is(err, storage.ErrNotFound, "GetRefreshToken of a purged rotated token")
		_, err = h.s.GetRefreshToken(h.ctx, deadNext.Hash)
		h.is(err, storage.ErrNotFound, "GetRefreshToken of a purged token")
		h.ok(h.s.ReserveJTI(h.ctx, "jti-dead", h.now().Add(time.Minute)), "ReserveJTI of a purged key")

		// Everything live is intact, including the state replay detection
		// depends on.
		_, err = h.s.GetGrant(h.ctx, liveGrant.ID)
		h.ok(err, "GetGrant of a live grant")
		_, err = h.s.GetClient(h.ctx, liveClient.ID)
		h.ok(err, "GetClient of a client without expiry")
		_, err = h.s.GetClient(h.ctx, laterClient.ID)
		h.ok(err, "GetClient of a live client")
		_, err = h.s.GetAuthorizationRequest(h.ctx, liveReq.ID)
		h.ok(err, "GetAuthorizationRequest of a live request")
		_, err = h.s.GetConsent(h.ctx, liveConsent.Subject, liveConsent.ClientID)
		h.ok(err, "GetConsent of a consent without expiry")
		keys, err := h.s.ListKeys(h.ctx)
		h.ok(err, "ListKeys")
		h.same("keys after purge", keys, []*storage.SigningKey{liveKey})
		h.is(h.s.ReserveJTI(h.ctx, "jti-live", h.now().Add(time.Minute)), storage.ErrAlreadyUsed, "ReserveJTI of a live key")
		got, err := h.s.ConsumeCode(h.ctx, usedCode.Hash)
		h.is(err, storage.ErrAlreadyUsed, "ConsumeCode replay of a used, unexpired code after purge")
		if got == nil || got.GrantID != liveGrant.ID {
			h.Errorf("replayed code after purge: %+v", got)
		}
		_, err = h.s.ConsumeCode(h.ctx, liveCode.Hash)
		h.ok(err, "ConsumeCode of a live code")
		rot, err := h.s.RotateRefreshToken(h.ctx, rotatedTok.Hash, h.successor(rotatedTok), h.now(), 0)
		h.is(err, storage.ErrAlreadyUsed, "RotateRefreshToken reuse of a rotated, unexpired token after purge")
		if rot == nil || rot.FamilyID != rotatedTok.FamilyID {
			h.Errorf("reused token after purge: %+v", rot)
		}
		h.rotate(liveNext)
		_, err = h.s.UseInitialAccessToken(h.ctx, liveIAT.Hash)
		h.ok(err, "UseInitialAccessToken of a token without expiry")
	}},
	{"BatchesAreBoundedAndComplete", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		var dead, live []*storage.AuthorizationCode
		for range 25 {
			c := h.code(g)
			h.ok(h.s.SaveCode(h.ctx, c), "SaveCode")
			dead = append(dead, c)
		}
		h.clk.Advance(time.Minute)
		for range 5 {
			live = append(live, h.saveCode(g))
		}
		h.clk.Advance(codeTTL - time.Second)
		const limit = 10
		n, err := h.s.PurgeExpired(h.ctx, h.now(), limit)
		h.ok(err, "PurgeExpired")
		if n != limit {
			h.Errorf("first PurgeExpired(limit %d) with 25 expired codes = %d, want %d", limit, n, limit)
		}
		h.purgeAll(limit)
		for _, c := range dead {
			_, err := h.s.ConsumeCode(h.ctx, c.Hash)
			h.is(err, storage.ErrNotFound, "ConsumeCode of a purged code")
		}
		for _, c := range live {
			_, err := h.s.ConsumeCode(h.ctx, c.Hash)
			h.ok(err, "ConsumeCode of a live code")
		}
	}},
}
