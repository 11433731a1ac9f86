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
// intrusive lists of slot numbers, and nothing here holds a Go pointer per
// record (see layout.go).
type grantTable struct {
	mu   locker
	h    hasher
	enc  encoder
	data arena

	grants    pool[grantSlot]
	grantByID hindex // by hash of the grant ID
	bySubject hindex
	byClient  hindex
	grantExp  slotHeap
	seq       uint64

	codes   pool[codeSlot]
	codeBy  hindex // by hashKey of the code's hash
	codesOf hindex // by hash of the grant ID
	codeExp slotHeap

	tokens   pool[tokenSlot]
	tokenBy  hindex // by hashKey of the token's hash
	tokenExp slotHeap

	fams   pool[famSlot]
	famBy  hindex // by hash of the family ID
	famsOf hindex // by hash of the grant ID
}

// grantSlot is a grant. Its record holds ID, Subject, ClientID, Scopes,
// Resources, AuthTime, CreatedAt and ExpiresAt; revocation, which changes,
// is kept here.
type grantSlot struct {
	ref                aref
	idH, subH, cliH    uint64
	byID, bySub, byCli link
	seq                uint64 // creation order, to break CreatedAt ties when listing
	created, expires   ptime
	revoked            ptime
	hpos               uint32
}

// codeSlot is an authorization code. Its record holds every field of the
// code, the hash first and the grant ID next.
type codeSlot struct {
	ref  aref
	key  uint64 // hashKey of the code's hash
	grH  uint64
	byH  link
	of   link
	exp  ptime
	hpos uint32
	used bool
}

// tokenSlot is a refresh token. Its record holds every field but
// RotatedAt, the hash first and the family ID next. The slot is 64 bytes,
// one cache line, which a rotation in a large store notices.
type tokenSlot struct {
	ref     aref
	key     uint64 // hashKey of the token's hash
	byH     link
	fam     uint32 // the family's slot
	hpos    uint32
	exp     ptime
	rotated ptime
}

// famSlot is a rotation family; its record holds the family ID and the
// grant ID. It lives as long as one of its tokens does; count says how many
// are left.
type famSlot struct {
	ref      aref
	idH, grH uint64
	byID, of link
	revoked  ptime
	count    int32
}

func (t *grantTable) init() {
	t.h = newHasher()
	t.grantByID = newKeyIndex(func(i uint32) *link { return &t.grants.at(i).byID },
		func(i uint32) []byte { return t.data.view(t.grants.at(i).ref) })
	t.bySubject = newHindex(func(i uint32) *link { return &t.grants.at(i).bySub })
	t.byClient = newHindex(func(i uint32) *link { return &t.grants.at(i).byCli })
	t.grantExp.pos = func(i uint32) *uint32 { return &t.grants.at(i).hpos }
	t.codeBy = newKeyIndex(func(i uint32) *link { return &t.codes.at(i).byH },
		func(i uint32) []byte { return t.data.view(t.codes.at(i).ref) })
	t.codesOf = newHindex(func(i uint32) *link { return &t.codes.at(i).of })
	t.codeExp.pos = func(i uint32) *uint32 { return &t.codes.at(i).hpos }
	t.tokenBy = newKeyIndex(func(i uint32) *link { return &t.tokens.at(i).byH },
		func(i uint32) []byte { return t.data.view(t.tokens.at(i).ref) })
	t.tokenExp.pos = func(i uint32) *uint32 { return &t.tokens.at(i).hpos }
	t.famBy = newKeyIndex(func(i uint32) *link { return &t.fams.at(i).byID },
		func(i uint32) []byte { return t.data.view(t.fams.at(i).ref) })
	t.famsOf = newHindex(func(i uint32) *link { return &t.fams.at(i).of })
}

