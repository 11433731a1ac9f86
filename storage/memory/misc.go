package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nqrust/identity/storage"
)

// The tables here keep their records as layout.go describes: encoded in
// an arena, with a pointer-free slot per record. A record's key is its
// first encoded field, so that a hash chain is walked by comparing keys in
// place, without decoding. What changes after a record is written, and
// its expiry, which every read checks, live in its slot and are left out
// of the encoding: an update never re-encodes, and no field is kept twice.
//
// Reads hold only the read lock, so they never touch a table's encoder,
// which writers share; they decode, which copies.

// requestTable keeps parked authorization requests.
type requestTable struct {
	mu    locker
	slots pool[requestSlot]
	arena arena
	enc   encoder
	hash  hasher
	ids   hindex
	exp   slotHeap
}

// requestSlot is a parked request. The record holds every field but
// ExpiresAt, ID first.
type requestSlot struct {
	ref  aref
	h    uint64 // hash of the ID
	link link
	exp  ptime
	pos  uint32
}

func (t *requestTable) init() {
	t.hash = newHasher()
	t.ids = newKeyIndex(func(i uint32) *link { return &t.slots.at(i).link },
		func(i uint32) []byte { return t.arena.view(t.slots.at(i).ref) })
	t.exp = slotHeap{pos: func(i uint32) *uint32 { return &t.slots.at(i).pos }}
}

func (t *requestTable) sum(id string) uint64 { return t.hash.sum(id) }

// find returns the slot of the request id, or 0.
func (t *requestTable) find(h uint64, id string) uint32 { return t.ids.find(h, id) }

func (t *requestTable) encode(r *storage.AuthorizationRequest) []byte {
	e := &t.enc
	e.begin()
	e.str(r.ID)
	e.str(r.ClientID)
	e.str(r.RedirectURI)
	e.str(r.State)
	e.strs(r.Scopes)
	e.strs(r.Resources)
	e.str(r.CodeChallenge)
	e.str(r.CodeChallengeMethod)
	e.str(r.Nonce)
	e.str(r.Prompt)
	e.time(r.CreatedAt)
	return e.finish()
}

// load decodes a fresh copy of the request in slot i.
func (t *requestTable) load(i uint32) *storage.AuthorizationRequest {
	s := t.slots.at(i)
	r, d := boxed[storage.AuthorizationRequest](t.arena.view(s.ref))
	r.ID = d.str()
	r.ClientID = d.str()
	r.RedirectURI = d.str()
	r.State = d.str()
	r.Scopes = d.strs()
	r.Resources = d.strs()
	r.CodeChallenge = d.str()
	r.CodeChallengeMethod = d.str()
	r.Nonce = d.str()
	r.Prompt = d.str()
	r.CreatedAt = d.time()
	r.ExpiresAt = s.exp.time()
	return r
}

// drop deletes the request in slot i.
func (t *requestTable) drop(i uint32) {
	s := t.slots.at(i)
	t.ids.remove(s.h, i)
	t.exp.remove(i)
	t.arena.release(s.ref)
	t.slots.put(i)
}

// SaveAuthorizationRequest parks a request. An expired request keeps its
// ID until it is purged.
func (s *Store) SaveAuthorizationRequest(ctx context.Context, r *storage.AuthorizationRequest) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if r == nil {
		return errNil
	}
	t := &s.requests
	h := t.sum(r.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.find(h, r.ID) != 0 {
		return storage.ErrConflict
	}
	i := t.slots.get()
	slot := t.slots.at(i)
	slot.ref = t.arena.put(t.encode(r))
	slot.h = h
	slot.exp = packTime(r.ExpiresAt)
	t.ids.add(h, i)
	t.exp.track(i, slot.exp)
	return nil
}

