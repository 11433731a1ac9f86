package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nqrust/identity/storage"
)

// grantTable keeps grants, codes and refresh tokens under one lock, because
// revoking a grant must reach its codes and token families in the same
// step, and a rotation racing a revocation must either finish before it
// (and be revoked with the family) or see the family already revoked.
//
// Revocation is recorded on the family, not on each token, so revoking a
// family costs the same however often it has rotated, and revoking a grant
// costs one step per family and per code of that grant. The indexes are
// intrusive lists, so filing a record allocates nothing beyond a map entry.
type grantTable struct {
	mu locker

	grants    map[string]*grantRec
	bySubject index[string, grantRec]
	byClient  index[string, grantRec]
	grantExp  timeHeap[string]
	seq       uint64

	codes    map[storage.Hash]*codeRec
	codesOf  index[string, codeRec] // by grant ID
	codeExp  timeHeap[storage.Hash]
	tokens   map[storage.Hash]*tokenRec
	families map[string]*familyRec
	famsOf   index[string, familyRec] // by grant ID
	tokenExp timeHeap[storage.Hash]
}

type grantRec struct {
	g                   storage.Grant
	seq                 uint64 // creation order, to break CreatedAt ties when listing
	exp                 expiry[string]
	bySubject, byClient links[grantRec]
}

type codeRec struct {
	c    storage.AuthorizationCode
	used bool
	exp  expiry[storage.Hash]
	of   links[codeRec]
}

type tokenRec struct {
	t   storage.RefreshToken
	fam *familyRec
	exp expiry[storage.Hash]
}

// familyRec is a rotation family. It lives as long as one of its tokens
// does; count says how many are left.
type familyRec struct {
	id        string
	grantID   string
	revokedAt time.Time
	count     int
	of        links[familyRec]
}

func (t *grantTable) init() {
	t.grants = make(map[string]*grantRec)
	t.bySubject = newIndex[string](func(r *grantRec) *links[grantRec] { return &r.bySubject })
	t.byClient = newIndex[string](func(r *grantRec) *links[grantRec] { return &r.byClient })
	t.codes = make(map[storage.Hash]*codeRec)
	t.codesOf = newIndex[string](func(r *codeRec) *links[codeRec] { return &r.of })
	t.tokens = make(map[storage.Hash]*tokenRec)
	t.families = make(map[string]*familyRec)
	t.famsOf = newIndex[string](func(r *familyRec) *links[familyRec] { return &r.of })
}

// grantEnd is when a grant may be purged: its expiry, or for a grant
// without one, its revocation.
func grantEnd(g *storage.Grant) time.Time {
	if !g.ExpiresAt.IsZero() {
		return g.ExpiresAt
	}
	return g.RevokedAt
}

// revokedGrant reports whether id names a stored, revoked grant.
func (t *grantTable) revokedGrant(id string) bool {
	r, ok := t.grants[id]
	return ok && !r.g.RevokedAt.IsZero()
}

// CreateGrant stores a grant.
func (s *Store) CreateGrant(ctx context.Context, g *storage.Grant) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if g == nil {
		return errNil
	}
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.grants[g.ID]; ok {
		return storage.ErrConflict
	}
	t.seq++
	r := &grantRec{g: *g, seq: t.seq}
	ownGrant(&r.g)
	track(&t.grantExp, &r.exp, grantEnd(&r.g), g.ID)
	t.grants[g.ID] = r
	t.bySubject.add(g.Subject, r)
	t.byClient.add(g.ClientID, r)
	return nil
}

// GetGrant returns a copy of the grant; a revoked one comes with
// ErrRevoked, an expired one with ErrExpired.
func (s *Store) GetGrant(ctx context.Context, id string) (*storage.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.grants
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.grants[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	g := cloneGrant(&r.g)
	switch {
	case !g.RevokedAt.IsZero():
		return g, storage.ErrRevoked
	case expired(g.ExpiresAt, now):
		return g, storage.ErrExpired
	}
	return g, nil
}

// RevokeGrant revokes the grant, every refresh-token family issued from it
// and deletes its unused codes, in one step. Families and codes filed under
// the ID are revoked even if the grant record itself is gone; ErrNotFound
// then still reports the missing grant. Revoking twice keeps the first
// revocation time.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	if !t.revoke(id, at) {
		return storage.ErrNotFound
	}
	return nil
}

