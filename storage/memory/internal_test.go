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
func checkHeap[K comparable](t *testing.T, h *timeHeap[K]) {
	t.Helper()
	for i, e := range h.s {
		if e.pos != i+1 {
			t.Fatalf("entry at %d thinks it is at %d", i, e.pos-1)
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
			h := &timeHeap[int]{max: max}
			live := map[int]*expiry[int]{}
			base := time.Unix(0, 0)
			for i := range 5000 {
				switch op := r.IntN(4); {
				case op == 0 || len(live) == 0:
					e := &expiry[int]{at: base.Add(time.Duration(r.IntN(1000)) * time.Second), key: i}
					h.add(e)
					live[i] = e
				case op == 1:
					for k, e := range live {
						h.remove(e)
						delete(live, k)
						break
					}
				case op == 2:
					for _, e := range live {
						h.fix(e, base.Add(time.Duration(r.IntN(1000))*time.Second))
						break
					}
				default:
					e := h.pop()
					for _, o := range live {
						if (max && o.at.After(e.at)) || (!max && o.at.Before(e.at)) {
							t.Fatalf("pop returned %v while %v was in the heap", e.at, o.at)
						}
					}
					delete(live, e.key)
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
			for _, rec := range s.clients.byID {
				if rec.c.Kind == k && !expired(rec.c.ExpiresAt, now) {
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
	g := &s.grants
	sizes := map[string]int{
		"clients": len(s.clients.byID),

		"grants": len(g.grants), "bySubject": g.bySubject.len(), "byClient": g.byClient.len(), "grant heap": g.grantExp.len(),
		"codes": len(g.codes), "codesOf": g.codesOf.len(), "code heap": g.codeExp.len(),
		"tokens": len(g.tokens), "families": len(g.families), "famsOf": g.famsOf.len(), "token heap": g.tokenExp.len(),
	}
	s.requests.counts(sizes)
	s.keys.counts(sizes)
	s.iats.counts(sizes)
	s.consents.counts(sizes)
	s.jtis.counts(sizes)
	for _, kc := range s.clients.kinds {
		sizes["client kind heaps"] += kc.live.len() + kc.dead.len() + kc.total
	}
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
	if len(s.grants.families) != 0 || len(s.grants.codes) != 0 {
		t.Errorf("refused records left state behind")
	}
}

func TestIndexRandomOperations(t *testing.T) {
	type rec struct {
		id int
		l  links[rec]
	}
	x := newIndex[int](func(r *rec) *links[rec] { return &r.l })
	recs := make([]*rec, 200)
	filed := make([]int, len(recs)) // key+1, 0 when unfiled
	for i := range recs {
		recs[i] = &rec{id: i}
	}
	r := rand.New(rand.NewPCG(5, 6))
	for step := range 20000 {
		i := r.IntN(len(recs))
		if filed[i] == 0 {
			k := r.IntN(5)
			x.add(k, recs[i])
			filed[i] = k + 1
		} else {
			x.remove(filed[i]-1, recs[i])
			// Removing a record that is no longer filed changes nothing.
			x.remove(filed[i]-1, recs[i])
			filed[i] = 0
		}
		keys := 0
		for k := range 5 {
			got := map[int]bool{}
			x.each(k, func(r *rec) { got[r.id] = true })
			want := 0
			for j, f := range filed {
				if f == k+1 {
					want++
					if !got[j] {
						t.Fatalf("step %d: record %d missing under key %d", step, j, k)
					}
				}
			}
			if len(got) != want {
				t.Fatalf("step %d: key %d lists %d records, want %d", step, k, len(got), want)
			}
			if want > 0 {
				keys++
			}
		}
		if x.len() != keys {
			t.Fatalf("step %d: %d keys in the index, want %d", step, x.len(), keys)
		}
	}
}