// grantStrings returns a grant record's ID, subject and client ID, in
// place.
func grantStrings(view []byte) (id, subject, client []byte) {
	id = strAt(view, recKeyOff)
	off := recKeyOff + 4 + len(id)
	subject = strAt(view, off)
	client = strAt(view, off+4+len(subject))
	return id, subject, client
}

// findCode returns the slot of the code with the hash, or 0.
func (t *grantTable) findCode(h storage.Hash) uint32 {
	return t.codeBy.findHash(t.codeBy.first(t.h.hash(h)), h)
}

// findToken returns the slot of the refresh token with the hash, or 0.
func (t *grantTable) findToken(h storage.Hash) uint32 {
	return t.tokenBy.findHash(t.tokenBy.first(t.h.hash(h)), h)
}

// findGrant returns the slot of the grant with the ID, or 0.
func (t *grantTable) findGrant(id string) uint32 { return t.grantByID.find(t.h.sum(id), id) }

// findFamily returns the slot of the family with the ID, or 0.
func (t *grantTable) findFamily(id string) uint32 { return t.famBy.find(t.h.sum(id), id) }

// grantEnd is when a grant may be purged: its expiry, or for a grant
// without one, its revocation.
func grantEnd(g *grantSlot) ptime {
	if !g.expires.isZero() {
		return g.expires
	}
	return g.revoked
}

// revokedGrant reports whether id names a stored, revoked grant.
func (t *grantTable) revokedGrant(id string) bool {
	i := t.findGrant(id)
	return i != 0 && !t.grants.at(i).revoked.isZero()
}

func (t *grantTable) encodeGrant(g *storage.Grant) []byte {
	e := &t.enc
	e.begin()
	e.str(g.ID)
	e.str(g.Subject)
	e.str(g.ClientID)
	e.strs(g.Scopes)
	e.strs(g.Resources)
	e.time(g.AuthTime)
	e.time(g.CreatedAt)
	e.time(g.ExpiresAt)
	return e.finish()
}

// grantCopy decodes grant slot i into a fresh Grant.
func (t *grantTable) grantCopy(i uint32) *storage.Grant {
	sl := t.grants.at(i)
	g, d := boxed[storage.Grant](t.data.view(sl.ref))
	g.ID = d.str()
	g.Subject = d.str()
	g.ClientID = d.str()
	g.Scopes = d.strs()
	g.Resources = d.strs()
	g.AuthTime = d.time()
	g.CreatedAt = d.time()
	g.ExpiresAt = d.time()
	g.RevokedAt = sl.revoked.time()
	return g
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
	if t.findGrant(g.ID) != 0 {
		return storage.ErrConflict
	}
	t.seq++
	i := t.grants.get()
	sl := t.grants.at(i)
	sl.ref = t.data.put(t.encodeGrant(g))
	sl.idH, sl.subH, sl.cliH = t.h.sum(g.ID), t.h.sum(g.Subject), t.h.sum(g.ClientID)
	sl.seq = t.seq
	sl.created, sl.expires, sl.revoked = packTime(g.CreatedAt), packTime(g.ExpiresAt), packTime(g.RevokedAt)
	t.grantExp.track(i, grantEnd(sl))
	t.grantByID.add(sl.idH, i)
	t.bySubject.add(sl.subH, i)
	t.byClient.add(sl.cliH, i)
	return nil
}

