package memory

import "time"

// expiry is one record's place in a timeHeap. Records keep a pointer to
// their entry so that an update or delete can fix or remove it in O(log n)
// without leaving stale entries behind.
type expiry[K comparable] struct {
	at  time.Time
	key K
	idx int
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
	h.s[i].idx = i
	h.s[j].idx = j
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

// push adds a new entry for key and returns it.
func (h *timeHeap[K]) push(at time.Time, key K) *expiry[K] {
	e := &expiry[K]{at: at, key: key}
	h.add(e)
	return e
}

// add inserts an entry that is in no heap.
func (h *timeHeap[K]) add(e *expiry[K]) {
	e.idx = len(h.s)
	h.s = append(h.s, e)
	h.up(e.idx)
}

// remove takes e out of the heap.
func (h *timeHeap[K]) remove(e *expiry[K]) {
	n := len(h.s) - 1
	i := e.idx
	if i != n {
		h.swap(i, n)
	}
	h.s[n] = nil
	h.s = h.s[:n]
	if i != n && !h.down(i) {
		h.up(i)
	}
	e.idx = -1
}

// fix moves e to its place after its time changed to at.
func (h *timeHeap[K]) fix(e *expiry[K], at time.Time) {
	e.at = at
	if !h.down(e.idx) {
		h.up(e.idx)
	}
}

// pop removes and returns the first entry.
func (h *timeHeap[K]) pop() *expiry[K] {
	e := h.s[0]
	h.remove(e)
	return e
}

// track keeps a record's heap entry in step with its expiry time: a zero
// time means the record never expires and has no entry.
func track[K comparable](h *timeHeap[K], e **expiry[K], at time.Time, key K) {
	switch {
	case at.IsZero():
		if *e != nil {
			h.remove(*e)
			*e = nil
		}
	case *e == nil:
		*e = h.push(at, key)
	default:
		h.fix(*e, at)
	}
}

// untrack removes a record's heap entry, if it has one.
func untrack[K comparable](h *timeHeap[K], e **expiry[K]) {
	if *e != nil {
		h.remove(*e)
		*e = nil
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
