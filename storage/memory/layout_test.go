package memory

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"
	"time"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// pointerFree reports the first field path of typ that holds a pointer the
// garbage collector would have to follow, or "" if there is none.
func pointerFree(typ reflect.Type, path string) string {
	switch typ.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128:
		return ""
	case reflect.Array:
		return pointerFree(typ.Elem(), path+"[]")
	case reflect.Struct:
		for i := range typ.NumField() {
			f := typ.Field(i)
			if p := pointerFree(f.Type, path+"."+f.Name); p != "" {
				return p
			}
		}
		return ""
	}
	return path + " (" + typ.String() + ")"
}

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

// fill sets every field reachable from v to a distinct non-zero value,
// so that a field an encoder forgets comes back different.
func fill(t *testing.T, v reflect.Value, n *int) {
	t.Helper()
	*n++
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", *n))
	case reflect.Int, reflect.Int64, reflect.Int32:
		v.SetInt(int64(*n))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Array:
		for i := range v.Len() {
			fill(t, v.Index(i), n)
		}
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			v.SetBytes([]byte(fmt.Sprintf(`{"b":%d}`, *n)))
			return
		}
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(t, s.Index(i), n)
		}
		v.Set(s)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(t, p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		if v.Type() == reflect.TypeOf(time.Time{}) {
			v.Set(reflect.ValueOf(time.Date(2031, 1, 1, 0, 0, *n, *n, time.UTC)))
			return
		}
		for i := range v.NumField() {
			fill(t, v.Field(i), n)
		}
	case reflect.Uint8:
		v.SetUint(uint64(*n))
	default:
		t.Fatalf("fill: no rule for %s; teach the test and the store's codec about it", v.Type())
	}
}

// TestRecordsRoundTrip stores records with every field set and reads
// them back whole: a field added to a storage type that the store's codec
// does not write makes this fail. The clear-text client secrets are the
// exception: the store must drop them.
func TestRecordsRoundTrip(t *testing.T) {
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Clock: func() time.Time { return now }})
	n := 0

	var c storage.Client
	fill(t, reflect.ValueOf(&c).Elem(), &n)
	c.Kind = storage.ClientRegistered
	if err := s.CreateClient(ctx, &c, 0); err != nil {
		t.Fatal(err)
	}
	gotC, err := s.GetClient(ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantC := c
	wantC.Metadata.ClientSecret, wantC.Metadata.RegistrationAccessToken = "", ""
	if !reflect.DeepEqual(*gotC, wantC) {
		t.Errorf("client came back as\n%+v\nwant\n%+v", *gotC, wantC)
	}

	var g storage.Grant
	fill(t, reflect.ValueOf(&g).Elem(), &n)
	if err := s.CreateGrant(ctx, &g); err != nil {
		t.Fatal(err)
	}
	gotG, err := s.GetGrant(ctx, g.ID)
	if err != storage.ErrRevoked || !reflect.DeepEqual(*gotG, g) {
		t.Errorf("grant came back as %+v, %v; want %+v, ErrRevoked", *gotG, err, g)
	}

	var code storage.AuthorizationCode
	fill(t, reflect.ValueOf(&code).Elem(), &n)
	if err := s.SaveCode(ctx, &code); err != nil {
		t.Fatal(err)
	}
	gotCode, err := s.ConsumeCode(ctx, code.Hash)
	if err != nil || !reflect.DeepEqual(*gotCode, code) {
		t.Errorf("code came back as %+v, %v; want %+v", *gotCode, err, code)
	}

	var tok storage.RefreshToken
	fill(t, reflect.ValueOf(&tok).Elem(), &n)
	if err := s.SaveRefreshToken(ctx, &tok); err != nil {
		t.Fatal(err)
	}
	gotTok, err := s.GetRefreshToken(ctx, tok.Hash)
	if err != storage.ErrRevoked || !reflect.DeepEqual(*gotTok, tok) {
		t.Errorf("refresh token came back as %+v, %v; want %+v, ErrRevoked", *gotTok, err, tok)
	}

	// nil and empty slices come back as themselves.
	for _, ss := range [][]string{nil, {}} {
		n++
		id := fmt.Sprint("empty", n)
		c := storage.Client{ID: id, Kind: storage.ClientStatic, Metadata: metadata0(ss)}
		if err := s.CreateClient(ctx, &c, 0); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetClient(ctx, id)
		if err != nil || !reflect.DeepEqual(*got, c) {
			t.Errorf("client with %#v slices came back as %+v", ss, got.Metadata)
		}
		g := storage.Grant{ID: id, Scopes: ss, Resources: ss}
		if err := s.CreateGrant(ctx, &g); err != nil {
			t.Fatal(err)
		}
		gotG, err := s.GetGrant(ctx, id)
		if err != nil || !reflect.DeepEqual(*gotG, g) {
			t.Errorf("grant with %#v slices came back as %+v", ss, gotG)
		}
	}
}

// metadata0 returns client metadata whose slices are all ss.
func metadata0(ss []string) (m metadata.Client) {
	m.RedirectURIs, m.GrantTypes, m.ResponseTypes, m.Contacts, m.PostLogoutRedirectURIs = ss, ss, ss, ss, ss
	if ss != nil {
		m.JWKS = []byte{}
	}
	return m
}
