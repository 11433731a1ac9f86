package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nqrust/identity/metadata"
)

const s256 = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" // RFC 7636 Appendix B

// wantRefusal checks err against an expected OAuth code (code == "" means
// the request must pass) and a substring of the reason.
func wantRefusal(t *testing.T, err error, code, reason string) {
	t.Helper()
	if code == "" {
		if err != nil {
			t.Fatalf("refused: %v", err)
		}
		return
	}
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *Error %s", err, code)
	}
	if pe.Code != code || !strings.Contains(pe.Reason, reason) {
		t.Errorf("got %s %q, want %s containing %q", pe.Code, pe.Reason, code, reason)
	}
	if strings.ContainsAny(pe.Reason, "\"\\") {
		t.Errorf("reason %q has characters error_description forbids", pe.Reason)
	}
}

func TestPKCEEnforcer(t *testing.T) {
	strict := NewPKCEEnforcer(PKCEEnforcerConfig{})
	lax := NewPKCEEnforcer(PKCEEnforcerConfig{AllowPlain: true})
	cases := []struct {
		name            string
		ex              Executor
		challenge, meth string
		code, reason    string
	}{
		{"S256", strict, s256, "S256", "", ""},
		{"missing challenge", strict, "", "S256", "invalid_request", "code_challenge is required"},
		{"missing challenge, plain allowed", lax, "", "", "invalid_request", "code_challenge is required"},
		{"plain refused", strict, s256, "plain", "invalid_request", "plain is not allowed"},
		{"missing method means plain", strict, s256, "", "invalid_request", "must be S256"},
		{"plain allowed", lax, s256, "plain", "", ""},
		{"missing method allowed as plain", lax, s256, "", "", ""},
		{"lower-case s256", strict, s256, "s256", "invalid_request", "unsupported code_challenge_method"},
		{"unknown method", lax, s256, "S512", "invalid_request", "unsupported code_challenge_method"},
		{"too short", strict, s256[:42], "S256", "invalid_request", "43 to 128"},
		{"too long", strict, strings.Repeat("a", 129), "S256", "invalid_request", "43 to 128"},
		{"bad character", strict, s256[:42] + "=", "S256", "invalid_request", "43 to 128"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := &Request{Event: EventAuthorizationRequest, CodeChallenge: c.challenge, CodeChallengeMethod: c.meth}
			wantRefusal(t, c.ex.Execute(context.Background(), r), c.code, c.reason)
		})
	}
	if m, _ := maskOf(strict); m != 1<<EventAuthorizationRequest {
		t.Errorf("pkce-enforcer events = %b", m)
	}
}

func TestSecureRedirectURIs(t *testing.T) {
	def := NewSecureRedirectURIs(SecureRedirectURIsConfig{})
	strict := NewSecureRedirectURIs(SecureRedirectURIsConfig{DenyLoopbackHTTP: true, DenyPrivateUseSchemes: true})
	dev := NewSecureRedirectURIs(SecureRedirectURIsConfig{AllowHTTP: true})
	cases := []struct {
		name   string
		ex     Executor
		uri    string
		reason string // "" = accepted
	}{
		{"https", def, "https://app.example/cb", ""},
		{"loopback v4", def, "http://127.0.0.1:33418/", ""},
		{"loopback v6", def, "http://[::1]:8080/cb", ""},
		{"localhost", def, "http://localhost/cb", ""},
		{"loopback refused", strict, "http://127.0.0.1:33418/", "loopback http is not allowed"},
		{"http remote", def, "http://app.example/cb", "must use https"},
		{"http remote, dev", dev, "http://app.example/cb", ""},
		{"non-canonical loopback", def, "http://127.1/cb", "must use https"},
		{"localhost look-alike", def, "http://localhost.evil.com/cb", "must use https"},
		{"private-use", def, "com.example.app:/cb", ""},
		{"private-use refused", strict, "com.example.app:/cb", "private-use scheme, which is not allowed"},
		{"javascript", def, "javascript:alert(1)", "forbidden scheme javascript"},
		{"data", def, "data:text/html,x", "forbidden scheme data"},
		{"fragment", def, "https://app.example/cb#x", "fragment"},
		{"userinfo", def, "https://user@app.example/cb", "userinfo"},
		{"relative", def, "/cb", "not an absolute URI"},
		{"https without host", def, "https:///cb", "has no host"},
		{"space", def, "https://app.example/c b", "percent-encoded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := ""
			if c.reason != "" {
				code = "invalid_request"
			}
			err := c.ex.Execute(context.Background(), &Request{Event: EventAuthorizationRequest, RedirectURI: c.uri})
			wantRefusal(t, err, code, c.reason)
			if code != "" {
				code = "invalid_redirect_uri"
			}
			err = c.ex.Execute(context.Background(), &Request{Event: EventRegistration, Registration: &metadata.Client{RedirectURIs: []string{"https://ok.example/cb", c.uri}}})
			wantRefusal(t, err, code, c.reason)
			if code != "" && !strings.Contains(err.Error(), "redirect_uris[1]") {
				t.Errorf("registration error does not name the entry: %v", err)
			}
		})
	}
	// Nothing to check: no redirect_uri, no registration body.
	wantRefusal(t, def.Execute(context.Background(), &Request{Event: EventAuthorizationRequest}), "", "")
	wantRefusal(t, def.Execute(context.Background(), &Request{Event: EventRegistration}), "", "")
}

