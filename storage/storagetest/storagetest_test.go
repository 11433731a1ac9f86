package storagetest

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

func TestDiff(t *testing.T) {
	base := time.Date(2031, 1, 2, 3, 4, 5, 6000, time.UTC)
	cases := []struct {
		name     string
		got      any
		want     any
		differs  bool
		mentions string
	}{
		{"equal", &storage.Grant{ID: "a"}, &storage.Grant{ID: "a"}, false, ""},
		{"string", &storage.Grant{ID: "a"}, &storage.Grant{ID: "b"}, true, "ID"},
		{"nil equals empty", &storage.Grant{Scopes: nil}, &storage.Grant{Scopes: []string{}}, false, ""},
		{"order matters", &storage.Grant{Scopes: []string{"a", "b"}}, &storage.Grant{Scopes: []string{"b", "a"}}, true, "Scopes[0]"},
		{"sub-microsecond ignored", &storage.Grant{CreatedAt: base.Add(999)}, &storage.Grant{CreatedAt: base}, false, ""},
		{"microsecond counts", &storage.Grant{CreatedAt: base.Add(time.Microsecond)}, &storage.Grant{CreatedAt: base}, true, "CreatedAt"},
		{"location ignored", &storage.Grant{CreatedAt: base.In(time.FixedZone("x", 3600))}, &storage.Grant{CreatedAt: base}, false, ""},
		{"zero time", &storage.Grant{RevokedAt: base}, &storage.Grant{}, true, "RevokedAt"},
		{"hash", &storage.RefreshToken{Hash: storage.HashOf("a")}, &storage.RefreshToken{Hash: storage.HashOf("b")}, true, "Hash"},
		{"json as json", &storage.Client{Metadata: metadata.Client{JWKS: json.RawMessage(`{"a": 1, "b":[2]}`)}},
			&storage.Client{Metadata: metadata.Client{JWKS: json.RawMessage(`{"b":[2],"a":1}`)}}, false, ""},
		{"json differs", &storage.Client{Metadata: metadata.Client{JWKS: json.RawMessage(`{"a":1}`)}},
			&storage.Client{Metadata: metadata.Client{JWKS: json.RawMessage(`{"a":2}`)}}, true, "Metadata.JWKS"},
		{"nil pointer", &storage.Client{}, &storage.Client{Metadata: metadata.Client{ClientSecretExpiresAt: new(int64)}}, true, "ClientSecretExpiresAt"},
		{"list length", []*storage.Grant{{ID: "a"}}, []*storage.Grant{{ID: "a"}, {ID: "b"}}, true, "2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := Diff(c.got, c.want)
			if (len(d) > 0) != c.differs {
				t.Fatalf("Diff = %q, want differences: %v", d, c.differs)
			}
			if c.differs && !strings.Contains(strings.Join(d, " "), c.mentions) {
				t.Errorf("Diff = %q, want it to mention %q", d, c.mentions)
			}
		})
	}
}

func TestLongID(t *testing.T) {
	seen := map[string]bool{}
	for n := range 20 {
		id := LongID("client", n)
		if len(id) != 255 || !utf8.ValidString(id) || !utf8.ValidString(id[:254]) || strings.ContainsRune(id, 0) {
			t.Fatalf("LongID(%d) = %q: %d bytes", n, id, len(id))
		}
		if seen[id] {
			t.Fatalf("LongID(%d) repeats", n)
		}
		seen[id] = true
	}
	for _, want := range []string{"'", `"`, "%", "_", `\`, "|", "ü", "🔑"} {
		if !strings.Contains(LongID("x", 1), want) {
			t.Errorf("LongID lacks %q", want)
		}
	}
}

func TestClock(t *testing.T) {
	c := NewClock(time.Time{})
	if !c.Now().Equal(Epoch) {
		t.Fatalf("NewClock(zero) = %v, want Epoch", c.Now())
	}
	c.Advance(time.Second + 999)
	c.Advance(-2 * time.Second)
	if want := Epoch.Add(-time.Second); !c.Now().Equal(want) {
		t.Errorf("after advancing: %v, want %v", c.Now(), want)
	}
	if got := NewClock(Epoch.Add(1)).Now(); !got.Equal(Epoch) {
		t.Errorf("NewClock does not truncate to Precision: %v", got)
	}
}

// TestFixturesAreComplete guards the suite itself: a fixture with a zero
// field cannot catch a store that drops that field.
func TestFixturesAreComplete(t *testing.T) {
	h := &h{T: t, clk: NewClock(time.Time{})}
	g := h.grant("g", "s", "c")
	tok := h.token(g)
	tok.RotatedAt, tok.RevokedAt = Epoch, Epoch
	g.RevokedAt = Epoch
	c := h.client("c", storage.ClientRegistered)
	c.ExpiresAt, c.FirstUsedAt = Epoch, Epoch
	k := h.key("k", time.Hour)
	k.RetiredAt, k.ExpiresAt = Epoch, Epoch
	for _, v := range []any{c, h.request("r"), g, h.code(g), tok, k, h.iat(1), h.consent("s", "c")} {
		checkAllSet(t, reflect.TypeOf(v).Elem().Name(), reflect.ValueOf(v).Elem())
	}
}

func checkAllSet(t *testing.T, path string, v reflect.Value) {
	t.Helper()
	if v.Kind() == reflect.Struct && v.Type() != timeType {
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				checkAllSet(t, path+"."+f.Name, v.Field(i))
			}
		}
		return
	}
	if v.IsZero() || (v.Kind() == reflect.Slice && v.Len() == 0) {
		t.Errorf("fixture leaves %s unset", path)
	}
}

func TestCloneAndScribble(t *testing.T) {
	h := &h{T: t, clk: NewClock(time.Time{})}
	orig := h.client("c", storage.ClientRegistered)
	cp := clone(orig)
	if d := Diff(cp, orig); len(d) > 0 {
		t.Fatalf("clone differs: %q", d)
	}
	scribbleAll(cp)
	if d := Diff(cp, h.client("c", storage.ClientRegistered)); len(d) < 20 {
		t.Errorf("scribble changed only %d fields: %q", len(d), d)
	}
	// The original must not have been touched through shared memory.
	fresh := h.client("c", storage.ClientRegistered)
	fresh.SecretHash, fresh.RegistrationTokenHash = orig.SecretHash, orig.RegistrationTokenHash
	if d := Diff(orig, fresh); len(d) > 0 {
		t.Errorf("scribbling a clone changed the original: %q", d)
	}
}
