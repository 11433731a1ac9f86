package memory

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
)

// pointerFree reports the path to the first field of typ the garbage
// collector would have to scan, or "" when there is none.
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
	return path + " (" + typ.Kind().String() + ")"
}

// TestMiscSlotsHoldNoPointers guards the point of the layout: a pointer
// added to a slot, or a map keyed or valued by one, puts a million objects
// back in front of the collector.
func TestMiscSlotsHoldNoPointers(t *testing.T) {
	s := New(Options{})
	for _, v := range []any{
		requestSlot{}, keySlot{}, iatSlot{}, consentSlot{}, jtiSlot{}, hent{},
	} {
		typ := reflect.TypeOf(v)
		if p := pointerFree(typ, typ.Name()); p != "" {
			t.Errorf("%s holds a pointer at %s", typ.Name(), p)
		}
	}
	for name, m := range map[string]any{
		"requests": s.requests.ids.heads, "keys": s.keys.ids.heads, "iats": s.iats.ids.heads,
		"consents": s.consents.ids.heads, "jtis": s.jtis.ids.heads,
	} {
		typ := reflect.TypeOf(m)
		if p := pointerFree(typ.Key(), name+" key"); p != "" {
			t.Errorf("%s map: %s", name, p)
		}
		if p := pointerFree(typ.Elem(), name+" value"); p != "" {
			t.Errorf("%s map: %s", name, p)
		}
	}
}

// fillMode says how fill sets a record's fields.
type fillMode int

const (
	fillFull  fillMode = iota // distinct non-zero values, times in UTC
	fillLocal                 // as fillFull, times in time.Local
	fillZone                  // as fillFull, times in another zone
	fillNil                   // as fillFull, but nil slices
	fillEmpty                 // as fillFull, but empty slices
	fillZero                  // nothing set at all
)

var fillModes = map[fillMode]string{
	fillFull: "full", fillLocal: "local", fillZone: "zone", fillNil: "nil", fillEmpty: "empty", fillZero: "zero",
}

// filler sets every field of a record by reflection, each to a value no
// other field gets, so that a field the store forgets, or two it swaps,
// shows. A field of a type it does not know fails the test: whoever adds
// it must say how to fill it.
type filler struct {
	n    int
	base time.Time // every time is after it
}

func (f *filler) fill(t *testing.T, ptr any, mode fillMode) {
	t.Helper()
	if mode == fillZero {
		return
	}
	f.fillStruct(t, reflect.ValueOf(ptr).Elem(), mode)
}

// fillStruct fills every field of the struct v, nested structs and the
// values behind pointers included.
func (f *filler) fillStruct(t *testing.T, v reflect.Value, mode fillMode) {
	t.Helper()
	for i := range v.NumField() {
		f.n++
		fv, name, n := v.Field(i), v.Type().Field(i).Name, f.n
		switch {
		case fv.Type() == reflect.TypeFor[time.Time]():
			tm := f.base.Add(time.Duration(n)*time.Hour + time.Duration(n)*time.Nanosecond)
			switch mode {
			case fillLocal:
				tm = tm.Local()
			case fillZone:
				tm = tm.In(time.FixedZone("X", 5*3600+1800))
			default:
				tm = tm.UTC()
			}
			fv.Set(reflect.ValueOf(tm))
		case fv.Type() == reflect.TypeFor[storage.Hash]():
			var h storage.Hash
			for j := range h {
				h[j] = byte(n + j)
			}
			fv.Set(reflect.ValueOf(h))
		case fv.Kind() == reflect.String:
			fv.SetString(fmt.Sprintf("%s-%d", name, n))
		case fv.Kind() == reflect.Int, fv.Kind() == reflect.Int64:
			fv.SetInt(int64(n))
		case fv.Type() == reflect.TypeFor[[]string]():
			switch mode {
			case fillNil:
			case fillEmpty:
				fv.Set(reflect.ValueOf([]string{}))
			default:
				ss := make([]string, 2+n%4)
				for j := range ss {
					ss[j] = fmt.Sprintf("%s-%d-%d", name, n, j)
				}
				fv.Set(reflect.ValueOf(ss))
			}
		case fv.Kind() == reflect.Slice && fv.Type().Elem().Kind() == reflect.Uint8:
			switch mode {
			case fillNil:
			case fillEmpty:
				fv.SetBytes([]byte{})
			default:
				fv.SetBytes([]byte(fmt.Sprintf("%s-%d", name, n)))
			}
		case fv.Kind() == reflect.Struct:
			f.fillStruct(t, fv, mode)
		case fv.Kind() == reflect.Pointer && fv.Type().Elem().Kind() == reflect.Int64:
			if mode != fillNil {
				p := reflect.New(fv.Type().Elem())
				p.Elem().SetInt(int64(n))
				fv.Set(p)
			}
		default:
			t.Fatalf("fill: no rule for %s.%s of type %s", v.Type().Name(), name, fv.Type())
		}
		if mode != fillNil && mode != fillEmpty && fv.IsZero() {
			t.Fatalf("fill left %s.%s zero", v.Type().Name(), name)
		}
	}
}

