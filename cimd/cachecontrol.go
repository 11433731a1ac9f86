package cimd

import (
	"net/http"
	"strings"
	"time"
)

// maxDeltaSeconds is the value RFC 9111 §1.2.2 prescribes for a
// delta-seconds value too large to represent.
const maxDeltaSeconds = 1 << 31

// CacheControl holds the Cache-Control response directives that decide how
// long a fetched document may be reused.
type CacheControl struct {
	// MaxAge is max-age in seconds; -1 when absent or malformed.
	MaxAge int64
	// SMaxAge is s-maxage in seconds; -1 when absent or malformed.
	SMaxAge int64
	// NoStore and NoCache report the no-store and no-cache directives
	// (no-cache with or without a field list).
	NoStore bool
	NoCache bool
}

// ParseCacheControl parses a Cache-Control field value (several field
// lines joined with commas). It never fails: directive names are matched
// case-insensitively, values may be tokens or quoted strings, commas inside
// quoted strings do not split directives, and anything malformed (a
// missing, signed, fractional or non-numeric delta-seconds) is ignored
// rather than guessed at. When a directive appears more than once, the
// first valid occurrence wins (RFC 9111 §4.2.1). Values beyond 2^31 are
// read as 2^31 (RFC 9111 §1.2.2).
func ParseCacheControl(v string) CacheControl {
	cc := CacheControl{MaxAge: -1, SMaxAge: -1}
	i := 0
	for i < len(v) {
		// Skip separators and whitespace before a directive.
		for i < len(v) && (v[i] == ',' || v[i] == ' ' || v[i] == '\t') {
			i++
		}
		start := i
		for i < len(v) && isTokenChar(v[i]) {
			i++
		}
		name := v[start:i]
		for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			i++
		}
		var (
			value    string
			hasValue bool
			valid    = name != ""
		)
		if i < len(v) && v[i] == '=' {
			i++
			for i < len(v) && (v[i] == ' ' || v[i] == '\t') {
				i++
			}
			hasValue = true
			if i < len(v) && v[i] == '"' {
				var ok bool
				value, i, ok = quotedString(v, i)
				valid = valid && ok
			} else {
				vs := i
				for i < len(v) && isTokenChar(v[i]) {
					i++
				}
				value = v[vs:i]
			}
		}
		// Whatever follows up to the next comma outside quotes makes the
		// directive malformed; skip it.
		for i < len(v) && v[i] != ',' {
			if v[i] != ' ' && v[i] != '\t' {
				valid = false
			}
			if v[i] == '"' {
				_, i, _ = quotedString(v, i)
				continue
			}
			i++
		}
		if !valid {
			if i == start && i < len(v) {
				i++ // guarantee progress on a stray byte
			}
			continue
		}
		switch {
		case strings.EqualFold(name, "max-age"):
			if n, ok := deltaSeconds(value, hasValue); ok && cc.MaxAge < 0 {
				cc.MaxAge = n
			}
		case strings.EqualFold(name, "s-maxage"):
			if n, ok := deltaSeconds(value, hasValue); ok && cc.SMaxAge < 0 {
				cc.SMaxAge = n
			}
		case strings.EqualFold(name, "no-store"):
			cc.NoStore = true
		case strings.EqualFold(name, "no-cache"):
			cc.NoCache = true
		}
	}
	return cc
}

// quotedString reads an RFC 9110 quoted-string starting at v[i] == '"'. It
// returns the unescaped content, the index after the closing quote, and
// whether the string was terminated.
func quotedString(v string, i int) (string, int, bool) {
	i++ // opening quote
	// Fast path: no escapes, return a substring.
	for j := i; j < len(v); j++ {
		if v[j] == '\\' {
			break
		}
		if v[j] == '"' {
			return v[i:j], j + 1, true
		}
	}
	var b strings.Builder
	for i < len(v) {
		c := v[i]
		switch {
		case c == '"':
			return b.String(), i + 1, true
		case c == '\\' && i+1 < len(v):
			b.WriteByte(v[i+1])
			i += 2
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), i, false
}

// deltaSeconds parses RFC 9111 delta-seconds: one or more digits.
func deltaSeconds(s string, present bool) (int64, bool) {
	if !present || s == "" {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		if n < maxDeltaSeconds {
			n = n*10 + int64(c-'0')
		}
	}
	return min(n, maxDeltaSeconds), true
}

// isTokenChar reports whether c is an RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// freshness returns how long a response with header h, received at now,
// may be reused before revalidation, clamped to [lo, hi]:
//
//   - no-store or no-cache: lo (a document is still needed for the request
//     at hand; this only stops it being reused longer than the minimum);
//   - else s-maxage, else max-age, else Expires minus Date (Date defaults
//     to now; an unparseable Expires means already expired), else lo;
//   - minus the Age the response already had (RFC 9111 §4.2.3).
//
// The second result reports whether the header carried any freshness
// information at all.
func freshness(h http.Header, now time.Time, lo, hi time.Duration) (time.Duration, bool) {
	cc := ParseCacheControl(strings.Join(h.Values("Cache-Control"), ","))
	var (
		life time.Duration
		info = true
	)
	switch {
	case cc.NoStore || cc.NoCache:
		return lo, true
	case cc.SMaxAge >= 0:
		life = time.Duration(cc.SMaxAge) * time.Second
	case cc.MaxAge >= 0:
		life = time.Duration(cc.MaxAge) * time.Second
	case len(h.Values("Expires")) > 0:
		exp, err := http.ParseTime(h.Get("Expires"))
		if err == nil {
			date := now
			if d, err := http.ParseTime(h.Get("Date")); err == nil {
				date = d
			}
			life = exp.Sub(date)
		}
	default:
		info = false
	}
	if age, ok := deltaSeconds(strings.TrimSpace(h.Get("Age")), h.Get("Age") != ""); ok {
		life -= time.Duration(age) * time.Second
	}
	return min(max(life, lo), hi), info
}
