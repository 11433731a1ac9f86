package storagetest

import (
	"errors"
	"time"

	"github.com/nqrust/identity/storage"
)

var codeCases = []tc{
	{"SaveThenConsume", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		c := h.code(g)
		want := clone(c)
		h.ok(h.s.SaveCode(h.ctx, c), "SaveCode")
		got, err := h.s.ConsumeCode(h.ctx, c.Hash)
		h.ok(err, "ConsumeCode")
		h.same("consumed code", got, want)
	}},
	{"DuplicateHashConflicts", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		c := h.saveCode(g)
		dup := h.code(g)
		dup.Hash = c.Hash
		dup.Subject = "mallory"
		h.is(h.s.SaveCode(h.ctx, dup), storage.ErrConflict, "SaveCode duplicate")
		got, err := h.s.ConsumeCode(h.ctx, c.Hash)
		h.ok(err, "ConsumeCode")
		h.same("code after refused duplicate", got, c)
	}},
	{"UnknownIsNotFound", func(h *h) {
		got, err := h.s.ConsumeCode(h.ctx, storage.HashOf("no-such-code"))
		h.is(err, storage.ErrNotFound, "ConsumeCode unknown")
		if got != nil {
			h.Errorf("ConsumeCode unknown returned a code")
		}
	}},
	{"ReplayIsAlreadyUsedWithCode", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		c := h.saveCode(g)
		_, err := h.s.ConsumeCode(h.ctx, c.Hash)
		h.ok(err, "ConsumeCode")
		for i := range 3 {
			got, err := h.s.ConsumeCode(h.ctx, c.Hash)
			h.is(err, storage.ErrAlreadyUsed, "ConsumeCode replay")
			if got == nil {
				h.Fatalf("replay %d: ConsumeCode must return the code together with ErrAlreadyUsed", i)
			}
			h.same("replayed code", got, c)
		}
	}},
	{"ExpiredIsNotConsumed", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		c := h.saveCode(g)
		h.clk.Advance(codeTTL - Precision)
		h.clk.Advance(Precision)
		got, err := h.s.ConsumeCode(h.ctx, c.Hash)
		h.is(err, storage.ErrExpired, "ConsumeCode at ExpiresAt")
		if got == nil {
			h.Fatal("ConsumeCode must return an expired code together with ErrExpired")
		}
		h.same("expired code", got, c)
		_, err = h.s.ConsumeCode(h.ctx, c.Hash)
		h.is(err, storage.ErrExpired, "ConsumeCode of an expired code, again")
		// An expired code must not have been consumed: with the clock set
		// back, it is still usable exactly once.
		h.clk.Advance(-time.Minute)
		_, err = h.s.ConsumeCode(h.ctx, c.Hash)
		h.ok(err, "ConsumeCode after the clock went back")
		_, err = h.s.ConsumeCode(h.ctx, c.Hash)
		h.is(err, storage.ErrAlreadyUsed, "ConsumeCode replay")
	}},
	{"LiveJustBeforeExpiresAt", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		c := h.saveCode(g)
		h.clk.Advance(codeTTL - Precision)
		_, err := h.s.ConsumeCode(h.ctx, c.Hash)
		h.ok(err, "ConsumeCode just before ExpiresAt")
	}},
	{"ReplayAfterExpiry", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		c := h.saveCode(g)
		_, err := h.s.ConsumeCode(h.ctx, c.Hash)
		h.ok(err, "ConsumeCode")
		h.clk.Advance(codeTTL)
		_, err = h.s.ConsumeCode(h.ctx, c.Hash)
		if !errors.Is(err, storage.ErrAlreadyUsed) && !errors.Is(err, storage.ErrExpired) {
			h.Errorf("replay of a used, expired code: error %v, want ErrAlreadyUsed or ErrExpired", err)
		}
	}},
}