// revoke does RevokeGrant's work and reports whether the grant exists.
func (t *grantTable) revoke(id string, at time.Time) bool {
	t.famsOf.each(id, func(f *familyRec) {
		if f.revokedAt.IsZero() {
			f.revokedAt = at
		}
	})
	// Used codes stay: a replay must still be recognised as one.
	t.codesOf.each(id, func(c *codeRec) {
		if !c.used {
			t.dropCode(c)
		}
	})
	r, ok := t.grants[id]
	if !ok {
		return false
	}
	if r.g.RevokedAt.IsZero() {
		r.g.RevokedAt = at
		track(&t.grantExp, &r.exp, grantEnd(&r.g), id)
	}
	return true
}

// RevokeClientGrants revokes every grant of a client as RevokeGrant does.
func (s *Store) RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	t.byClient.each(clientID, func(r *grantRec) { t.revoke(r.g.ID, at) })
	return nil
}

// ListGrants returns copies of the subject's live grants, newest first.
func (s *Store) ListGrants(ctx context.Context, subject string) ([]*storage.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.grants
	t.mu.RLock()
	var recs []*grantRec
	t.bySubject.each(subject, func(r *grantRec) {
		if r.g.RevokedAt.IsZero() && !expired(r.g.ExpiresAt, now) {
			recs = append(recs, r)
		}
	})
	slices.SortFunc(recs, func(a, b *grantRec) int {
		if c := b.g.CreatedAt.Compare(a.g.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(b.seq, a.seq)
	})
	out := make([]*storage.Grant, len(recs))
	for i, r := range recs {
		out[i] = cloneGrant(&r.g)
	}
	t.mu.RUnlock()
	return out, nil
}

// SaveCode stores a new code. A code for a grant that is known and revoked
// is refused with ErrRevoked: it closes the window in which a code is
// issued while its grant is being revoked.
func (s *Store) SaveCode(ctx context.Context, c *storage.AuthorizationCode) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.codes[c.Hash]; ok {
		return storage.ErrConflict
	}
	if t.revokedGrant(c.GrantID) {
		return storage.ErrRevoked
	}
	r := &codeRec{c: *c}
	ownCode(&r.c)
	track(&t.codeExp, &r.exp, c.ExpiresAt, c.Hash)
	t.codes[c.Hash] = r
	t.codesOf.add(c.GrantID, r)
	return nil
}

// ConsumeCode marks a code used and returns a copy. A used code answers
// ErrAlreadyUsed until it is purged, even after it expires, so a replay is
// recognised as one for as long as possible.
func (s *Store) ConsumeCode(ctx context.Context, hash storage.Hash) (*storage.AuthorizationCode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.codes[hash]
	switch {
	case !ok:
		return nil, storage.ErrNotFound
	case r.used:
		return cloneCode(&r.c), storage.ErrAlreadyUsed
	case expired(r.c.ExpiresAt, now):
		return cloneCode(&r.c), storage.ErrExpired
	}
	r.used = true
	return cloneCode(&r.c), nil
}

// tokenCopy returns a copy of the stored token with the family's
// revocation folded in.
func tokenCopy(r *tokenRec) *storage.RefreshToken {
	c := cloneRefreshToken(&r.t)
	if c.RevokedAt.IsZero() {
		c.RevokedAt = r.fam.revokedAt
	}
	return c
}

// dropCode deletes a code and everything that refers to it.
func (t *grantTable) dropCode(r *codeRec) {
	untrack(&t.codeExp, &r.exp)
	delete(t.codes, r.c.Hash)
	t.codesOf.remove(r.c.GrantID, r)
}

// addToken stores a copy of tok as a member of f.
func (t *grantTable) addToken(tok *storage.RefreshToken, f *familyRec) {
	r := &tokenRec{t: *tok, fam: f}
	ownToken(&r.t)
	r.t.FamilyID = f.id
	track(&t.tokenExp, &r.exp, tok.ExpiresAt, tok.Hash)
	t.tokens[tok.Hash] = r
	f.count++
}