// sameRecord reports how got differs from want: times by instant, and by
// location when it was UTC or Local; everything else as reflect.DeepEqual
// sees it, which tells nil slices from empty ones.
func sameRecord(got, want any) error {
	if got == nil || reflect.ValueOf(got).IsNil() {
		return errors.New("got no record")
	}
	g, w := reflect.ValueOf(got).Elem(), reflect.ValueOf(want).Elem()
	for i := range w.NumField() {
		name := w.Type().Field(i).Name
		gf, wf := g.Field(i).Interface(), w.Field(i).Interface()
		if wt, ok := wf.(time.Time); ok {
			gt := gf.(time.Time)
			if !gt.Equal(wt) {
				return fmt.Errorf("%s = %v, want %v", name, gt, wt)
			}
			if loc := wt.Location(); (loc == time.UTC || loc == time.Local) && !wt.IsZero() && gt.Location() != loc {
				return fmt.Errorf("%s in %v, want %v", name, gt.Location(), loc)
			}
			continue
		}
		if !reflect.DeepEqual(gf, wf) {
			return fmt.Errorf("%s = %#v, want %#v", name, gf, wf)
		}
	}
	return nil
}

// scribble overwrites a returned record's slices, so that a later read
// shows whether the store shared them.
func scribble(ss ...[]string) {
	for _, s := range ss {
		for i := range s {
			s[i] = "scribbled"
		}
	}
}

func roundTripStore() (*Store, *filler) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	return New(Options{Clock: func() time.Time { return now }}), &filler{base: now.Add(24 * time.Hour)}
}

func eachFillMode(t *testing.T, fn func(t *testing.T, mode fillMode)) {
	for mode := fillFull; mode <= fillZero; mode++ {
		t.Run(fillModes[mode], func(t *testing.T) { fn(t, mode) })
	}
}