// GetAuthorizationRequest returns a copy of a parked request; an expired
// one comes with ErrExpired.
func (s *Store) GetAuthorizationRequest(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.requests
	h := t.sum(id)
	t.mu.RLock()
	defer t.mu.RUnlock()
	i := t.find(h, id)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	r := t.load(i)
	if t.slots.at(i).exp.expiredAt(now) {
		return r, storage.ErrExpired
	}
	return r, nil
}

// ConsumeAuthorizationRequest removes and returns a parked request; later
// callers get ErrNotFound. An expired request is returned with ErrExpired
// and left for the purge.
func (s *Store) ConsumeAuthorizationRequest(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.requests
	h := t.sum(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(h, id)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	r := t.load(i)
	if t.slots.at(i).exp.expiredAt(now) {
		return r, storage.ErrExpired
	}
	t.drop(i)
	return r, nil
}

func (t *requestTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exp.purge(packTime(now), limit, t.drop)
}

// counts adds the table's bookkeeping sizes to m, for tests that check a
// purge leaves nothing behind.
func (t *requestTable) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m["requests"] += t.ids.len()
	m["request heap"] += t.exp.len()
	m["request slots"] += t.slots.inUse
	m["request arena bytes"] += t.arena.live
}

// keyTable keeps signing keys. There are only ever a handful, so listing
// sorts them on the fly.
type keyTable struct {
	mu    locker
	slots pool[keySlot]
	arena arena
	enc   encoder
	hash  hasher
	ids   hindex
	exp   slotHeap
	seq   uint64
}

// keySlot is a signing key. RetiredAt and ExpiresAt change when the key is
// retired, so they live here; the record holds the other fields, ID
// first.
type keySlot struct {
	ref     aref
	h       uint64 // hash of the ID
	link    link
	seq     uint64 // insertion order, to break CreatedAt ties
	retired ptime
	exp     ptime
	pos     uint32
}

func (t *keyTable) init() {
	t.hash = newHasher()
	t.ids = newKeyIndex(func(i uint32) *link { return &t.slots.at(i).link },
		func(i uint32) []byte { return t.arena.view(t.slots.at(i).ref) })
	t.exp = slotHeap{pos: func(i uint32) *uint32 { return &t.slots.at(i).pos }}
}

func (t *keyTable) sum(id string) uint64 { return t.hash.sum(id) }

// find returns the slot of the key id, or 0.
func (t *keyTable) find(h uint64, id string) uint32 { return t.ids.find(h, id) }

func (t *keyTable) encode(k *storage.SigningKey) []byte {
	e := &t.enc
	e.begin()
	e.str(k.ID)
	e.str(k.Algorithm)
	e.bytes(k.Private)
	e.time(k.CreatedAt)
	e.time(k.NotBefore)
	return e.finish()
}

// load decodes a fresh copy of the key in slot i.
func (t *keyTable) load(i uint32) *storage.SigningKey {
	s := t.slots.at(i)
	d := decode(t.arena.view(s.ref), nil)
	return &storage.SigningKey{
		ID:        d.str(),
		Algorithm: d.str(),
		Private:   d.bytes(),
		CreatedAt: d.time(),
		NotBefore: d.time(),
		RetiredAt: s.retired.time(),
		ExpiresAt: s.exp.time(),
	}
}

func (t *keyTable) drop(i uint32) {
	s := t.slots.at(i)
	t.ids.remove(s.h, i)
	t.exp.remove(i)
	t.arena.release(s.ref)
	t.slots.put(i)
}