// SaveRefreshToken stores the first token of a new family. An empty
// FamilyID is replaced by the token's hash in hex. A family ID that is
// already in use gives ErrConflict, as does a duplicate hash; a token for a
// grant that is known and revoked gives ErrRevoked.
func (s *Store) SaveRefreshToken(ctx context.Context, tok *storage.RefreshToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if tok == nil {
		return errNil
	}
	fid := tok.FamilyID
	if fid == "" {
		fid = tok.Hash.String()
	}
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.tokens[tok.Hash]; ok {
		return storage.ErrConflict
	}
	if _, ok := t.families[fid]; ok {
		return storage.ErrConflict
	}
	if t.revokedGrant(tok.GrantID) {
		return storage.ErrRevoked
	}
	f := &familyRec{id: fid, grantID: tok.GrantID}
	t.families[fid] = f
	t.famsOf.add(tok.GrantID, f)
	t.addToken(tok, f)
	return nil
}

// GetRefreshToken returns a copy of a token; a revoked one (or one of a
// revoked family) comes with ErrRevoked, an expired one with ErrExpired. A
// rotated token is returned without error; its RotatedAt says so.
func (s *Store) GetRefreshToken(ctx context.Context, hash storage.Hash) (*storage.RefreshToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.grants
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.tokens[hash]
	if !ok {
		return nil, storage.ErrNotFound
	}
	c := tokenCopy(r)
	switch {
	case !c.RevokedAt.IsZero():
		return c, storage.ErrRevoked
	case expired(c.ExpiresAt, now):
		return c, storage.ErrExpired
	}
	return c, nil
}

// RotateRefreshToken marks old rotated and stores next in its family, as
// one step. On success it returns a copy of old as now stored, and sets
// next.FamilyID. Expiry and the grace window are judged at now. A second
// rotation inside the grace window succeeds without moving RotatedAt, so
// the window never extends itself. A next whose hash is taken gives
// ErrConflict and leaves old untouched.
func (s *Store) RotateRefreshToken(ctx context.Context, old storage.Hash, next *storage.RefreshToken, now time.Time, grace time.Duration) (*storage.RefreshToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if next == nil {
		return nil, errNil
	}
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.tokens[old]
	if !ok {
		return nil, storage.ErrNotFound
	}
	switch {
	case !r.t.RevokedAt.IsZero() || !r.fam.revokedAt.IsZero():
		return tokenCopy(r), storage.ErrRevoked
	case expired(r.t.ExpiresAt, now):
		return tokenCopy(r), storage.ErrExpired
	case !r.t.RotatedAt.IsZero() && (grace <= 0 || now.Sub(r.t.RotatedAt) >= grace):
		return tokenCopy(r), storage.ErrAlreadyUsed
	}
	if _, ok := t.tokens[next.Hash]; ok {
		return nil, storage.ErrConflict
	}
	if r.t.RotatedAt.IsZero() {
		r.t.RotatedAt = now
	}
	t.addToken(next, r.fam)
	next.FamilyID = r.fam.id
	return tokenCopy(r), nil
}

// RevokeRefreshFamily revokes every token of a family. An unknown family is
// not an error: there is nothing left that could be used.
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	if f := t.families[familyID]; f != nil && f.revokedAt.IsZero() {
		f.revokedAt = at
	}
	return nil
}

// purge deletes up to limit expired tokens, codes and grants.
func (t *grantTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := purgeHeap(&t.tokenExp, now, limit, func(h storage.Hash) {
		r := t.tokens[h]
		delete(t.tokens, h)
		if r.fam.count--; r.fam.count == 0 {
			delete(t.families, r.fam.id)
			t.famsOf.remove(r.fam.grantID, r.fam)
		}
	})
	n += purgeHeap(&t.codeExp, now, limit-n, func(h storage.Hash) {
		r := t.codes[h]
		delete(t.codes, h)
		t.codesOf.remove(r.c.GrantID, r)
	})
	n += purgeHeap(&t.grantExp, now, limit-n, func(id string) {
		r := t.grants[id]
		delete(t.grants, id)
		t.bySubject.remove(r.g.Subject, r)
		t.byClient.remove(r.g.ClientID, r)
	})
	return n
}
