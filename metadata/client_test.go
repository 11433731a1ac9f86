package metadata

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/nqrust/identity/internal/mtlstest"
)

// Real bodies sent by MCP clients (see the project's reference notes).
const (
	vscodeCIMD = `{
  "client_id": "https://vscode.dev/oauth/client-metadata.json",
  "client_name": "Visual Studio Code",
  "client_uri": "https://vscode.dev/product",
  "logo_uri": "https://code.visualstudio.com/assets/favicon.ico",
  "application_type": "native",
  "token_endpoint_auth_method": "none",
  "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
  "response_types": ["code"],
  "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"]
}`
	vscodeDCR = `{
  "client_name": "Visual Studio Code",
  "client_uri": "https://code.visualstudio.com",
  "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
  "response_types": ["code"],
  "redirect_uris": ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"],
  "scope": "mcp:tools mcp:resources",
  "token_endpoint_auth_method": "none",
  "application_type": "native"
}`
	inspectorDCR = `{
  "client_name": "MCP Inspector",
  "client_uri": "https://github.com/modelcontextprotocol/inspector",
  "redirect_uris": ["http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"],
  "grant_types": ["authorization_code", "refresh_token"],
  "response_types": ["code"],
  "token_endpoint_auth_method": "none",
  "scope": ""
}`
	claudeCIMD = `{
  "client_id": "https://claude.ai/oauth/mcp-oauth-client-metadata",
  "client_name": "Claude",
  "client_uri": "https://claude.ai",
  "logo_uri": "https://claude.ai/images/claude_app_icon.png",
  "redirect_uris": ["https://claude.ai/api/mcp/auth_callback", "http://localhost/callback", "http://127.0.0.1/callback"],
  "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
  "response_types": ["code"],
  "token_endpoint_auth_method": "none",
  "application_type": "native"
}`
	chatgptLikeCIMD = `{
  "client_id": "https://chatgpt.com/oauth/client-metadata.json",
  "client_name": "ChatGPT",
  "redirect_uris": ["https://chatgpt.com/connector_platform_oauth_redirect"],
  "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"],
  "response_types": ["code"],
  "token_endpoint_auth_method": "none",
  "token_endpoint_auth_methods_supported": ["none", "private_key_jwt"],
  "code_challenge_methods_used": ["S256"],
  "dpop_bound_access_tokens": false,
  "x-vendor": {"nested": [1, 2, {"deep": true}]}
}`
)

func mustParse(t *testing.T, body string) *Client {
	t.Helper()
	c, err := ParseClient([]byte(body))
	if err != nil {
		t.Fatalf("ParseClient: %v", err)
	}
	return c
}

func TestParseClientRealBodies(t *testing.T) {
	lenient := ClientValidation{IgnoreUnknownGrantTypes: true, RequireRedirectURIs: true}
	for name, body := range map[string]string{
		"vscode-cimd": vscodeCIMD, "vscode-dcr": vscodeDCR, "inspector": inspectorDCR,
		"claude-cimd": claudeCIMD, "chatgpt-like": chatgptLikeCIMD,
	} {
		t.Run(name, func(t *testing.T) {
			c := mustParse(t, body)
			if len(c.RedirectURIs) == 0 || c.ClientName == "" || c.TokenEndpointAuthMethod != "none" {
				t.Fatalf("decoded %+v", c)
			}
			if err := c.Validate(lenient); err != nil {
				t.Fatalf("Validate: %v", err)
			}
		})
	}
	// Without IgnoreUnknownGrantTypes the extra grants are refused, by name.
	c := mustParse(t, claudeCIMD)
	err := c.Validate(ClientValidation{})
	var ce *ClientError
	if !errors.As(err, &ce) || ce.Code != ErrCodeInvalidClientMetadata || ce.Field != "grant_types" ||
		!strings.Contains(ce.Description, "jwt-bearer") {
		t.Fatalf("strict Validate(claude) = %v", err)
	}
	// The Inspector body has no extra grants: strict validation passes.
	if err := mustParse(t, inspectorDCR).Validate(ClientValidation{}); err != nil {
		t.Fatalf("strict Validate(inspector) = %v", err)
	}
	// VS Code returns on any port of its loopback redirect.
	vs := mustParse(t, vscodeCIMD)
	if !vs.RedirectURIAllowed("http://127.0.0.1:51234/") || vs.RedirectURIAllowed("http://127.0.0.1:51234/x") {
		t.Fatal("VS Code loopback redirect matching is wrong")
	}
	cl := mustParse(t, claudeCIMD)
	if !cl.RedirectURIAllowed("http://localhost:49152/callback") || cl.RedirectURIAllowed("https://claude.ai/api/mcp/auth_callback/x") {
		t.Fatal("Claude redirect matching is wrong")
	}
}

