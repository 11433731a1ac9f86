package storagetest

import (
	"errors"

	"github.com/nqrust/identity/storage"
)

var requestCases = []tc{
	{"SaveThenGet", func(h *h) {
		r := h.request(h.id("req"))
		want := clone(r)
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, r), "SaveAuthorizationRequest")
		got, err := h.s.GetAuthorizationRequest(h.ctx, r.ID)
		h.ok(err, "GetAuthorizationRequest")
		h.same("GetAuthorizationRequest", got, want)
		got, err = h.s.GetAuthorizationRequest(h.ctx, r.ID)
		h.ok(err, "GetAuthorizationRequest does not consume")
		h.same("second GetAuthorizationRequest", got, want)
	}},
	{"DuplicateIDConflicts", func(h *h) {
		r := h.request(h.id("req"))
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, r), "SaveAuthorizationRequest")
		h.is(h.s.SaveAuthorizationRequest(h.ctx, h.request(r.ID)), storage.ErrConflict, "SaveAuthorizationRequest duplicate")
	}},
	{"UnknownIsNotFound", func(h *h) {
		_, err := h.s.GetAuthorizationRequest(h.ctx, "no-such-request")
		h.is(err, storage.ErrNotFound, "GetAuthorizationRequest unknown")
		_, err = h.s.ConsumeAuthorizationRequest(h.ctx, "no-such-request")
		h.is(err, storage.ErrNotFound, "ConsumeAuthorizationRequest unknown")
	}},
	{"ExpiredFromExpiresAt", func(h *h) {
		r := h.request(h.id("req"))
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, r), "SaveAuthorizationRequest")
		h.clk.Advance(codeTTL - Precision)
		_, err := h.s.GetAuthorizationRequest(h.ctx, r.ID)
		h.ok(err, "GetAuthorizationRequest just before ExpiresAt")
		h.clk.Advance(Precision)
		got, err := h.s.GetAuthorizationRequest(h.ctx, r.ID)
		h.is(err, storage.ErrExpired, "GetAuthorizationRequest at ExpiresAt")
		h.sameIfAny("expired request", got, r)
		got, err = h.s.ConsumeAuthorizationRequest(h.ctx, r.ID)
		if !errors.Is(err, storage.ErrExpired) && !errors.Is(err, storage.ErrNotFound) {
			h.Errorf("ConsumeAuthorizationRequest of an expired request: error %v, want ErrExpired or ErrNotFound", err)
		}
		h.sameIfAny("expired request", got, r)
	}},
	{"ConsumeRemovesOnce", func(h *h) {
		r := h.request(h.id("req"))
		other := h.request(h.id("req"))
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, r), "SaveAuthorizationRequest")
		h.ok(h.s.SaveAuthorizationRequest(h.ctx, other), "SaveAuthorizationRequest")
		got, err := h.s.ConsumeAuthorizationRequest(h.ctx, r.ID)
		h.ok(err, "ConsumeAuthorizationRequest")
		h.same("consumed request", got, r)
		_, err = h.s.ConsumeAuthorizationRequest(h.ctx, r.ID)
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrAlreadyUsed) {
			h.Errorf("second ConsumeAuthorizationRequest: error %v, want ErrNotFound or ErrAlreadyUsed", err)
		}
		_, err = h.s.GetAuthorizationRequest(h.ctx, r.ID)
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrAlreadyUsed) {
			h.Errorf("GetAuthorizationRequest after consume: error %v, want ErrNotFound or ErrAlreadyUsed", err)
		}
		_, err = h.s.GetAuthorizationRequest(h.ctx, other.ID)
		h.ok(err, "GetAuthorizationRequest of another request")
	}},
}
