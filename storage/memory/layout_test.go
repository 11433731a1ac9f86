package memory

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"testing"
	"time"
	"unsafe"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// TestSlotsHoldNoPointers is what keeps the store's cost flat as it grows:
// a pointer in a slot, heap entry or map key or value would make every
// garbage collection visit every record again.
func TestSlotsHoldNoPointers(t *testing.T) {
	for _, v := range []any{
		grantSlot{}, codeSlot{}, tokenSlot{}, famSlot{}, clientSlot{},
		hent{}, link{}, ptime{}, aref(0),
	} {
		typ := reflect.TypeOf(v)
		if p := pointerFree(typ, typ.Name()); p != "" {
			t.Errorf("%s holds a pointer at %s", typ.Name(), p)
		}
	}
	if n := unsafe.Sizeof(tokenSlot{}); n != 64 {
		t.Errorf("tokenSlot is %d bytes; keep it to one cache line", n)
	}
	// The index maps and the slot pages must be pointer-free too.
	var g grantTable
	g.init()
	for _, typ := range []reflect.Type{
		reflect.TypeOf(g.grantByID.heads), reflect.TypeOf(g.codeBy.heads), reflect.TypeOf(g.tokenBy.heads),
	} {
		if p := pointerFree(typ.Key(), "key"); p != "" {
			t.Errorf("%s: %s", typ, p)
		}
		if p := pointerFree(typ.Elem(), "value"); p != "" {
			t.Errorf("%s: %s", typ, p)
		}
	}
}

func TestPackedTimes(t *testing.T) {
	zone := time.FixedZone("X", 5*3600)
	for _, tm := range []time.Time{
		{},
		time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC),
		time.Date(2030, 1, 2, 3, 4, 5, 999999999, time.Local),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 5, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
		time.Date(2030, 1, 2, 3, 4, 5, 6, zone),
		time.Now(), // with a monotonic reading
	} {
		p := packTime(tm)
		var e encoder
		e.begin()
		e.ptime(p)
		d := decode(e.finish(), nil)
		got := d.time()
		if !got.Equal(tm) || got.IsZero() != tm.IsZero() {
			t.Errorf("%v came back as %v", tm, got)
		}
		switch tm.Location() {
		case time.UTC, time.Local:
			if got.Location() != tm.Location() {
				t.Errorf("%v came back in %v", tm, got.Location())
			}
		}
	}
	// before orders by instant, with the zero time first.
	a := packTime(time.Unix(10, 5))
	b := packTime(time.Unix(10, 6))
	c := packTime(time.Unix(11, 0).In(time.Local))
	if !a.before(b) || !b.before(c) || c.before(a) || a.before(a) || !(ptime{}).before(a) || a.before(ptime{}) {
		t.Error("before does not order packed times by instant")
	}
	if !b.expiredAt(b) || b.expiredAt(a) || (ptime{}).expiredAt(c) {
		t.Error("expiredAt disagrees with expired")
	}
}

func TestSizeClasses(t *testing.T) {
	last := 0
	for n := 1; n <= chunkSize; n++ {
		class, size := sizeClass(n)
		if class <= 0 || class >= hugeClass {
			t.Fatalf("sizeClass(%d) = class %d, outside 1..%d", n, class, hugeClass-1)
		}
		if size < n || classSize(class) != size {
			t.Fatalf("sizeClass(%d) = %d, %d; classSize says %d", n, class, size, classSize(class))
		}
		if n > smallMax && size > n+n/4 {
			t.Fatalf("sizeClass(%d) wastes more than a fifth: %d", n, size)
		}
		if class < last {
			t.Fatalf("classes go down at %d", n)
		}
		last = class
	}
	if class, size := sizeClass(chunkSize + 1); class != hugeClass || size != chunkSize+1 {
		t.Errorf("sizeClass(chunkSize+1) = %d, %d", class, size)
	}
}

// TestArenaRandomOperations stores, reads and frees blocks of random sizes,
// huge ones included, against a model, and checks that freed space is
// reused and the live byte count returns to zero.
func TestArenaRandomOperations(t *testing.T) {
	var a arena
	r := rand.New(rand.NewPCG(7, 8))
	live := map[aref][]byte{}
	size := func() int {
		switch r.IntN(50) {
		case 0:
			return chunkSize + r.IntN(1000) // huge
		case 1, 2:
			return r.IntN(chunkSize / 2)
		}
		return r.IntN(400)
	}
	maxChunks := 0
	for step := range 20000 {
		if r.IntN(2) == 0 || len(live) == 0 {
			b := make([]byte, size())
			for i := range b {
				b[i] = byte(r.Uint32())
			}
			ref := a.put(b)
			if ref == 0 {
				t.Fatal("put returned the zero aref")
			}
			if _, dup := live[ref]; dup {
				t.Fatalf("step %d: put handed out a block in use", step)
			}
			live[ref] = b
		} else {
			for ref := range live {
				a.release(ref)
				delete(live, ref)
				break
			}
		}
		if step%97 == 0 {
			for ref, b := range live {
				if !bytes.Equal(a.view(ref), b) {
					t.Fatalf("step %d: block %x holds other bytes", step, ref)
				}
			}
		}
		maxChunks = max(maxChunks, len(a.chunks))
	}
	for ref := range live {
		a.release(ref)
	}
	if a.live != 0 {
		t.Errorf("%d bytes counted live after freeing everything", a.live)
	}
	// About 10k blocks were live at most; without reuse the arena would
	// have needed far more chunks than it did.
	if maxChunks > 1500 {
		t.Errorf("arena grew to %d chunks: freed blocks are not reused", maxChunks)
	}
}

