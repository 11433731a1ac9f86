package memory

import "time"

// expiry is a record's place in a timeHeap. Records embed it, so tracking
// an expiry costs no allocation, and an update or delete fixes or removes
// the entry in O(log n) without leaving stale entries behind.
type expiry[K comparable] struct {
	at  time.Time
	key K
	pos int // index in the heap plus one; 0 when in no heap
}

// timeHeap orders expiry entries by time: earliest first, or latest first
// when max is set. It is a plain binary heap; container/heap would force
// every call through an interface for no gain.
type timeHeap[K comparable] struct {
	s   []*expiry[K]
	max bool
}

func (h *timeHeap[K]) len() int { return len(h.s) }

// peek returns the first entry, or nil when the heap is empty.
func (h *timeHeap[K]) peek() *expiry[K] {
	if len(h.s) == 0 {
		return nil
	}
	return h.s[0]
}

func (h *timeHeap[K]) less(i, j int) bool {
	if h.max {
		return h.s[j].at.Before(h.s[i].at)
	}
	return h.s[i].at.Before(h.s[j].at)
}

func (h *timeHeap[K]) swap(i, j int) {
	h.s[i], h.s[j] = h.s[j], h.s[i]
	h.s[i].pos = i + 1
	h.s[j].pos = j + 1
}

