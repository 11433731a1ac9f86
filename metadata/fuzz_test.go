package metadata

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzRedirectURIMatches checks the safety property of redirect matching:
// two different URIs match only when both parse as http URLs on the same
// loopback host with the same path and query; in particular a match never
// sends the browser to a different host.
func FuzzRedirectURIMatches(f *testing.F) {
	seeds := [][2]string{
		{"http://127.0.0.1:33418/", "http://127.0.0.1:51234/"},
		{"http://localhost/callback", "http://LOCALHOST:1/callback"},
		{"http://[::1]/cb", "http://[::1]:2/cb"},
		{"http://127.0.0.1/", "http://127.0.0.1@evil.com/"},
		{"http://127.0.0.1/", "http://127.0.0.1:80\\@evil.com/"},
		{"http://localhost/cb", "http://localhost.:80/cb"},
		{"https://app.example.com/cb", "https://app.example.com/cb"},
		{"http://127.0.0.1?x", "http://127.0.0.1:1?x"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, registered, requested string) {
		if !RedirectURIMatches(registered, requested) || registered == requested {
			return
		}
		a, err1 := url.Parse(registered)
		b, err2 := url.Parse(requested)
		if err1 != nil || err2 != nil {
			t.Fatalf("matched unparsable URIs %q %q", registered, requested)
		}
		if a.Scheme != "http" || b.Scheme != "http" || a.User != nil || b.User != nil {
			t.Fatalf("relaxed match outside plain loopback http: %q %q", registered, requested)
		}
		if !strings.EqualFold(a.Hostname(), b.Hostname()) || !IsLoopbackHost(a.Hostname()) {
			t.Fatalf("different or non-loopback hosts matched: %q %q", registered, requested)
		}
		if a.EscapedPath() != b.EscapedPath() || a.RawQuery != b.RawQuery || a.Fragment != "" || b.Fragment != "" {
			t.Fatalf("path or query differs: %q %q", registered, requested)
		}
	})
}

// FuzzResourceEqual checks that resource equality agrees with the canonical
// form and never equates different hosts.
func FuzzResourceEqual(f *testing.F) {
	for _, s := range [][2]string{
		{"https://example.com", "https://example.com/"},
		{"HTTPS://Example.COM/mcp", "https://example.com/mcp"},
		{"https://u@example.com/", "https://example.com/"},
		{"urn:a:b", "URN:a:b"},
		{"https://example.com?x", "https://example.com/?x"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if ResourceEqual(a, b) != ResourceEqual(b, a) {
			t.Fatalf("not symmetric: %q %q", a, b)
		}
		ca, errA := CanonicalResource(a)
		cb, errB := CanonicalResource(b)
		if errA == nil && errB == nil && (ca == cb) != ResourceEqual(a, b) {
			t.Fatalf("ResourceEqual(%q, %q) = %v but canonical forms %q, %q", a, b, ResourceEqual(a, b), ca, cb)
		}
		if !ResourceEqual(a, b) || a == b {
			return
		}
		ua, err1 := url.Parse(a)
		ub, err2 := url.Parse(b)
		if err1 != nil || err2 != nil {
			t.Fatalf("equal but unparsable: %q %q", a, b)
		}
		if !strings.EqualFold(ua.Host, ub.Host) || !strings.EqualFold(ua.Scheme, ub.Scheme) {
			t.Fatalf("different hosts equal: %q %q", a, b)
		}
	})
}

// FuzzParseClient checks that decoding and validating arbitrary input never
// panics and that every failure is a *ClientError.
func FuzzParseClient(f *testing.F) {
	for _, s := range []string{vscodeCIMD, vscodeDCR, inspectorDCR, claudeCIMD, chatgptLikeCIMD, `{}`, `[]`, `{"a":1,"a":2}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseClient(data)
		if err != nil {
			if _, ok := err.(*ClientError); !ok {
				t.Fatalf("ParseClient error %T", err)
			}
			return
		}
		for _, opts := range []ClientValidation{{}, {IgnoreUnknownGrantTypes: true, AllowSingleLabelSchemes: true}} {
			if err := c.Validate(opts); err != nil {
				if _, ok := err.(*ClientError); !ok {
					t.Fatalf("Validate error %T", err)
				}
			}
		}
	})
}
