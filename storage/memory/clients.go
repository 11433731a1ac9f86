package memory

import (
	"context"
	"time"

	"github.com/nqrust/identity/storage"
)

// clientTable keeps clients. Counting the unexpired clients of a kind must
// not scan them (CreateClient counts on every dynamic registration), so each
// kind keeps a running total and splits its expiring clients between two
// heaps: those counted live (earliest expiry first) and those counted
// expired (latest expiry first). Moving the boundary to a new "now" moves
// only the clients whose state changed, whichever way the clock went.
type clientTable struct {
	mu    locker
	byID  map[string]*clientRec
	kinds map[storage.ClientKind]*kindCount
}

type clientRec struct {
	c   storage.Client
	exp expiry[string] // in the kind's live or dead heap, if c expires
	// dead says which heap exp is in.
	dead bool
}

type kindCount struct {
	total int
	live  timeHeap[string]
	dead  timeHeap[string]
}

func (t *clientTable) init() {
	t.byID = make(map[string]*clientRec)
	t.kinds = make(map[storage.ClientKind]*kindCount)
}

func (t *clientTable) kind(k storage.ClientKind) *kindCount {
	kc := t.kinds[k]
	if kc == nil {
		kc = &kindCount{dead: timeHeap[string]{max: true}}
		t.kinds[k] = kc
	}
	return kc
}

// settle moves clients between the live and dead heaps so that dead holds
// exactly those expired at now.
func (kc *kindCount) settle(t *clientTable, now time.Time) {
	for e := kc.live.peek(); e != nil && expired(e.at, now); e = kc.live.peek() {
		kc.live.remove(e)
		kc.dead.add(e)
		t.byID[e.key].dead = true
	}
	for e := kc.dead.peek(); e != nil && !expired(e.at, now); e = kc.dead.peek() {
		kc.dead.remove(e)
		kc.live.add(e)
		t.byID[e.key].dead = false
	}
}

// unexpired returns how many clients of the kind are live at now.
func (kc *kindCount) unexpired(t *clientTable, now time.Time) int {
	kc.settle(t, now)
	return kc.total - kc.dead.len()
}

// insert adds r to its kind's count. It is placed in the live heap; the
// next settle moves it if it is already expired.
func (t *clientTable) insert(r *clientRec) {
	kc := t.kind(r.c.Kind)
	kc.total++
	r.dead = false
	track(&kc.live, &r.exp, r.c.ExpiresAt, r.c.ID)
}

// detach removes r from its kind's count.
func (t *clientTable) detach(r *clientRec) {
	kc := t.kind(r.c.Kind)
	kc.total--
	if r.dead {
		untrack(&kc.dead, &r.exp)
	} else {
		untrack(&kc.live, &r.exp)
	}
}

// keep makes r.c a copy of c for keeping, without the clear-text secrets
// that a stored client must never carry.
func (r *clientRec) keep(c *storage.Client) {
	r.c = *c
	ownMetadata(&r.c.Metadata)
	r.c.Metadata.ClientSecret = ""
	r.c.Metadata.RegistrationAccessToken = ""
}

// CreateClient stores a new client. With limit > 0 it counts the unexpired
// clients of the same kind and inserts under the same lock, so parallel
// registrations cannot overshoot the limit. An expired client keeps its ID
// until it is purged.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client, limit int) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	now := s.now()
	t := &s.clients
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.byID[c.ID]; ok {
		return storage.ErrConflict
	}
	if limit > 0 && t.kind(c.Kind).unexpired(t, now) >= limit {
		return storage.ErrLimitReached
	}
	r := &clientRec{}
	r.keep(c)
	t.byID[c.ID] = r
	t.insert(r)
	return nil
}

// GetClient returns a copy of the client. An expired client is returned
// together with ErrExpired, so a caller that wants to serve a stale cached
// document can.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.now()
	t := &s.clients
	t.mu.RLock()
	defer t.mu.RUnlock()
	r, ok := t.byID[id]
	if !ok {
		return nil, storage.ErrNotFound
	}
	c := cloneClient(&r.c)
	if expired(c.ExpiresAt, now) {
		return c, storage.ErrExpired
	}
	return c, nil
}

// UpdateClient replaces a stored client, expired or not. Usage recorded
// by MarkClientUsed is kept: a stored FirstUsedAt wins over c's, and the
// client then stays without expiry.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if c == nil {
		return errNil
	}
	t := &s.clients
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.byID[c.ID]
	if !ok {
		return storage.ErrNotFound
	}
	used := r.c.FirstUsedAt
	t.detach(r)
	r.keep(c)
	if !used.IsZero() {
		r.c.FirstUsedAt = used
		r.c.ExpiresAt = time.Time{}
	}
	t.insert(r)
	return nil
}

// DeleteClient removes a client.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.clients
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.byID[id]
	if !ok {
		return storage.ErrNotFound
	}
	t.detach(r)
	delete(t.byID, id)
	return nil
}

// MarkClientUsed sets FirstUsedAt (once) and clears ExpiresAt. A client
// whose record lapsed while its user was logging in, but was not purged
// yet, is kept: an authorization for it just completed, so it is in use.
func (s *Store) MarkClientUsed(ctx context.Context, id string, at time.Time) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	t := &s.clients
	t.mu.Lock()
	defer t.mu.Unlock()
	r, ok := t.byID[id]
	if !ok {
		return storage.ErrNotFound
	}
	t.detach(r)
	if r.c.FirstUsedAt.IsZero() {
		r.c.FirstUsedAt = at
	}
	r.c.ExpiresAt = time.Time{}
	t.insert(r)
	return nil
}

// CountClients returns the number of unexpired clients of a kind.
func (s *Store) CountClients(ctx context.Context, kind storage.ClientKind) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := s.now()
	t := &s.clients
	// Counting settles the heaps, which writes.
	t.mu.Lock()
	defer t.mu.Unlock()
	kc, ok := t.kinds[kind]
	if !ok {
		return 0, nil
	}
	return kc.unexpired(t, now), nil
}

// purge deletes up to limit clients expired at now.
func (t *clientTable) purge(now time.Time, limit int) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, kc := range t.kinds {
		kc.settle(t, now)
		for n < limit && kc.dead.len() > 0 {
			e := kc.dead.pop()
			kc.total--
			delete(t.byID, e.key)
			n++
		}
	}
	return n
}