func TestSecureRedirectURIsJSON(t *testing.T) {
	cases := []struct {
		json string
		want SecureRedirectURIsConfig
		err  string
	}{
		{`{}`, SecureRedirectURIsConfig{}, ""},
		{`{"allow-loopback-http":true,"allow-private-use-schemes":true,"allow-http":false}`, SecureRedirectURIsConfig{}, ""},
		{`{"allow-loopback-http":false}`, SecureRedirectURIsConfig{DenyLoopbackHTTP: true}, ""},
		{`{"allow-private-use-schemes":false,"allow-http":true}`, SecureRedirectURIsConfig{DenyPrivateUseSchemes: true, AllowHTTP: true}, ""},
		{`{"allow-loopback":false}`, SecureRedirectURIsConfig{}, `unknown field "allow-loopback"`},
	}
	for _, c := range cases {
		var got SecureRedirectURIsConfig
		err := DecodeConfig(json.RawMessage(c.json), &got)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%s: err = %v, want %q", c.json, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: got %+v, %v; want %+v", c.json, got, err, c.want)
		}
		out, _ := json.Marshal(got)
		var back SecureRedirectURIsConfig
		if err := json.Unmarshal(out, &back); err != nil || back != got {
			t.Errorf("%s: round trip %s -> %+v, %v", c.json, out, back, err)
		}
	}
}

