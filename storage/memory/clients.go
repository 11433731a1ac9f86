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
	h     hasher
	enc   encoder
	data  arena
	slots pool[clientSlot]
	byID  hindex // by hash of the client ID
	kinds map[storage.ClientKind]*kindCount
}

// clientSlot is a client. Its record holds every field but ExpiresAt and
// FirstUsedAt, which change as the client is used, and the clear-text
// secrets, which a stored client never carries.
type clientSlot struct {
	ref       aref
	idH       uint64
	byID      link
	kind      storage.ClientKind
	exp       ptime // in the kind's live or dead heap, if not zero
	firstUsed ptime
	hpos      uint32
	dead      bool // which heap exp is in
}

type kindCount struct {
	total int
	live  slotHeap
	dead  slotHeap
}

func (t *clientTable) init() {
	t.h = newHasher()
	t.byID = newKeyIndex(func(i uint32) *link { return &t.slots.at(i).byID },
		func(i uint32) []byte { return t.data.view(t.slots.at(i).ref) })
	t.kinds = make(map[storage.ClientKind]*kindCount)
}

func (t *clientTable) kind(k storage.ClientKind) *kindCount {
	kc := t.kinds[k]
	if kc == nil {
		pos := func(i uint32) *uint32 { return &t.slots.at(i).hpos }
		kc = &kindCount{live: slotHeap{pos: pos}, dead: slotHeap{max: true, pos: pos}}
		t.kinds[k] = kc
	}
	return kc
}

// find returns the slot of the client with the ID, or 0.
func (t *clientTable) find(id string) uint32 { return t.byID.find(t.h.sum(id), id) }

// settle moves clients between the live and dead heaps so that dead holds
// exactly those expired at now.
func (kc *kindCount) settle(t *clientTable, now ptime) {
	for e, ok := kc.live.peek(); ok && e.at.expiredAt(now); e, ok = kc.live.peek() {
		kc.live.remove(e.slot)
		kc.dead.add(e.slot, e.at)
		t.slots.at(e.slot).dead = true
	}
	for e, ok := kc.dead.peek(); ok && !e.at.expiredAt(now); e, ok = kc.dead.peek() {
		kc.dead.remove(e.slot)
		kc.live.add(e.slot, e.at)
		t.slots.at(e.slot).dead = false
	}
}

// unexpired returns how many clients of the kind are live at now.
func (kc *kindCount) unexpired(t *clientTable, now ptime) int {
	kc.settle(t, now)
	return kc.total - kc.dead.len()
}

// insert adds slot i to its kind's count. It is placed in the live heap;
// the next settle moves it if it is already expired.
func (t *clientTable) insert(i uint32) {
	sl := t.slots.at(i)
	kc := t.kind(sl.kind)
	kc.total++
	sl.dead = false
	kc.live.track(i, sl.exp)
}

// detach removes slot i from its kind's count.
func (t *clientTable) detach(i uint32) {
	sl := t.slots.at(i)
	kc := t.kind(sl.kind)
	kc.total--
	if sl.dead {
		kc.dead.remove(i)
	} else {
		kc.live.remove(i)
	}
}

// encode encodes c without its clear-text secrets.
func (t *clientTable) encode(c *storage.Client) []byte {
	e := &t.enc
	e.begin()
	e.str(c.ID)
	e.u32(uint32(c.Kind))
	m := &c.Metadata
	e.str(m.ClientID)
	e.i64(m.ClientIDIssuedAt)
	if m.ClientSecretExpiresAt != nil {
		e.b = append(e.b, 1)
		e.i64(*m.ClientSecretExpiresAt)
	} else {
		e.b = append(e.b, 0)
	}
	e.str(m.RegistrationClientURI)
	e.strs(m.RedirectURIs)
	e.str(m.TokenEndpointAuthMethod)
	e.strs(m.GrantTypes)
	e.strs(m.ResponseTypes)
	e.str(m.ClientName)
	e.str(m.ClientURI)
	e.str(m.LogoURI)
	e.str(m.Scope)
	e.strs(m.Contacts)
	e.str(m.TOSURI)
	e.str(m.PolicyURI)
	e.str(m.JWKSURI)
	e.bytes(m.JWKS)
	e.str(m.SoftwareID)
	e.str(m.SoftwareVersion)
	e.str(m.SoftwareStatement)
	e.str(m.ApplicationType)
	e.strs(m.PostLogoutRedirectURIs)
	e.str(m.TLSClientAuthSubjectDN)
	e.str(m.TLSClientAuthSANDNS)
	e.str(m.TLSClientAuthSANURI)
	e.str(m.TLSClientAuthSANIP)
	e.str(m.TLSClientAuthSANEmail)
	e.hash(c.SecretHash)
	e.time(c.SecretExpiresAt)
	e.hash(c.RegistrationTokenHash)
	e.time(c.CreatedAt)
	e.time(c.UpdatedAt)
	return e.finish()
}

