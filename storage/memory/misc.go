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

// slotBase is what every slot of these tables holds: its record, the hash
// of its key and its place in the key index, and its expiry and place in
// the expiry heap.
type slotBase struct {
	ref  aref
	h    uint64 // hash of the key
	link link
	exp  ptime
	pos  uint32
}

func (b *slotBase) base() *slotBase { return b }

// keyedSlot is a slot type that embeds slotBase.
type keyedSlot[S any] interface {
	*S
	base() *slotBase
}

// keyed is what the tables of this file share: pointer-free slots of type
// S with their records in an arena, an index by the hash of each record's
// key, and an expiry heap. Each table adds how its key is found and how
// its records are encoded.
type keyed[S any, P keyedSlot[S]] struct {
	mu    locker
	slots pool[S]
	arena arena
	enc   encoder
	hash  hasher
	ids   hindex
	exp   slotHeap
	// names, index heads first, under which counts reports
	names [4]string
}

// slot returns the shared part of slot i.
func (t *keyed[S, P]) slot(i uint32) *slotBase { return P(t.slots.at(i)).base() }

// setup prepares the table. keyIndex says whether every record starts
// with the single key the index finds it by (ids.find, ids.findHash); a
// table whose key is several fields walks the index itself. plural and
// one name the table in counts.
func (t *keyed[S, P]) setup(keyIndex bool, plural, one string) {
	t.hash = newHasher()
	link := func(i uint32) *link { return &t.slot(i).link }
	if keyIndex {
		t.ids = newKeyIndex(link, func(i uint32) []byte { return t.arena.view(t.slot(i).ref) })
	} else {
		t.ids = newHindex(link)
	}
	t.exp = slotHeap{pos: func(i uint32) *uint32 { return &t.slot(i).pos }}
	t.names = [4]string{plural, one + " heap", one + " slots", one + " arena bytes"}
}

// insert stores the encoded record rec in a new slot filed under the key
// hash h, expiring at exp, and returns the slot.
func (t *keyed[S, P]) insert(h uint64, rec []byte, exp ptime) uint32 {
	i := t.slots.get()
	b := t.slot(i)
	b.ref = t.arena.put(rec)
	b.h = h
	b.exp = exp
	t.ids.add(h, i)
	t.exp.track(i, exp)
	return i
}

// setExpiry moves slot i's expiry.
func (t *keyed[S, P]) setExpiry(i uint32, exp ptime) {
	t.slot(i).exp = exp
	t.exp.track(i, exp)
}

// drop deletes slot i and its record.
func (t *keyed[S, P]) drop(i uint32) {
	b := t.slot(i)
	t.ids.remove(b.h, i)
	t.exp.remove(i)
	t.arena.release(b.ref)
	t.slots.put(i)
}

// purge deletes up to limit records expired at now.
func (t *keyed[S, P]) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.exp.purge(packTime(now), limit, t.drop)
}

// counts adds the table's bookkeeping sizes to m, for tests that check a
// purge leaves nothing behind.
func (t *keyed[S, P]) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m[t.names[0]] += t.ids.len()
	m[t.names[1]] += t.exp.len()
	m[t.names[2]] += t.slots.inUse
	m[t.names[3]] += t.arena.live
}

// requestTable keeps parked authorization requests.
type requestTable struct {
	keyed[requestSlot, *requestSlot]
}

// requestSlot is a parked request. The record holds every field but
// ExpiresAt, ID first.
type requestSlot struct{ slotBase }

