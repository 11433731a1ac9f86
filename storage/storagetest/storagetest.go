package storagetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// Precision is the coarsest time resolution a store may keep. Times are
// compared after truncation to it.
const Precision = time.Microsecond

// Epoch is where a new [Clock] starts: an instant with a non-zero
// microsecond part, so a store that drops sub-second digits is caught.
var Epoch = time.Date(2031, time.May, 6, 7, 8, 9, 123456000, time.UTC)

// Clock is a controllable clock for tests, safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// NewClock returns a clock standing at start truncated to [Precision], or
// at [Epoch] when start is zero.
func NewClock(start time.Time) *Clock {
	if start.IsZero() {
		start = Epoch
	}
	return &Clock{now: start.Truncate(Precision)}
}

// Now returns the clock's time. It has the signature stores take.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d, which may be negative, truncated to
// [Precision].
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d.Truncate(Precision))
}

// EqualTime reports whether a and b are the same instant at [Precision].
func EqualTime(a, b time.Time) bool {
	return a.Truncate(Precision).Equal(b.Truncate(Precision))
}

// Diff compares two records of the same storage type field by field under
// the suite's rules (times at [Precision], nil and empty slices equal, raw
// JSON as JSON) and returns the paths of the fields that differ, or nil.
// Implementers can use it in their own tests.
func Diff(got, want any) []string {
	var out []string
	diff("", reflect.ValueOf(got), reflect.ValueOf(want), &out)
	return out
}

var (
	timeType = reflect.TypeFor[time.Time]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

func diff(path string, a, b reflect.Value, out *[]string) {
	if !a.IsValid() || !b.IsValid() {
		if a.IsValid() != b.IsValid() {
			*out = append(*out, path+" (one side missing)")
		}
		return
	}
	if a.Type() != b.Type() {
		*out = append(*out, fmt.Sprintf("%s: type %s vs %s", path, a.Type(), b.Type()))
		return
	}
	switch {
	case a.Type() == timeType:
		ta, tb := a.Interface().(time.Time), b.Interface().(time.Time)
		if !EqualTime(ta, tb) || ta.IsZero() != tb.IsZero() {
			*out = append(*out, fmt.Sprintf("%s: %v, want %v", path, ta, tb))
		}
		return
	case a.Type() == rawType:
		if !sameJSON(a.Bytes(), b.Bytes()) {
			*out = append(*out, fmt.Sprintf("%s: %s, want %s", path, a.Bytes(), b.Bytes()))
		}
		return
	}
	switch a.Kind() {
	case reflect.Pointer, reflect.Interface:
		if a.IsNil() || b.IsNil() {
			if a.IsNil() != b.IsNil() {
				*out = append(*out, path+": nil vs non-nil")
			}
			return
		}
		diff(path, a.Elem(), b.Elem(), out)
	case reflect.Struct:
		for i := range a.NumField() {
			f := a.Type().Field(i)
			if f.IsExported() {
				diff(joinPath(path, f.Name), a.Field(i), b.Field(i), out)
			}
		}
	case reflect.Slice:
		if a.Len() != b.Len() {
			*out = append(*out, fmt.Sprintf("%s: %d elements, want %d (%v vs %v)", path, a.Len(), b.Len(), a, b))
			return
		}
		for i := range a.Len() {
			diff(fmt.Sprintf("%s[%d]", path, i), a.Index(i), b.Index(i), out)
		}
	case reflect.Map:
		if a.Len() != b.Len() {
			*out = append(*out, fmt.Sprintf("%s: %d entries, want %d", path, a.Len(), b.Len()))
			return
		}
		for _, k := range b.MapKeys() {
			diff(fmt.Sprintf("%s[%v]", path, k), a.MapIndex(k), b.MapIndex(k), out)
		}
	default:
		if !reflect.DeepEqual(a.Interface(), b.Interface()) {
			*out = append(*out, fmt.Sprintf("%s: %v, want %v", path, a, b))
		}
	}
}

func joinPath(p, name string) string {
	if p == "" {
		return name
	}
	return p + "." + name
}

func sameJSON(a, b []byte) bool {
	if len(a) == 0 || len(b) == 0 {
		return len(a) == len(b)
	}
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return bytes.Equal(a, b)
	}
	return reflect.DeepEqual(va, vb)
}