func TestMiscRoundTripAuthorizationRequest(t *testing.T) {
	eachFillMode(t, func(t *testing.T, mode fillMode) {
		ctx := t.Context()
		s, f := roundTripStore()
		var want, in storage.AuthorizationRequest
		f.fill(t, &want, mode)
		in = want
		in.Scopes, in.Resources = slices.Clone(want.Scopes), slices.Clone(want.Resources)
		if err := s.SaveAuthorizationRequest(ctx, &in); err != nil {
			t.Fatal(err)
		}
		scribble(in.Scopes, in.Resources)
		got, err := s.GetAuthorizationRequest(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(got, &want); err != nil {
			t.Fatalf("Get: %v", err)
		}
		scribble(got.Scopes, got.Resources)
		got, err = s.ConsumeAuthorizationRequest(ctx, want.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(got, &want); err != nil {
			t.Fatalf("Consume: %v", err)
		}
		if _, err := s.GetAuthorizationRequest(ctx, want.ID); err != storage.ErrNotFound {
			t.Fatalf("Get after Consume: %v, want ErrNotFound", err)
		}
	})
}

func TestMiscRoundTripSigningKey(t *testing.T) {
	eachFillMode(t, func(t *testing.T, mode fillMode) {
		ctx := t.Context()
		s, f := roundTripStore()
		var want storage.SigningKey
		f.fill(t, &want, mode)
		in := want
		in.Private = slices.Clone(want.Private)
		if err := s.AddKey(ctx, &in); err != nil {
			t.Fatal(err)
		}
		clear(in.Private)
		list := func() *storage.SigningKey {
			t.Helper()
			keys, err := s.ListKeys(ctx)
			if err != nil || len(keys) != 1 {
				t.Fatalf("ListKeys: %d keys, %v; want 1", len(keys), err)
			}
			return keys[0]
		}
		got := list()
		if err := sameRecord(got, &want); err != nil {
			t.Fatalf("ListKeys: %v", err)
		}
		clear(got.Private)
		var later storage.SigningKey
		f.fill(t, &later, mode)
		want.RetiredAt, want.ExpiresAt = later.RetiredAt, later.ExpiresAt
		if err := s.RetireKey(ctx, want.ID, want.RetiredAt, want.ExpiresAt); err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(list(), &want); err != nil {
			t.Fatalf("ListKeys after RetireKey: %v", err)
		}
	})
}

func TestMiscRoundTripInitialAccessToken(t *testing.T) {
	eachFillMode(t, func(t *testing.T, mode fillMode) {
		ctx := t.Context()
		s, f := roundTripStore()
		var want storage.InitialAccessToken
		f.fill(t, &want, mode)
		in := want
		if err := s.SaveInitialAccessToken(ctx, &in); err != nil {
			t.Fatal(err)
		}
		got, err := s.UseInitialAccessToken(ctx, want.Hash)
		if mode == fillZero {
			if err != storage.ErrAlreadyUsed {
				t.Fatalf("Use of a token without uses: %v, want ErrAlreadyUsed", err)
			}
		} else if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(got, &want); err != nil {
			t.Fatalf("Use: %v", err)
		}
		if mode == fillZero {
			return
		}
		got, err = s.UseInitialAccessToken(ctx, want.Hash)
		want.RemainingUses--
		if err != nil && !(want.RemainingUses == 0 && err == storage.ErrAlreadyUsed) {
			t.Fatal(err)
		}
		if err := sameRecord(got, &want); err != nil {
			t.Fatalf("second Use: %v", err)
		}
	})
}

func TestMiscRoundTripConsent(t *testing.T) {
	eachFillMode(t, func(t *testing.T, mode fillMode) {
		ctx := t.Context()
		s, f := roundTripStore()
		var want storage.Consent
		f.fill(t, &want, mode)
		in := want
		in.Scopes, in.Resources = slices.Clone(want.Scopes), slices.Clone(want.Resources)
		if err := s.SaveConsent(ctx, &in); err != nil {
			t.Fatal(err)
		}
		scribble(in.Scopes, in.Resources)
		got, err := s.GetConsent(ctx, want.Subject, want.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(got, &want); err != nil {
			t.Fatalf("Get: %v", err)
		}
		scribble(got.Scopes, got.Resources)
		// A new decision for the same pair replaces every other field.
		var next storage.Consent
		f.fill(t, &next, mode)
		next.Subject, next.ClientID = want.Subject, want.ClientID
		if err := s.SaveConsent(ctx, &next); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetConsent(ctx, want.Subject, want.ClientID)
		if err != nil {
			t.Fatal(err)
		}
		if err := sameRecord(got, &next); err != nil {
			t.Fatalf("Get after replacing: %v", err)
		}
	})
}

// miscModel is what the misc tables should hold, kept the obvious way.
type miscModel struct {
	reqs     map[string]storage.AuthorizationRequest
	keys     map[string]modelKey
	iats     map[storage.Hash]storage.InitialAccessToken
	consents map[[2]string]storage.Consent
	jtis     map[string]time.Time
	seq      uint64
}

type modelKey struct {
	k   storage.SigningKey
	seq uint64
}

// modelExpired is the contract's expiry rule, written out again.
func modelExpired(exp, now time.Time) bool { return !exp.IsZero() && !now.Before(exp) }

// purge deletes what PurgeExpired should: up to limit expired records,
// table by table in the store's order, earliest expiry first in each.
func (m *miscModel) purge(now time.Time, limit int) int {
	type victim struct {
		at  time.Time
		del func()
	}
	n := 0
	take := func(vs []victim) {
		slices.SortFunc(vs, func(a, b victim) int { return a.at.Compare(b.at) })
		for _, v := range vs {
			if n == limit {
				return
			}
			v.del()
			n++
		}
	}
	var vs []victim
	for k, r := range m.reqs {
		if modelExpired(r.ExpiresAt, now) {
			vs = append(vs, victim{r.ExpiresAt, func() { delete(m.reqs, k) }})
		}
	}
	take(vs)
	vs = nil
	for k, r := range m.keys {
		if modelExpired(r.k.ExpiresAt, now) {
			vs = append(vs, victim{r.k.ExpiresAt, func() { delete(m.keys, k) }})
		}
	}
	take(vs)
	vs = nil
	for k, r := range m.iats {
		if modelExpired(r.ExpiresAt, now) {
			vs = append(vs, victim{r.ExpiresAt, func() { delete(m.iats, k) }})
		}
	}
	take(vs)
	vs = nil
	for k, r := range m.consents {
		if modelExpired(r.ExpiresAt, now) {
			vs = append(vs, victim{r.ExpiresAt, func() { delete(m.consents, k) }})
		}
	}
	take(vs)
	vs = nil
	for k, at := range m.jtis {
		if modelExpired(at, now) {
			vs = append(vs, victim{at, func() { delete(m.jtis, k) }})
		}
	}
	take(vs)
	return n
}

// TestMiscRandomOperations drives the misc tables with random operations
// over a few keys, so that duplicates, replacements, expiry and partial
// purges all happen often, and checks every answer and the tables'
// bookkeeping against miscModel after each step. With collide set, all
// keys hash to four values, so every lookup walks a chain of other keys.
func TestMiscRandomOperations(t *testing.T) {
	for _, collide := range []bool{false, true} {
		t.Run(fmt.Sprintf("collide=%v", collide), func(t *testing.T) {
			testMiscRandom(t, collide, 6000)
		})
	}
}

func testMiscRandom(t *testing.T, collide bool, steps int) {
	ctx := t.Context()
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	s := New(Options{Clock: func() time.Time { return now }})
	if collide {
		s.narrowHashes(3)
	}
	r := rand.New(rand.NewPCG(7, 8))
	m := &miscModel{
		reqs: map[string]storage.AuthorizationRequest{}, keys: map[string]modelKey{},
		iats: map[storage.Hash]storage.InitialAccessToken{}, consents: map[[2]string]storage.Consent{},
		jtis: map[string]time.Time{},
	}
	// Every expiry differs from every other by its nanoseconds, so that
	// the order a purge takes records in is the model's too.
	unique := 0
	when := func() time.Time {
		if r.IntN(5) == 0 {
			return time.Time{}
		}
		unique++
		return now.Add(time.Duration(r.IntN(120)-30)*time.Minute + time.Duration(unique))
	}
	strs := func(tag string) []string {
		switch n := r.IntN(9) - 2; {
		case n == -2:
			return nil
		case n == -1:
			return []string{}
		default:
			ss := make([]string, n)
			for i := range ss {
				ss[i] = fmt.Sprint(tag, r.IntN(100))
			}
			return ss
		}
	}
	id := func(p string) string { return fmt.Sprint(p, r.IntN(12)) }
	// Pairs that would collide if joined without care: ("ab","c") and
	// ("a","bc"), and empty parts.
	pair := func() [2]string {
		return [2]string{[]string{"a", "ab", ""}[r.IntN(3)], []string{"c", "bc", ""}[r.IntN(3)]}
	}
	fail := func(step int, op string, format string, args ...any) {
		t.Helper()
		t.Fatalf("step %d, %s: %s", step, op, fmt.Sprintf(format, args...))
	}
	// check compares an answer with the model's: the error, and the
	// record when one is due.
	check := func(step int, op string, got any, err error, want any, wantErr error) {
		t.Helper()
		if err != wantErr {
			fail(step, op, "error %v, want %v", err, wantErr)
		}
		if want == nil {
			if !reflect.ValueOf(got).IsNil() {
				fail(step, op, "got a record, want none")
			}
			return
		}
		if e := sameRecord(got, want); e != nil {
			fail(step, op, "%v", e)
		}
	}
	for step := range steps {
		var op string
		switch k := r.IntN(15); k {
		case 0:
			op = "SaveAuthorizationRequest"
			req := storage.AuthorizationRequest{
				ID: id("r"), ClientID: id("c"), State: fmt.Sprint(step),
				Scopes: strs("s"), Resources: strs("res"), Nonce: fmt.Sprint(r.IntN(3)),
				CreatedAt: now, ExpiresAt: when(),
			}
			err := s.SaveAuthorizationRequest(ctx, &req)
			if _, ok := m.reqs[req.ID]; ok {
				check(step, op, (*storage.AuthorizationRequest)(nil), err, nil, storage.ErrConflict)
			} else {
				check(step, op, (*storage.AuthorizationRequest)(nil), err, nil, nil)
				m.reqs[req.ID] = req
			}
		case 1, 2:
			rid := id("r")
			var got *storage.AuthorizationRequest
			var err error
			if k == 1 {
				op = "GetAuthorizationRequest " + rid
				got, err = s.GetAuthorizationRequest(ctx, rid)
			} else {
				op = "ConsumeAuthorizationRequest " + rid
				got, err = s.ConsumeAuthorizationRequest(ctx, rid)
			}
			want, ok := m.reqs[rid]
			switch {
			case !ok:
				check(step, op, got, err, nil, storage.ErrNotFound)
			case modelExpired(want.ExpiresAt, now):
				check(step, op, got, err, &want, storage.ErrExpired)
			default:
				check(step, op, got, err, &want, nil)
				if k == 2 {
					delete(m.reqs, rid)
				}
			}
		case 3:
			op = "AddKey"
			key := storage.SigningKey{
				ID: id("k"), Algorithm: "ES256", Private: []byte(fmt.Sprint(step)),
				CreatedAt: now.Add(time.Duration(r.IntN(3)) * time.Minute), ExpiresAt: when(),
			}
			err := s.AddKey(ctx, &key)
			if _, ok := m.keys[key.ID]; ok {
				check(step, op, (*storage.SigningKey)(nil), err, nil, storage.ErrConflict)
			} else {
				check(step, op, (*storage.SigningKey)(nil), err, nil, nil)
				m.seq++
				m.keys[key.ID] = modelKey{key, m.seq}
			}
		case 4:
			op = "ListKeys"
			got, err := s.ListKeys(ctx)
			if err != nil {
				fail(step, op, "%v", err)
			}
			var want []modelKey
			for _, k := range m.keys {
				if !modelExpired(k.k.ExpiresAt, now) {
					want = append(want, k)
				}
			}
			slices.SortFunc(want, func(a, b modelKey) int {
				return cmp.Or(a.k.CreatedAt.Compare(b.k.CreatedAt), cmp.Compare(a.seq, b.seq))
			})
			if len(got) != len(want) {
				fail(step, op, "%d keys, want %d", len(got), len(want))
			}
			for i := range want {
				if e := sameRecord(got[i], &want[i].k); e != nil {
					fail(step, op, "key %d: %v", i, e)
				}
			}
		case 5:
			kid := id("k")
			op = "RetireKey " + kid
			retired, exp := when(), when()
			err := s.RetireKey(ctx, kid, retired, exp)
			k, ok := m.keys[kid]
			if !ok {
				check(step, op, (*storage.SigningKey)(nil), err, nil, storage.ErrNotFound)
				break
			}
			check(step, op, (*storage.SigningKey)(nil), err, nil, nil)
			k.k.RetiredAt, k.k.ExpiresAt = retired, exp
			m.keys[kid] = k
		case 6:
			op = "SaveInitialAccessToken"
			tok := storage.InitialAccessToken{
				Hash: storage.HashOf(id("i")), Policy: fmt.Sprint(step),
				ExpiresAt: when(), RemainingUses: r.IntN(3), CreatedAt: now,
			}
			err := s.SaveInitialAccessToken(ctx, &tok)
			if _, ok := m.iats[tok.Hash]; ok {
				check(step, op, (*storage.InitialAccessToken)(nil), err, nil, storage.ErrConflict)
			} else {
				check(step, op, (*storage.InitialAccessToken)(nil), err, nil, nil)
				m.iats[tok.Hash] = tok
			}
		case 7:
			op = "UseInitialAccessToken"
			h := storage.HashOf(id("i"))
			got, err := s.UseInitialAccessToken(ctx, h)
			want, ok := m.iats[h]
			switch {
			case !ok:
				check(step, op, got, err, nil, storage.ErrNotFound)
			case modelExpired(want.ExpiresAt, now):
				check(step, op, got, err, &want, storage.ErrExpired)
			case want.RemainingUses <= 0:
				check(step, op, got, err, &want, storage.ErrAlreadyUsed)
			default:
				check(step, op, got, err, &want, nil)
				want.RemainingUses--
				m.iats[h] = want
			}
		case 8:
			op = "SaveConsent"
			p := pair()
			c := storage.Consent{
				Subject: p[0], ClientID: p[1], Scopes: strs("s"), Resources: strs("res"),
				CreatedAt: now, ExpiresAt: when(),
			}
			if err := s.SaveConsent(ctx, &c); err != nil {
				fail(step, op, "%v", err)
			}
			m.consents[p] = c
		case 9:
			p := pair()
			op = fmt.Sprintf("GetConsent %q", p)
			got, err := s.GetConsent(ctx, p[0], p[1])
			want, ok := m.consents[p]
			switch {
			case !ok:
				check(step, op, got, err, nil, storage.ErrNotFound)
			case modelExpired(want.ExpiresAt, now):
				check(step, op, got, err, &want, storage.ErrExpired)
			default:
				check(step, op, got, err, &want, nil)
			}
		case 10:
			p := pair()
			op = fmt.Sprintf("RevokeConsent %q", p)
			if err := s.RevokeConsent(ctx, p[0], p[1]); err != nil {
				fail(step, op, "%v", err)
			}
			delete(m.consents, p)
		case 11:
			key := id("j")
			op = "ReserveJTI " + key
			exp := when()
			err := s.ReserveJTI(ctx, key, exp)
			if until, ok := m.jtis[key]; ok && !modelExpired(until, now) {
				if err != storage.ErrAlreadyUsed {
					fail(step, op, "%v, want ErrAlreadyUsed", err)
				}
				break
			}
			if err != nil {
				fail(step, op, "%v", err)
			}
			m.jtis[key] = exp
		case 12:
			op = "clock"
			now = now.Add(time.Duration(r.IntN(60)-20) * time.Minute)
		default:
			limit := 1 + r.IntN(6)
			if r.IntN(4) == 0 {
				limit = 1 << 20
			}
			op = fmt.Sprint("PurgeExpired limit ", limit)
			got, err := s.PurgeExpired(ctx, now, limit)
			if err != nil {
				fail(step, op, "%v", err)
			}
			if want := m.purge(now, limit); got != want {
				fail(step, op, "purged %d, want %d", got, want)
			}
		}
		checkMiscBooks(t, step, op, s, m)
	}
}

// checkMiscBooks compares the tables' bookkeeping with the model: one slot
// per record, one heap entry per record that expires, arena bytes exactly
// when there are records, and no more index heads than records.
func checkMiscBooks(t *testing.T, step int, op string, s *Store, m *miscModel) {
	t.Helper()
	c := map[string]int{}
	s.requests.counts(c)
	s.keys.counts(c)
	s.iats.counts(c)
	s.consents.counts(c)
	s.jtis.counts(c)
	expiring := func(ts ...time.Time) int {
		n := 0
		for _, t := range ts {
			if !t.IsZero() {
				n++
			}
		}
		return n
	}
	type table struct {
		name, heads, heap, slots, arena string
		n, exp                          int
	}
	var reqExp, keyExp, iatExp, conExp, jtiExp int
	for _, r := range m.reqs {
		reqExp += expiring(r.ExpiresAt)
	}
	for _, k := range m.keys {
		keyExp += expiring(k.k.ExpiresAt)
	}
	for _, i := range m.iats {
		iatExp += expiring(i.ExpiresAt)
	}
	for _, c := range m.consents {
		conExp += expiring(c.ExpiresAt)
	}
	for _, at := range m.jtis {
		jtiExp += expiring(at)
	}
	for _, tb := range []table{
		{"requests", "requests", "request heap", "request slots", "request arena bytes", len(m.reqs), reqExp},
		{"keys", "keys", "key heap", "key slots", "key arena bytes", len(m.keys), keyExp},
		{"iats", "iats", "iat heap", "iat slots", "iat arena bytes", len(m.iats), iatExp},
		{"consents", "consents", "consent heap", "consent slots", "consent arena bytes", len(m.consents), conExp},
		{"jtis", "jtis", "jti heap", "jti slots", "jti arena bytes", len(m.jtis), jtiExp},
	} {
		switch {
		case c[tb.slots] != tb.n:
			t.Fatalf("step %d, %s: %d %s slots in use, want %d", step, op, c[tb.slots], tb.name, tb.n)
		case c[tb.heap] != tb.exp:
			t.Fatalf("step %d, %s: %d %s in the heap, want %d", step, op, c[tb.heap], tb.name, tb.exp)
		case c[tb.heads] > tb.n || (tb.n > 0) != (c[tb.heads] > 0):
			t.Fatalf("step %d, %s: %d %s index heads for %d records", step, op, c[tb.heads], tb.name, tb.n)
		case (tb.n > 0) != (c[tb.arena] > 0):
			t.Fatalf("step %d, %s: %d %s arena bytes for %d records", step, op, c[tb.arena], tb.name, tb.n)
		}
	}
}