func (t *requestTable) init() { t.setup(true, "requests", "request") }

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
	h := t.hash.sum(r.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids.find(h, r.ID) != 0 {
		return storage.ErrConflict
	}
	t.insert(h, t.encode(r), packTime(r.ExpiresAt))
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
	h := t.hash.sum(id)
	t.mu.RLock()
	defer t.mu.RUnlock()
	i := t.ids.find(h, id)
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
	h := t.hash.sum(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.ids.find(h, id)
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

// keyTable keeps signing keys. There are only ever a handful, so listing
// sorts them on the fly.
type keyTable struct {
	keyed[keySlot, *keySlot]
	seq uint64
}

// keySlot is a signing key. RetiredAt and ExpiresAt change when the key is
// retired, so they live here; the record holds the other fields, ID
// first.
type keySlot struct {
	slotBase
	seq     uint64 // insertion order, to break CreatedAt ties
	retired ptime
}

func (t *keyTable) init() { t.setup(true, "keys", "key") }

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

// AddKey stores a signing key.
func (s *Store) AddKey(ctx context.Context, k *storage.SigningKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k == nil {
		return errNil
	}
	t := &s.keys
	h := t.hash.sum(k.ID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ids.find(h, k.ID) != 0 {
		return storage.ErrConflict
	}
	t.seq++
	slot := t.slots.at(t.insert(h, t.encode(k), packTime(k.ExpiresAt)))
	slot.seq = t.seq
	slot.retired = packTime(k.RetiredAt)
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
	h := t.hash.sum(id)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.ids.find(h, id)
	if i == 0 {
		return storage.ErrNotFound
	}
	t.slots.at(i).retired = packTime(retiredAt)
	t.setExpiry(i, packTime(expiresAt))
	return nil
}

// iatTable keeps initial access tokens, found by their hash.
type iatTable struct {
	keyed[iatSlot, *iatSlot]
}

// iatSlot is an initial access token. RemainingUses goes down with every
// use, so it lives here; the record holds the other fields, Hash first.
type iatSlot struct {
	slotBase
	uses int64
}

func (t *iatTable) init() { t.setup(true, "iats", "iat") }

// find returns the slot of the token with the hash, or 0.
func (t *iatTable) find(h storage.Hash) uint32 { return t.ids.findHash(t.ids.first(t.hash.hash(h)), h) }

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
	if t.find(tok.Hash) != 0 {
		return storage.ErrConflict
	}
	i := t.insert(t.hash.hash(tok.Hash), t.encode(tok), packTime(tok.ExpiresAt))
	t.slots.at(i).uses = int64(tok.RemainingUses)
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
	i := t.find(hash)
	if i == 0 {
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

// consentTable keeps remembered consent. The key is a pair of strings,
// hashed with the first one's length and compared field by field, so no
// subject or client ID can collide with another pair.
type consentTable struct {
	keyed[consentSlot, *consentSlot]
}

// consentSlot is a consent decision. A new decision for the same pair
// replaces the record; the record holds every field but ExpiresAt,
// Subject and ClientID first.
type consentSlot struct{ slotBase }

func (t *consentTable) init() { t.setup(false, "consents", "consent") }

// find returns the slot of the decision for (subject, clientID), or 0.
func (t *consentTable) find(h uint64, subject, clientID string) uint32 {
	for i := t.ids.first(h); i != 0; i = t.ids.next(i) {
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

// SaveConsent stores or replaces the decision for (subject, client).
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	t := &s.consents
	h := t.hash.sum2(c.Subject, c.ClientID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.find(h, c.Subject, c.ClientID); i != 0 {
		slot := t.slots.at(i)
		t.arena.release(slot.ref)
		slot.ref = t.arena.put(t.encode(c))
		t.setExpiry(i, packTime(c.ExpiresAt))
		return nil
	}
	t.insert(h, t.encode(c), packTime(c.ExpiresAt))
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
	h := t.hash.sum2(subject, clientID)
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
	h := t.hash.sum2(subject, clientID)
	t.mu.Lock()
	defer t.mu.Unlock()
	if i := t.find(h, subject, clientID); i != 0 {
		t.drop(i)
	}
	return nil
}

// jtiTable remembers reserved single-use identifiers.
type jtiTable struct {
	keyed[jtiSlot, *jtiSlot]
}

// jtiSlot is a reserved identifier, kept until its expiry; the record
// holds just the key.
type jtiSlot struct{ slotBase }

func (t *jtiTable) init() { t.setup(true, "jtis", "jti") }

// ReserveJTI records key until expiresAt; a key recorded and unexpired
// gives ErrAlreadyUsed. A zero expiresAt records the key for good.
func (s *Store) ReserveJTI(ctx context.Context, key string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := packTime(s.now())
	t := &s.jtis
	h := t.hash.sum(key)
	t.mu.Lock()
	defer t.mu.Unlock()
	i := t.ids.find(h, key)
	switch {
	case i != 0 && !t.slots.at(i).exp.expiredAt(now):
		return storage.ErrAlreadyUsed
	case i != 0:
		t.setExpiry(i, packTime(expiresAt))
	default:
		e := &t.enc
		e.begin()
		e.str(key)
		t.insert(h, e.finish(), packTime(expiresAt))
	}
	return nil
}
