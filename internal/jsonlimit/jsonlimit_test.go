package jsonlimit

import (
	"strings"
	"testing"
)

func TestDepthOK(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want bool
	}{
		{`{}`, 1, true},
		{`{"a":{}}`, 1, false},
		{`{"a":{}}`, 2, true},
		{`[[[]]]`, 3, true},
		{`[[[]]]`, 2, false},
		{`{"a":"[[[[[[["}`, 1, true},     // brackets inside strings do not count
		{`{"a":"\"[[[["}`, 1, true},      // nor after an escaped quote
		{`{"a":"\\"}` + `[[[`, 2, false}, // an escaped backslash ends the escape
		{strings.Repeat("[", 33) + strings.Repeat("]", 33), 32, false},
		{strings.Repeat("[", 32) + strings.Repeat("]", 32), 32, true},
	}
	for _, c := range cases {
		if got := DepthOK([]byte(c.in), c.max); got != c.want {
			t.Errorf("DepthOK(%q, %d) = %v, want %v", c.in, c.max, got, c.want)
		}
	}
}