// LongID returns a valid UTF-8 string of exactly 255 bytes, unique for
// (prefix, n), full of characters that trip up naive escaping and key
// joining: quotes, percent and underscore (SQL LIKE), backslash, slash,
// '|' and ':' (common separators), spaces and multi-byte runes. Its last
// byte is ASCII, so cutting it off leaves valid UTF-8.
func LongID(prefix string, n int) string {
	const fill = ` 'q' "dq" %_\ /|: ünï 🔑 ;--`
	var b strings.Builder
	fmt.Fprintf(&b, "%s#%d#", prefix, n)
	for b.Len() < 254 {
		for _, r := range fill {
			if b.Len()+utf8.RuneLen(r) > 254 {
				b.WriteString(strings.Repeat("x", 254-b.Len()))
				break
			}
			b.WriteRune(r)
		}
	}
	b.WriteByte('z')
	return b.String()
}

// Run runs the conformance suite, one subtest per contract clause, grouped
// by noun. newStore must return a new, empty store that reads the time
// from clock; it may register cleanup with t. It is called once per
// subtest, never concurrently.
func Run(t *testing.T, newStore func(t *testing.T, clock func() time.Time) storage.Store) {
	t.Helper()
	for _, g := range groups() {
		t.Run(g.name, func(t *testing.T) {
			for _, c := range g.cases {
				t.Run(c.name, func(t *testing.T) {
					clk := NewClock(time.Time{})
					h := &h{T: t, clk: clk, ctx: t.Context()}
					h.s = newStore(t, clk.Now)
					if h.s == nil {
						t.Fatal("newStore returned nil")
					}
					c.fn(h)
				})
			}
		})
	}
}

type group struct {
	name  string
	cases []tc
}

type tc struct {
	name string
	fn   func(*h)
}

func groups() []group {
	return []group{
		{"Clients", clientCases},
		{"AuthorizationRequests", requestCases},
		{"Grants", grantCases},
		{"Codes", codeCases},
		{"RefreshTokens", refreshCases},
		{"Keys", keyCases},
		{"InitialAccessTokens", iatCases},
		{"Consents", consentCases},
		{"Replay", jtiCases},
		{"Copies", copyCases},
		{"IDs", idCases},
		{"Purge", purgeCases},
		{"Concurrency", concurrencyCases},
		{"Arguments", argumentCases},
	}
}

// h is one subtest's harness: its store, clock and context, and the
// fixture counter that keeps every secret unique.
type h struct {
	*testing.T
	s   storage.Store
	clk *Clock
	ctx context.Context
	n   int
}

func (h *h) now() time.Time { return h.clk.Now() }

// ok fails the test now if err is not nil.
func (h *h) ok(err error, what string) {
	h.Helper()
	if err != nil {
		h.Fatalf("%s: unexpected error %v", what, err)
	}
}

// is fails the test now unless errors.Is(err, target).
func (h *h) is(err, target error, what string) {
	h.Helper()
	if !errors.Is(err, target) {
		h.Fatalf("%s: error %v, want %v", what, err, target)
	}
}

// same reports the fields in which got differs from want.
func (h *h) same(what string, got, want any) {
	h.Helper()
	if d := Diff(got, want); len(d) > 0 {
		h.Errorf("%s differs:\n  %s", what, strings.Join(d, "\n  "))
	}
}

// sameIfAny is same for a record that a store may or may not return next
// to an error.
func (h *h) sameIfAny(what string, got, want any) {
	h.Helper()
	if !reflect.ValueOf(got).IsNil() {
		h.same(what, got, want)
	}
}

