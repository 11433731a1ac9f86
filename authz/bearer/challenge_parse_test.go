package bearer

import (
	"errors"
	"testing"
)

// parseChallenge parses one WWW-Authenticate challenge the way a strict
// client would (RFC 9110 §11.6.1): auth-scheme, then a comma-separated
// list of auth-params whose values are tokens or quoted-strings. It
// refuses control characters, non-ASCII bytes, repeated parameters and
// anything after the challenge, so a value that broke out of its quotes
// shows up as an error or as an extra parameter.
func parseChallenge(h string) (scheme string, params map[string]string, err error) {
	for i := 0; i < len(h); i++ {
		if c := h[i]; (c < 0x20 && c != '\t') || c >= 0x7f {
			return "", nil, errors.New("control or non-ASCII byte")
		}
	}
	i := 0
	for i < len(h) && isTChar(h[i]) {
		i++
	}
	if i == 0 {
		return "", nil, errors.New("no auth-scheme")
	}
	scheme, params = h[:i], map[string]string{}
	if i == len(h) {
		return scheme, params, nil
	}
	if h[i] != ' ' {
		return "", nil, errors.New("auth-scheme not followed by a space")
	}
	for i < len(h) && h[i] == ' ' {
		i++
	}
	for {
		start := i
		for i < len(h) && isTChar(h[i]) {
			i++
		}
		if i == start {
			return "", nil, errors.New("empty parameter name")
		}
		name := h[start:i]
		if i == len(h) || h[i] != '=' {
			return "", nil, errors.New("parameter without '='")
		}
		i++
		var val []byte
		if i < len(h) && h[i] == '"' {
			i++
			closed := false
			for i < len(h) {
				c := h[i]
				if c == '\\' {
					if i+1 == len(h) {
						return "", nil, errors.New("dangling backslash")
					}
					val = append(val, h[i+1])
					i += 2
					continue
				}
				if c == '"' {
					i++
					closed = true
					break
				}
				val = append(val, c)
				i++
			}
			if !closed {
				return "", nil, errors.New("unterminated quoted-string")
			}
		} else {
			start := i
			for i < len(h) && isTChar(h[i]) {
				i++
			}
			if i == start {
				return "", nil, errors.New("empty token value")
			}
			val = []byte(h[start:i])
		}
		if _, dup := params[name]; dup {
			return "", nil, errors.New("parameter " + name + " repeated")
		}
		params[name] = string(val)
		for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
			i++
		}
		if i == len(h) {
			return scheme, params, nil
		}
		if h[i] != ',' {
			return "", nil, errors.New("junk after a parameter")
		}
		i++
		for i < len(h) && (h[i] == ' ' || h[i] == '\t') {
			i++
		}
	}
}

// isTChar reports whether c is an RFC 9110 §5.6.2 tchar.
func isTChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func TestParseChallenge(t *testing.T) {
	s, p, err := parseChallenge(`Bearer error="invalid_token", scope="a b", resource_metadata="https://h/x?a=\"1\"", realm=tok`)
	if err != nil || s != "Bearer" || p["error"] != "invalid_token" || p["scope"] != "a b" ||
		p["resource_metadata"] != `https://h/x?a="1"` || p["realm"] != "tok" || len(p) != 4 {
		t.Fatalf("parse = %q %q %v", s, p, err)
	}
	if s, p, err := parseChallenge("Bearer"); err != nil || s != "Bearer" || len(p) != 0 {
		t.Fatalf("bare scheme: %q %q %v", s, p, err)
	}
	for _, bad := range []string{
		`Bearer a="x", a="y"`, `Bearer a="x`, "Bearer a=\"x\r\nSet-Cookie: y\"", `Bearer a="x" b="y"`,
		`Bearer a`, `Bearer ="x"`, "Bearer a=\"\xff\"", `Bearer a="x\`,
	} {
		if _, _, err := parseChallenge(bad); err == nil {
			t.Errorf("parseChallenge(%q) accepted", bad)
		}
	}
}
