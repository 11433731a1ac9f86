package memory

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
)

// The m* types are a model of the grant table kept the obvious way, with
// maps and no indexes: what the store should answer, written out again.

type mGrant struct {
	id, sub, cli string
	created, exp time.Time
	revoked      time.Time
	seq          int
}
type mCode struct {
	h     storage.Hash
	grant string
	exp   time.Time
	used  bool
}
type mTok struct {
	h       storage.Hash
	fam     string
	grant   string
	exp     time.Time
	rotated time.Time
}
type mFam struct {
	id, grant string
	revoked   time.Time
	count     int
}

// expd is the contract's expiry rule.
func expd(exp, now time.Time) bool { return !exp.IsZero() && !now.Before(exp) }

// TestGrantTableAgainstModel drives grants, codes and refresh-token
// families with random operations, few keys (so that conflicts, replays,
// rotations inside and outside the grace window, revocation cascades and
// purges all happen often) and a moving clock, and compares every answer
// and the record counts with the model: with full hashes, with four hash
// values, and with one, where every key shares every chain.
func TestGrantTableAgainstModel(t *testing.T) {
	for _, mask := range []uint64{^uint64(0), 3, 0} {
		for seed := uint64(1); seed <= 30; seed++ {
			t.Run(fmt.Sprintf("mask%x/seed%d", mask, seed), func(t *testing.T) {
				runModel(t, mask, seed)
			})
		}
	}
}

