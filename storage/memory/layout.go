package memory

import (
	"encoding/binary"
	"hash/maphash"
	"math/bits"
	"time"

	"github.com/nqrust/identity/storage"
)

// The store holds no Go pointers per record. A garbage collection marks
// every pointer the live heap holds, so a store of a million records made
// of structs, strings and slices made each collection walk millions of
// small objects scattered over hundreds of megabytes, and every operation
// paid for it: at 1M records an operation cost 2.2 to 3 times what it cost
// at 1k, although it touched the same few records. Here a record is:
//
//   - its fields encoded into bytes in an arena of large pointer-free
//     chunks, so the collector marks a chunk without looking inside;
//   - a fixed-size slot without pointers, holding what changes after the
//     record is written (used, rotated, revoked, expiry) and the record's
//     place in its indexes and expiry heap, all as slot numbers;
//   - an entry in a map whose keys and values hold no pointers: a
//     storage.Hash, or a seeded 64-bit hash of a string key whose records
//     are chained, so that a collision costs a comparison, never a wrong
//     answer.
//
// Reads decode a fresh copy, which is also what keeps callers from sharing
// state with the store.

// ptime is a time.Time without the pointer to its location. Times decode
// in UTC or time.Local as they were stored; any other zone comes back as
// the same instant in UTC. The monotonic reading is dropped, as any store
// that writes times out drops it.
type ptime struct {
	sec  int64 // seconds since 1970
	nsec int32
	loc  uint8 // locZero, locUTC, locLocal or locOther
}

const (
	locZero uint8 = iota
	locUTC
	locLocal
	locOther
)

func packTime(t time.Time) ptime {
	if t.IsZero() {
		return ptime{}
	}
	p := ptime{sec: t.Unix(), nsec: int32(t.Nanosecond()), loc: locOther}
	switch t.Location() {
	case time.UTC:
		p.loc = locUTC
	case time.Local:
		p.loc = locLocal
	}
	return p
}

func (p ptime) time() time.Time {
	switch p.loc {
	case locZero:
		return time.Time{}
	case locLocal:
		return time.Unix(p.sec, int64(p.nsec))
	}
	return time.Unix(p.sec, int64(p.nsec)).UTC()
}

func (p ptime) isZero() bool { return p.loc == locZero }

// before reports whether p is earlier than q; the zero time is earliest.
func (p ptime) before(q ptime) bool {
	switch {
	case p.loc == locZero:
		return q.loc != locZero
	case q.loc == locZero:
		return false
	case p.sec != q.sec:
		return p.sec < q.sec
	}
	return p.nsec < q.nsec
}

// expiredAt is expired for packed times: a lifetime ending at p is over at
// now unless p is zero (never) or now is strictly before p.
func (p ptime) expiredAt(now ptime) bool { return !p.isZero() && !now.before(p) }

// nilLen marks a nil slice in an encoding, so that nil and empty slices
// round-trip as themselves.
const nilLen = ^uint32(0)

// encoder writes a record's fields. A record starts with the number of
// strings its []string fields hold, so that decoding can give them all one
// backing array.
type encoder struct {
	b     []byte
	nstrs uint32
}

// scratchMax bounds the scratch an encoder keeps between records, so
// that one huge record does not pin its size in memory for good.
const scratchMax = 64 << 10

func (e *encoder) begin() {
	if cap(e.b) > scratchMax {
		e.b = nil
	}
	e.b = append(e.b[:0], 0, 0, 0, 0)
	e.nstrs = 0
}

// finish returns the encoding, valid until the next begin.
func (e *encoder) finish() []byte {
	binary.LittleEndian.PutUint32(e.b, e.nstrs)
	return e.b
}

func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) i64(v int64)  { e.b = binary.LittleEndian.AppendUint64(e.b, uint64(v)) }

func (e *encoder) str(s string) {
	e.u32(uint32(len(s)))
	e.b = append(e.b, s...)
}

// rawStr writes a string field from bytes, such as another record's key
// read in place.
func (e *encoder) rawStr(b []byte) {
	e.u32(uint32(len(b)))
	e.b = append(e.b, b...)
}

func (e *encoder) strs(ss []string) {
	if ss == nil {
		e.u32(nilLen)
		return
	}
	e.u32(uint32(len(ss)))
	e.nstrs += uint32(len(ss))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *encoder) bytes(b []byte) {
	if b == nil {
		e.u32(nilLen)
		return
	}
	e.u32(uint32(len(b)))
	e.b = append(e.b, b...)
}