// AddKey stores a signing key.
func (s *Store) AddKey(ctx context.Context, k *storage.SigningKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k == nil {
		return errNil
	}
	t := &s.keys
	h := t.sum(k.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.find(h, k.ID) != 0 {
		return storage.ErrConflict
	}
	t.seq++
	i := t.slots.get()
	slot := t.slots.at(i)
	slot.ref = t.arena.put(t.encode(k))
	slot.h = h
	slot.seq = t.seq
	slot.retired = packTime(k.RetiredAt)
	slot.exp = packTime(k.ExpiresAt)
	t.ids.add(h, i)
	t.exp.track(i, slot.exp)
	return nil
}

// ListKeys returns copies of the unexpired keys, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.keys
	type entry struct {
		k   *storage.SigningKey
		seq uint64
	}
	t.mu.RLock()
	keys := make([]entry, 0, t.slots.inUse)
	for _, head := range t.ids.heads {
		for i := head; i != 0; i = t.ids.next(i) {
			if slot := t.slots.at(i); !slot.exp.expiredAt(now) {
				keys = append(keys, entry{t.load(i), slot.seq})
			}
		}
	}
	t.mu.RUnlock()
	slices.SortFunc(keys, func(a, b entry) int {
		if c := a.k.CreatedAt.Compare(b.k.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]*storage.SigningKey, len(keys))
	for i, e := range keys {
		out[i] = e.k
	}
	return out, nil
}

// RetireKey sets when a key stopped signing and when it stops being
// published.
func (s *Store) RetireKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.keys
	h := t.sum(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(h, id)
	if i == 0 {
		return storage.ErrNotFound
	}
	slot := t.slots.at(i)
	slot.retired = packTime(retiredAt)
	slot.exp = packTime(expiresAt)
	t.exp.track(i, slot.exp)
	return nil
}

func (t *keyTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exp.purge(packTime(now), limit, t.drop)
}

// counts adds the table's bookkeeping sizes to m, for tests that check a
// purge leaves nothing behind.
func (t *keyTable) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m["keys"] += t.ids.len()
	m["key heap"] += t.exp.len()
	m["key slots"] += t.slots.inUse
	m["key arena bytes"] += t.arena.live
}

// iatTable keeps initial access tokens. Their key is a hash already, so
// the map files slots by it directly.
type iatTable struct {
	mu     locker
	slots  pool[iatSlot]
	arena  arena
	enc    encoder
	byHash map[storage.Hash]uint32
	exp    slotHeap
}

// iatSlot is an initial access token. RemainingUses goes down with every
// use, so it lives here; the record holds the other fields, Hash first.
type iatSlot struct {
	ref  aref
	uses int64
	exp  ptime
	pos  uint32
}

func (t *iatTable) init() {
	t.byHash = make(map[storage.Hash]uint32)
	t.exp = slotHeap{pos: func(i uint32) *uint32 { return &t.slots.at(i).pos }}
}

func (t *iatTable) encode(tok *storage.InitialAccessToken) []byte {
	e := &t.enc
	e.begin()
	e.hash(tok.Hash)
	e.str(tok.Policy)
	e.time(tok.CreatedAt)
	return e.finish()
}

// load decodes a fresh copy of the token in slot i.
func (t *iatTable) load(i uint32) *storage.InitialAccessToken {
	s := t.slots.at(i)
	d := decode(t.arena.view(s.ref), nil)
	return &storage.InitialAccessToken{
		Hash:          d.hash(),
		Policy:        d.str(),
		CreatedAt:     d.time(),
		ExpiresAt:     s.exp.time(),
		RemainingUses: int(s.uses),
	}
}

func (t *iatTable) drop(i uint32) {
	s := t.slots.at(i)
	delete(t.byHash, hashAt(t.arena.view(s.ref)))
	t.exp.remove(i)
	t.arena.release(s.ref)
	t.slots.put(i)
}

// SaveInitialAccessToken stores an initial access token.
func (s *Store) SaveInitialAccessToken(ctx context.Context, tok *storage.InitialAccessToken) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if tok == nil {
		return errNil
	}
	t := &s.iats
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byHash[tok.Hash]; ok {
		return storage.ErrConflict
	}
	i := t.slots.get()
	slot := t.slots.at(i)
	slot.ref = t.arena.put(t.encode(tok))
	slot.uses = int64(tok.RemainingUses)
	slot.exp = packTime(tok.ExpiresAt)
	t.byHash[tok.Hash] = i
	t.exp.track(i, slot.exp)
	return nil
}