func TestParseClientShape(t *testing.T) {
	tests := []struct {
		name, body, field string
	}{
		{"array", `[{"client_name":"x"}]`, ""},
		{"string", `"x"`, ""},
		{"null", `null`, ""},
		{"empty", ``, ""},
		{"truncated", `{"client_name":"x"`, ""},
		{"trailing data", `{"client_name":"x"} {}`, ""},
		{"trailing garbage", `{"client_name":"x"}x`, ""},
		{"duplicate key", `{"redirect_uris":["https://a/cb"],"redirect_uris":["https://evil/cb"]}`, "redirect_uris"},
		{"redirect_uris string", `{"redirect_uris":"https://a/cb"}`, "redirect_uris"},
		{"redirect_uris numbers", `{"redirect_uris":[1,2]}`, "redirect_uris"},
		{"client_name number", `{"client_name":42}`, "client_name"},
		{"grant_types object", `{"grant_types":{"a":1}}`, "grant_types"},
		{"issued_at string", `{"client_id_issued_at":"1"}`, "client_id_issued_at"},
		{"issued_at float", `{"client_id_issued_at":1.5}`, "client_id_issued_at"},
		{"jwks array", `{"jwks":[]}`, "jwks"},
		{"jwks string", `{"jwks":"{}"}`, "jwks"},
		{"tls subject dn array", `{"tls_client_auth_subject_dn":["CN=a"]}`, "tls_client_auth_subject_dn"},
		{"tls san ip number", `{"tls_client_auth_san_ip":3232235777}`, "tls_client_auth_san_ip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseClient([]byte(tt.body))
			var ce *ClientError
			if !errors.As(err, &ce) {
				t.Fatalf("ParseClient(%s) = %+v, %v; want *ClientError", tt.body, c, err)
			}
			if ce.Code != ErrCodeInvalidClientMetadata || ce.Field != tt.field {
				t.Fatalf("error = %+v; want invalid_client_metadata on %q", ce, tt.field)
			}
		})
	}
	big := `{"client_name":"` + strings.Repeat("a", MaxClientMetadataBytes) + `"}`
	if _, err := ParseClient([]byte(big)); err == nil {
		t.Fatal("oversized document accepted")
	}
}

func TestParseClientLenient(t *testing.T) {
	c := mustParse(t, `{"Client_Name":"wrong case","client_name":"ok","redirect_uris":null,"unknown":{"x":[1]},
		"client_secret_expires_at":0,"jwks":{"keys":[]}, "scope":"a b"}`)
	if c.ClientName != "ok" {
		t.Errorf("client_name = %q; member names must match exactly", c.ClientName)
	}
	if c.RedirectURIs != nil {
		t.Errorf("null redirect_uris decoded as %q", c.RedirectURIs)
	}
	if c.ClientSecretExpiresAt == nil || *c.ClientSecretExpiresAt != 0 {
		t.Errorf("client_secret_expires_at presence lost: %v", c.ClientSecretExpiresAt)
	}
	if string(c.JWKS) != `{"keys":[]}` {
		t.Errorf("jwks = %s", c.JWKS)
	}
	if d := mustParse(t, `{}`); d.ClientSecretExpiresAt != nil {
		t.Error("absent client_secret_expires_at decoded as present")
	}
	m := mustParse(t, `{"tls_client_auth_subject_dn":"CN=a","tls_client_auth_san_dns":"a.example","tls_client_auth_san_uri":"urn:a",
		"tls_client_auth_san_ip":"192.0.2.1","tls_client_auth_san_email":"a@a.example"}`)
	if m.TLSClientAuthSubjectDN != "CN=a" || m.TLSClientAuthSANDNS != "a.example" || m.TLSClientAuthSANURI != "urn:a" ||
		m.TLSClientAuthSANIP != "192.0.2.1" || m.TLSClientAuthSANEmail != "a@a.example" {
		t.Errorf("RFC 8705 members not decoded: %+v", m)
	}
}

