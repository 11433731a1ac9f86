package memory

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/nqrust/identity/storage"
)

// requestTable keeps parked authorization requests.
type requestTable struct {
	mu   locker
	byID map[string]*requestRec
	exp  timeHeap[string]
}

type requestRec struct {
	r   storage.AuthorizationRequest
	exp expiry[string]
}

func (t *requestTable) init() { t.byID = make(map[string]*requestRec) }

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
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byID[r.ID]; ok {
		return storage.ErrConflict
	}
	rec := &requestRec{r: *r}
	ownRequest(&rec.r)
	track(&t.exp, &rec.exp, r.ExpiresAt, r.ID)
	t.byID[r.ID] = rec
	return nil
}

// GetAuthorizationRequest returns a copy of a parked request; an expired
// one comes with ErrExpired.
func (s *Store) GetAuthorizationRequest(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.requests
	t.mu.RLock()
	defer t.mu.RUnlock()
	rec, ok := t.byID[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	r := cloneAuthorizationRequest(&rec.r)
	if expired(r.ExpiresAt, now) {
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
	now := s.now()
	t := &s.requests
	t.mu.Lock()
	defer t.mu.Unlock()
	rec, ok := t.byID[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	if expired(rec.r.ExpiresAt, now) {
		return cloneAuthorizationRequest(&rec.r), storage.ErrExpired
	}
	untrack(&t.exp, &rec.exp)
	delete(t.byID, id)
	// The record is unreachable now, so it can be handed out as is.
	return &rec.r, nil
}

func (t *requestTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return purgeHeap(&t.exp, now, limit, func(k string) { delete(t.byID, k) })
}

// keyTable keeps signing keys. There are only ever a handful, so listing
// sorts them on the fly.
type keyTable struct {
	mu   locker
	byID map[string]*keyRec
	exp  timeHeap[string]
	seq  uint64
}

type keyRec struct {
	k   storage.SigningKey
	seq uint64 // insertion order, to break CreatedAt ties
	exp expiry[string]
}

func (t *keyTable) init() { t.byID = make(map[string]*keyRec) }

// AddKey stores a signing key.
func (s *Store) AddKey(ctx context.Context, k *storage.SigningKey) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if k == nil {
		return errNil
	}
	t := &s.keys
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byID[k.ID]; ok {
		return storage.ErrConflict
	}
	t.seq++
	rec := &keyRec{k: *k, seq: t.seq}
	ownKey(&rec.k)
	track(&t.exp, &rec.exp, k.ExpiresAt, k.ID)
	t.byID[k.ID] = rec
	return nil
}

// ListKeys returns copies of the unexpired keys, oldest first.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.keys
	t.mu.RLock()
	recs := make([]*keyRec, 0, len(t.byID))
	for _, r := range t.byID {
		if !expired(r.k.ExpiresAt, now) {
			recs = append(recs, r)
		}
	}
	slices.SortFunc(recs, func(a, b *keyRec) int {
		if c := a.k.CreatedAt.Compare(b.k.CreatedAt); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	out := make([]*storage.SigningKey, len(recs))
	for i, r := range recs {
		out[i] = cloneKey(&r.k)
	}
	t.mu.RUnlock()
	return out, nil
}

// RetireKey sets when a key stopped signing and when it stops being
// published.
func (s *Store) RetireKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.keys
	t.mu.Lock()
	defer t.mu.Unlock()
	rec, ok := t.byID[id]
	if !ok {
		return storage.ErrNotFound
	}
	rec.k.RetiredAt = retiredAt
	rec.k.ExpiresAt = expiresAt
	track(&t.exp, &rec.exp, expiresAt, id)
	return nil
}

func (t *keyTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return purgeHeap(&t.exp, now, limit, func(k string) { delete(t.byID, k) })
}

// iatTable keeps initial access tokens.
type iatTable struct {
	mu     locker
	byHash map[storage.Hash]*iatRec
	exp    timeHeap[storage.Hash]
}

type iatRec struct {
	t   storage.InitialAccessToken
	exp expiry[storage.Hash]
}

func (t *iatTable) init() { t.byHash = make(map[storage.Hash]*iatRec) }

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
	rec := &iatRec{t: *tok}
	track(&t.exp, &rec.exp, tok.ExpiresAt, tok.Hash)
	t.byHash[tok.Hash] = rec
	return nil
}

// UseInitialAccessToken spends one use and returns the token as it was
// before. An expired or spent token is returned with ErrExpired or
// ErrAlreadyUsed and left unchanged.
func (s *Store) UseInitialAccessToken(ctx context.Context, hash storage.Hash) (*storage.InitialAccessToken, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.iats
	t.mu.Lock()
	defer t.mu.Unlock()
	rec, ok := t.byHash[hash]
	if !ok {
		return nil, storage.ErrNotFound
	}
	before := rec.t
	switch {
	case expired(rec.t.ExpiresAt, now):
		return &before, storage.ErrExpired
	case rec.t.RemainingUses <= 0:
		return &before, storage.ErrAlreadyUsed
	}
	rec.t.RemainingUses--
	return &before, nil
}

func (t *iatTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return purgeHeap(&t.exp, now, limit, func(k storage.Hash) { delete(t.byHash, k) })
}

// consentTable keeps remembered consent. The key is a struct, not a joined
// string, so no subject or client ID can collide with another pair.
type consentTable struct {
	mu  locker
	by  map[consentKey]*consentRec
	exp timeHeap[consentKey]
}

type consentKey struct{ subject, clientID string }

type consentRec struct {
	c   storage.Consent
	exp expiry[consentKey]
}

func (t *consentTable) init() { t.by = make(map[consentKey]*consentRec) }

// SaveConsent stores or replaces the decision for (subject, client).
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	k := consentKey{c.Subject, c.ClientID}
	t := &s.consents
	t.mu.Lock()
	defer t.mu.Unlock()
	rec, ok := t.by[k]
	if !ok {
		rec = &consentRec{}
		t.by[k] = rec
	}
	rec.c = *c
	ownConsent(&rec.c)
	track(&t.exp, &rec.exp, c.ExpiresAt, k)
	return nil
}