// UseInitialAccessToken spends one use and returns the token as it was
// before. An expired or spent token is returned with ErrExpired or
// ErrAlreadyUsed and left unchanged.
func (s *Store) UseInitialAccessToken(ctx context.Context, hash storage.Hash) (*storage.InitialAccessToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.iats
	t.mu.Lock()
	defer t.mu.Unlock()
	i, ok := t.byHash[hash]
	if !ok {
		return nil, storage.ErrNotFound
	}
	before := t.load(i)
	slot := t.slots.at(i)
	switch {
	case slot.exp.expiredAt(now):
		return before, storage.ErrExpired
	case slot.uses <= 0:
		return before, storage.ErrAlreadyUsed
	}
	slot.uses--
	return before, nil
}

func (t *iatTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exp.purge(packTime(now), limit, t.drop)
}

// counts adds the table's bookkeeping sizes to m, for tests that check a
// purge leaves nothing behind.
func (t *iatTable) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m["iats"] += len(t.byHash)
	m["iat heap"] += t.exp.len()
	m["iat slots"] += t.slots.inUse
	m["iat arena bytes"] += t.arena.live
}

// consentTable keeps remembered consent. The key is a pair of strings,
// hashed with the first one's length and compared field by field, so no
// subject or client ID can collide with another pair.
type consentTable struct {
	mu    locker
	slots pool[consentSlot]
	arena arena
	enc   encoder
	hash  hasher
	by    hindex
	exp   slotHeap
}

// consentSlot is a consent decision. A new decision for the same pair
// replaces the record; the record holds every field but ExpiresAt,
// Subject and ClientID first.
type consentSlot struct {
	ref  aref
	h    uint64 // hash of (Subject, ClientID)
	link link
	exp  ptime
	pos  uint32
}

func (t *consentTable) init() {
	t.hash = newHasher()
	t.by = newHindex(func(i uint32) *link { return &t.slots.at(i).link })
	t.exp = slotHeap{pos: func(i uint32) *uint32 { return &t.slots.at(i).pos }}
}

func (t *consentTable) sum(subject, clientID string) uint64 {
	return t.hash.sum2(subject, clientID)
}

// find returns the slot of the decision for (subject, clientID), or 0.
func (t *consentTable) find(h uint64, subject, clientID string) uint32 {
	for i := t.by.first(h); i != 0; i = t.by.next(i) {
		view := t.arena.view(t.slots.at(i).ref)
		sub := strAt(view, recKeyOff)
		if string(sub) != subject {
			continue
		}
		if string(strAt(view, recKeyOff+4+len(sub))) == clientID {
			return i
		}
	}
	return 0
}

func (t *consentTable) encode(c *storage.Consent) []byte {
	e := &t.enc
	e.begin()
	e.str(c.Subject)
	e.str(c.ClientID)
	e.strs(c.Scopes)
	e.strs(c.Resources)
	e.time(c.CreatedAt)
	return e.finish()
}

// load decodes a fresh copy of the decision in slot i.
func (t *consentTable) load(i uint32) *storage.Consent {
	s := t.slots.at(i)
	c, d := boxed[storage.Consent](t.arena.view(s.ref))
	c.Subject = d.str()
	c.ClientID = d.str()
	c.Scopes = d.strs()
	c.Resources = d.strs()
	c.CreatedAt = d.time()
	c.ExpiresAt = s.exp.time()
	return c
}

func (t *consentTable) drop(i uint32) {
	s := t.slots.at(i)
	t.by.remove(s.h, i)
	t.exp.remove(i)
	t.arena.release(s.ref)
	t.slots.put(i)
}

