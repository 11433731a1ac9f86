package storagetest

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nqrust/identity/storage"
)

// racers is how many goroutines contend for one single-use record, and
// rounds how many times each race is run: one round of 64 often
// serialises by luck, ten rarely do.
const (
	racers = 64
	rounds = 10
)

// tally counts outcomes of a race by error, for messages.
func tally(errs []error) string {
	m := map[string]int{}
	for _, err := range errs {
		k := "nil"
		if err != nil {
			k = err.Error()
		}
		m[k]++
	}
	var b strings.Builder
	for k, n := range m {
		fmt.Fprintf(&b, "%d×%q ", n, k)
	}
	return b.String()
}

// oneWinner checks that exactly one error is nil and every other one is
// target, and returns the winner's index.
func (h *h) oneWinner(errs []error, target error, what string) int {
	h.Helper()
	winner, losers := -1, 0
	for i, err := range errs {
		switch {
		case err == nil && winner < 0:
			winner = i
		case err == nil:
			h.Fatalf("%s: more than one caller succeeded (%s)", what, tally(errs))
		case errors.Is(err, target):
			losers++
		}
	}
	if winner < 0 || losers != len(errs)-1 {
		h.Fatalf("%s: want 1 success and %d×%v, got %s", what, len(errs)-1, target, tally(errs))
	}
	return winner
}

