package memory

import "time"

// expired reports whether a lifetime ending at exp is over at now. A record
// is live while now is strictly before its expiry; zero means never.
func expired(exp, now time.Time) bool {
	return !exp.IsZero() && !now.Before(exp)
}

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