func (h *timeHeap[K]) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *timeHeap[K]) down(i int) bool {
	i0, n := i, len(h.s)
	for {
		l := 2*i + 1
		if l >= n || l < 0 {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// add inserts e, which must be in no heap.
func (h *timeHeap[K]) add(e *expiry[K]) {
	h.s = append(h.s, e)
	e.pos = len(h.s)
	h.up(e.pos - 1)
}

// remove takes e, which must be in h, out of it.
func (h *timeHeap[K]) remove(e *expiry[K]) {
	n := len(h.s) - 1
	i := e.pos - 1
	if i != n {
		h.swap(i, n)
	}
	h.s[n] = nil
	h.s = h.s[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	e.pos = 0
}

// fix moves e, which must be in h, to its place for the time at.
func (h *timeHeap[K]) fix(e *expiry[K], at time.Time) {
	e.at = at
	if !h.down(e.pos - 1) {
		h.up(e.pos - 1)
	}
}

// pop removes and returns the first entry.
func (h *timeHeap[K]) pop() *expiry[K] {
	e := h.s[0]
	h.remove(e)
	return e
}

// track keeps a record's heap entry in step with its expiry time: a zero
// time means the record never expires and is in no heap.
func track[K comparable](h *timeHeap[K], e *expiry[K], at time.Time, key K) {
	switch {
	case at.IsZero():
		untrack(h, e)
	case e.pos == 0:
		e.at, e.key = at, key
		h.add(e)
	default:
		h.fix(e, at)
	}
}

// untrack removes a record's heap entry, if it has one.
func untrack[K comparable](h *timeHeap[K], e *expiry[K]) {
	if e.pos != 0 {
		h.remove(e)
	}
}

// expired reports whether a lifetime ending at exp is over at now. A record
// is live while now is strictly before its expiry; zero means never.
func expired(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp)
}

// purgeHeap removes up to limit entries expired at now from h, calling del
// with each one's key to delete the record, and returns how many it removed.
// The caller holds the table's lock.
func purgeHeap[K comparable](h *timeHeap[K], now time.Time, limit int, del func(K)) int {
	n := 0
	for ; n < limit; n++ {
		e := h.peek()
		if e == nil || !expired(e.at, now) {
			break
		}
		h.remove(e)
		del(e.key)
	}
	return n
}

// links are a record's neighbours in one index list.
type links[T any] struct{ prev, next *T }

// index files records under a key in intrusive doubly-linked lists. Filing
// and unfiling cost no allocation beyond the map entry of a key's first
// record, and walking a key's records costs one step per record: what
// revoking a grant's families and codes needs, without a map per grant.
type index[K comparable, T any] struct {
	heads map[K]*T
	link  func(*T) *links[T]
}

func newIndex[K comparable, T any](link func(*T) *links[T]) index[K, T] {
	return index[K, T]{heads: make(map[K]*T), link: link}
}

// add files r under k.
func (x *index[K, T]) add(k K, r *T) {
	l := x.link(r)
	head := x.heads[k]
	l.prev, l.next = nil, head
	if head != nil {
		x.link(head).prev = r
	}
	x.heads[k] = r
}

// remove unfiles r from k; it does nothing if r is not filed there.
func (x *index[K, T]) remove(k K, r *T) {
	l := x.link(r)
	switch {
	case l.prev != nil:
		x.link(l.prev).next = l.next
	case x.heads[k] != r:
		return
	case l.next != nil:
		x.heads[k] = l.next
	default:
		delete(x.heads, k)
	}
	if l.next != nil {
		x.link(l.next).prev = l.prev
	}
	l.prev, l.next = nil, nil
}

// each calls fn for every record filed under k; fn may unfile the record
// it is given.
func (x *index[K, T]) each(k K, fn func(*T)) {
	for r := x.heads[k]; r != nil; {
		next := x.link(r).next
		fn(r)
		r = next
	}
}

// len returns how many keys have records filed.
func (x *index[K, T]) len() int { return len(x.heads) }

// hent is an entry of a slotHeap: a slot and the time it is ordered by.
type hent struct {
	at   ptime
	slot uint32
}

// slotHeap orders slots by time: earliest first, or latest first when max
// is set. Each slot keeps its index in the heap plus one (0 when in no
// heap) in the field pos returns, so that an update or delete finds its
// entry in O(1) and fixes the heap in O(log n). Entries hold no pointers.
type slotHeap struct {
	e   []hent
	max bool
	pos func(uint32) *uint32
}

func (h *slotHeap) len() int { return len(h.e) }

// peek returns the first entry; ok is false when the heap is empty.
func (h *slotHeap) peek() (hent, bool) {
	if len(h.e) == 0 {
		return hent{}, false
	}
	return h.e[0], true
}

func (h *slotHeap) less(i, j int) bool {
	if h.max {
		return h.e[j].at.before(h.e[i].at)
	}
	return h.e[i].at.before(h.e[j].at)
}

func (h *slotHeap) swap(i, j int) {
	h.e[i], h.e[j] = h.e[j], h.e[i]
	*h.pos(h.e[i].slot) = uint32(i + 1)
	*h.pos(h.e[j].slot) = uint32(j + 1)
}

func (h *slotHeap) up(j int) {
	for j > 0 {
		i := (j - 1) / 2
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		j = i
	}
}

func (h *slotHeap) down(i int) bool {
	i0, n := i, len(h.e)
	for {
		l := 2*i + 1
		if l >= n || l < 0 {
			break
		}
		j := l
		if r := l + 1; r < n && h.less(r, l) {
			j = r
		}
		if !h.less(j, i) {
			break
		}
		h.swap(i, j)
		i = j
	}
	return i > i0
}

// add inserts slot, which must be in no heap, at time at.
func (h *slotHeap) add(slot uint32, at ptime) {
	h.e = append(h.e, hent{at: at, slot: slot})
	*h.pos(slot) = uint32(len(h.e))
	h.up(len(h.e) - 1)
}

// remove takes slot out of h, if it is in it.
func (h *slotHeap) remove(slot uint32) {
	p := h.pos(slot)
	if *p == 0 {
		return
	}
	n := len(h.e) - 1
	i := int(*p) - 1
	if i != n {
		h.swap(i, n)
	}
	h.e = h.e[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	*p = 0
}

// track keeps slot's entry in step with its time: a zero time means the
// record never expires and is in no heap.
func (h *slotHeap) track(slot uint32, at ptime) {
	p := *h.pos(slot)
	switch {
	case at.isZero():
		h.remove(slot)
	case p == 0:
		h.add(slot, at)
	default:
		h.e[p-1].at = at
		if !h.down(int(p) - 1) {
			h.up(int(p) - 1)
		}
	}
}

// purge removes up to limit entries expired at now, calling del with each
// one's slot to delete the record, and returns how many it removed. The
// caller holds the table's lock.
func (h *slotHeap) purge(now ptime, limit int, del func(uint32)) int {
	n := 0
	for ; n < limit; n++ {
		e, ok := h.peek()
		if !ok || !e.at.expiredAt(now) {
			break
		}
		h.remove(e.slot)
		del(e.slot)
	}
	return n
}
