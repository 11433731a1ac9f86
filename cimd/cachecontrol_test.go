package cimd_test

import (
	"testing"

	"github.com/nqrust/identity/cimd"
)

func TestParseCacheControl(t *testing.T) {
	cases := []struct {
		in      string
		maxAge  int64
		sMaxAge int64
		noStore bool
		noCache bool
	}{
		{"", -1, -1, false, false},
		{"max-age=600", 600, -1, false, false},
		{"MAX-AGE=600", 600, -1, false, false},
		{"public, max-age=600, s-maxage=60", 600, 60, false, false},
		{"no-store, no-cache, max-age=0", 0, -1, true, true},
		{"max-age=\"120\"", 120, -1, false, false},
		{"max-age = 120", 120, -1, false, false},
		{"max-age=-5", -1, -1, false, false},
		{"max-age=+5", -1, -1, false, false},
		{"max-age=1.5", -1, -1, false, false},
		{"max-age=", -1, -1, false, false},
		{"max-age", -1, -1, false, false},
		{"max-age=abc", -1, -1, false, false},
		{"max-age=10 20", -1, -1, false, false},
		{"max-age=99999999999999999999999", 1 << 31, -1, false, false},
		{"max-age=5, max-age=10", 5, -1, false, false},
		{"max-age=x, max-age=10", 10, -1, false, false},
		{`foo=",max-age=5,", s-maxage=7`, -1, 7, false, false},
		{`foo="a\",max-age=5", max-age=9`, 9, -1, false, false},
		{`no-cache="Set-Cookie, X-Foo", max-age=30`, 30, -1, false, true},
		{`private="max-age=1"`, -1, -1, false, false},
		{"no-store", -1, -1, true, false},
		{",,, ,max-age=3,,", 3, -1, false, false},
		{"max-age=3;foo", -1, -1, false, false},
		{`"max-age=3"`, -1, -1, false, false},
		{`max-age="3`, -1, -1, false, false},
		{"s-maxage=0", -1, 0, false, false},
		{"\tmax-age=4\t", 4, -1, false, false},
	}
	for _, c := range cases {
		got := cimd.ParseCacheControl(c.in)
		want := cimd.CacheControl{MaxAge: c.maxAge, SMaxAge: c.sMaxAge, NoStore: c.noStore, NoCache: c.noCache}
		if got != want {
			t.Errorf("ParseCacheControl(%q) = %+v, want %+v", c.in, got, want)
		}
	}
}

func FuzzParseCacheControl(f *testing.F) {
	for _, s := range []string{"", "max-age=600", "no-store, no-cache, max-age=0", `a="b,c", s-maxage=1`,
		`max-age="12`, "max-age=99999999999999999999", `"\`, "=,=,", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		cc := cimd.ParseCacheControl(s)
		for _, v := range []int64{cc.MaxAge, cc.SMaxAge} {
			if v < -1 || v > 1<<31 {
				t.Fatalf("%q: value %d out of range", s, v)
			}
		}
	})
}