var concurrencyCases = []tc{
	{"ConsumeCodeExactlyOnce", func(h *h) {
		for round := range rounds {
			g := h.saveGrant("alice", "client-a")
			c := h.saveCode(g)
			codes := make([]*storage.AuthorizationCode, racers)
			errs := make([]error, racers)
			parallel(racers, func(i int) { codes[i], errs[i] = h.s.ConsumeCode(h.ctx, c.Hash) })
			w := h.oneWinner(errs, storage.ErrAlreadyUsed, fmt.Sprintf("round %d: ConsumeCode", round))
			for i, got := range codes {
				if got == nil || got.GrantID != g.ID || got.Hash != c.Hash {
					h.Errorf("caller %d (winner %v) got code %+v, want the code of grant %s", i, i == w, got, g.ID)
				}
			}
		}
	}},
	{"RotateExactlyOnce", func(h *h) {
		for round := range rounds {
			g := h.saveGrant("alice", "client-a")
			tok := h.saveToken(g)
			nexts := make([]*storage.RefreshToken, racers)
			for i := range nexts {
				nexts[i] = h.successor(tok)
			}
			olds := make([]*storage.RefreshToken, racers)
			errs := make([]error, racers)
			now := h.now()
			parallel(racers, func(i int) {
				olds[i], errs[i] = h.s.RotateRefreshToken(h.ctx, tok.Hash, nexts[i], now, 0)
			})
			w := h.oneWinner(errs, storage.ErrAlreadyUsed, fmt.Sprintf("round %d: RotateRefreshToken with grace 0", round))
			for i, got := range olds {
				if got == nil || got.FamilyID != tok.FamilyID {
					h.Errorf("caller %d got %+v, want the old token of family %s", i, got, tok.FamilyID)
				}
			}
			for i, n := range nexts {
				_, err := h.s.GetRefreshToken(h.ctx, n.Hash)
				if i == w {
					h.ok(err, "GetRefreshToken of the winner's successor")
				} else if !errors.Is(err, storage.ErrNotFound) {
					h.Errorf("loser %d's successor: error %v, want ErrNotFound", i, err)
				}
			}
		}
	}},
	{"RotateInsideGraceAllSucceed", func(h *h) {
		g := h.saveGrant("alice", "client-a")
		tok := h.saveToken(g)
		nexts := make([]*storage.RefreshToken, racers)
		for i := range nexts {
			nexts[i] = h.successor(tok)
		}
		errs := make([]error, racers)
		now := h.now()
		parallel(racers, func(i int) {
			_, errs[i] = h.s.RotateRefreshToken(h.ctx, tok.Hash, nexts[i], now, time.Minute)
		})
		for i, err := range errs {
			if err != nil {
				h.Fatalf("caller %d inside the grace window: %v (%s)", i, err, tally(errs))
			}
		}
		for _, n := range nexts {
			got, err := h.s.GetRefreshToken(h.ctx, n.Hash)
			h.ok(err, "GetRefreshToken of a successor")
			if got.FamilyID != tok.FamilyID {
				h.Errorf("successor FamilyID = %q, want %q", got.FamilyID, tok.FamilyID)
			}
		}
		old, err := h.s.GetRefreshToken(h.ctx, tok.Hash)
		h.ok(err, "GetRefreshToken of the old token")
		if !EqualTime(old.RotatedAt, now) {
			h.Errorf("RotatedAt = %v, want %v", old.RotatedAt, now)
		}
	}},
	{"RevokeGrantRacingRotation", func(h *h) {
		// Whichever finishes first, once both have, no token of the grant
		// may be usable: a rotation that lands after the revocation must
		// fail, one that lands before must have its successor revoked.
		for round := range 20 {
			g := h.saveGrant("alice", "client-a")
			tok := h.saveToken(g)
			next := h.successor(tok)
			var rotErr, revErr error
			parallel(2, func(i int) {
				if i == 0 {
					_, rotErr = h.s.RotateRefreshToken(h.ctx, tok.Hash, next, h.now(), 0)
				} else {
					revErr = h.s.RevokeGrant(h.ctx, g.ID, h.now())
				}
			})
			h.ok(revErr, "RevokeGrant")
			if rotErr != nil && !errors.Is(rotErr, storage.ErrRevoked) {
				h.Fatalf("round %d: rotation racing revocation: error %v, want nil or ErrRevoked", round, rotErr)
			}
			for _, x := range []*storage.RefreshToken{tok, next} {
				_, err := h.s.GetRefreshToken(h.ctx, x.Hash)
				if err == nil {
					h.Fatalf("round %d: a token of the revoked grant is still usable (rotation error %v)", round, rotErr)
				}
			}
		}
	}},
	{"CreateClientLimitHolds", func(h *h) {
		const n, limit = 200, 37
		h.ok(h.s.CreateClient(h.ctx, h.client("static-1", storage.ClientStatic), 0), "CreateClient")
		clients := make([]*storage.Client, n)
		for i := range clients {
			clients[i] = h.client(fmt.Sprintf("reg-%d", i), storage.ClientRegistered)
		}
		errs := make([]error, n)
		parallel(n, func(i int) { errs[i] = h.s.CreateClient(h.ctx, clients[i], limit) })
		ok, refused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, storage.ErrLimitReached):
				refused++
			}
		}
		if ok != limit || refused != n-limit {
			h.Fatalf("%d parallel CreateClient with limit %d: %s", n, limit, tally(errs))
		}
		count, err := h.s.CountClients(h.ctx, storage.ClientRegistered)
		h.ok(err, "CountClients")
		if count != limit {
			h.Errorf("CountClients = %d, want %d", count, limit)
		}
	}},
	{"CreateClientSameIDOnce", func(h *h) {
		for round := range rounds {
			clients := make([]*storage.Client, racers)
			for i := range clients {
				clients[i] = h.client(fmt.Sprintf("same-%d", round), storage.ClientRegistered)
			}
			errs := make([]error, racers)
			parallel(racers, func(i int) { errs[i] = h.s.CreateClient(h.ctx, clients[i], 0) })
			h.oneWinner(errs, storage.ErrConflict, fmt.Sprintf("round %d: CreateClient with one ID", round))
		}
	}},
	{"SaveCodeSameHashOnce", func(h *h) {
		for round := range rounds {
			g := h.saveGrant("alice", "client-a")
			c := h.code(g)
			errs := make([]error, racers)
			parallel(racers, func(i int) { errs[i] = h.s.SaveCode(h.ctx, clone(c)) })
			h.oneWinner(errs, storage.ErrConflict, fmt.Sprintf("round %d: SaveCode with one hash", round))
		}
	}},
	{"ReserveJTIOnce", func(h *h) {
		for round := range rounds {
			errs := make([]error, racers)
			until := h.now().Add(time.Minute)
			parallel(racers, func(i int) { errs[i] = h.s.ReserveJTI(h.ctx, fmt.Sprintf("client-a:jti-%d", round), until) })
			h.oneWinner(errs, storage.ErrAlreadyUsed, fmt.Sprintf("round %d: ReserveJTI", round))
		}
	}},
	{"InitialAccessTokenExactUses", func(h *h) {
		for round := range rounds {
			const uses = 10
			tok := h.iat(uses)
			h.ok(h.s.SaveInitialAccessToken(h.ctx, tok), "SaveInitialAccessToken")
			errs := make([]error, racers)
			before := make([]*storage.InitialAccessToken, racers)
			parallel(racers, func(i int) { before[i], errs[i] = h.s.UseInitialAccessToken(h.ctx, tok.Hash) })
			seen := map[int]bool{}
			ok, spent := 0, 0
			for i, err := range errs {
				switch {
				case err == nil:
					ok++
					if before[i] == nil {
						h.Fatalf("UseInitialAccessToken succeeded without returning the token")
					}
					if seen[before[i].RemainingUses] {
						h.Errorf("round %d: two uses saw RemainingUses = %d", round, before[i].RemainingUses)
					}
					seen[before[i].RemainingUses] = true
				case errors.Is(err, storage.ErrAlreadyUsed):
					spent++
				}
			}
			if ok != uses || spent != racers-uses {
				h.Fatalf("round %d: %d parallel uses of a token with %d uses: %s", round, racers, uses, tally(errs))
			}
		}
	}},
	{"ConsumeAuthorizationRequestOnce", func(h *h) {
		for round := range rounds {
			r := h.request(h.id("req"))
			h.ok(h.s.SaveAuthorizationRequest(h.ctx, r), "SaveAuthorizationRequest")
			errs := make([]error, racers)
			parallel(racers, func(i int) { _, errs[i] = h.s.ConsumeAuthorizationRequest(h.ctx, r.ID) })
			winners := 0
			for _, err := range errs {
				switch {
				case err == nil:
					winners++
				case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrAlreadyUsed):
				default:
					h.Errorf("ConsumeAuthorizationRequest: unexpected error %v", err)
				}
			}
			if winners != 1 {
				h.Fatalf("round %d: ConsumeAuthorizationRequest: %d winners, want 1 (%s)", round, winners, tally(errs))
			}
		}
	}},
}

