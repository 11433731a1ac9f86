package cimd_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
)

// seedConfig is the seed guide's VS Code desktop profile.
func seedConfig() cimd.ExecutorConfig {
	return cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev", "127.0.0.1"}}
}

func newExec(t *testing.T, r *cimd.Resolver, cfg cimd.ExecutorConfig) *cimd.Executor {
	t.Helper()
	e, err := cimd.NewExecutor(r, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// loopbackPort returns a port the OS considers free, as VS Code's fallback
// listener would get.
func loopbackPort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func authzReq(clientID, redirect string) *policy.Request {
	return &policy.Request{
		Event:               policy.EventAuthorizationRequest,
		ClientID:            clientID,
		RedirectURI:         redirect,
		ResponseType:        "code",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Resources:           []string{"https://mcp.example.com/mcp"},
	}
}

// TestVSCodeDesktop is the seed guide's scenario: trusted domains
// "vscode.dev, 127.0.0.1", restrict-same-domain and confidential-only off,
// and VS Code's real document served at its real URL.
//
// The document used here is VS Code's recent shape, whose client_uri is on
// vscode.dev and which carries no logo_uri. Some copies carry a logo_uri on
// code.visualstudio.com; with the seed's trusted domains that document is
// refused (as Keycloak refuses it), and adding code.visualstudio.com to the
// trusted domains admits it. Both are asserted below.
func TestVSCodeDesktop(t *testing.T) {
	s := newSite(t)
	s.json(vscodeID, encode(t, vscodeDoc()), "Cache-Control", "no-store, no-cache, max-age=0")
	clk := newClock()
	r := s.resolver(t, clk, cimd.Options{})
	e := newExec(t, r, seedConfig())

	redirect := fmt.Sprintf("http://127.0.0.1:%d/", loopbackPort(t))
	req := authzReq(vscodeID, redirect)
	if err := e.Execute(bg, req); err != nil {
		t.Fatalf("VS Code refused: %v", err)
	}
	c := req.Client
	if c == nil || c.ID != vscodeID || c.Kind != storage.ClientMetadataDocument ||
		c.Metadata.ClientName != "Visual Studio Code" || c.Metadata.TokenEndpointAuthMethod != "none" ||
		!c.SecretHash.IsZero() || c.ExpiresAt.IsZero() {
		t.Fatalf("client %+v", c)
	}
	for _, ok := range []string{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"} {
		if err := e.Execute(bg, authzReq(vscodeID, ok)); err != nil {
			t.Errorf("%s refused: %v", ok, err)
		}
	}
	if s.hitsFor(vscodeID) != 1 {
		t.Fatalf("fetched %d times", s.hitsFor(vscodeID))
	}
	for _, ap := range s.srv.Dialed() {
		if ap.Addr().String() != publicAddr || ap.Port() != 443 {
			t.Fatalf("dialled %v", ap)
		}
	}

	// Token endpoint: the client comes from the cache...
	tok := &policy.Request{Event: policy.EventTokenRequest, ClientID: vscodeID, GrantType: "authorization_code", RedirectURI: redirect}
	if err := e.Execute(bg, tok); err != nil || tok.Client == nil || tok.Client.ID != vscodeID {
		t.Fatalf("token request: %v", err)
	}
	if s.hitsFor(vscodeID) != 1 {
		t.Fatal("token request refetched a fresh document")
	}
	// ...and is fetched again once the cached copy expired.
	clk.Add(cimd.DefaultMinCacheTime)
	ref := &policy.Request{Event: policy.EventRefresh, ClientID: vscodeID, GrantType: "refresh_token"}
	if err := e.Execute(bg, ref); err != nil || ref.Client == nil {
		t.Fatalf("refresh: %v", err)
	}
	if s.hitsFor(vscodeID) != 2 {
		t.Fatalf("expired document not refetched at refresh (hits %d)", s.hitsFor(vscodeID))
	}

	// The variant with a logo on code.visualstudio.com.
	logoID := "https://vscode.dev/oauth/client-metadata-with-logo.json"
	s.json(logoID, encode(t, with(vscodeDoc(), "client_id", logoID, "logo_uri", "https://code.visualstudio.com/assets/images/code-stable.png")))
	err := e.Execute(bg, authzReq(logoID, redirect))
	wantPolicyErr(t, err, "invalid_request", cimd.ClassPolicy, cimd.ReasonPropertyDomain)
	cfg := seedConfig()
	cfg.TrustedDomains = append(cfg.TrustedDomains, "code.visualstudio.com")
	if err := newExec(t, r, cfg).Execute(bg, authzReq(logoID, redirect)); err != nil {
		t.Fatalf("logo variant with code.visualstudio.com trusted: %v", err)
	}
}

// TestVSCodeThroughPolicyEngine loads the seed guide's policy and profile
// from JSON, with the executor registered by Register.
func TestVSCodeThroughPolicyEngine(t *testing.T) {
	s := newSite(t)
	s.json(vscodeID, encode(t, vscodeDoc()))
	r := s.resolver(t, newClock(), cimd.Options{})
	reg := policy.NewRegistry()
	if err := cimd.Register(reg, r); err != nil {
		t.Fatal(err)
	}
	if err := cimd.Register(reg, r); err == nil {
		t.Fatal("second registration accepted")
	}
	eng, err := policy.Load(reg, []byte(`{
	  "profiles": [{"name": "vscode-cimd-profile", "executors": [{
	    "executor": "client-id-metadata-document",
	    "configuration": {
	      "cimd-allow-http-scheme": false,
	      "cimd-allow-permitted-domains": ["vscode.dev", "127.0.0.1"],
	      "cimd-restrict-same-domain": false,
	      "only-allow-confidential-client": false
	    }}]}],
	  "policies": [{"name": "vscode-cimd-policy", "enabled": true,
	    "conditions": [{"condition": "client-id-uri", "configuration": {
	      "client-id-uri-scheme": ["https"],
	      "client-id-uri-allow-permitted-domains": ["vscode.dev"]}}],
	    "profiles": ["vscode-cimd-profile"]}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	req := authzReq(vscodeID, fmt.Sprintf("http://127.0.0.1:%d/", loopbackPort(t)))
	if err := eng.Evaluate(bg, req); err != nil {
		t.Fatal(err)
	}
	if req.Client == nil || req.Client.Kind != storage.ClientMetadataDocument {
		t.Fatal("client not resolved")
	}
	req = authzReq(vscodeID, "http://127.0.0.1:1234/callback")
	err = eng.Evaluate(bg, req)
	pe := wantPolicyErr(t, err, "invalid_request", cimd.ClassPolicy, cimd.ReasonRedirectURIMismatch)
	if pe.Policy != "vscode-cimd-policy" || pe.Executor != policy.ExecutorClientIDMetadataDocument {
		t.Fatalf("refusal not attributed: %+v", pe)
	}
	if _, err := policy.Load(reg, []byte(`{"profiles": [{"name": "p", "executors": [{
	  "executor": "client-id-metadata-document",
	  "configuration": {"cimd-allow-permited-domains": ["vscode.dev"]}}]}], "policies": []}`)); err == nil {
		t.Fatal("misspelt configuration member accepted")
	}
}

func wantPolicyErr(t *testing.T, err error, code string, class cimd.Class, reason string) *policy.Error {
	t.Helper()
	var pe *policy.Error
	if !errors.As(err, &pe) {
		t.Fatalf("got %v (%T), want *policy.Error", err, err)
	}
	if pe.Code != code || pe.Reason != reason {
		t.Fatalf("got %q %q, want %q %q", pe.Code, pe.Reason, code, reason)
	}
	var ce *cimd.Error
	if !errors.As(err, &ce) || ce.Class != class || ce.Reason != reason {
		t.Fatalf("cause %v, want cimd %v %q", err, class, reason)
	}
	return pe
}

// TestExecutorRefusals: each case asserts the error class and reason.
func TestExecutorRefusals(t *testing.T) {
	s := newSite(t)
	s.json(vscodeID, encode(t, vscodeDoc()))
	neg := func(name string) string { return "https://vscode.dev/neg/" + name + ".json" }
	serve := func(name string, kv ...any) {
		s.json(neg(name), encode(t, with(with(vscodeDoc(), "client_id", neg(name)), kv...)))
	}
	serve("mismatch", "client_id", vscodeID)
	serve("secret", "client_secret", "hunter2")
	serve("secretexp", "client_secret_expires_at", 0)
	serve("basic", "token_endpoint_auth_method", "client_secret_basic")
	serve("post", "token_endpoint_auth_method", "client_secret_post")
	serve("noredirects", "redirect_uris", nil)
	serve("evilredirect", "redirect_uris", []string{"http://127.0.0.1:33418/", "https://evil.com/cb"})
	serve("customscheme", "redirect_uris", []string{"http://127.0.0.1:33418/", "dev.vscode.app:/cb"})
	serve("eviljwks", "token_endpoint_auth_method", "private_key_jwt", "jwks_uri", "https://evil.com/jwks.json")
	serve("evilpolicy", "policy_uri", "https://evil.com/policy")
	serve("eviltos", "tos_uri", "https://evilvscode.dev/tos")
	serve("evilpostlogout", "post_logout_redirect_uris", []string{"https://evil.com/bye"})
	serve("conf", "token_endpoint_auth_method", "private_key_jwt", "jwks_uri", "https://vscode.dev/jwks.json")
	serve("tlsnokeys", "token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_dns", "client.vscode.dev")
	serve("tls", "token_endpoint_auth_method", "tls_client_auth", "jwks_uri", "https://vscode.dev/jwks.json", "tls_client_auth_subject_dn", "CN=client,O=VS Code")
	serve("tlsnosubject", "token_endpoint_auth_method", "tls_client_auth")
	serve("tlstwosubjects", "token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_dns", "client.vscode.dev", "tls_client_auth_san_ip", "192.0.2.1")
	serve("subjectwithoutmtls", "tls_client_auth_san_dns", "client.vscode.dev")
	serve("selfsigned", "token_endpoint_auth_method", "self_signed_tls_client_auth", "jwks_uri", "https://vscode.dev/jwks.json")
	serve("examplesite", "client_uri", "https://example.com/")
	serve("privjwk", "token_endpoint_auth_method", "private_key_jwt", "jwks", map[string]any{"keys": []any{map[string]any{
		"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
		"d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}}})
	s.handle(neg("redirect"), func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, vscodeID, http.StatusFound)
	})
	s.handle(neg("html"), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(encode(t, with(vscodeDoc(), "client_id", neg("html")))))
	})
	s.json(neg("big"), encode(t, with(vscodeDoc(), "client_id", neg("big"), "client_name", strings.Repeat("V", 5000))))
	s.handle(neg("slow"), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"client_id": "`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	// Valid documents on look-alike hosts: they must be refused before
	// any fetch, by the trusted-domain rule.
	for _, id := range []string{"https://vscode.dev.evil.com/oauth/client-metadata.json", "https://evilvscode.dev/oauth/client-metadata.json",
		"https://insiders.vscode.dev/oauth/client-metadata.json"} {
		s.json(id, encode(t, docFor(id)))
	}

	loop := "http://127.0.0.1:49152/"
	ssrf := cimd.ExecutorConfig{TrustedDomains: []string{"*.vscode.dev", "127.0.0.1", "10.0.0.1", "169.254.169.254", "[::ffff:127.0.0.1]", "[::1]"}}
	withCfg := func(f func(*cimd.ExecutorConfig)) cimd.ExecutorConfig {
		c := seedConfig()
		f(&c)
		return c
	}
	cases := []struct {
		name     string
		cfg      cimd.ExecutorConfig
		clientID string
		redirect string
		event    policy.Event
		class    cimd.Class
		reason   string
	}{
		// SSRF: the trusted domain admits the host, the address does not.
		{"ssrf loopback name", ssrf, "https://loop.vscode.dev/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf private name", ssrf, "https://internal.vscode.dev/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf metadata name", ssrf, "https://meta.vscode.dev/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf mapped name", ssrf, "https://mapped.vscode.dev/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf loopback literal", ssrf, "https://127.0.0.1/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf private literal", ssrf, "https://10.0.0.1/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf metadata literal", ssrf, "https://169.254.169.254/latest/meta-data/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf mapped literal", ssrf, "https://[::ffff:127.0.0.1]/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf v6 loopback literal", ssrf, "https://[::1]/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchBlocked},
		{"ssrf decimal ip", ssrf, "https://2130706433/c.json", loop, 0, cimd.ClassURL, cimd.ReasonInvalidHost},
		{"ssrf octal ip", ssrf, "https://0177.0.0.1/c.json", loop, 0, cimd.ClassURL, cimd.ReasonInvalidHost},
		{"ssrf hex ip", ssrf, "https://0x7f.1/c.json", loop, 0, cimd.ClassURL, cimd.ReasonInvalidHost},
		{"unresolvable host", ssrf, "https://nowhere.vscode.dev/c.json", loop, 0, cimd.ClassTransport, cimd.ReasonFetchFailed},

		// Fetch.
		{"redirect response", seedConfig(), neg("redirect"), loop, 0, cimd.ClassTransport, cimd.ReasonFetchRedirect},
		{"404", seedConfig(), neg("absent"), loop, 0, cimd.ClassTransport, cimd.ReasonFetchStatus},
		{"oversize", seedConfig(), neg("big"), loop, 0, cimd.ClassTransport, cimd.ReasonFetchTooLarge},
		{"slow body", seedConfig(), neg("slow"), loop, 0, cimd.ClassTransport, cimd.ReasonFetchTimeout},
		{"text/html", seedConfig(), neg("html"), loop, 0, cimd.ClassTransport, cimd.ReasonFetchContentType},

		// Document.
		{"client_id mismatch", seedConfig(), neg("mismatch"), loop, 0, cimd.ClassDocument, cimd.ReasonClientIDMismatch},
		{"client_secret", seedConfig(), neg("secret"), loop, 0, cimd.ClassDocument, cimd.ReasonClientSecret},
		{"client_secret_expires_at", seedConfig(), neg("secretexp"), loop, 0, cimd.ClassDocument, cimd.ReasonClientSecret},
		{"client_secret_basic", seedConfig(), neg("basic"), loop, 0, cimd.ClassDocument, cimd.ReasonSharedSecretAuth},
		{"client_secret_post", seedConfig(), neg("post"), loop, 0, cimd.ClassDocument, cimd.ReasonSharedSecretAuth},
		{"no redirect_uris", seedConfig(), neg("noredirects"), loop, 0, cimd.ClassDocument, cimd.ReasonNoRedirectURIs},
		{"private jwk", seedConfig(), neg("privjwk"), loop, 0, cimd.ClassDocument, cimd.ReasonPrivateKeys},

		// Client ID URL.
		{"http scheme", seedConfig(), "http://vscode.dev/oauth/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonHTTPNotAllowed},
		{"upper-case scheme", seedConfig(), "HTTPS://vscode.dev/oauth/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonScheme},
		{"userinfo bypass", seedConfig(), "https://vscode.dev@evil.com/x", loop, 0, cimd.ClassURL, cimd.ReasonUserinfo},
		{"upper-case host", seedConfig(), "https://VSCODE.DEV/oauth/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonInvalidHost},
		{"IDN look-alike", seedConfig(), "https://vscodе.dev/oauth/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonCharacters},
		{"trailing-dot host", seedConfig(), "https://vscode.dev./oauth/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonInvalidHost},
		{"encoded dot segment", seedConfig(), "https://vscode.dev/oauth/%2e%2e/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonPathTraversal},
		{"mixed encoded dot segment", seedConfig(), "https://vscode.dev/oauth/.%2E/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonPathTraversal},
		{"dot segment", seedConfig(), "https://vscode.dev/x/../oauth/client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonPathTraversal},
		{"encoded slash", seedConfig(), "https://vscode.dev/oauth%2fclient-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonPathTraversal},
		{"backslash", seedConfig(), "https://vscode.dev/oauth\\client-metadata.json", loop, 0, cimd.ClassURL, cimd.ReasonPathTraversal},
		{"fragment", seedConfig(), vscodeID + "#x", loop, 0, cimd.ClassURL, cimd.ReasonFragment},
		{"query", seedConfig(), vscodeID + "?v=2", loop, 0, cimd.ClassURL, cimd.ReasonQuery},
		{"no path", seedConfig(), "https://vscode.dev", loop, 0, cimd.ClassURL, cimd.ReasonEmptyPath},

		// Trusted domains.
		{"suffix bypass", seedConfig(), "https://vscode.dev.evil.com/oauth/client-metadata.json", loop, 0, cimd.ClassPolicy, cimd.ReasonDomainNotAllowed},
		{"prefix bypass", seedConfig(), "https://evilvscode.dev/oauth/client-metadata.json", loop, 0, cimd.ClassPolicy, cimd.ReasonDomainNotAllowed},
		{"punycode look-alike", seedConfig(), "https://xn--vscod-4we.dev/oauth/client-metadata.json", loop, 0, cimd.ClassPolicy, cimd.ReasonDomainNotAllowed},
		{"subdomain not listed", seedConfig(), "https://insiders.vscode.dev/oauth/client-metadata.json", loop, 0, cimd.ClassPolicy, cimd.ReasonDomainNotAllowed},
		{"port does not bypass", seedConfig(), "https://evil.com:443/vscode.dev/client.json", loop, 0, cimd.ClassPolicy, cimd.ReasonDomainNotAllowed},
		{"no trusted domains", cimd.ExecutorConfig{}, vscodeID, loop, 0, cimd.ClassPolicy, cimd.ReasonDomainNotAllowed},
		{"loopback redirect host not trusted", cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev"}}, vscodeID, "https://vscode.dev/redirect", 0, cimd.ClassPolicy, cimd.ReasonPropertyDomain},
		{"redirect_uris entry on untrusted host", seedConfig(), neg("evilredirect"), loop, 0, cimd.ClassPolicy, cimd.ReasonPropertyDomain},
		{"redirect_uris entry without host", seedConfig(), neg("customscheme"), loop, 0, cimd.ClassPolicy, cimd.ReasonPropertyNoHost},
		{"jwks_uri on untrusted host", seedConfig(), neg("eviljwks"), loop, 0, cimd.ClassPolicy, cimd.ReasonPropertyDomain},
		{"policy_uri on untrusted host", seedConfig(), neg("evilpolicy"), loop, 0, cimd.ClassPolicy, cimd.ReasonPropertyDomain},
		{"tos_uri on look-alike host", seedConfig(), neg("eviltos"), loop, 0, cimd.ClassPolicy, cimd.ReasonPropertyDomain},
		{"post-logout redirect untrusted", seedConfig(), neg("evilpostlogout"), loop, 0, cimd.ClassPolicy, cimd.ReasonPropertyDomain},

		// Redirect URI of the request.
		{"no redirect_uri", seedConfig(), vscodeID, "", 0, cimd.ClassPolicy, cimd.ReasonNoRedirectURI},
		{"redirect path differs", seedConfig(), vscodeID, "http://127.0.0.1:33418/callback", 0, cimd.ClassPolicy, cimd.ReasonRedirectURIMismatch},
		{"redirect localhost for 127.0.0.1", seedConfig(), vscodeID, "http://localhost:33418/", 0, cimd.ClassPolicy, cimd.ReasonRedirectURIMismatch},
		{"redirect https loopback", seedConfig(), vscodeID, "https://127.0.0.1:33418/", 0, cimd.ClassPolicy, cimd.ReasonRedirectURIMismatch},
		{"redirect trailing slash", seedConfig(), vscodeID, "https://vscode.dev/redirect/", 0, cimd.ClassPolicy, cimd.ReasonRedirectURIMismatch},
		{"redirect other path", seedConfig(), vscodeID, "https://vscode.dev/evil", 0, cimd.ClassPolicy, cimd.ReasonRedirectURIMismatch},
		{"redirect userinfo", seedConfig(), vscodeID, "http://127.0.0.1@evil.com:33418/", 0, cimd.ClassPolicy, cimd.ReasonRedirectURIMismatch},

		// Same domain.
		{"same domain with loopback redirect", withCfg(func(c *cimd.ExecutorConfig) { c.RestrictSameDomain = true }), vscodeID, loop, 0, cimd.ClassPolicy, cimd.ReasonSameDomainRedirect},
		{"same domain property", withCfg(func(c *cimd.ExecutorConfig) {
			c.RestrictSameDomain = true
			c.TrustedDomains = append(c.TrustedDomains, "example.com")
		}), neg("examplesite"), "https://vscode.dev/redirect", 0, cimd.ClassPolicy, cimd.ReasonSameDomainProperty},

		// Required properties.
		{"required logo_uri", withCfg(func(c *cimd.ExecutorConfig) { c.RequiredProperties = []string{"client_name", "logo_uri"} }), vscodeID, loop, 0, cimd.ClassPolicy, cimd.ReasonRequiredProperties},
		{"required non-RFC member", withCfg(func(c *cimd.ExecutorConfig) { c.RequiredProperties = []string{"software_statement_jwt"} }), vscodeID, loop, 0, cimd.ClassPolicy, cimd.ReasonRequiredProperties},

		// Confidential only.
		{"confidential only, public client", withCfg(func(c *cimd.ExecutorConfig) { c.OnlyAllowConfidentialClient = true }), vscodeID, loop, 0, cimd.ClassPolicy, cimd.ReasonConfidentialOnly},
		{"confidential only, tls_client_auth", withCfg(func(c *cimd.ExecutorConfig) { c.OnlyAllowConfidentialClient = true }), neg("tls"), loop, 0, cimd.ClassPolicy, cimd.ReasonTLSClientAuth},
		{"confidential only, tls_client_auth without keys", withCfg(func(c *cimd.ExecutorConfig) { c.OnlyAllowConfidentialClient = true }), neg("tlsnokeys"), loop, 0, cimd.ClassPolicy, cimd.ReasonTLSClientAuth},
		{"confidential only, self_signed_tls_client_auth", withCfg(func(c *cimd.ExecutorConfig) { c.OnlyAllowConfidentialClient = true }), neg("selfsigned"), loop, 0, cimd.ClassPolicy, cimd.ReasonSelfSignedTLSClientAuth},

		// Mutual-TLS methods, refused before consent unless the profile
		// allows them (AllowTLSClientAuth).
		{"tls_client_auth", seedConfig(), neg("tls"), loop, 0, cimd.ClassPolicy, cimd.ReasonTLSClientAuth},
		{"tls_client_auth without keys", seedConfig(), neg("tlsnokeys"), loop, 0, cimd.ClassPolicy, cimd.ReasonTLSClientAuth},
		{"self_signed_tls_client_auth", seedConfig(), neg("selfsigned"), loop, 0, cimd.ClassPolicy, cimd.ReasonSelfSignedTLSClientAuth},
		{"mtls allowed, confidential only, self_signed_tls_client_auth", withCfg(func(c *cimd.ExecutorConfig) {
			c.AllowTLSClientAuth, c.OnlyAllowConfidentialClient = true, true
		}), neg("selfsigned"), loop, 0, cimd.ClassPolicy, cimd.ReasonConfidentialOnly},
		{"mtls allowed, confidential only, tls_client_auth without keys", withCfg(func(c *cimd.ExecutorConfig) {
			c.AllowTLSClientAuth, c.OnlyAllowConfidentialClient = true, true
		}), neg("tlsnokeys"), loop, 0, cimd.ClassPolicy, cimd.ReasonConfidentialKeys},
		// RFC 8705 §2.1.2: exactly one subject value, and only with
		// tls_client_auth.
		{"mtls allowed, tls_client_auth without subject", withCfg(func(c *cimd.ExecutorConfig) { c.AllowTLSClientAuth = true }), neg("tlsnosubject"), loop, 0, cimd.ClassDocument, cimd.ReasonInvalidMetadata},
		{"mtls allowed, tls_client_auth with two subjects", withCfg(func(c *cimd.ExecutorConfig) { c.AllowTLSClientAuth = true }), neg("tlstwosubjects"), loop, 0, cimd.ClassDocument, cimd.ReasonInvalidMetadata},
		{"subject member on a public client", withCfg(func(c *cimd.ExecutorConfig) { c.AllowTLSClientAuth = true }), neg("subjectwithoutmtls"), loop, 0, cimd.ClassDocument, cimd.ReasonInvalidMetadata},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := s.hitsFor(c.clientID)
			r := s.resolver(t, newClock(), cimd.Options{Timeout: 300 * time.Millisecond})
			e := newExec(t, r, c.cfg)
			req := authzReq(c.clientID, c.redirect)
			if c.event != 0 {
				req.Event = c.event
			}
			err := e.Execute(bg, req)
			wantPolicyErr(t, err, "invalid_request", c.class, c.reason)
			if req.Client != nil {
				t.Fatal("client set on a refused request")
			}
			if (c.class == cimd.ClassURL || c.reason == cimd.ReasonDomainNotAllowed || c.reason == cimd.ReasonNoRedirectURI ||
				c.reason == cimd.ReasonSameDomainRedirect) && s.hitsFor(c.clientID) != before {
				t.Fatal("fetched a client_id that should have been refused before fetching")
			}
		})
	}
	if len(cases) < 40 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, ap := range s.srv.Dialed() {
		if ap.Addr().String() != publicAddr {
			t.Fatalf("dialled blocked address %v", ap)
		}
	}
	if s.hitsFor(vscodeID) == 0 {
		t.Fatal("redirect target never served directly; test setup broken")
	}
}

func TestExecutorAccepts(t *testing.T) {
	s := newSite(t)
	neg := func(name string) string { return "https://vscode.dev/ok/" + name + ".json" }
	s.json(vscodeID, encode(t, vscodeDoc()))
	s.json(neg("conf"), encode(t, with(vscodeDoc(), "client_id", neg("conf"), "token_endpoint_auth_method", "private_key_jwt", "jwks_uri", "https://vscode.dev/jwks.json")))
	s.json(neg("sameweb"), encode(t, map[string]any{
		"client_id": neg("sameweb"), "client_name": "Web", "client_uri": "https://app.vscode.dev/",
		"redirect_uris": []string{"https://login.vscode.dev/cb"},
	}))
	s.json(neg("tls"), encode(t, with(vscodeDoc(), "client_id", neg("tls"), "token_endpoint_auth_method", "tls_client_auth",
		"tls_client_auth_subject_dn", "CN=client,O=VS Code")))
	s.json(neg("tlskeys"), encode(t, with(vscodeDoc(), "client_id", neg("tlskeys"), "token_endpoint_auth_method", "tls_client_auth",
		"tls_client_auth_san_uri", "spiffe://vscode.dev/client", "jwks_uri", "https://vscode.dev/jwks.json")))
	s.json(neg("selfsigned"), encode(t, with(vscodeDoc(), "client_id", neg("selfsigned"), "token_endpoint_auth_method", "self_signed_tls_client_auth",
		"jwks_uri", "https://vscode.dev/jwks.json")))
	mtls := cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev", "127.0.0.1"}, AllowTLSClientAuth: true}
	mtlsConf := mtls
	mtlsConf.OnlyAllowConfidentialClient = true
	lovable := "https://vscode.dev/ok/lovable.json"
	s.json(lovable, encode(t, with(docFor(lovable), "code_challenge_methods_used", []string{"S256"})))
	cases := []struct {
		name     string
		cfg      cimd.ExecutorConfig
		clientID string
		redirect string
	}{
		{"required present", cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev", "127.0.0.1"}, RequiredProperties: []string{"client_name", " redirect_uris ", "", "client_name"}}, vscodeID, "http://127.0.0.1:5000/"},
		{"required unknown member present", cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev", "127.0.0.1"}, RequiredProperties: []string{"code_challenge_methods_used"}}, lovable, "https://vscode.dev/callback"},
		{"confidential", cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev", "127.0.0.1"}, OnlyAllowConfidentialClient: true}, neg("conf"), "https://vscode.dev/redirect"},
		{"same domain by wildcard", cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev", "*.vscode.dev"}, RestrictSameDomain: true}, neg("sameweb"), "https://login.vscode.dev/cb"},
		{"case-insensitive patterns", cimd.ExecutorConfig{TrustedDomains: []string{"VSCode.Dev", "127.0.0.1"}}, vscodeID, "http://127.0.0.1:1/"},
		{"mtls allowed, tls_client_auth", mtls, neg("tls"), "http://127.0.0.1:1/"},
		{"mtls allowed, self_signed_tls_client_auth", mtls, neg("selfsigned"), "http://127.0.0.1:1/"},
		{"mtls allowed, confidential only, tls_client_auth with keys", mtlsConf, neg("tlskeys"), "http://127.0.0.1:1/"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := s.resolver(t, newClock(), cimd.Options{})
			req := authzReq(c.clientID, c.redirect)
			if err := newExec(t, r, c.cfg).Execute(bg, req); err != nil {
				t.Fatal(err)
			}
			if req.Client == nil || req.Client.ID != c.clientID {
				t.Fatal("client not set")
			}
		})
	}
}

func TestExecutorTokenEvents(t *testing.T) {
	s := newSite(t)
	s.json(vscodeID, encode(t, vscodeDoc()))
	r := s.resolver(t, newClock(), cimd.Options{})
	e := newExec(t, r, cimd.ExecutorConfig{TrustedDomains: []string{"vscode.dev", "127.0.0.1"}, OnlyAllowConfidentialClient: true})
	req := &policy.Request{Event: policy.EventTokenRequest, ClientID: vscodeID, GrantType: "authorization_code"}
	wantPolicyErr(t, e.Execute(bg, req), "invalid_client", cimd.ClassPolicy, cimd.ReasonConfidentialOnly)
	req = &policy.Request{Event: policy.EventRefresh, ClientID: "https://evil.com/c.json"}
	wantPolicyErr(t, e.Execute(bg, req), "invalid_client", cimd.ClassPolicy, cimd.ReasonDomainNotAllowed)
	// A document naming mutual TLS gets no tokens either (it may have
	// changed since the authorization request).
	tls := "https://vscode.dev/tls/client.json"
	s.json(tls, encode(t, with(vscodeDoc(), "client_id", tls, "token_endpoint_auth_method", "tls_client_auth", "tls_client_auth_san_dns", "client.vscode.dev")))
	req = &policy.Request{Event: policy.EventTokenRequest, ClientID: tls, GrantType: "authorization_code"}
	pe := wantPolicyErr(t, newExec(t, r, seedConfig()).Execute(bg, req), "invalid_client", cimd.ClassPolicy, cimd.ReasonTLSClientAuth)
	if !strings.Contains(pe.Reason, "token endpoint authentication method tls_client_auth is not supported by this server") {
		t.Fatalf("reason %q does not name the method", pe.Reason)
	}
	if req.Client != nil {
		t.Fatal("client set on a refused token request")
	}
	// With mutual TLS allowed the token request gets the client, whose
	// certificate the token endpoint then checks.
	req = &policy.Request{Event: policy.EventTokenRequest, ClientID: tls, GrantType: "authorization_code"}
	allow := seedConfig()
	allow.AllowTLSClientAuth = true
	if err := newExec(t, r, allow).Execute(bg, req); err != nil || req.Client == nil ||
		req.Client.Metadata.TLSClientAuthSANDNS != "client.vscode.dev" {
		t.Fatalf("tls_client_auth with AllowTLSClientAuth: %v", err)
	}
	// No redirect_uri is needed at the token endpoint.
	e = newExec(t, r, seedConfig())
	req = &policy.Request{Event: policy.EventRefresh, ClientID: vscodeID}
	if err := e.Execute(bg, req); err != nil || req.Client == nil {
		t.Fatalf("refresh: %v", err)
	}
	// A static client that happens to have a URL ID is left alone.
	static := &storage.Client{ID: vscodeID, Kind: storage.ClientStatic}
	req = &policy.Request{Event: policy.EventTokenRequest, ClientID: vscodeID, Client: static}
	if err := newExec(t, r, cimd.ExecutorConfig{}).Execute(bg, req); err != nil || req.Client != static {
		t.Fatalf("static client: %v", err)
	}
	if got := e.Events(); len(got) != 3 {
		t.Fatalf("Events %v", got)
	}
}

// TestExecutorRebinding: the client_id's host answers a public address to
// the first lookup and the cloud metadata address afterwards. The first
// fetch goes to the address that was checked; once the cached copy is
// forgotten the next fetch is refused without dialling the new answer.
func TestExecutorRebinding(t *testing.T) {
	s := newSite(t)
	s.srv.Config.SetKeepAlivesEnabled(false)
	id := "https://rebind.vscode.dev/c.json"
	s.json(id, encode(t, docFor(id)))
	var lookups atomic.Int32
	hc := s.httpClient(t, func(o *safehttp.Options) {
		o.LookupNetIP = func(_ context.Context, _, host string) ([]netip.Addr, error) {
			if lookups.Add(1) == 1 {
				return []netip.Addr{netip.MustParseAddr(publicAddr)}, nil
			}
			return []netip.Addr{netip.MustParseAddr("169.254.169.254")}, nil
		}
	})
	r := s.resolver(t, newClock(), cimd.Options{HTTPClient: hc})
	e := newExec(t, r, cimd.ExecutorConfig{TrustedDomains: []string{"*.vscode.dev", "127.0.0.1"}})
	if err := e.Execute(bg, authzReq(id, "http://127.0.0.1:9/callback")); err != nil {
		t.Fatal(err)
	}
	if lookups.Load() != 1 {
		t.Fatalf("%d lookups for one fetch", lookups.Load())
	}
	r.Forget(id)
	hc.CloseIdleConnections()
	err := e.Execute(bg, authzReq(id, "http://127.0.0.1:9/callback"))
	wantPolicyErr(t, err, "invalid_request", cimd.ClassTransport, cimd.ReasonFetchBlocked)
	var se *safehttp.Error
	if !errors.As(err, &se) || se.Addr != netip.MustParseAddr("169.254.169.254") {
		t.Fatalf("cause %v", err)
	}
	for _, ap := range s.srv.Dialed() {
		if ap.Addr().String() != publicAddr {
			t.Fatalf("dialled %v", ap)
		}
	}
}

func TestNewExecutorValidates(t *testing.T) {
	r, err := cimd.NewResolver(cimd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cimd.NewExecutor(nil, seedConfig()); err == nil {
		t.Fatal("nil resolver accepted")
	}
	if _, err := cimd.NewExecutor(r, cimd.ExecutorConfig{TrustedDomains: []string{"a/b"}}); err == nil {
		t.Fatal("invalid pattern accepted")
	}
	f := r.ExecutorFactory()
	if _, err := f([]byte(`{"cimd-allow-permitted-domains": ["vscode.dev"], "bogus": 1}`)); err == nil {
		t.Fatal("unknown member accepted")
	}
	if x, err := f(nil); err != nil || x == nil {
		t.Fatalf("empty configuration: %v", err)
	}
	if err := cimd.Register(nil, r); err == nil {
		t.Fatal("nil registry accepted")
	}
}

func TestExecutorCanceled(t *testing.T) {
	s := newSite(t)
	release := make(chan struct{})
	defer close(release)
	s.handle(vscodeID, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	r := s.resolver(t, newClock(), cimd.Options{})
	e := newExec(t, r, seedConfig())
	ctx, cancel := context.WithTimeout(bg, 50*time.Millisecond)
	defer cancel()
	err := e.Execute(ctx, authzReq(vscodeID, "http://127.0.0.1:1/"))
	var pe *policy.Error
	if errors.As(err, &pe) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancellation reported as a refusal: %v", err)
	}
}