// GetConsent returns a copy of the decision; an expired one comes with
// ErrExpired.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (*storage.Consent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.consents
	t.mu.RLock()
	defer t.mu.RUnlock()
	rec, ok := t.by[consentKey{subject, clientID}]
	if !ok {
		return nil, storage.ErrNotFound
	}
	c := cloneConsent(&rec.c)
	if expired(c.ExpiresAt, now) {
		return c, storage.ErrExpired
	}
	return c, nil
}

// RevokeConsent forgets the decision.
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	k := consentKey{subject, clientID}
	t := &s.consents
	t.mu.Lock()
	defer t.mu.Unlock()
	if rec, ok := t.by[k]; ok {
		untrack(&t.exp, &rec.exp)
		delete(t.by, k)
	}
	return nil
}

func (t *consentTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return purgeHeap(&t.exp, now, limit, func(k consentKey) { delete(t.by, k) })
}

// jtiTable remembers reserved single-use identifiers.
type jtiTable struct {
	mu  locker
	by  map[string]*jtiRec
	exp timeHeap[string]
}

type jtiRec struct {
	until time.Time
	exp   expiry[string]
}

func (t *jtiTable) init() { t.by = make(map[string]*jtiRec) }

// ReserveJTI records key until expiresAt; a key recorded and unexpired
// gives ErrAlreadyUsed. A zero expiresAt records the key for good.
func (s *Store) ReserveJTI(ctx context.Context, key string, expiresAt time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	now := s.now()
	t := &s.jtis
	t.mu.Lock()
	defer t.mu.Unlock()
	rec, ok := t.by[key]
	if ok && !expired(rec.until, now) {
		return storage.ErrAlreadyUsed
	}
	if !ok {
		rec = &jtiRec{}
		t.by[key] = rec
	}
	rec.until = expiresAt
	track(&t.exp, &rec.exp, expiresAt, key)
	return nil
}

func (t *jtiTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return purgeHeap(&t.exp, now, limit, func(k string) { delete(t.by, k) })
}