// copy decodes client slot i into a fresh Client.
func (t *clientTable) copy(i uint32) *storage.Client {
	sl := t.slots.at(i)
	box := new(struct {
		c      storage.Client
		secExp int64
		ss     [8]string
	})
	d := decode(t.data.view(sl.ref), box.ss[:])
	c := &box.c
	c.ID = d.str()
	c.Kind = storage.ClientKind(d.u32())
	m := &c.Metadata
	m.ClientID = d.str()
	m.ClientIDIssuedAt = d.i64()
	d.i++
	if d.s[d.i-1] == 1 {
		box.secExp = d.i64()
		m.ClientSecretExpiresAt = &box.secExp
	}
	m.RegistrationClientURI = d.str()
	m.RedirectURIs = d.strs()
	m.TokenEndpointAuthMethod = d.str()
	m.GrantTypes = d.strs()
	m.ResponseTypes = d.strs()
	m.ClientName = d.str()
	m.ClientURI = d.str()
	m.LogoURI = d.str()
	m.Scope = d.str()
	m.Contacts = d.strs()
	m.TOSURI = d.str()
	m.PolicyURI = d.str()
	m.JWKSURI = d.str()
	m.JWKS = d.bytes()
	m.SoftwareID = d.str()
	m.SoftwareVersion = d.str()
	m.SoftwareStatement = d.str()
	m.ApplicationType = d.str()
	m.PostLogoutRedirectURIs = d.strs()
	m.TLSClientAuthSubjectDN = d.str()
	m.TLSClientAuthSANDNS = d.str()
	m.TLSClientAuthSANURI = d.str()
	m.TLSClientAuthSANIP = d.str()
	m.TLSClientAuthSANEmail = d.str()
	c.SecretHash = d.hash()
	c.SecretExpiresAt = d.time()
	c.RegistrationTokenHash = d.hash()
	c.CreatedAt = d.time()
	c.UpdatedAt = d.time()
	c.ExpiresAt = sl.exp.time()
	c.FirstUsedAt = sl.firstUsed.time()
	return c
}

// keep stores c in slot i, replacing what the slot held.
func (t *clientTable) keep(i uint32, c *storage.Client) {
	sl := t.slots.at(i)
	if sl.ref != 0 {
		t.data.release(sl.ref)
	}
	sl.ref = t.data.put(t.encode(c))
	sl.kind = c.Kind
	sl.exp = packTime(c.ExpiresAt)
	sl.firstUsed = packTime(c.FirstUsedAt)
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
	now := packTime(s.now())
	t := &s.clients
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.find(c.ID) != 0 {
		return storage.ErrConflict
	}
	if limit > 0 && t.kind(c.Kind).unexpired(t, now) >= limit {
		return storage.ErrLimitReached
	}
	i := t.slots.get()
	t.keep(i, c)
	sl := t.slots.at(i)
	sl.idH = t.h.sum(c.ID)
	t.byID.add(sl.idH, i)
	t.insert(i)
	return nil
}

// GetClient returns a copy of the client. An expired client is returned
// together with ErrExpired, so a caller that wants to serve a stale cached
// document can.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := packTime(s.now())
	t := &s.clients
	t.mu.RLock()
	defer t.mu.RUnlock()
	i := t.find(id)
	if i == 0 {
		return nil, storage.ErrNotFound
	}
	c := t.copy(i)
	if t.slots.at(i).exp.expiredAt(now) {
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
	i := t.find(c.ID)
	if i == 0 {
		return storage.ErrNotFound
	}
	sl := t.slots.at(i)
	used := sl.firstUsed
	t.detach(i)
	t.keep(i, c)
	if !used.isZero() {
		sl.firstUsed = used
		sl.exp = ptime{}
	}
	t.insert(i)
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
	i := t.find(id)
	if i == 0 {
		return storage.ErrNotFound
	}
	t.detach(i)
	t.drop(i)
	return nil
}

// drop deletes client slot i, which is in no heap.
func (t *clientTable) drop(i uint32) {
	sl := t.slots.at(i)
	t.byID.remove(sl.idH, i)
	t.data.release(sl.ref)
	t.slots.put(i)
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
	i := t.find(id)
	if i == 0 {
		return storage.ErrNotFound
	}
	t.detach(i)
	sl := t.slots.at(i)
	if sl.firstUsed.isZero() {
		sl.firstUsed = packTime(at)
	}
	sl.exp = ptime{}
	t.insert(i)
	return nil
}

// CountClients returns the number of unexpired clients of a kind.
func (s *Store) CountClients(ctx context.Context, kind storage.ClientKind) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	now := packTime(s.now())
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
	pnow := packTime(now)
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, kc := range t.kinds {
		kc.settle(t, pnow)
		for n < limit && kc.dead.len() > 0 {
			e, _ := kc.dead.peek()
			kc.dead.remove(e.slot)
			kc.total--
			t.drop(e.slot)
			n++
		}
	}
	return n
}

// counts adds how many entries each of the table's structures holds to m,
// under a name per structure, for tests that check a purge leaves nothing.
func (t *clientTable) counts(m map[string]int) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	m["clients"] += t.slots.inUse
	m["client IDs"] += t.byID.len()
	m["client arena bytes"] += t.data.live
	for _, kc := range t.kinds {
		m["client kind heaps"] += kc.live.len() + kc.dead.len() + kc.total
	}
}