func (e *encoder) hash(h storage.Hash) { e.b = append(e.b, h[:]...) }

func (e *encoder) time(t time.Time) { e.ptime(packTime(t)) }

func (e *encoder) ptime(p ptime) {
	e.b = append(e.b, p.loc)
	if p.loc != locZero {
		e.i64(p.sec)
		e.u32(uint32(p.nsec))
	}
}

// boxed returns a new T for decoding view into, allocated together with
// the backing array of its []string fields when they hold at most four
// strings: one allocation for the record and one for its bytes, instead
// of one more per slice.
func boxed[T any](view []byte) (*T, decoder) {
	if binary.LittleEndian.Uint32(view) <= 4 {
		box := new(struct {
			r  T
			ss [4]string
		})
		return &box.r, decode(view, box.ss[:])
	}
	return new(T), decode(view, nil)
}

// decoder reads a record written by encoder. Its strings are substrings of
// one copy of the record, and its []string fields share one backing array.
type decoder struct {
	s    string
	i    int
	pool []string
}

// decode starts reading the record view, copying it once. box, when long
// enough, backs the record's []string fields, so that a caller can
// allocate the strings together with the struct that holds them.
func decode(view []byte, box []string) decoder {
	d := decoder{s: string(view)}
	n := int(d.u32())
	if n > len(box) {
		box = make([]string, n)
	}
	d.pool = box[:n:n]
	return d
}

func (d *decoder) u32() uint32 {
	s := d.s[d.i : d.i+4]
	d.i += 4
	return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
}

func (d *decoder) i64() int64 {
	lo := uint64(d.u32())
	return int64(lo | uint64(d.u32())<<32)
}

func (d *decoder) str() string {
	n := int(d.u32())
	v := d.s[d.i : d.i+n]
	d.i += n
	return v
}

func (d *decoder) strs() []string {
	n := d.u32()
	switch n {
	case nilLen:
		return nil
	case 0:
		return []string{} // not d.pool[:0], which is nil when the pool is
	}
	out := d.pool[:n:n]
	d.pool = d.pool[n:]
	for i := range out {
		out[i] = d.str()
	}
	return out
}

func (d *decoder) bytes() []byte {
	n := d.u32()
	if n == nilLen {
		return nil
	}
	v := []byte(d.s[d.i : d.i+int(n)])
	d.i += int(n)
	return v
}

func (d *decoder) hash() storage.Hash {
	var h storage.Hash
	copy(h[:], d.s[d.i:d.i+len(h)])
	d.i += len(h)
	return h
}

func (d *decoder) ptime() ptime {
	p := ptime{loc: d.s[d.i]}
	d.i++
	if p.loc != locZero {
		p.sec = d.i64()
		p.nsec = int32(d.u32())
	}
	return p
}

func (d *decoder) time() time.Time { return d.ptime().time() }

// recKeyOff is where an encoded record's first field starts, after the
// string count. Every record starts with its key (an ID, or a hash), so
// that a hash chain is walked by comparing keys in place.
const recKeyOff = 4

// strAt returns the string field that starts at byte off of an encoded
// record, without copying: for comparing keys in place.
func strAt(view []byte, off int) []byte {
	n := int(binary.LittleEndian.Uint32(view[off:]))
	return view[off+4 : off+4+n]
}

// hashAt returns the hash a record keyed by a storage.Hash starts with.
func hashAt(view []byte) storage.Hash {
	return storage.Hash(view[recKeyOff:recHashEnd])
}

// recHashEnd is where the field after the leading hash starts in a record
// keyed by a storage.Hash.
const recHashEnd = recKeyOff + len(storage.Hash{})

// aref locates a block in an arena: chunk number plus one, offset in the
// chunk and size class. The zero aref is no block.
type aref uint64

func (r aref) parts() (chunk, off, class int) {
	return int(r>>40) - 1, int(r>>8) & (1<<32 - 1), int(r & 0xff)
}

func makeRef(chunk, off, class int) aref {
	return aref(uint64(chunk+1)<<40 | uint64(off)<<8 | uint64(class))
}

const (
	chunkSize = 1 << 20
	smallMax  = 128
	// Classes 1..8 are the multiples of 16 up to smallMax; 9..60 are four
	// sizes per doubling from 128 to chunkSize; hugeClass is the rest.
	hugeClass  = 8 + (19-7+1)*4 + 1
	numClasses = hugeClass + 1
	blockHead  = 4 // each block starts with the length of its contents
)