// secret returns a fresh secret and its hash.
func (h *h) secret(kind string) storage.Hash {
	h.n++
	return storage.HashOf(fmt.Sprintf("%s-secret-%d", kind, h.n))
}

// id returns a fresh plain identifier.
func (h *h) id(kind string) string {
	h.n++
	return fmt.Sprintf("%s-%d", kind, h.n)
}

// clone returns an independent deep copy of a record, to keep as the
// expected value while the original is handed to the store.
func clone[T any](v *T) *T {
	return deepCopy(reflect.ValueOf(v)).Interface().(*T)
}

func deepCopy(v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		p := reflect.New(v.Type().Elem())
		p.Elem().Set(deepCopy(v.Elem()))
		return p
	case reflect.Struct:
		n := reflect.New(v.Type()).Elem()
		n.Set(v)
		if v.Type() != timeType {
			for i := range v.NumField() {
				if v.Type().Field(i).IsExported() {
					n.Field(i).Set(deepCopy(v.Field(i)))
				}
			}
		}
		return n
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		s := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := range v.Len() {
			s.Index(i).Set(deepCopy(v.Index(i)))
		}
		return s
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		m := reflect.MakeMapWithSize(v.Type(), v.Len())
		for _, k := range v.MapKeys() {
			m.SetMapIndex(k, deepCopy(v.MapIndex(k)))
		}
		return m
	}
	return v
}

// fullMetadata returns client metadata with every member set, found by
// reflection so that a member added to metadata.Client later is covered
// without touching the suite.
func fullMetadata(tag string) metadata.Client {
	var m metadata.Client
	fill(reflect.ValueOf(&m).Elem(), tag)
	return m
}

func fill(v reflect.Value, tag string) {
	switch {
	case v.Type() == rawType:
		v.SetBytes([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":` + strconvQuote(tag) + `}]}`))
		return
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(Epoch))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(tag)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(1000 + len(tag)))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(1000 + len(tag)))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(len(tag)) + 0.5)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), tag)
		v.Set(p)
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				fill(v.Field(i), tag+"."+f.Name)
			}
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := range 2 {
			fill(s.Index(i), fmt.Sprintf("%s-%d", tag, i))
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, tag+"-key")
		fill(e, tag+"-value")
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}

func strconvQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// scribble overwrites, in place, everything reachable from v: strings,
// numbers, slice elements and pointees. Run on a value handed to or
// returned by a store, it shows whether the store shares memory with it.
func scribble(v reflect.Value) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			scribble(v.Elem())
		}
	case reflect.Struct:
		if v.Type() == timeType {
			if v.CanSet() {
				v.Set(reflect.ValueOf(time.Unix(1, 0)))
			}
			return
		}
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				scribble(v.Field(i))
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range v.Len() {
			scribble(v.Index(i))
		}
	case reflect.Map:
		for _, k := range v.MapKeys() {
			e := reflect.New(v.Type().Elem()).Elem()
			e.Set(v.MapIndex(k))
			scribble(e)
			v.SetMapIndex(k, e)
		}
	case reflect.String:
		if v.CanSet() {
			v.SetString(v.String() + "~scribbled")
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.CanSet() {
			v.SetInt(v.Int() + 7)
		}
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		if v.CanSet() {
			v.SetUint(v.Uint() ^ 0xa5)
		}
	case reflect.Bool:
		if v.CanSet() {
			v.SetBool(!v.Bool())
		}
	}
}

// scribbleAll scribbles every pointer it is given.
func scribbleAll(vs ...any) {
	for _, v := range vs {
		scribble(reflect.ValueOf(v))
	}
}

// parallel runs fn(0..n-1) in n goroutines released at the same moment,
// and waits for all of them. fn must not call t.Fatal.
func parallel(n int, fn func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			fn(i)
		})
	}
	close(start)
	wg.Wait()
}
