package storagetest

import (
	"time"

	"github.com/nqrust/identity/storage"
)

var clientCases = []tc{
	{"CreateThenGet", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		c.ExpiresAt = h.now().Add(time.Hour)
		c.FirstUsedAt = h.now().Add(-time.Second)
		want := storedForm(c)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		got, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient")
		h.same("GetClient", got, want)
	}},
	{"NeverStoresClearTextSecrets", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		if c.Metadata.ClientSecret == "" || c.Metadata.RegistrationAccessToken == "" {
			h.Fatal("fixture must carry clear-text secrets")
		}
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		got, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient")
		if got.Metadata.ClientSecret != "" || got.Metadata.RegistrationAccessToken != "" {
			h.Errorf("stored client carries clear-text secrets after CreateClient")
		}
		h.ok(h.s.UpdateClient(h.ctx, c), "UpdateClient")
		got, err = h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient")
		if got.Metadata.ClientSecret != "" || got.Metadata.RegistrationAccessToken != "" {
			h.Errorf("stored client carries clear-text secrets after UpdateClient")
		}
	}},
	{"CreateDuplicateIDConflicts", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		other := h.client(c.ID, storage.ClientStatic)
		h.is(h.s.CreateClient(h.ctx, other, 0), storage.ErrConflict, "CreateClient with a taken ID")
		got, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient")
		h.same("client after refused duplicate", got, storedForm(c))
	}},
	{"ExpiredClientKeepsItsID", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		c.ExpiresAt = h.now().Add(time.Minute)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		h.clk.Advance(time.Hour)
		h.is(h.s.CreateClient(h.ctx, h.client(c.ID, storage.ClientRegistered), 0), storage.ErrConflict,
			"CreateClient over an expired, unpurged client")
	}},
	{"GetUnknownIsNotFound", func(h *h) {
		got, err := h.s.GetClient(h.ctx, "no-such-client")
		h.is(err, storage.ErrNotFound, "GetClient unknown")
		if got != nil {
			h.Errorf("GetClient unknown returned a client")
		}
	}},
	{"ExpiredFromExpiresAt", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		c.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		h.clk.Advance(time.Hour - Precision)
		_, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient just before ExpiresAt")
		h.clk.Advance(Precision)
		got, err := h.s.GetClient(h.ctx, c.ID)
		h.is(err, storage.ErrExpired, "GetClient at ExpiresAt")
		h.sameIfAny("expired client", got, storedForm(c))
		h.clk.Advance(365 * 24 * time.Hour)
		_, err = h.s.GetClient(h.ctx, c.ID)
		h.is(err, storage.ErrExpired, "GetClient long after ExpiresAt")
	}},
	{"ZeroExpiresAtNeverExpires", func(h *h) {
		c := h.client(h.id("client"), storage.ClientStatic)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		h.clk.Advance(10 * 365 * 24 * time.Hour)
		_, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient ten years on")
	}},
	{"UpdateReplaces", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		c.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		u := h.client(c.ID, storage.ClientRegistered)
		u.Metadata = fullMetadata("changed")
		u.Metadata.RedirectURIs = []string{"https://app.example.com/cb"}
		u.Metadata.Contacts = nil
		u.UpdatedAt = h.now().Add(time.Minute)
		u.ExpiresAt = h.now().Add(2 * time.Hour)
		h.ok(h.s.UpdateClient(h.ctx, u), "UpdateClient")
		got, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient")
		h.same("updated client", got, storedForm(u))
	}},
	{"UpdateUnknownIsNotFound", func(h *h) {
		h.is(h.s.UpdateClient(h.ctx, h.client("no-such-client", storage.ClientRegistered)), storage.ErrNotFound,
			"UpdateClient unknown")
		_, err := h.s.GetClient(h.ctx, "no-such-client")
		h.is(err, storage.ErrNotFound, "UpdateClient must not create")
	}},
	{"UpdateRevivesExpired", func(h *h) {
		c := h.client(h.id("client"), storage.ClientMetadataDocument)
		c.ExpiresAt = h.now().Add(time.Minute)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		h.clk.Advance(time.Hour)
		c.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.UpdateClient(h.ctx, c), "UpdateClient of an expired client")
		_, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient after refreshing the expiry")
		n, err := h.s.CountClients(h.ctx, storage.ClientMetadataDocument)
		h.ok(err, "CountClients")
		if n != 1 {
			h.Errorf("CountClients = %d after reviving, want 1", n)
		}
	}},
	{"Delete", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		keep := h.client(h.id("client"), storage.ClientRegistered)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		h.ok(h.s.CreateClient(h.ctx, keep, 0), "CreateClient")
		h.ok(h.s.DeleteClient(h.ctx, c.ID), "DeleteClient")
		_, err := h.s.GetClient(h.ctx, c.ID)
		h.is(err, storage.ErrNotFound, "GetClient after delete")
		h.is(h.s.DeleteClient(h.ctx, c.ID), storage.ErrNotFound, "DeleteClient twice")
		_, err = h.s.GetClient(h.ctx, keep.ID)
		h.ok(err, "GetClient of another client")
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient again after delete")
	}},
	{"MarkUsedSetsFirstUseAndClearsExpiry", func(h *h) {
		c := h.client(h.id("client"), storage.ClientRegistered)
		c.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		first := h.now().Add(time.Minute)
		h.ok(h.s.MarkClientUsed(h.ctx, c.ID, first), "MarkClientUsed")
		h.ok(h.s.MarkClientUsed(h.ctx, c.ID, first.Add(time.Minute)), "MarkClientUsed again")
		want := storedForm(c)
		want.FirstUsedAt = first
		want.ExpiresAt = time.Time{}
		h.clk.Advance(48 * time.Hour)
		got, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient past the old expiry")
		h.same("used client", got, want)
		h.is(h.s.MarkClientUsed(h.ctx, "no-such-client", first), storage.ErrNotFound, "MarkClientUsed unknown")
	}},
	{"UpdateKeepsUsage", func(h *h) {
		// A read-modify-write (an RFC 7592 PUT) that read the client
		// before MarkClientUsed must not undo it.
		c := h.client(h.id("client"), storage.ClientRegistered)
		c.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.CreateClient(h.ctx, c, 0), "CreateClient")
		stale, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient")
		first := h.now().Add(time.Minute)
		h.ok(h.s.MarkClientUsed(h.ctx, c.ID, first), "MarkClientUsed")
		stale.Metadata.ClientName = "renamed"
		stale.UpdatedAt = h.now().Add(2 * time.Minute)
		h.ok(h.s.UpdateClient(h.ctx, stale), "UpdateClient with a copy read before MarkClientUsed")
		want := storedForm(stale)
		want.FirstUsedAt = first
		want.ExpiresAt = time.Time{}
		h.clk.Advance(48 * time.Hour)
		got, err := h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient past the stale copy's expiry")
		h.same("updated used client", got, want)
		// Nor can a copy carrying another first use move it.
		other := storedForm(stale)
		other.FirstUsedAt = first.Add(time.Hour)
		other.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.UpdateClient(h.ctx, other), "UpdateClient with another FirstUsedAt")
		got, err = h.s.GetClient(h.ctx, c.ID)
		h.ok(err, "GetClient")
		h.same("used client after a second update", got, want)
		// A client never used takes the caller's values.
		fresh := h.client(h.id("client"), storage.ClientRegistered)
		h.ok(h.s.CreateClient(h.ctx, fresh, 0), "CreateClient")
		fresh.FirstUsedAt = h.now()
		h.ok(h.s.UpdateClient(h.ctx, fresh), "UpdateClient setting FirstUsedAt")
		got, err = h.s.GetClient(h.ctx, fresh.ID)
		h.ok(err, "GetClient")
		h.same("unused client after update", got, storedForm(fresh))
		n, err := h.s.CountClients(h.ctx, storage.ClientRegistered)
		h.ok(err, "CountClients")
		if n != 2 {
			h.Errorf("CountClients = %d, want 2 (the used client must count as live)", n)
		}
	}},
	{"CountByKindUnexpired", func(h *h) {
		for range 3 {
			h.ok(h.s.CreateClient(h.ctx, h.client(h.id("reg"), storage.ClientRegistered), 0), "CreateClient")
		}
		short := h.client(h.id("reg"), storage.ClientRegistered)
		short.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.CreateClient(h.ctx, short, 0), "CreateClient")
		h.ok(h.s.CreateClient(h.ctx, h.client(h.id("static"), storage.ClientStatic), 0), "CreateClient")
		count := func(k storage.ClientKind, want int, when string) {
			h.Helper()
			n, err := h.s.CountClients(h.ctx, k)
			h.ok(err, "CountClients")
			if n != want {
				h.Errorf("CountClients(%v) %s = %d, want %d", k, when, n, want)
			}
		}
		count(storage.ClientRegistered, 4, "at start")
		count(storage.ClientStatic, 1, "at start")
		count(storage.ClientMetadataDocument, 0, "at start")
		h.clk.Advance(time.Hour)
		count(storage.ClientRegistered, 3, "after one expired")
		short.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.UpdateClient(h.ctx, short), "UpdateClient")
		count(storage.ClientRegistered, 4, "after renewal")
		h.ok(h.s.DeleteClient(h.ctx, short.ID), "DeleteClient")
		count(storage.ClientRegistered, 3, "after delete")
	}},
	{"LimitCountsUnexpiredOfSameKind", func(h *h) {
		const limit = 3
		for range limit - 1 {
			h.ok(h.s.CreateClient(h.ctx, h.client(h.id("reg"), storage.ClientRegistered), limit), "CreateClient under limit")
		}
		short := h.client(h.id("reg"), storage.ClientRegistered)
		short.ExpiresAt = h.now().Add(time.Hour)
		h.ok(h.s.CreateClient(h.ctx, short, limit), "CreateClient reaching limit")
		over := h.client(h.id("reg"), storage.ClientRegistered)
		h.is(h.s.CreateClient(h.ctx, over, limit), storage.ErrLimitReached, "CreateClient over limit")
		_, err := h.s.GetClient(h.ctx, over.ID)
		h.is(err, storage.ErrNotFound, "a client refused for the limit must not be stored")
		h.ok(h.s.CreateClient(h.ctx, h.client(h.id("static"), storage.ClientStatic), limit), "other kinds do not count")
		h.ok(h.s.CreateClient(h.ctx, h.client(h.id("reg"), storage.ClientRegistered), 0), "limit 0 means no limit")
		h.is(h.s.CreateClient(h.ctx, h.client(h.id("reg"), storage.ClientRegistered), limit+1), storage.ErrLimitReached,
			"CreateClient with limit equal to the count")
		h.clk.Advance(time.Hour)
		h.ok(h.s.CreateClient(h.ctx, over, limit+1), "expired clients do not count")
	}},
}