// sizeClass returns the class and block size for n bytes: multiples of 16
// up to 128 bytes, then four sizes per doubling, so that a block wastes at
// most a fifth of itself. Blocks of more than a chunk are hugeClass and
// get a chunk of their own.
func sizeClass(n int) (class, size int) {
	if n <= smallMax {
		c := max((n+15)>>4, 1)
		return c, c << 4
	}
	if n > chunkSize {
		return hugeClass, n
	}
	k := bits.Len(uint(n-1)) - 1 // 2^k < n <= 2^(k+1)
	step := 1 << (k - 2)
	m := (n - 1<<k + step - 1) / step
	return 8 + (k-7)*4 + m, 1<<k + m*step
}

// arena keeps records' bytes in chunks of chunkSize with a free list per
// size class. The collector sees one object per chunk, with nothing to
// scan inside. Freed blocks are reused by later records of their class;
// chunks are not given back to the operating system.
type arena struct {
	chunks     [][]byte
	free       [numClasses][]aref
	cur        int   // the chunk blocks are cut from, plus one; 0 when none
	top        int   // bytes handed out of that chunk
	freeChunks []int // numbers of released huge chunks, for reuse
	live       int   // bytes in blocks in use, headers included
}

// put stores a copy of b and returns its place.
func (a *arena) put(b []byte) aref {
	n := blockHead + len(b)
	class, size := sizeClass(n)
	var r aref
	switch {
	case class == hugeClass:
		c := make([]byte, n)
		if k := len(a.freeChunks); k > 0 {
			i := a.freeChunks[k-1]
			a.freeChunks = a.freeChunks[:k-1]
			a.chunks[i] = c
			r = makeRef(i, 0, class)
		} else {
			a.chunks = append(a.chunks, c)
			r = makeRef(len(a.chunks)-1, 0, class)
		}
	case len(a.free[class]) > 0:
		k := len(a.free[class]) - 1
		r = a.free[class][k]
		a.free[class] = a.free[class][:k]
	default:
		if a.cur == 0 || a.top+size > chunkSize {
			a.chunks = append(a.chunks, make([]byte, chunkSize))
			a.cur, a.top = len(a.chunks), 0
		}
		r = makeRef(a.cur-1, a.top, class)
		a.top += size
	}
	chunk, off, _ := r.parts()
	c := a.chunks[chunk]
	binary.LittleEndian.PutUint32(c[off:], uint32(len(b)))
	copy(c[off+blockHead:], b)
	a.live += size
	return r
}

// view returns the bytes stored at r, in place: valid until r is freed.
func (a *arena) view(r aref) []byte {
	chunk, off, _ := r.parts()
	c := a.chunks[chunk]
	n := int(binary.LittleEndian.Uint32(c[off:]))
	return c[off+blockHead : off+blockHead+n : off+blockHead+n]
}

// release frees the block at r, clearing it so that no record outlives
// its deletion in memory.
func (a *arena) release(r aref) {
	chunk, off, class := r.parts()
	if class == hugeClass {
		a.live -= len(a.chunks[chunk])
		a.chunks[chunk] = nil
		a.freeChunks = append(a.freeChunks, chunk)
		return
	}
	size := classSize(class)
	clear(a.chunks[chunk][off : off+size])
	a.free[class] = append(a.free[class], r)
	a.live -= size
}

// classSize returns the block size of a class below hugeClass.
func classSize(class int) int {
	if class <= smallMax>>4 {
		return class << 4
	}
	j := class - 9
	k, m := 7+j/4, j%4+1
	return 1<<k + m*(1<<(k-2))
}

// slotPage is how many slots one page of a pool holds.
const slotPage = 1 << 12

// pool hands out numbered slots of type S, which must hold no pointers.
// Slot 0 is never handed out, so that 0 can mean "none". Slots live in
// pages that never move, so a *S stays valid while the slot is in use.
type pool[S any] struct {
	pages [][]S
	n     uint32 // slots ever handed out, slot 0 included
	free  []uint32
	inUse int
}

func (p *pool[S]) get() uint32 {
	p.inUse++
	if k := len(p.free); k > 0 {
		i := p.free[k-1]
		p.free = p.free[:k-1]
		return i
	}
	if p.n == 0 {
		p.n = 1
	}
	if int(p.n/slotPage) == len(p.pages) {
		p.pages = append(p.pages, make([]S, slotPage))
	}
	i := p.n
	p.n++
	return i
}

func (p *pool[S]) at(i uint32) *S { return &p.pages[i/slotPage][i%slotPage] }

func (p *pool[S]) put(i uint32) {
	var zero S
	*p.at(i) = zero
	p.free = append(p.free, i)
	p.inUse--
}