// runModel runs 3000 random steps of TestGrantTableAgainstModel.
func runModel(t *testing.T, mask uint64, seed uint64) {
	r := rand.New(rand.NewPCG(seed, 99))
	base := time.Unix(1_800_000_000, 0).UTC()
	now := base
	s := New(Options{Clock: func() time.Time { return now }})
	s.narrowHashes(mask)
	ctx := context.Background()
	grants := map[string]*mGrant{}
	codes := map[storage.Hash]*mCode{}
	toks := map[storage.Hash]*mTok{}
	fams := map[string]*mFam{}
	seq := 0
	hsh := func(n int) storage.Hash { var h storage.Hash; h[0] = byte(n); h[31] = byte(n * 7); return h }
	gid := func() string { return fmt.Sprintf("g%d", r.IntN(12)) }
	sub := func() string { return fmt.Sprintf("u%d", r.IntN(4)) }
	exp := func() time.Time {
		if r.IntN(5) == 0 {
			return time.Time{}
		}
		return now.Add(time.Duration(r.IntN(30)-3) * time.Second)
	}
	eq := func(step int, what string, got, want error) {
		if !errors.Is(got, want) && !(got == nil && want == nil) {
			t.Fatalf("step %d %s: got %v want %v", step, what, got, want)
		}
	}
	for step := 0; step < 3000; step++ {
		switch op := r.IntN(13); op {
		case 0: // create grant
			g := &mGrant{id: gid(), sub: sub(), cli: fmt.Sprintf("c%d", r.IntN(3)), created: now.Add(-time.Duration(r.IntN(3)) * time.Second), exp: exp()}
			err := s.CreateGrant(ctx, &storage.Grant{ID: g.id, Subject: g.sub, ClientID: g.cli, CreatedAt: g.created, ExpiresAt: g.exp, Scopes: []string{"a"}})
			var want error
			if grants[g.id] != nil {
				want = storage.ErrConflict
			} else {
				seq++
				g.seq = seq
				grants[g.id] = g
			}
			eq(step, "CreateGrant", err, want)
		case 1: // save code
			c := &mCode{h: hsh(r.IntN(40)), grant: gid(), exp: exp()}
			err := s.SaveCode(ctx, &storage.AuthorizationCode{Hash: c.h, GrantID: c.grant, ExpiresAt: c.exp})
			var want error
			switch {
			case codes[c.h] != nil:
				want = storage.ErrConflict
			case grants[c.grant] != nil && !grants[c.grant].revoked.IsZero():
				want = storage.ErrRevoked
			default:
				codes[c.h] = c
			}
			eq(step, "SaveCode", err, want)
		case 2: // consume
			h := hsh(r.IntN(40))
			got, err := s.ConsumeCode(ctx, h)
			c := codes[h]
			var want error
			switch {
			case c == nil:
				want = storage.ErrNotFound
			case c.used:
				want = storage.ErrAlreadyUsed
			case expd(c.exp, now):
				want = storage.ErrExpired
			default:
				c.used = true
			}
			eq(step, "ConsumeCode", err, want)
			if c != nil && (got == nil || got.Hash != h || got.GrantID != c.grant) {
				t.Fatalf("step %d: consume returned %+v want %+v", step, got, c)
			}
		case 3: // save refresh
			tk := &mTok{h: hsh(100 + r.IntN(60)), grant: gid(), exp: exp()}
			fid := ""
			if r.IntN(2) == 0 {
				fid = fmt.Sprintf("f%d", r.IntN(15))
			}
			err := s.SaveRefreshToken(ctx, &storage.RefreshToken{Hash: tk.h, FamilyID: fid, GrantID: tk.grant, ExpiresAt: tk.exp})
			if fid == "" {
				fid = tk.h.String()
			}
			tk.fam = fid
			var want error
			switch {
			case toks[tk.h] != nil, fams[fid] != nil:
				want = storage.ErrConflict
			case grants[tk.grant] != nil && !grants[tk.grant].revoked.IsZero():
				want = storage.ErrRevoked
			default:
				toks[tk.h] = tk
				fams[fid] = &mFam{id: fid, grant: tk.grant, count: 1}
			}
			eq(step, "SaveRefreshToken", err, want)
		case 4: // rotate
			old := hsh(100 + r.IntN(60))
			next := &storage.RefreshToken{Hash: hsh(100 + r.IntN(60)), ExpiresAt: exp()}
			grace := time.Duration(r.IntN(3)) * 2 * time.Second
			got, err := s.RotateRefreshToken(ctx, old, next, now, grace)
			o := toks[old]
			var want error
			switch {
			case o == nil:
				want = storage.ErrNotFound
			case !fams[o.fam].revoked.IsZero():
				want = storage.ErrRevoked
			case expd(o.exp, now):
				want = storage.ErrExpired
			case !o.rotated.IsZero() && (grace <= 0 || now.Sub(o.rotated) >= grace):
				want = storage.ErrAlreadyUsed
			case toks[next.Hash] != nil:
				want = storage.ErrConflict
			default:
				if o.rotated.IsZero() {
					o.rotated = now
				}
				toks[next.Hash] = &mTok{h: next.Hash, fam: o.fam, grant: o.grant, exp: next.ExpiresAt}
				fams[o.fam].count++
			}
			eq(step, "Rotate", err, want)
			if want == nil {
				if next.FamilyID != o.fam || got == nil || !got.RotatedAt.Equal(o.rotated) || got.Hash != old {
					t.Fatalf("step %d rotate: fam %q want %q; got %+v", step, next.FamilyID, o.fam, got)
				}
			}
		case 5: // get refresh
			h := hsh(100 + r.IntN(60))
			got, err := s.GetRefreshToken(ctx, h)
			o := toks[h]
			var want error
			switch {
			case o == nil:
				want = storage.ErrNotFound
			case !fams[o.fam].revoked.IsZero():
				want = storage.ErrRevoked
			case expd(o.exp, now):
				want = storage.ErrExpired
			}
			eq(step, "GetRefreshToken", err, want)
			if o != nil && (got.FamilyID != o.fam || !got.RotatedAt.Equal(o.rotated) || !got.RevokedAt.Equal(fams[o.fam].revoked)) {
				t.Fatalf("step %d get: %+v model %+v fam %+v", step, got, o, fams[o.fam])
			}
		case 6: // revoke grant
			id := gid()
			err := s.RevokeGrant(ctx, id, now)
			for _, f := range fams {
				if f.grant == id && f.revoked.IsZero() {
					f.revoked = now
				}
			}
			for h, c := range codes {
				if c.grant == id && !c.used {
					delete(codes, h)
				}
			}
			var want error
			if g := grants[id]; g == nil {
				want = storage.ErrNotFound
			} else if g.revoked.IsZero() {
				g.revoked = now
			}
			eq(step, "RevokeGrant", err, want)
		case 7: // revoke family
			fid := fmt.Sprintf("f%d", r.IntN(15))
			_ = s.RevokeRefreshFamily(ctx, fid, now)
			if f := fams[fid]; f != nil && f.revoked.IsZero() {
				f.revoked = now
			}
		case 8: // get grant
			id := gid()
			_, err := s.GetGrant(ctx, id)
			g := grants[id]
			var want error
			switch {
			case g == nil:
				want = storage.ErrNotFound
			case !g.revoked.IsZero():
				want = storage.ErrRevoked
			case expd(g.exp, now):
				want = storage.ErrExpired
			}
			eq(step, "GetGrant", err, want)
		case 9: // list
			u := sub()
			got, _ := s.ListGrants(ctx, u)
			var want []*mGrant
			for _, g := range grants {
				if g.sub == u && g.revoked.IsZero() && !expd(g.exp, now) {
					want = append(want, g)
				}
			}
			slices.SortFunc(want, func(a, b *mGrant) int {
				if c := b.created.Compare(a.created); c != 0 {
					return c
				}
				return cmp.Compare(b.seq, a.seq)
			})
			if len(got) != len(want) {
				t.Fatalf("step %d list: %d want %d", step, len(got), len(want))
			}
			for k := range got {
				if got[k].ID != want[k].id {
					t.Fatalf("step %d list order %d: %s want %s", step, k, got[k].ID, want[k].id)
				}
			}
		case 10: // revoke client grants
			c := fmt.Sprintf("c%d", r.IntN(3))
			_ = s.RevokeClientGrants(ctx, c, now)
			for _, g := range grants {
				if g.cli != c {
					continue
				}
				for _, f := range fams {
					if f.grant == g.id && f.revoked.IsZero() {
						f.revoked = now
					}
				}
				for h, cd := range codes {
					if cd.grant == g.id && !cd.used {
						delete(codes, h)
					}
				}
				if g.revoked.IsZero() {
					g.revoked = now
				}
			}
		case 11: // purge
			for {
				limit := 1 + r.IntN(3)
				n, _ := s.PurgeExpired(ctx, now, limit)
				if n < limit {
					break
				}
			}
			for h, tk := range toks {
				if expd(tk.exp, now) {
					delete(toks, h)
					f := fams[tk.fam]
					f.count--
					if f.count == 0 {
						delete(fams, tk.fam)
					}
				}
			}
			for h, c := range codes {
				if expd(c.exp, now) {
					delete(codes, h)
				}
			}
			for id, g := range grants {
				end := g.exp
				if end.IsZero() {
					end = g.revoked
				}
				if expd(end, now) {
					delete(grants, id)
				}
			}
		case 12:
			now = now.Add(time.Duration(r.IntN(4)) * time.Second)
		}
		m := s.counts()
		if m["token slots"] != len(toks) || m["families"] != len(fams) || m["code slots"] != len(codes) || m["grants"] != len(grants) {
			t.Fatalf("step %d counts %v; model toks %d fams %d codes %d grants %d", step, m, len(toks), len(fams), len(codes), len(grants))
		}
	}
}