// TestArenaHugeBlocksKeepTheCurrentChunk: a huge record gets a chunk of
// its own without ending the chunk small records are cut from.
func TestArenaHugeBlocksKeepTheCurrentChunk(t *testing.T) {
	var a arena
	small := make([]byte, 100)
	a.put(small)
	for range 5 {
		a.release(a.put(make([]byte, chunkSize+1)))
		a.put(small)
	}
	if len(a.chunks) != 2 {
		t.Errorf("%d chunks for small records and one reused huge chunk, want 2", len(a.chunks))
	}
}

// TestRecordsRoundTrip stores records with every field set (see filler)
// and reads them back whole: a field added to a storage type that the
// store's codec does not write makes this fail. The clear-text client
// secrets are the exception: the store must drop them.
func TestRecordsRoundTrip(t *testing.T) {
	eachFillMode(t, func(t *testing.T, mode fillMode) {
		ctx := t.Context()
		s, f := roundTripStore()

		var c storage.Client
		f.fill(t, &c, mode)
		c.Kind = storage.ClientRegistered
		c.ExpiresAt = time.Time{} // so that no ErrExpired hides a mix-up
		if err := s.CreateClient(ctx, &c, 0); err != nil {
			t.Fatal(err)
		}
		want := c
		want.Metadata.ClientSecret, want.Metadata.RegistrationAccessToken = "", ""
		got, err := s.GetClient(ctx, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(got, &want); err != nil {
			t.Errorf("client: %v", err)
		}

		var g storage.Grant
		f.fill(t, &g, mode)
		g.RevokedAt = time.Time{}
		if err := s.CreateGrant(ctx, &g); err != nil {
			t.Fatal(err)
		}
		gotG, err := s.GetGrant(ctx, g.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(gotG, &g); err != nil {
			t.Errorf("grant: %v", err)
		}

		var code storage.AuthorizationCode
		f.fill(t, &code, mode)
		code.ExpiresAt = time.Time{}
		if err := s.SaveCode(ctx, &code); err != nil {
			t.Fatal(err)
		}
		gotCode, err := s.ConsumeCode(ctx, code.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(gotCode, &code); err != nil {
			t.Errorf("code: %v", err)
		}

		var tok storage.RefreshToken
		f.fill(t, &tok, mode)
		tok.RevokedAt, tok.ExpiresAt = time.Time{}, time.Time{}
		if mode == fillZero {
			tok.FamilyID = tok.Hash.String() // what an empty one becomes
		}
		if err := s.SaveRefreshToken(ctx, &tok); err != nil {
			t.Fatal(err)
		}
		gotTok, err := s.GetRefreshToken(ctx, tok.Hash)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(gotTok, &tok); err != nil {
			t.Errorf("refresh token: %v", err)
		}
	})
}

// TestRecordsAreNotHeapObjects guards what the layout is for from the
// other side: storing many records must not add heap objects per record
// (TestSlotsHoldNoPointers checks the types; this checks the whole store,
// maps, pools and arena included).
func TestRecordsAreNotHeapObjects(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Clock: func() time.Time { return now }})
	const n = 20_000
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	for i := range n {
		id := strconv.Itoa(i)
		if err := s.CreateGrant(ctx, &storage.Grant{ID: "g" + id, Subject: "s" + id, ClientID: "c", Scopes: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveCode(ctx, &storage.AuthorizationCode{Hash: storage.HashOf("c" + id), GrantID: "g" + id, Scopes: []string{"a"}}); err != nil {
			t.Fatal(err)
		}
		if err := s.SaveRefreshToken(ctx, &storage.RefreshToken{Hash: storage.HashOf("r" + id), GrantID: "g" + id}); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateClient(ctx, &storage.Client{ID: "client" + id, Kind: storage.ClientRegistered,
			Metadata: metadata.Client{RedirectURIs: []string{"https://example.com/cb"}}}, 0); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(s)
	// 100 000 records (counting families); a layout with an object per
	// record would add at least that many.
	if added := int64(after.HeapObjects) - int64(before.HeapObjects); added > 5_000 {
		t.Errorf("storing %d records added %d heap objects", 5*n, added)
	} else {
		t.Logf("%d records, %d heap objects added", 5*n, added)
	}
}