// argumentCases check that nil records are refused with an error rather
// than a panic: every network input is hostile, and a bug upstream must
// not take the server down.
var argumentCases = []tc{
	{"NilRecordsAreErrors", func(h *h) {
		checks := []struct {
			name string
			call func() error
		}{
			{"CreateClient", func() error { return h.s.CreateClient(h.ctx, nil, 0) }},
			{"UpdateClient", func() error { return h.s.UpdateClient(h.ctx, nil) }},
			{"SaveAuthorizationRequest", func() error { return h.s.SaveAuthorizationRequest(h.ctx, nil) }},
			{"CreateGrant", func() error { return h.s.CreateGrant(h.ctx, nil) }},
			{"SaveCode", func() error { return h.s.SaveCode(h.ctx, nil) }},
			{"SaveRefreshToken", func() error { return h.s.SaveRefreshToken(h.ctx, nil) }},
			{"RotateRefreshToken", func() error {
				_, err := h.s.RotateRefreshToken(h.ctx, storage.HashOf("x"), nil, h.now(), 0)
				return err
			}},
			{"AddKey", func() error { return h.s.AddKey(h.ctx, nil) }},
			{"SaveInitialAccessToken", func() error { return h.s.SaveInitialAccessToken(h.ctx, nil) }},
			{"SaveConsent", func() error { return h.s.SaveConsent(h.ctx, nil) }},
		}
		for _, c := range checks {
			func() {
				defer func() {
					if r := recover(); r != nil {
						h.Errorf("%s(nil) panicked: %v", c.name, r)
					}
				}()
				if c.call() == nil {
					h.Errorf("%s(nil) returned no error", c.name)
				}
			}()
		}
	}},
}