const (
	// An RSA public key (RFC 7517 appendix A.1).
	rsaPublicJWK = `{"kty":"RSA","kid":"k1","use":"sig","alg":"RS256","e":"AQAB","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}`
	ecPublicJWK  = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","kid":"ec1"}`
	ecPrivateJWK = `{"kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}`
)

func TestClientValidate(t *testing.T) {
	base := func() *Client {
		return &Client{
			ClientName:              "Example",
			RedirectURIs:            []string{"https://app.example.com/cb"},
			TokenEndpointAuthMethod: "none",
		}
	}
	type tc struct {
		name   string
		mutate func(*Client)
		opts   ClientValidation
		code   string // "" = valid
		field  string
	}
	const meta, redir = ErrCodeInvalidClientMetadata, ErrCodeInvalidRedirectURI
	x5cJWKS := mtlstest.JWKS(t, mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self"}}))
	tlsAuth := func(f func(c *Client)) func(c *Client) {
		return func(c *Client) {
			c.TokenEndpointAuthMethod = AuthMethodTLSClientAuth
			f(c)
		}
	}
	tests := []tc{
		{"base", func(c *Client) {}, ClientValidation{}, "", ""},
		{"loopback 127", func(c *Client) { c.RedirectURIs = []string{"http://127.0.0.1:8080/cb"} }, ClientValidation{}, "", ""},
		{"loopback ipv6", func(c *Client) { c.RedirectURIs = []string{"http://[::1]/cb"} }, ClientValidation{}, "", ""},
		{"loopback localhost", func(c *Client) { c.RedirectURIs = []string{"http://localhost/callback"} }, ClientValidation{}, "", ""},
		{"private-use scheme", func(c *Client) { c.RedirectURIs = []string{"com.example.app:/oauth2redirect"} }, ClientValidation{}, "", ""},
		{"private-use with authority", func(c *Client) { c.RedirectURIs = []string{"com.example.app://callback/x"} }, ClientValidation{}, "", ""},
		{"single-label scheme refused", func(c *Client) { c.RedirectURIs = []string{"cursor://anysphere.cursor-mcp/oauth/callback"} }, ClientValidation{}, redir, "redirect_uris"},
		{"single-label scheme allowed", func(c *Client) { c.RedirectURIs = []string{"cursor://anysphere.cursor-mcp/oauth/callback"} }, ClientValidation{AllowSingleLabelSchemes: true}, "", ""},
		{"private-use opaque", func(c *Client) { c.RedirectURIs = []string{"com.example.app:cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"http non-loopback", func(c *Client) { c.RedirectURIs = []string{"http://app.example.com/cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"http non-loopback dev", func(c *Client) { c.RedirectURIs = []string{"http://app.example.com/cb"} }, ClientValidation{AllowInsecureRedirectURIs: true}, "", ""},
		{"javascript", func(c *Client) { c.RedirectURIs = []string{"javascript:alert(1)"} }, ClientValidation{}, redir, "redirect_uris"},
		{"javascript slashes", func(c *Client) { c.RedirectURIs = []string{"javascript://x/%0aalert(1)"} }, ClientValidation{AllowSingleLabelSchemes: true}, redir, "redirect_uris"},
		{"data", func(c *Client) { c.RedirectURIs = []string{"data:text/html,hi"} }, ClientValidation{AllowSingleLabelSchemes: true}, redir, "redirect_uris"},
		{"file", func(c *Client) { c.RedirectURIs = []string{"file:///etc/passwd"} }, ClientValidation{AllowSingleLabelSchemes: true}, redir, "redirect_uris"},
		{"vbscript", func(c *Client) { c.RedirectURIs = []string{"vbscript:msgbox"} }, ClientValidation{}, redir, "redirect_uris"},
		{"fragment", func(c *Client) { c.RedirectURIs = []string{"https://app.example.com/cb#x"} }, ClientValidation{}, redir, "redirect_uris"},
		{"empty fragment", func(c *Client) { c.RedirectURIs = []string{"https://app.example.com/cb#"} }, ClientValidation{}, redir, "redirect_uris"},
		{"relative", func(c *Client) { c.RedirectURIs = []string{"/cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"userinfo", func(c *Client) { c.RedirectURIs = []string{"https://user@app.example.com/cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"loopback userinfo", func(c *Client) { c.RedirectURIs = []string{"http://127.0.0.1@evil.com/"} }, ClientValidation{}, redir, "redirect_uris"},
		{"backslash", func(c *Client) { c.RedirectURIs = []string{"https://app.example.com\\@evil.com/"} }, ClientValidation{}, redir, "redirect_uris"},
		{"uppercase scheme", func(c *Client) { c.RedirectURIs = []string{"HTTPS://app.example.com/cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"no host", func(c *Client) { c.RedirectURIs = []string{"https:///cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"bad port", func(c *Client) { c.RedirectURIs = []string{"http://127.0.0.1:99999/cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"non-ascii", func(c *Client) { c.RedirectURIs = []string{"https://аpp.example.com/cb"} }, ClientValidation{}, redir, "redirect_uris"},
		{"too long", func(c *Client) { c.RedirectURIs = []string{"https://a.example/" + strings.Repeat("x", MaxURILength)} }, ClientValidation{}, redir, "redirect_uris"},
		{"too many", func(c *Client) {
			c.RedirectURIs = nil
			for range MaxRedirectURIs + 1 {
				c.RedirectURIs = append(c.RedirectURIs, "https://a.example/cb")
			}
		}, ClientValidation{}, redir, "redirect_uris"},
		{"missing redirects for code", func(c *Client) { c.RedirectURIs = nil }, ClientValidation{}, redir, "redirect_uris"},
		{"client_credentials needs none", func(c *Client) {
			c.RedirectURIs, c.GrantTypes, c.TokenEndpointAuthMethod = nil, []string{"client_credentials"}, "client_secret_basic"
		}, ClientValidation{}, "", ""},
		{"client_credentials required redirects", func(c *Client) {
			c.RedirectURIs, c.GrantTypes, c.TokenEndpointAuthMethod = nil, []string{"client_credentials"}, "client_secret_basic"
		}, ClientValidation{RequireRedirectURIs: true}, redir, "redirect_uris"},
		{"client_credentials public", func(c *Client) { c.GrantTypes = []string{"client_credentials"} }, ClientValidation{}, meta, "grant_types"},
		{"native https", func(c *Client) { c.ApplicationType = "native" }, ClientValidation{}, "", ""},
		{"native http remote", func(c *Client) {
			c.ApplicationType, c.RedirectURIs = "native", []string{"http://app.example.com/cb"}
		}, ClientValidation{AllowInsecureRedirectURIs: true}, redir, "redirect_uris"},
		{"web loopback http", func(c *Client) {
			c.ApplicationType, c.RedirectURIs = "web", []string{"http://localhost:6274/oauth/callback"}
		}, ClientValidation{}, redir, "redirect_uris"},
		{"web https localhost", func(c *Client) {
			c.ApplicationType, c.RedirectURIs = "web", []string{"https://localhost/cb"}
		}, ClientValidation{}, redir, "redirect_uris"},
		{"web private-use", func(c *Client) {
			c.ApplicationType, c.RedirectURIs = "web", []string{"com.example.app:/cb"}
		}, ClientValidation{}, redir, "redirect_uris"},
		{"unknown application_type", func(c *Client) { c.ApplicationType = "desktop" }, ClientValidation{}, meta, "application_type"},
		{"unknown auth method", func(c *Client) { c.TokenEndpointAuthMethod = "magic" }, ClientValidation{}, meta, "token_endpoint_auth_method"},
		{"private_key_jwt without keys", func(c *Client) { c.TokenEndpointAuthMethod = "private_key_jwt" }, ClientValidation{}, meta, "token_endpoint_auth_method"},
		{"private_key_jwt with jwks_uri", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI = "private_key_jwt", "https://app.example.com/jwks.json"
		}, ClientValidation{}, "", ""},
		{"private_key_jwt with jwks", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS = "private_key_jwt", []byte(`{"keys":[`+rsaPublicJWK+`,`+ecPublicJWK+`]}`)
		}, ClientValidation{}, "", ""},
		{"jwks and jwks_uri", func(c *Client) {
			c.JWKS, c.JWKSURI = []byte(`{"keys":[`+ecPublicJWK+`]}`), "https://app.example.com/jwks.json"
		}, ClientValidation{}, meta, "jwks"},
		{"jwks private key", func(c *Client) { c.JWKS = []byte(`{"keys":[` + ecPrivateJWK + `]}`) }, ClientValidation{}, meta, "jwks"},
		{"jwks symmetric key", func(c *Client) { c.JWKS = []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`) }, ClientValidation{}, meta, "jwks"},
		{"jwks empty", func(c *Client) { c.JWKS = []byte(`{"keys":[]}`) }, ClientValidation{}, meta, "jwks"},
		{"jwks garbage key", func(c *Client) { c.JWKS = []byte(`{"keys":[{"kty":"RSA","n":"x"}]}`) }, ClientValidation{}, meta, "jwks"},
		{"jwks not a set", func(c *Client) { c.JWKS = []byte(`{"kty":"EC"}`) }, ClientValidation{}, meta, "jwks"},
		{"implicit", func(c *Client) { c.GrantTypes = []string{"implicit"} }, ClientValidation{IgnoreUnknownGrantTypes: true}, meta, "grant_types"},
		{"password", func(c *Client) { c.GrantTypes = []string{"authorization_code", "password"} }, ClientValidation{IgnoreUnknownGrantTypes: true}, meta, "grant_types"},
		{"device_code strict", func(c *Client) { c.GrantTypes = []string{"authorization_code", GrantDeviceCode} }, ClientValidation{}, meta, "grant_types"},
		{"device_code ignored", func(c *Client) { c.GrantTypes = []string{"authorization_code", GrantDeviceCode} }, ClientValidation{IgnoreUnknownGrantTypes: true}, "", ""},
		{"token response type", func(c *Client) { c.ResponseTypes = []string{"token"} }, ClientValidation{}, meta, "response_types"},
		{"code without grant", func(c *Client) { c.GrantTypes, c.ResponseTypes = []string{"refresh_token"}, []string{"code"} }, ClientValidation{}, meta, "response_types"},
		{"client_uri http", func(c *Client) { c.ClientURI = "http://app.example.com" }, ClientValidation{}, meta, "client_uri"},
		{"client_uri http dev", func(c *Client) { c.ClientURI = "http://app.example.com" }, ClientValidation{AllowHTTPURLs: true}, "", ""},
		{"logo_uri javascript", func(c *Client) { c.LogoURI = "javascript:alert(1)" }, ClientValidation{AllowHTTPURLs: true}, meta, "logo_uri"},
		{"tos_uri fragment", func(c *Client) { c.TOSURI = "https://app.example.com/tos#x" }, ClientValidation{}, meta, "tos_uri"},
		{"policy_uri relative", func(c *Client) { c.PolicyURI = "/policy" }, ClientValidation{}, meta, "policy_uri"},
		{"jwks_uri userinfo", func(c *Client) { c.JWKSURI = "https://u:p@app.example.com/jwks" }, ClientValidation{}, meta, "jwks_uri"},
		{"client_name too long", func(c *Client) { c.ClientName = strings.Repeat("a", MaxClientNameLength+1) }, ClientValidation{}, meta, "client_name"},
		{"client_name control", func(c *Client) { c.ClientName = "Good\nApp" }, ClientValidation{}, meta, "client_name"},
		{"client_name bidi", func(c *Client) { c.ClientName = "Good\u202eppA" }, ClientValidation{}, meta, "client_name"},
		{"client_name unicode ok", func(c *Client) { c.ClientName = "Ünïcødé 应用" }, ClientValidation{}, "", ""},
		{"scope bad char", func(c *Client) { c.Scope = "read \"write\"" }, ClientValidation{}, meta, "scope"},
		{"scope ok", func(c *Client) { c.Scope = "openid mcp:tools  offline_access" }, ClientValidation{}, "", ""},
		{"too many contacts", func(c *Client) { c.Contacts = slices.Repeat([]string{"a@example.com"}, MaxContacts+1) }, ClientValidation{}, meta, "contacts"},
		{"post logout javascript", func(c *Client) { c.PostLogoutRedirectURIs = []string{"javascript:x"} }, ClientValidation{}, meta, "post_logout_redirect_uris"},

		// RFC 8705 §2.1.2: tls_client_auth names exactly one subject value.
		{"tls_client_auth subject dn", tlsAuth(func(c *Client) { c.TLSClientAuthSubjectDN = "CN=client,O=Example,C=US" }), ClientValidation{}, "", ""},
		{"tls_client_auth san dns", tlsAuth(func(c *Client) { c.TLSClientAuthSANDNS = "client.example.com" }), ClientValidation{}, "", ""},
		{"tls_client_auth san uri", tlsAuth(func(c *Client) { c.TLSClientAuthSANURI = "spiffe://example.com/client" }), ClientValidation{}, "", ""},
		{"tls_client_auth san ip", tlsAuth(func(c *Client) { c.TLSClientAuthSANIP = "2001:db8::7" }), ClientValidation{}, "", ""},
		{"tls_client_auth san email", tlsAuth(func(c *Client) { c.TLSClientAuthSANEmail = "client@example.com" }), ClientValidation{}, "", ""},
		{"tls_client_auth without subject", tlsAuth(func(c *Client) {}), ClientValidation{}, meta, "token_endpoint_auth_method"},
		{"tls_client_auth two subjects", tlsAuth(func(c *Client) {
			c.TLSClientAuthSANDNS, c.TLSClientAuthSANIP = "client.example.com", "192.0.2.1"
		}), ClientValidation{}, meta, "token_endpoint_auth_method"},
		{"tls_client_auth bad dn", tlsAuth(func(c *Client) { c.TLSClientAuthSubjectDN = "CN=a;O=b" }), ClientValidation{}, meta, "tls_client_auth_subject_dn"},
		{"tls_client_auth unknown dn attribute", tlsAuth(func(c *Client) { c.TLSClientAuthSubjectDN = "NICKNAME=a" }), ClientValidation{}, meta, "tls_client_auth_subject_dn"},
		{"tls_client_auth dn control", tlsAuth(func(c *Client) { c.TLSClientAuthSubjectDN = "CN=a\nb" }), ClientValidation{}, meta, "tls_client_auth_subject_dn"},
		{"tls_client_auth bad dns", tlsAuth(func(c *Client) { c.TLSClientAuthSANDNS = "client..example.com" }), ClientValidation{}, meta, "tls_client_auth_san_dns"},
		{"tls_client_auth relative uri", tlsAuth(func(c *Client) { c.TLSClientAuthSANURI = "client" }), ClientValidation{}, meta, "tls_client_auth_san_uri"},
		{"tls_client_auth bad ip", tlsAuth(func(c *Client) { c.TLSClientAuthSANIP = "192.0.2" }), ClientValidation{}, meta, "tls_client_auth_san_ip"},
		{"tls_client_auth bad email", tlsAuth(func(c *Client) { c.TLSClientAuthSANEmail = "client" }), ClientValidation{}, meta, "tls_client_auth_san_email"},
		{"subject with private_key_jwt", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI, c.TLSClientAuthSANDNS = "private_key_jwt", "https://app.example.com/jwks.json", "client.example.com"
		}, ClientValidation{}, meta, "tls_client_auth_san_dns"},
		{"subject with self_signed", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS, c.TLSClientAuthSubjectDN = "self_signed_tls_client_auth", x5cJWKS, "CN=self"
		}, ClientValidation{}, meta, "tls_client_auth_subject_dn"},
		{"subject without method", func(c *Client) { c.TokenEndpointAuthMethod, c.TLSClientAuthSANEmail = "", "a@example.com" }, ClientValidation{}, meta, "tls_client_auth_san_email"},
		{"self_signed with x5c", func(c *Client) { c.TokenEndpointAuthMethod, c.JWKS = "self_signed_tls_client_auth", x5cJWKS }, ClientValidation{}, "", ""},
		{"self_signed with jwks_uri", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKSURI = "self_signed_tls_client_auth", "https://app.example.com/jwks.json"
		}, ClientValidation{}, "", ""},
		{"self_signed without x5c", func(c *Client) {
			c.TokenEndpointAuthMethod, c.JWKS = "self_signed_tls_client_auth", []byte(`{"keys":[`+ecPublicJWK+`]}`)
		}, ClientValidation{}, meta, "jwks"},
		{"self_signed without keys", func(c *Client) { c.TokenEndpointAuthMethod = "self_signed_tls_client_auth" }, ClientValidation{}, meta, "token_endpoint_auth_method"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := base()
			tt.mutate(c)
			err := c.Validate(tt.opts)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("Validate = %v; want nil", err)
				}
				return
			}
			var ce *ClientError
			if !errors.As(err, &ce) {
				t.Fatalf("Validate = %v; want *ClientError %s", err, tt.code)
			}
			if ce.Code != tt.code || ce.Field != tt.field || ce.Description == "" {
				t.Fatalf("Validate = %+v; want code %s field %s", ce, tt.code, tt.field)
			}
			if !strings.HasPrefix(ce.Error(), tt.code+": ") {
				t.Fatalf("Error() = %q", ce.Error())
			}
		})
	}
}

func TestApplyDefaults(t *testing.T) {
	c := &Client{}
	c.ApplyDefaults()
	if c.TokenEndpointAuthMethod != "client_secret_basic" || !slices.Equal(c.GrantTypes, []string{"authorization_code"}) ||
		!slices.Equal(c.ResponseTypes, []string{"code"}) {
		t.Fatalf("RFC 7591 defaults: %+v", c)
	}
	d := &Client{}
	d.ApplyMetadataDocumentDefaults()
	if d.TokenEndpointAuthMethod != "none" || !slices.Equal(d.GrantTypes, []string{"authorization_code"}) {
		t.Fatalf("CIMD defaults: %+v", d)
	}
	cc := &Client{GrantTypes: []string{"client_credentials"}, TokenEndpointAuthMethod: "private_key_jwt"}
	cc.ApplyDefaults()
	if cc.ResponseTypes != nil || cc.TokenEndpointAuthMethod != "private_key_jwt" {
		t.Fatalf("client_credentials defaults: %+v", cc)
	}
	// Validate gives the same answer before and after defaults.
	for _, body := range []string{vscodeDCR, inspectorDCR} {
		c := mustParse(t, body)
		before := c.Validate(ClientValidation{IgnoreUnknownGrantTypes: true})
		c.ApplyDefaults()
		after := c.Validate(ClientValidation{IgnoreUnknownGrantTypes: true})
		if (before == nil) != (after == nil) {
			t.Fatalf("before %v, after %v", before, after)
		}
	}
	if !(&Client{}).HasGrantType("authorization_code") || (&Client{}).HasGrantType("refresh_token") {
		t.Fatal("HasGrantType ignores the default")
	}
}

func TestParsePublicJWKS(t *testing.T) {
	set, err := ParsePublicJWKS([]byte(`{"keys":[` + rsaPublicJWK + `,` + ecPublicJWK + `]}`))
	if err != nil || len(set.Keys) != 2 || set.Keys[0].KeyID != "k1" {
		t.Fatalf("ParsePublicJWKS = %v, %v", set, err)
	}
	for _, m := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
		key := strings.TrimSuffix(rsaPublicJWK, "}") + `,"` + m + `":"AQAB"}`
		_, err := ParsePublicJWKS([]byte(`{"keys":[` + key + `]}`))
		var ce *ClientError
		if !errors.As(err, &ce) || ce.Field != "jwks" || !strings.Contains(ce.Description, "'"+m+"'") {
			t.Errorf("private member %q: err = %v", m, err)
		}
	}
}
