package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"reflect"
	"strings"
	"testing"
)

// Redirect URIs real clients register or are sent to, plus attack shapes.
var redirectSeeds = []string{
	"http://127.0.0.1:33418/", "http://127.0.0.1/", "https://vscode.dev/redirect",
	"https://insiders.vscode.dev/redirect", "http://localhost:6274/oauth/callback",
	"http://localhost:6274/oauth/callback/debug", "https://claude.ai/api/mcp/auth_callback",
	"http://localhost/callback", "http://127.0.0.1/callback", "https://chatgpt.com/connector_platform_oauth_redirect",
	"cursor://anysphere.cursor-mcp/oauth/callback", "com.example.app:/oauth2redirect", "http://[::1]/cb",
	"http://127.0.0.1@evil.com/", "http://127.0.0.1:80\\@evil.com/", "http://localhost.:80/cb",
	"javascript://x/%0aalert(1)", "data:text/html,hi", "https://app.example.com/cb#x", "HTTP://127.0.0.1/",
	"http://127.0.0.1:0/", "http://127.1/", "http://LOCALHOST:1/callback", "http://127.0.0.1?x",
}

// FuzzRedirectURIMatches checks the safety properties of redirect matching:
// two different URIs match only when both parse as http URLs on the same
// loopback host with the same path and query (a match never sends the
// browser to a different host); the relation is symmetric; and a match
// with a registered URI that passes validation is itself a valid redirect
// URI, so an authorization request can never smuggle past the matcher a
// URI that registration would have refused.
func FuzzRedirectURIMatches(f *testing.F) {
	for i, s := range redirectSeeds {
		f.Add(s, s)
		f.Add(s, redirectSeeds[(i+1)%len(redirectSeeds)])
	}
	f.Add("http://127.0.0.1:33418/", "http://127.0.0.1:51234/")
	f.Add("http://localhost/callback", "http://localhost:49152/callback")
	f.Add("http://[::1]/cb", "http://[::1]:2/cb")
	f.Fuzz(func(t *testing.T, registered, requested string) {
		m := RedirectURIMatches(registered, requested)
		if m != RedirectURIMatches(requested, registered) {
			t.Fatalf("not symmetric: %q %q", registered, requested)
		}
		if !m {
			return
		}
		if registered == "" {
			t.Fatal("the empty string matched")
		}
		if checkRedirectURI(registered, "", ClientValidation{}) == "" {
			if why := checkRedirectURI(requested, "", ClientValidation{}); why != "" {
				t.Fatalf("valid %q matched %q, which %s", registered, requested, why)
			}
		}
		if registered == requested {
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

// FuzzResourceEqual checks that resource equality is symmetric, agrees
// with the canonical form, never equates different hosts, and that the
// canonical form is a fixed point equal to its input.
func FuzzResourceEqual(f *testing.F) {
	for _, s := range [][2]string{
		{"https://example.com", "https://example.com/"},
		{"HTTPS://Example.COM/mcp", "https://example.com/mcp"},
		{"https://u@example.com/", "https://example.com/"},
		{"urn:a:b", "URN:a:b"},
		{"https://example.com?x", "https://example.com/?x"},
		{"https://h.example/mcp", "https://h.example/mcp/"},
		{"https://example.com:443/", "https://example.com/"},
		{"http://[::1]:8080/mcp", "http://[::1]:8080/mcp"},
		{"https://example.com/%7e", "https://example.com/~"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		eq := ResourceEqual(a, b)
		if eq != ResourceEqual(b, a) {
			t.Fatalf("not symmetric: %q %q", a, b)
		}
		ca, errA := CanonicalResource(a)
		cb, errB := CanonicalResource(b)
		if errA == nil && errB == nil && (ca == cb) != eq {
			t.Fatalf("ResourceEqual(%q, %q) = %v but canonical forms %q, %q", a, b, eq, ca, cb)
		}
		if errA == nil {
			again, err := CanonicalResource(ca)
			if err != nil || again != ca {
				t.Fatalf("canonical form %q of %q is not a fixed point: %q, %v", ca, a, again, err)
			}
			if !ResourceEqual(a, ca) {
				t.Fatalf("%q is not equal to its canonical form %q", a, ca)
			}
			u, err := url.Parse(ca)
			if err != nil || u.Scheme != strings.ToLower(u.Scheme) || u.Host != strings.ToLower(u.Host) || u.User != nil || u.Fragment != "" {
				t.Fatalf("canonical form %q: %+v, %v", ca, u, err)
			}
		} else if !errors.Is(errA, ErrInvalidResource) {
			t.Fatalf("CanonicalResource error does not wrap ErrInvalidResource: %v", errA)
		}
		if !eq || a == b {
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

// validationModes are the option sets the client fuzzer validates with:
// the strict default, the lenient mode registration and metadata
// documents use, and one that also requires redirect URIs.
var validationModes = []ClientValidation{
	{},
	{IgnoreUnknownGrantTypes: true, AllowSingleLabelSchemes: true},
	{IgnoreUnknownGrantTypes: true, RequireRedirectURIs: true},
}

// FuzzParseClient decodes and validates arbitrary documents. Properties:
// every failure is a *ClientError whose description is short printable
// ASCII without '"' or '\\' (RFC 6749 §5.2); a client that passes validation has only safe redirect URIs (no
// fragment, no userinfo, no browser-interpreted scheme, http only on a
// loopback host) and https informational URLs; validation gives the same
// answer before and after ApplyDefaults; and an accepted client survives a
// JSON round trip unchanged and still valid.
func FuzzParseClient(f *testing.F) {
	for _, s := range []string{
		vscodeCIMD, vscodeDCR, inspectorDCR, claudeCIMD, chatgptLikeCIMD, `{}`, `[]`, `{"a":1,"a":2}`,
		`{"redirect_uris":["http://127.0.0.1@evil.com/"]}`,
		`{"redirect_uris":["javascript://x/%0aalert(1)"],"application_type":"native"}`,
		`{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}`,
		`{"redirect_uris":["https://a.example/cb"],"client_secret_expires_at":0,"contacts":["a@b"],"scope":"a b"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := ParseClient(data)
		if err != nil {
			checkClientError(t, "ParseClient", err)
			return
		}
		for _, opts := range validationModes {
			err := c.Validate(opts)
			d := *c
			d.ApplyDefaults()
			if errD := d.Validate(opts); (err == nil) != (errD == nil) {
				t.Fatalf("Validate(%+v) = %v before ApplyDefaults, %v after", opts, err, errD)
			}
			if err != nil {
				checkClientError(t, "Validate", err)
				continue
			}
			checkAcceptedClient(t, c)
			checkRoundTrip(t, c, opts)
		}
	})
}

func checkClientError(t *testing.T, what string, err error) {
	t.Helper()
	var ce *ClientError
	if !errors.As(err, &ce) {
		t.Fatalf("%s error %T: %v", what, err, err)
	}
	if ce.Code != ErrCodeInvalidClientMetadata && ce.Code != ErrCodeInvalidRedirectURI {
		t.Fatalf("%s error code %q", what, ce.Code)
	}
	if len(ce.Description) > 300 || !descriptionSafe(ce.Description) {
		t.Fatalf("%s error description is not short text within RFC 6749 §5.2's characters: %q", what, ce.Description)
	}
}

// checkAcceptedClient re-checks an accepted client's URIs with net/url,
// independently of the validator's own parsing.
func checkAcceptedClient(t *testing.T, c *Client) {
	t.Helper()
	for _, list := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs} {
		for _, r := range list {
			for i := 0; i < len(r); i++ {
				if b := r[i]; b <= 0x20 || b >= 0x7f || b == '\\' {
					t.Fatalf("accepted redirect URI %q has byte %#x", r, b)
				}
			}
			if strings.Contains(r, "#") {
				t.Fatalf("accepted redirect URI %q has a fragment", r)
			}
			u, err := url.Parse(r)
			if err != nil || !u.IsAbs() {
				t.Fatalf("accepted redirect URI %q does not parse as absolute: %v", r, err)
			}
			if u.User != nil || strings.Contains(u.Host, "@") {
				t.Fatalf("accepted redirect URI %q has userinfo", r)
			}
			switch scheme := strings.ToLower(u.Scheme); scheme {
			case "http":
				if !IsLoopbackHost(u.Hostname()) {
					t.Fatalf("accepted http redirect URI %q on a non-loopback host", r)
				}
			case "https":
				if u.Hostname() == "" {
					t.Fatalf("accepted https redirect URI %q without a host", r)
				}
			case "javascript", "data", "file", "vbscript", "about", "blob":
				t.Fatalf("accepted redirect URI %q with scheme %s", r, scheme)
			default:
				if scheme != u.Scheme {
					t.Fatalf("accepted redirect URI %q with a mixed-case scheme", r)
				}
			}
		}
	}
	for _, s := range []string{c.ClientURI, c.LogoURI, c.TOSURI, c.PolicyURI, c.JWKSURI} {
		if s == "" {
			continue
		}
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || strings.Contains(s, "#") {
			t.Fatalf("accepted informational URL %q", s)
		}
	}
	if len(c.JWKS) > 0 && c.JWKSURI != "" {
		t.Fatal("accepted both jwks and jwks_uri")
	}
	for _, g := range c.GrantTypes {
		if g == GrantImplicit || g == GrantPassword {
			t.Fatalf("accepted grant type %q", g)
		}
	}
	for _, r := range c.ResponseTypes {
		if r != ResponseTypeCode {
			t.Fatalf("accepted response type %q", r)
		}
	}
}

// checkRoundTrip marshals an accepted client, parses it back and expects
// the same client, still valid.
func checkRoundTrip(t *testing.T, c *Client, opts ClientValidation) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatalf("marshal accepted client: %v", err)
	}
	if buf.Len() > MaxClientMetadataBytes {
		return // unvalidated members (client_secret, ...) grew when escaped
	}
	back, err := ParseClient(buf.Bytes())
	if err != nil {
		t.Fatalf("re-parse of %s: %v", buf.Bytes(), err)
	}
	want := *c
	// An empty list is absent: omitempty drops it.
	for _, l := range []*[]string{&want.RedirectURIs, &want.GrantTypes, &want.ResponseTypes, &want.Contacts, &want.PostLogoutRedirectURIs} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(want.JWKS) > 0 {
		var compact bytes.Buffer
		if err := json.Compact(&compact, want.JWKS); err != nil {
			t.Fatalf("accepted jwks is not JSON: %v", err)
		}
		want.JWKS = compact.Bytes()
	}
	if !reflect.DeepEqual(&want, back) {
		t.Fatalf("round trip changed the client:\n%+v\n%+v", &want, back)
	}
	if err := back.Validate(opts); err != nil {
		t.Fatalf("round-tripped client no longer valid: %v", err)
	}
}
