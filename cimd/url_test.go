package cimd_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/nqrust/identity/cimd"
)

func TestValidateClientIDURL(t *testing.T) {
	ok := []string{
		vscodeID,
		"https://vscode.dev/",
		"https://claude.ai/oauth/mcp-oauth-client-metadata",
		"https://example.com:8443/client.json",
		"https://example.com/a/b/c.json",
		"https://example.com/client%20metadata.json",
		"https://example.com/a!b$c&d'e(f)g*h+i,j;k=l:m@n",
		"https://127.0.0.1/x.json",
		"https://[::1]/x.json",
		"https://[::ffff:127.0.0.1]/x.json",
		"https://xn--vscod-4we.dev/x",
		"https://example.com/.well-known/client",
		"https://example.com/a..b/c.",
	}
	for _, u := range ok {
		if err := cimd.ValidateClientIDURL(u, false); err != nil {
			t.Errorf("%q refused: %v", u, err)
		}
	}
	bad := []struct {
		url       string
		allowHTTP bool
		reason    string
	}{
		{"", false, cimd.ReasonEmptyClientID},
		{"https://example.com/" + strings.Repeat("a", cimd.MaxClientIDLength), false, cimd.ReasonTooLong},
		{"http://example.com/x", false, cimd.ReasonHTTPNotAllowed},
		{"HTTPS://example.com/x", false, cimd.ReasonScheme},
		{"Https://example.com/x", false, cimd.ReasonScheme},
		{"ftp://example.com/x", false, cimd.ReasonScheme},
		{"javascript:alert(1)", false, cimd.ReasonScheme},
		{"example.com/x", false, cimd.ReasonMalformedURL},
		{"https:/example.com/x", false, cimd.ReasonScheme},
		{"https://vscode.dev@evil.com/x", false, cimd.ReasonUserinfo},
		{"https://user:pw@example.com/x", false, cimd.ReasonUserinfo},
		{"https://@example.com/x", false, cimd.ReasonUserinfo},
		{"https://example.com/x#", false, cimd.ReasonFragment},
		{"https://example.com/x#frag", false, cimd.ReasonFragment},
		{"https://example.com/x?", false, cimd.ReasonQuery},
		{"https://example.com/x?a=b", false, cimd.ReasonQuery},
		{"https://example.com", false, cimd.ReasonEmptyPath},
		{"https://example.com:443", false, cimd.ReasonEmptyPath},
		{"https:///x", false, cimd.ReasonNoHost},
		{"https://:443/x", false, cimd.ReasonNoHost},
		{"https://VSCODE.DEV/oauth/client-metadata.json", false, cimd.ReasonInvalidHost},
		{"https://VSCode.dev/x", false, cimd.ReasonInvalidHost},
		{"https://vscode.dev./x", false, cimd.ReasonInvalidHost},
		{"https://2130706433/x", false, cimd.ReasonInvalidHost},
		{"https://0177.0.0.1/x", false, cimd.ReasonInvalidHost},
		{"https://0x7f.1/x", false, cimd.ReasonInvalidHost},
		{"https://127.1/x", false, cimd.ReasonInvalidHost},
		{"https://exa_mple.com/x", false, cimd.ReasonInvalidHost},
		{"https://[::FFFF:127.0.0.1]/x", false, cimd.ReasonInvalidHost},
		{"https://[127.0.0.1]/x", false, cimd.ReasonInvalidHost},
		{"https://[fe80::1%25eth0]/x", false, cimd.ReasonInvalidHost},
		{"https://[::1/x", false, cimd.ReasonMalformedURL},
		{"https://%65xample.com/x", false, cimd.ReasonInvalidHost},
		{"https://example.com:0/x", false, cimd.ReasonPort},
		{"https://example.com:0443/x", false, cimd.ReasonPort},
		{"https://example.com:65536/x", false, cimd.ReasonPort},
		{"https://example.com:/x", false, cimd.ReasonPort},
		{"https://example.com:https/x", false, cimd.ReasonPort},
		{"https://vscodе.dev/x", false, cimd.ReasonCharacters},
		{"https://example.com/a b", false, cimd.ReasonCharacters},
		{"https://example.com/a\tb", false, cimd.ReasonCharacters},
		{"https://example.com/\x00", false, cimd.ReasonCharacters},
		{"https://example.com\\@evil.com/x", false, cimd.ReasonCharacters},
		{"https://example.com/é", false, cimd.ReasonCharacters},
		{"https://example.com/a\\b", false, cimd.ReasonPathTraversal},
		{"https://example.com/a/../b", false, cimd.ReasonPathTraversal},
		{"https://example.com/a/./b", false, cimd.ReasonPathTraversal},
		{"https://example.com/..", false, cimd.ReasonPathTraversal},
		{"https://example.com/a/.", false, cimd.ReasonPathTraversal},
		{"https://example.com/a/%2e%2e/b", false, cimd.ReasonPathTraversal},
		{"https://example.com/a/%2E%2E/b", false, cimd.ReasonPathTraversal},
		{"https://example.com/a/.%2e/b", false, cimd.ReasonPathTraversal},
		{"https://example.com/a/%2e/b", false, cimd.ReasonPathTraversal},
		{"https://example.com/a%2fb", false, cimd.ReasonPathTraversal},
		{"https://example.com/a%2Fb", false, cimd.ReasonPathTraversal},
		{"https://example.com/a%5cb", false, cimd.ReasonPathTraversal},
		{"https://example.com/a%5C..%5Cb", false, cimd.ReasonPathTraversal},
		{"https://example.com/x%2ejson", false, cimd.ReasonPathTraversal},
		{"https://example.com/a%zz", false, cimd.ReasonMalformedURL},
		{"https://example.com/a%2", false, cimd.ReasonMalformedURL},
		{"https://example.com/a{b}", false, cimd.ReasonMalformedURL},
	}
	for _, c := range bad {
		err := cimd.ValidateClientIDURL(c.url, c.allowHTTP)
		var ce *cimd.Error
		if !errors.As(err, &ce) {
			t.Errorf("%q: got %v, want %q", c.url, err, c.reason)
			continue
		}
		if ce.Class != cimd.ClassURL || ce.Reason != c.reason {
			t.Errorf("%q: got %v %q, want %q", c.url, ce.Class, ce.Reason, c.reason)
		}
	}
	if err := cimd.ValidateClientIDURL("http://localhost:3000/client.json", true); err != nil {
		t.Errorf("http refused with allowHTTP: %v", err)
	}
}

// FuzzValidateClientIDURL checks that whatever the validator accepts,
// net/url reads the same way: https, a lower-case host, a path without dot
// segments, and nothing else.
func FuzzValidateClientIDURL(f *testing.F) {
	for _, s := range []string{vscodeID, "https://[::1]:8443/a", "https://a.b/%2e%2e/", "https://a@b/c", "https://a/b?c#d", "https://a\\b/c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if cimd.ValidateClientIDURL(s, false) != nil {
			return
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatalf("%q accepted but does not parse: %v", s, err)
		}
		if u.Scheme != "https" || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" ||
			u.Hostname() == "" || u.Hostname() != strings.ToLower(u.Hostname()) || !strings.HasPrefix(u.Path, "/") {
			t.Fatalf("%q accepted: %#v", s, u)
		}
		for seg := range strings.SplitSeq(u.Path, "/") {
			if seg == "." || seg == ".." || strings.Contains(seg, "\\") {
				t.Fatalf("%q accepted with decoded path %q", s, u.Path)
			}
		}
		if u.String() != s {
			t.Fatalf("%q accepted but re-serialises as %q", s, u.String())
		}
	})
}
