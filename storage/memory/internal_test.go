package memory

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
)

// checkHeap verifies the heap order and that every entry knows its index.
func checkHeap(t *testing.T, h *slotHeap) {
	t.Helper()
	for i, e := range h.e {
		if p := *h.pos(e.slot); p != uint32(i+1) {
			t.Fatalf("entry at %d thinks it is at %d", i, int(p)-1)
		}
		if i > 0 && h.less(i, (i-1)/2) {
			t.Fatalf("entry %d is out of order with its parent", i)
		}
	}
}

func TestHeapRandomOperations(t *testing.T) {
	for _, max := range []bool{false, true} {
		t.Run(fmt.Sprintf("max=%v", max), func(t *testing.T) {
			r := rand.New(rand.NewPCG(1, 2))
			pos := make([]uint32, 5001)
			h := &slotHeap{max: max, pos: func(i uint32) *uint32 { return &pos[i] }}
			live := map[uint32]ptime{}
			at := func() ptime { return packTime(time.Unix(int64(r.IntN(1000)), int64(r.IntN(3)))) }
			for i := range uint32(5000) {
				slot := i + 1
				switch op := r.IntN(5); {
				case op == 0 || len(live) == 0:
					p := at()
					h.add(slot, p)
					live[slot] = p
				case op == 1:
					for k := range live {
						h.remove(k)
						// Removing a slot that is in no heap changes nothing.
						h.remove(k)
						delete(live, k)
						break
					}
				case op == 2:
					for k := range live {
						p := at()
						h.track(k, p)
						live[k] = p
						break
					}
				case op == 3:
					for k := range live {
						h.track(k, ptime{}) // never expires: leaves the heap
						delete(live, k)
						break
					}
				default:
					e, _ := h.peek()
					h.remove(e.slot)
					for _, o := range live {
						if (max && e.at.before(o)) || (!max && o.before(e.at)) {
							t.Fatalf("peek returned %v while %v was in the heap", e.at, o)
						}
					}
					if live[e.slot] != e.at {
						t.Fatalf("slot %d came out at %v, was put in at %v", e.slot, e.at, live[e.slot])
					}
					delete(live, e.slot)
				}
				checkHeap(t, h)
				if h.len() != len(live) {
					t.Fatalf("heap has %d entries, want %d", h.len(), len(live))
				}
			}
		})
	}
}

// TestCountClientsMatchesScan drives the two-heap client count with random
// creates, updates, uses, deletes and clock moves in both directions, and
// compares it with a plain scan after every step.
func TestCountClientsMatchesScan(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Clock: func() time.Time { return now }})
	r := rand.New(rand.NewPCG(3, 4))
	kinds := []storage.ClientKind{storage.ClientRegistered, storage.ClientMetadataDocument}
	var ids []string
	expiry := func() time.Time {
		if r.IntN(4) == 0 {
			return time.Time{}
		}
		return now.Add(time.Duration(r.IntN(120)-30) * time.Minute)
	}
	for i := range 3000 {
		switch op := r.IntN(6); op {
		case 0, 1:
			c := &storage.Client{ID: fmt.Sprint("c", i), Kind: kinds[r.IntN(2)], ExpiresAt: expiry()}
			if err := s.CreateClient(ctx, c, 0); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, c.ID)
		case 2:
			if len(ids) > 0 {
				id := ids[r.IntN(len(ids))]
				if err := s.UpdateClient(ctx, &storage.Client{ID: id, Kind: kinds[r.IntN(2)], ExpiresAt: expiry()}); err != nil {
					t.Fatal(err)
				}
			}
		case 3:
			if len(ids) > 0 {
				i := r.IntN(len(ids))
				if err := s.DeleteClient(ctx, ids[i]); err != nil {
					t.Fatal(err)
				}
				ids = append(ids[:i], ids[i+1:]...)
			}
		case 4:
			if len(ids) > 0 {
				_ = s.MarkClientUsed(ctx, ids[r.IntN(len(ids))], now)
			}
		case 5:
			now = now.Add(time.Duration(r.IntN(60)-25) * time.Minute)
		}
		for _, k := range kinds {
			got, err := s.CountClients(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			for _, id := range ids {
				c, err := s.GetClient(ctx, id)
				if c.Kind == k && err == nil {
					want++
				}
			}
			if got != want {
				t.Fatalf("step %d: CountClients(%v) = %d, scan says %d", i, k, got, want)
			}
		}
	}
}