// GetGrant returns a copy of the grant; a revoked one comes with
// ErrRevoked, an expired one with ErrExpired.
func (s *Store) GetGrant(ctx context.Context, id string) (*storage.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.grants
	t.mu.RLock()
	defer t.mu.RUnlock()
	i := t.findGrant(id)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	sl := t.grants.at(i)
	g := t.grantCopy(i)
	switch {
	case !sl.revoked.isZero():
		return g, storage.ErrRevoked
	case sl.expires.expiredAt(now):
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
	pat := packTime(at)
	h := t.h.sum(id)
	t.famsOf.each(h, func(i uint32) {
		f := t.fams.at(i)
		v := t.data.view(f.ref)
		if f.revoked.isZero() && string(strAt(v, recKeyOff+4+len(strAt(v, recKeyOff)))) == id {
			f.revoked = pat
		}
	})
	// Used codes stay: a replay must still be recognised as one.
	t.codesOf.each(h, func(i uint32) {
		c := t.codes.at(i)
		if !c.used && string(strAt(t.data.view(c.ref), recHashEnd)) == id {
			t.dropCode(i)
		}
	})
	i := t.findGrant(id)
	if i == 0 {
		return false
	}
	if sl := t.grants.at(i); sl.revoked.isZero() {
		sl.revoked = pat
		t.grantExp.track(i, grantEnd(sl))
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
	var ids []string
	t.byClient.each(t.h.sum(clientID), func(i uint32) {
		id, _, client := grantStrings(t.data.view(t.grants.at(i).ref))
		if string(client) == clientID {
			ids = append(ids, string(id))
		}
	})
	for _, id := range ids {
		t.revoke(id, at)
	}
	return nil
}

// ListGrants returns copies of the subject's live grants, newest first.
func (s *Store) ListGrants(ctx context.Context, subject string) ([]*storage.Grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.grants
	t.mu.RLock()
	defer t.mu.RUnlock()
	var slots []uint32
	t.bySubject.each(t.h.sum(subject), func(i uint32) {
		sl := t.grants.at(i)
		if !sl.revoked.isZero() || sl.expires.expiredAt(now) {
			return
		}
		if _, sub, _ := grantStrings(t.data.view(sl.ref)); string(sub) == subject {
			slots = append(slots, i)
		}
	})
	slices.SortFunc(slots, func(a, b uint32) int {
		x, y := t.grants.at(a), t.grants.at(b)
		if c := y.created.time().Compare(x.created.time()); c != 0 {
			return c
		}
		return cmp.Compare(y.seq, x.seq)
	})
	out := make([]*storage.Grant, len(slots))
	for k, i := range slots {
		out[k] = t.grantCopy(i)
	}
	return out, nil
}

func (t *grantTable) encodeCode(c *storage.AuthorizationCode) []byte {
	e := &t.enc
	e.begin()
	e.hash(c.Hash)
	e.str(c.GrantID)
	e.str(c.ClientID)
	e.str(c.RedirectURI)
	e.str(c.CodeChallenge)
	e.str(c.CodeChallengeMethod)
	e.str(c.Subject)
	e.strs(c.Scopes)
	e.strs(c.Resources)
	e.str(c.Nonce)
	e.time(c.AuthTime)
	e.time(c.IssuedAt)
	e.time(c.ExpiresAt)
	return e.finish()
}

// codeCopy decodes code slot i into a fresh AuthorizationCode.
func (t *grantTable) codeCopy(i uint32) *storage.AuthorizationCode {
	c, d := boxed[storage.AuthorizationCode](t.data.view(t.codes.at(i).ref))
	c.Hash = d.hash()
	c.GrantID = d.str()
	c.ClientID = d.str()
	c.RedirectURI = d.str()
	c.CodeChallenge = d.str()
	c.CodeChallengeMethod = d.str()
	c.Subject = d.str()
	c.Scopes = d.strs()
	c.Resources = d.strs()
	c.Nonce = d.str()
	c.AuthTime = d.time()
	c.IssuedAt = d.time()
	c.ExpiresAt = d.time()
	return c
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
	if t.findCode(c.Hash) != 0 {
		return storage.ErrConflict
	}
	if t.revokedGrant(c.GrantID) {
		return storage.ErrRevoked
	}
	i := t.codes.get()
	sl := t.codes.at(i)
	sl.ref = t.data.put(t.encodeCode(c))
	sl.key = t.h.hash(c.Hash)
	sl.grH = t.h.sum(c.GrantID)
	sl.exp = packTime(c.ExpiresAt)
	t.codeExp.track(i, sl.exp)
	t.codeBy.add(sl.key, i)
	t.codesOf.add(sl.grH, i)
	return nil
}

// ConsumeCode marks a code used and returns a copy. A used code answers
// ErrAlreadyUsed until it is purged, even after it expires, so a replay is
// recognised as one for as long as possible.
func (s *Store) ConsumeCode(ctx context.Context, hash storage.Hash) (*storage.AuthorizationCode, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.grants
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.findCode(hash)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	sl := t.codes.at(i)
	switch {
	case sl.used:
		return t.codeCopy(i), storage.ErrAlreadyUsed
	case sl.exp.expiredAt(now):
		return t.codeCopy(i), storage.ErrExpired
	}
	sl.used = true
	return t.codeCopy(i), nil
}

// dropCode deletes code slot i and everything that refers to it.
func (t *grantTable) dropCode(i uint32) {
	sl := t.codes.at(i)
	t.codeExp.remove(i)
	t.codeBy.remove(sl.key, i)
	t.codesOf.remove(sl.grH, i)
	t.data.release(sl.ref)
	t.codes.put(i)
}

// encodeToken encodes tok as a member of the family whose ID is fid.
func (t *grantTable) encodeToken(tok *storage.RefreshToken, fid []byte) []byte {
	e := &t.enc
	e.begin()
	e.hash(tok.Hash)
	e.rawStr(fid)
	e.str(tok.GrantID)
	e.str(tok.ClientID)
	e.str(tok.Subject)
	e.strs(tok.Scopes)
	e.strs(tok.Resources)
	e.time(tok.AuthTime)
	e.time(tok.IssuedAt)
	e.time(tok.ExpiresAt)
	e.time(tok.RevokedAt)
	return e.finish()
}

// tokenCopy decodes token slot i into a fresh RefreshToken, with the
// family's revocation folded in.
func (t *grantTable) tokenCopy(i uint32) *storage.RefreshToken {
	sl := t.tokens.at(i)
	c, d := boxed[storage.RefreshToken](t.data.view(sl.ref))
	c.Hash = d.hash()
	c.FamilyID = d.str()
	c.GrantID = d.str()
	c.ClientID = d.str()
	c.Subject = d.str()
	c.Scopes = d.strs()
	c.Resources = d.strs()
	c.AuthTime = d.time()
	c.IssuedAt = d.time()
	c.ExpiresAt = d.time()
	c.RevokedAt = d.time()
	c.RotatedAt = sl.rotated.time()
	if c.RevokedAt.IsZero() {
		c.RevokedAt = t.fams.at(sl.fam).revoked.time()
	}
	return c
}

// addToken stores tok, whose hash key is key, as a member of family slot
// f, whose ID is fid.
func (t *grantTable) addToken(tok *storage.RefreshToken, key uint64, f uint32, fid []byte) {
	i := t.tokens.get()
	sl := t.tokens.at(i)
	sl.ref = t.data.put(t.encodeToken(tok, fid))
	sl.key = key
	sl.fam = f
	sl.exp = packTime(tok.ExpiresAt)
	sl.rotated = packTime(tok.RotatedAt)
	t.tokenExp.track(i, sl.exp)
	t.tokenBy.add(sl.key, i)
	t.fams.at(f).count++
}

// dropToken deletes token slot i, and its family with it if it was the
// last.
func (t *grantTable) dropToken(i uint32) {
	sl := t.tokens.at(i)
	t.tokenExp.remove(i)
	t.tokenBy.remove(sl.key, i)
	t.data.release(sl.ref)
	fi := sl.fam
	t.tokens.put(i)
	f := t.fams.at(fi)
	if f.count--; f.count == 0 {
		t.famBy.remove(f.idH, fi)
		t.famsOf.remove(f.grH, fi)
		t.data.release(f.ref)
		t.fams.put(fi)
	}
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
	if t.findToken(tok.Hash) != 0 {
		return storage.ErrConflict
	}
	if t.findFamily(fid) != 0 {
		return storage.ErrConflict
	}
	if t.revokedGrant(tok.GrantID) {
		return storage.ErrRevoked
	}
	f := t.fams.get()
	fs := t.fams.at(f)
	e := &t.enc
	e.begin()
	e.str(fid)
	e.str(tok.GrantID)
	fs.ref = t.data.put(e.finish())
	fs.idH, fs.grH = t.h.sum(fid), t.h.sum(tok.GrantID)
	t.famBy.add(fs.idH, f)
	t.famsOf.add(fs.grH, f)
	t.addToken(tok, t.h.hash(tok.Hash), f, strAt(t.data.view(fs.ref), recKeyOff))
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
	i := t.findToken(hash)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	c := t.tokenCopy(i)
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
	// Both index probes first, back to back: next's is a miss in a large
	// store, and this way the processor overlaps it with old's.
	nextKey := t.h.hash(next.Hash)
	oldHead, nextHead := t.tokenBy.first(t.h.hash(old)), t.tokenBy.first(nextKey)
	i := t.tokenBy.findHash(oldHead, old)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	sl := t.tokens.at(i)
	// The copy folds the family's revocation into RevokedAt.
	c := t.tokenCopy(i)
	switch {
	case !c.RevokedAt.IsZero():
		return c, storage.ErrRevoked
	case sl.exp.expiredAt(packTime(now)):
		return c, storage.ErrExpired
	case !sl.rotated.isZero() && (grace <= 0 || now.Sub(sl.rotated.time()) >= grace):
		return c, storage.ErrAlreadyUsed
	}
	if t.tokenBy.findHash(nextHead, next.Hash) != 0 {
		return nil, storage.ErrConflict
	}
	if sl.rotated.isZero() {
		sl.rotated = packTime(now)
		c.RotatedAt = sl.rotated.time()
	}
	// The family ID is read in place from old's record, which stays put
	// while next is written.
	t.addToken(next, nextKey, sl.fam, strAt(t.data.view(sl.ref), recHashEnd))
	next.FamilyID = c.FamilyID
	return c, nil
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
	if f := t.findFamily(familyID); f != 0 {
		if fs := t.fams.at(f); fs.revoked.isZero() {
			fs.revoked = packTime(at)
		}
	}
	return nil
}

// purge deletes up to limit expired tokens, codes and grants.
func (t *grantTable) purge(now time.Time, limit int) int {
	pnow := packTime(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := t.tokenExp.purge(pnow, limit, t.dropToken)
	n += t.codeExp.purge(pnow, limit-n, t.dropCode)
	n += t.grantExp.purge(pnow, limit-n, func(i uint32) {
		sl := t.grants.at(i)
		t.grantByID.remove(sl.idH, i)
		t.bySubject.remove(sl.subH, i)
		t.byClient.remove(sl.cliH, i)
		t.data.release(sl.ref)
		t.grants.put(i)
	})
	return n
}

// counts adds how many entries each of the table's structures holds to m,
// under a name per structure, for tests that check a purge leaves nothing.
func (t *grantTable) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m["grants"] += t.grants.inUse
	m["grant IDs"] += t.grantByID.len()
	m["bySubject"] += t.bySubject.len()
	m["byClient"] += t.byClient.len()
	m["grant heap"] += t.grantExp.len()
	m["codes"] += t.codeBy.len()
	m["code slots"] += t.codes.inUse
	m["codesOf"] += t.codesOf.len()
	m["code heap"] += t.codeExp.len()
	m["tokens"] += t.tokenBy.len()
	m["token slots"] += t.tokens.inUse
	m["token heap"] += t.tokenExp.len()
	m["families"] += t.fams.inUse
	m["family IDs"] += t.famBy.len()
	m["famsOf"] += t.famsOf.len()
	m["grant arena bytes"] += t.data.live
}