func TestResourceAllowList(t *testing.T) {
	ex, err := NewResourceAllowList(ResourceAllowListConfig{Resources: []string{"https://mcp.example.com/mcp", "HTTPS://Other.Example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	empty, err := NewResourceAllowList(ResourceAllowListConfig{})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name      string
		ex        Executor
		resources []string
		reason    string
	}{
		{"none requested", ex, nil, ""},
		{"exact", ex, []string{"https://mcp.example.com/mcp"}, ""},
		{"case of scheme and host", ex, []string{"HTTPS://MCP.example.com/mcp"}, ""},
		{"empty path equals slash", ex, []string{"https://other.example.com/"}, ""},
		{"empty path equals slash, other way", ex, []string{"https://other.example.com"}, ""},
		{"several, all allowed", ex, []string{"https://mcp.example.com/mcp", "https://other.example.com"}, ""},
		{"path case matters", ex, []string{"https://mcp.example.com/MCP"}, "requested resource 1 is not allowed"},
		{"trailing slash matters", ex, []string{"https://mcp.example.com/mcp/"}, "not allowed"},
		{"default port not normalised", ex, []string{"https://mcp.example.com:443/mcp"}, "not allowed"},
		{"second not allowed", ex, []string{"https://mcp.example.com/mcp", "https://evil.example/mcp"}, "requested resource 2 is not allowed"},
		{"fragment", ex, []string{"https://mcp.example.com/mcp#x"}, "not a valid resource indicator"},
		{"relative", ex, []string{"/mcp"}, "not a valid resource indicator"},
		{"empty list refuses", empty, []string{"https://mcp.example.com/mcp"}, "not allowed"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code := ""
			if c.reason != "" {
				code = "invalid_target"
			}
			for _, ev := range []Event{EventAuthorizationRequest, EventTokenRequest, EventRefresh} {
				wantRefusal(t, c.ex.Execute(context.Background(), &Request{Event: ev, Resources: c.resources}), code, c.reason)
			}
		})
	}
	if _, err := NewResourceAllowList(ResourceAllowListConfig{Resources: []string{"https://a.example/#frag"}}); err == nil || !strings.Contains(err.Error(), "resources[0]") {
		t.Errorf("bad configured resource: %v", err)
	}
}

// TestBuiltinsThroughEngine checks the executors' refusals as the engine
// reports them, loaded from JSON.
func TestBuiltinsThroughEngine(t *testing.T) {
	e, err := Load(NewRegistry(), []byte(`{
	  "profiles": [{"name": "oauth21", "executors": [
	    {"executor": "pkce-enforcer"},
	    {"executor": "secure-redirect-uris", "configuration": {"allow-private-use-schemes": false}},
	    {"executor": "resource-allow-list", "configuration": {"resources": ["https://mcp.example.com/mcp"]}}
	  ]}],
	  "policies": [{"name": "everyone", "enabled": true,
	    "conditions": [{"condition": "any-client"}], "profiles": ["oauth21"]}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	good := func() *Request {
		return &Request{Event: EventAuthorizationRequest, ClientID: "c", ResponseType: "code",
			CodeChallenge: s256, CodeChallengeMethod: "S256", RedirectURI: "http://127.0.0.1:5000/cb",
			Resources: []string{"https://mcp.example.com/mcp"}}
	}
	cases := []struct {
		name     string
		mutate   func(*Request)
		code     string
		executor string
	}{
		{"all good", func(*Request) {}, "", ""},
		{"no PKCE", func(r *Request) { r.CodeChallenge = "" }, "invalid_request", "pkce-enforcer"},
		{"private-use refused", func(r *Request) { r.RedirectURI = "com.example:/cb" }, "invalid_request", "secure-redirect-uris"},
		{"resource", func(r *Request) { r.Resources = []string{"https://evil.example/"} }, "invalid_target", "resource-allow-list"},
		{"token request skips PKCE and redirect checks", func(r *Request) {
			r.Event, r.CodeChallenge, r.RedirectURI = EventTokenRequest, "", "javascript:x"
		}, "", ""},
		{"registration", func(r *Request) {
			r.Event, r.Registration = EventRegistration, &metadata.Client{RedirectURIs: []string{"http://app.example/cb"}}
		}, "invalid_redirect_uri", "secure-redirect-uris"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good()
			c.mutate(r)
			err := e.Evaluate(context.Background(), r)
			wantRefusal(t, err, c.code, "")
			var pe *Error
			if errors.As(err, &pe) && (pe.Executor != c.executor || pe.Policy != "everyone" || pe.Profile != "oauth21") {
				t.Errorf("error names %s/%s/%s", pe.Policy, pe.Profile, pe.Executor)
			}
		})
	}
	for _, bad := range []string{
		`{"profiles":[{"name":"p","executors":[{"executor":"pkce-enforcer","configuration":{"allow-plain":"yes"}}]}]}`,
		`{"profiles":[{"name":"p","executors":[{"executor":"pkce-enforcer","configuration":{"allowPlain":true}}]}]}`,
		`{"profiles":[{"name":"p","executors":[{"executor":"resource-allow-list","configuration":{"resources":["not a uri"]}}]}]}`,
		`{"profiles":[{"name":"p","executors":[{"executor":"secure-redirect-uris","configuration":{"allow-https":true}}]}]}`,
		`{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"any-client","configuration":{"x":1}}]}]}`,
		`{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"client-kind","configuration":{"kinds":["dcr"]}}]}]}`,
		`{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"grant-type","configuration":{"grant_types":["x"]}}]}]}`,
	} {
		if _, err := Load(NewRegistry(), []byte(bad)); err == nil {
			t.Errorf("accepted %s", bad)
		} else if !strings.Contains(err.Error(), `profiles[0] "p": executors[0]`) && !strings.Contains(err.Error(), `policies[0] "a": conditions[0]`) {
			t.Errorf("error does not name the place: %v", err)
		}
	}
}