// TestPurgeLeavesNothingBehind fills every table, lets everything expire,
// purges, and checks that no record, index entry or heap entry is left:
// the store cannot grow without bound through its bookkeeping.
func TestPurgeLeavesNothingBehind(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Clock: func() time.Time { return now }})
	exp := now.Add(time.Hour)
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	for i := range 50 {
		id := fmt.Sprint(i)
		must(s.CreateClient(ctx, &storage.Client{ID: id, Kind: storage.ClientRegistered, ExpiresAt: exp}, 0))
		must(s.SaveAuthorizationRequest(ctx, &storage.AuthorizationRequest{ID: id, ExpiresAt: exp}))
		g := &storage.Grant{ID: "g" + id, Subject: "s" + id, ClientID: id, ExpiresAt: exp}
		if i%5 == 0 {
			g.ExpiresAt = time.Time{} // purged once revoked
		}
		must(s.CreateGrant(ctx, g))
		used := &storage.AuthorizationCode{Hash: storage.HashOf("used" + id), GrantID: g.ID, ExpiresAt: exp}
		must(s.SaveCode(ctx, used))
		_, err := s.ConsumeCode(ctx, used.Hash)
		must(err)
		must(s.SaveCode(ctx, &storage.AuthorizationCode{Hash: storage.HashOf("unused" + id), GrantID: g.ID, ExpiresAt: exp}))
		tok := &storage.RefreshToken{Hash: storage.HashOf("rt-" + id), FamilyID: "f" + id, GrantID: g.ID, ExpiresAt: exp}
		must(s.SaveRefreshToken(ctx, tok))
		_, err = s.RotateRefreshToken(ctx, tok.Hash, &storage.RefreshToken{Hash: storage.HashOf("rt2-" + id), GrantID: g.ID, ExpiresAt: exp}, now, 0)
		must(err)
		if i%5 == 0 {
			must(s.RevokeGrant(ctx, g.ID, now))
		}
		must(s.AddKey(ctx, &storage.SigningKey{ID: id, ExpiresAt: exp}))
		must(s.SaveInitialAccessToken(ctx, &storage.InitialAccessToken{Hash: storage.HashOf("iat" + id), ExpiresAt: exp}))
		must(s.SaveConsent(ctx, &storage.Consent{Subject: "s" + id, ClientID: id, ExpiresAt: exp}))
		must(s.ReserveJTI(ctx, id, exp))
	}
	now = exp
	total := 0
	for {
		n, err := s.PurgeExpired(ctx, now, 7)
		must(err)
		total += n
		if n < 7 {
			break
		}
	}
	// 50 × (client, request, grant, 2 codes, 2 tokens, key, iat, consent,
	// jti), less the unused codes that revoking 10 grants already deleted.
	if want := 50*11 - 10; total != want {
		t.Errorf("purged %d records, want %d", total, want)
	}
	sizes := s.counts()
	for name, n := range sizes {
		if n != 0 {
			t.Errorf("%s: %d entries left after purging everything", name, n)
		}
	}
}

// TestRevokedGrantRefusesNewCodesAndTokens checks the memory store closes
// the window in which a code or a first refresh token is stored for a grant
// that was just revoked.
func TestRevokedGrantRefusesNewCodesAndTokens(t *testing.T) {
	ctx := context.Background()
	s := New(Options{})
	g := &storage.Grant{ID: "g", Subject: "alice", ClientID: "c", ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.CreateGrant(ctx, g); err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeGrant(ctx, g.ID, time.Now()); err != nil {
		t.Fatal(err)
	}
	code := &storage.AuthorizationCode{Hash: storage.HashOf("c"), GrantID: g.ID, ExpiresAt: time.Now().Add(time.Minute)}
	if err := s.SaveCode(ctx, code); err != storage.ErrRevoked {
		t.Errorf("SaveCode for a revoked grant: %v, want ErrRevoked", err)
	}
	tok := &storage.RefreshToken{Hash: storage.HashOf("t"), FamilyID: "f", GrantID: g.ID, ExpiresAt: time.Now().Add(time.Hour)}
	if err := s.SaveRefreshToken(ctx, tok); err != storage.ErrRevoked {
		t.Errorf("SaveRefreshToken for a revoked grant: %v, want ErrRevoked", err)
	}
	if m := s.counts(); m["families"]+m["family IDs"]+m["codes"]+m["code slots"]+m["tokens"]+m["token slots"] != 0 {
		t.Errorf("refused records left state behind")
	}
}

// TestIndexRandomOperations files slots under a handful of hashes and
// checks every list against a model after each step.
func TestIndexRandomOperations(t *testing.T) {
	links := make([]link, 201)
	x := newHindex(func(i uint32) *link { return &links[i] })
	filed := make([]uint64, len(links)) // hash+1, 0 when unfiled
	r := rand.New(rand.NewPCG(5, 6))
	for step := range 20000 {
		i := uint32(1 + r.IntN(len(links)-1))
		if filed[i] == 0 {
			h := uint64(r.IntN(5)) << 60
			x.add(h, i)
			filed[i] = h + 1
		} else {
			x.remove(filed[i]-1, i)
			// Removing a slot that is no longer filed changes nothing.
			x.remove(filed[i]-1, i)
			filed[i] = 0
		}
		keys := 0
		for k := range uint64(5) {
			h := k << 60
			got := map[uint32]bool{}
			x.each(h, func(i uint32) { got[i] = true })
			n := 0
			for j := x.first(h); j != 0; j = x.next(j) {
				n++
			}
			want := 0
			for j, f := range filed {
				if f == h+1 {
					want++
					if !got[uint32(j)] {
						t.Fatalf("step %d: slot %d missing under hash %x", step, j, h)
					}
				}
			}
			if len(got) != want || n != want {
				t.Fatalf("step %d: hash %x lists %d (walk %d) slots, want %d", step, h, len(got), n, want)
			}
			if want > 0 {
				keys++
			}
		}
		if x.len() != keys {
			t.Fatalf("step %d: %d hashes in the index, want %d", step, x.len(), keys)
		}
	}
}