// SaveConsent stores or replaces the decision for (subject, client).
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	t := &s.consents
	h := t.sum(c.Subject, c.ClientID)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(h, c.Subject, c.ClientID)
	if i == 0 {
		i = t.slots.get()
		t.slots.at(i).h = h
		t.by.add(h, i)
	} else {
		t.arena.release(t.slots.at(i).ref)
	}
	slot := t.slots.at(i)
	slot.ref = t.arena.put(t.encode(c))
	slot.exp = packTime(c.ExpiresAt)
	t.exp.track(i, slot.exp)
	return nil
}

// GetConsent returns a copy of the decision; an expired one comes with
// ErrExpired.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (*storage.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.consents
	h := t.sum(subject, clientID)
	t.mu.RLock()
	defer t.mu.RUnlock()
	i := t.find(h, subject, clientID)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	c := t.load(i)
	if t.slots.at(i).exp.expiredAt(now) {
		return c, storage.ErrExpired
	}
	return c, nil
}

// RevokeConsent forgets the decision.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.consents
	h := t.sum(subject, clientID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.find(h, subject, clientID); i != 0 {
		t.drop(i)
	}
	return nil
}

func (t *consentTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exp.purge(packTime(now), limit, t.drop)
}

// counts adds the table's bookkeeping sizes to m, for tests that check a
// purge leaves nothing behind.
func (t *consentTable) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m["consents"] += t.by.len()
	m["consent heap"] += t.exp.len()
	m["consent slots"] += t.slots.inUse
	m["consent arena bytes"] += t.arena.live
}

// jtiTable remembers reserved single-use identifiers.
type jtiTable struct {
	mu    locker
	slots pool[jtiSlot]
	arena arena
	enc   encoder
	hash  hasher
	by    hindex
	exp   slotHeap
}

// jtiSlot is a reserved identifier; the record holds just the key.
type jtiSlot struct {
	ref   aref
	h     uint64 // hash of the key
	link  link
	until ptime
	pos   uint32
}

func (t *jtiTable) init() {
	t.hash = newHasher()
	t.by = newKeyIndex(func(i uint32) *link { return &t.slots.at(i).link },
		func(i uint32) []byte { return t.arena.view(t.slots.at(i).ref) })
	t.exp = slotHeap{pos: func(i uint32) *uint32 { return &t.slots.at(i).pos }}
}

func (t *jtiTable) sum(key string) uint64 { return t.hash.sum(key) }

// find returns the slot of key, or 0.
func (t *jtiTable) find(h uint64, key string) uint32 { return t.by.find(h, key) }

func (t *jtiTable) drop(i uint32) {
	s := t.slots.at(i)
	t.by.remove(s.h, i)
	t.exp.remove(i)
	t.arena.release(s.ref)
	t.slots.put(i)
}

// ReserveJTI records key until expiresAt; a key recorded and unexpired
// gives ErrAlreadyUsed. A zero expiresAt records the key for good.
func (s *Store) ReserveJTI(ctx context.Context, key string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := packTime(s.now())
	t := &s.jtis
	h := t.sum(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.find(h, key)
	if i != 0 && !t.slots.at(i).until.expiredAt(now) {
		return storage.ErrAlreadyUsed
	}
	if i == 0 {
		i = t.slots.get()
		e := &t.enc
		e.begin()
		e.str(key)
		t.slots.at(i).ref = t.arena.put(e.finish())
		t.slots.at(i).h = h
		t.by.add(h, i)
	}
	slot := t.slots.at(i)
	slot.until = packTime(expiresAt)
	t.exp.track(i, slot.until)
	return nil
}

func (t *jtiTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exp.purge(packTime(now), limit, t.drop)
}

// counts adds the table's bookkeeping sizes to m, for tests that check a
// purge leaves nothing behind.
func (t *jtiTable) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m["jtis"] += t.by.len()
	m["jti heap"] += t.exp.len()
	m["jti slots"] += t.slots.inUse
	m["jti arena bytes"] += t.arena.live
}