// link is a slot's place in one doubly linked list of slots.
type link struct{ prev, next uint32 }

// hindex files slots under 64-bit hashes of string keys, in intrusive
// doubly linked lists. Different keys may share a hash, so every walk
// compares the key itself; the hashes are seeded per store, so nobody can
// choose keys that collide.
//
// The map is keyed by 32 bits of the hash: its entries are then 8 bytes,
// and a million of them fit in caches and TLBs that 16-byte entries
// overflow, which makes a probe at that size about a fifth cheaper. The
// few keys that share 32 bits in a large table just share a chain.
type hindex struct {
	heads map[uint32]uint32
	link  func(uint32) *link
	// rec returns a slot's encoded record, for indexes by the key every
	// record starts with (find, findHash); nil for the others.
	rec func(uint32) []byte
}

func newHindex(link func(uint32) *link) hindex {
	return hindex{heads: make(map[uint32]uint32), link: link}
}

// newKeyIndex returns an index by the key every record starts with.
func newKeyIndex(link func(uint32) *link, rec func(uint32) []byte) hindex {
	return hindex{heads: make(map[uint32]uint32), link: link, rec: rec}
}

// find returns the slot filed under h whose record starts with the string
// key, or 0.
func (x *hindex) find(h uint64, key string) uint32 {
	for i := x.first(h); i != 0; i = x.next(i) {
		if string(strAt(x.rec(i), recKeyOff)) == key {
			return i
		}
	}
	return 0
}

// findHash returns the slot whose record starts with the hash key, in the
// chain that starts at slot i (see first), or 0.
func (x *hindex) findHash(i uint32, key storage.Hash) uint32 {
	for ; i != 0; i = x.next(i) {
		if hashAt(x.rec(i)) == key {
			return i
		}
	}
	return 0
}

// fold gives the map key for hash h.
func fold(h uint64) uint32 { return uint32(h) ^ uint32(h>>32) }

func (x *hindex) add(h uint64, i uint32) {
	k := fold(h)
	l := x.link(i)
	head := x.heads[k]
	l.prev, l.next = 0, head
	if head != 0 {
		x.link(head).prev = i
	}
	x.heads[k] = i
}

// remove unfiles i from h; it does nothing if i is not filed there.
func (x *hindex) remove(h uint64, i uint32) {
	k := fold(h)
	l := x.link(i)
	switch {
	case l.prev != 0:
		x.link(l.prev).next = l.next
	case x.heads[k] != i:
		return
	case l.next != 0:
		x.heads[k] = l.next
	default:
		delete(x.heads, k)
	}
	if l.next != 0 {
		x.link(l.next).prev = l.prev
	}
	l.prev, l.next = 0, 0
}

// first returns the first slot filed under h, or 0.
func (x *hindex) first(h uint64) uint32 { return x.heads[fold(h)] }

// next returns the slot after i in its list, or 0.
func (x *hindex) next(i uint32) uint32 { return x.link(i).next }

// each calls fn for every slot filed under h; fn may unfile the slot it is
// given.
func (x *hindex) each(h uint64, fn func(uint32)) {
	for i := x.heads[fold(h)]; i != 0; {
		next := x.link(i).next
		fn(i)
		i = next
	}
}

// len returns how many hashes have slots filed.
func (x *hindex) len() int { return len(x.heads) }

// hasher hashes keys with a seed of the store's own.
type hasher struct {
	seed maphash.Seed
	// mask is applied to every hash. It is all ones; tests narrow it to
	// make different keys share hashes, which every lookup must survive.
	mask uint64
}

func newHasher() hasher { return hasher{seed: maphash.MakeSeed(), mask: ^uint64(0)} }

func (h hasher) sum(s string) uint64 { return maphash.String(h.seed, s) & h.mask }

// hash hashes a storage.Hash, so that even hashes chosen by a caller
// spread evenly.
func (h hasher) hash(x storage.Hash) uint64 { return maphash.Bytes(h.seed, x[:]) & h.mask }

// sum2 hashes a pair of strings as one key, with the first one's length
// mixed in so that ("ab","c") and ("a","bc") differ.
func (h hasher) sum2(a, b string) uint64 {
	var m maphash.Hash
	m.SetSeed(h.seed)
	var n [8]byte
	binary.LittleEndian.PutUint64(n[:], uint64(len(a)))
	m.Write(n[:])
	m.WriteString(a)
	m.WriteString(b)
	return m.Sum64() & h.mask
}
