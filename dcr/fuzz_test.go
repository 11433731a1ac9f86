package dcr_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/internal/hostmatch"
	"github.com/nqrust/identity/metadata"
)

// Registration bodies for the fuzz corpus: the real clients' bodies (see
// helpers_test.go), the MCP Go SDK's, a confidential client, and shapes
// that exercise every refusal.
var fuzzBodies = []string{
	inspectorBody, vscodeBody,
	`{"redirect_uris":["http://localhost:8080/callback"],"client_name":"go-sdk-client"}`,
	`{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_post","grant_types":["authorization_code","refresh_token"],"scope":"mcp:tools admin"}`,
	`{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"private_key_jwt","jwks":{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}}`,
	`{"redirect_uris":["https://evil.example.net/cb"],"token_endpoint_auth_method":"none"}`,
	`{"redirect_uris":["javascript:alert(1)"],"client_id":"https://vscode.dev/x","client_secret":"mine"}`,
	`{"redirect_uris":["http://127.0.0.1@evil.com/"],"token_endpoint_auth_method":"none"}`,
	`{"redirect_uris":["com.example.app:/cb"],"application_type":"native","token_endpoint_auth_method":"none","scope":"mcp:tools\tmcp:prompts"}`,
	`{"redirect_uris":["https://app.example.com/cb"],"logo_uri":"https://evil.example.net/x.png"}`,
	`{"a":` + strings.Repeat("[", 40) + strings.Repeat("]", 40) + `}`,
	`[]`, `{}`, `null`, ``,
}

var clientIDShape = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// fuzzFixture is a registrar over an in-memory store without logging (a
// fuzz run would fill memory with log text).
func fuzzFixture(tb testing.TB) *fixture {
	return newFixture(tb, func(c *dcr.Config) { c.Logger = nil })
}

// FuzzRegister posts arbitrary bodies to the registration endpoint.
// Properties: never a 5xx or anything but 201 or 400; a refusal is JSON
// with an RFC 7591 error code and a header-safe description, and stores
// nothing; a 201 stores exactly one client whose answer passes metadata
// validation, has a random client_id that cannot be mistaken for a URL, a
// secret exactly when the method needs one, only trusted hosts and allowed
// scopes; and the registration can be read back unchanged with its
// registration access token, deleted, and is then gone.
func FuzzRegister(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add([]byte(b))
	}
	fx := fuzzFixture(f)
	hosts := hostmatch.MustCompile(anonymousPolicy().TrustedHosts...)
	allowedScopes := anonymousPolicy().AllowedClientScopes
	f.Fuzz(func(t *testing.T, body []byte) {
		before := fx.count(t)
		rec := fx.do(t, req{body: string(body), ctype: "application/json"})
		if rec.Code != http.StatusCreated {
			checkRefusal(t, rec.Code, rec.Body.Bytes(), http.StatusBadRequest, "invalid_client_metadata", "invalid_redirect_uri")
			if got := fx.count(t); got != before {
				t.Fatalf("refused registration changed the client count from %d to %d", before, got)
			}
			return
		}
		if got := fx.count(t); got != before+1 {
			t.Fatalf("201 but the client count went from %d to %d", before, got)
		}
		assertNoStore(t, rec)
		c := checkRegistered(t, rec.Body.Bytes(), hosts, allowedScopes)
		if rec.Header().Get("Location") != c.RegistrationClientURI {
			t.Fatalf("Location %q, registration_client_uri %q", rec.Header().Get("Location"), c.RegistrationClientURI)
		}
		if !strings.HasPrefix(c.RegistrationAccessToken, "a.") {
			t.Fatalf("registration access token %q does not name the anonymous policy", c.RegistrationAccessToken)
		}

		path := strings.TrimPrefix(c.RegistrationClientURI, "https://as.example.com")
		get := fx.do(t, req{method: http.MethodGet, path: path, headers: bearer(c.RegistrationAccessToken)})
		if get.Code != http.StatusOK {
			t.Fatalf("GET of a fresh registration: %d %s", get.Code, get.Body)
		}
		read, err := metadata.ParseClient(get.Body.Bytes())
		if err != nil {
			t.Fatalf("GET answer: %v", err)
		}
		want := *c
		want.ClientSecret = "" // shown once, at registration
		if !reflect.DeepEqual(&want, read) {
			t.Fatalf("GET answer differs from the registration:\n%+v\n%+v", &want, read)
		}
		if del := fx.do(t, req{method: http.MethodDelete, path: path, headers: bearer(c.RegistrationAccessToken)}); del.Code != http.StatusNoContent {
			t.Fatalf("DELETE: %d %s", del.Code, del.Body)
		}
		if got := fx.count(t); got != before {
			t.Fatalf("after DELETE the client count is %d, want %d", got, before)
		}
		if again := fx.do(t, req{method: http.MethodGet, path: path, headers: bearer(c.RegistrationAccessToken)}); again.Code != http.StatusUnauthorized {
			t.Fatalf("GET after DELETE: %d", again.Code)
		}
	})
}

// FuzzUpdate sends arbitrary RFC 7592 update bodies for a registered
// client (with its client_id filled in when the body is a JSON object and
// inject is set). Properties: 200 or 400 only; a refusal leaves the stored
// registration exactly as it was; an accepted update keeps client_id,
// client_id_issued_at and the registration access token, passes the same
// checks as a registration, and is what a later GET returns.
func FuzzUpdate(f *testing.F) {
	for _, b := range fuzzBodies {
		f.Add([]byte(b), true)
	}
	f.Add([]byte(`{"client_id":"wrong","redirect_uris":["https://app.example.com/cb"]}`), false)
	f.Add([]byte(`{"redirect_uris":["https://app.example.com/cb"],"registration_access_token":"x"}`), true)
	f.Add([]byte(`{"redirect_uris":["https://app.example.com/cb"],"client_secret":"guess"}`), true)
	fx := fuzzFixture(f)
	reg := fx.mustRegister(f, vscodeBody, nil)
	id, rat, path := reg.str("client_id"), reg.str("registration_access_token"), itemPath(reg)
	// Every input starts from the same registration, so that its coverage
	// does not depend on the inputs before it.
	baseline, err := fx.store.GetClient(context.Background(), id)
	if err != nil {
		f.Fatal(err)
	}
	hosts := hostmatch.MustCompile(anonymousPolicy().TrustedHosts...)
	allowedScopes := anonymousPolicy().AllowedClientScopes
	current := func(t *testing.T) *metadata.Client {
		rec := fx.do(t, req{method: http.MethodGet, path: path, headers: bearer(rat)})
		if rec.Code != http.StatusOK {
			t.Fatalf("GET: %d %s", rec.Code, rec.Body)
		}
		c, err := metadata.ParseClient(rec.Body.Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	f.Fuzz(func(t *testing.T, body []byte, inject bool) {
		if inject {
			var m map[string]json.RawMessage
			if json.Unmarshal(body, &m) == nil && m != nil {
				m["client_id"], _ = json.Marshal(id)
				body, _ = json.Marshal(m)
			}
		}
		restore := *baseline
		if err := fx.store.UpdateClient(context.Background(), &restore); err != nil {
			t.Fatal(err)
		}
		before := current(t)
		rec := fx.do(t, req{method: http.MethodPut, path: path, body: string(body), ctype: "application/json", headers: bearer(rat)})
		if rec.Code != http.StatusOK {
			checkRefusal(t, rec.Code, rec.Body.Bytes(), http.StatusBadRequest, "invalid_client_metadata", "invalid_redirect_uri")
			if after := current(t); !reflect.DeepEqual(before, after) {
				t.Fatalf("refused update changed the client:\n%+v\n%+v", before, after)
			}
			return
		}
		assertNoStore(t, rec)
		c := checkRegistered(t, rec.Body.Bytes(), hosts, allowedScopes)
		if c.ClientID != id || c.RegistrationAccessToken != rat || c.ClientIDIssuedAt != before.ClientIDIssuedAt {
			t.Fatalf("update changed client_id, token or issue time: %+v", c)
		}
		want := *c
		want.ClientSecret = ""
		if after := current(t); !reflect.DeepEqual(&want, after) {
			t.Fatalf("GET after update differs from the update answer:\n%+v\n%+v", &want, after)
		}
	})
}

// checkRefusal asserts an error answer: the expected status, JSON with one
// of the codes, and a description within RFC 6749 §5.2's characters.
func checkRefusal(t *testing.T, status int, body []byte, wantStatus int, codes ...string) {
	t.Helper()
	if status != wantStatus {
		t.Fatalf("status %d, want %d: %s", status, wantStatus, body)
	}
	var e struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(body, &e); err != nil || !slices.Contains(codes, e.Error) {
		t.Fatalf("error answer %s (%v), want one of %q", body, err, codes)
	}
	for i := 0; i < len(e.Description); i++ {
		if c := e.Description[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			t.Fatalf("error_description has byte %#x: %q", c, e.Description)
		}
	}
}

// checkRegistered asserts what every successful registration or update
// answer must satisfy, and returns it decoded.
func checkRegistered(t *testing.T, body []byte, hosts *hostmatch.Matcher, allowedScopes []string) *metadata.Client {
	t.Helper()
	c, err := metadata.ParseClient(body)
	if err != nil {
		t.Fatalf("answer does not parse as client metadata: %v: %s", err, body)
	}
	if err := c.Validate(metadata.ClientValidation{}); err != nil {
		t.Fatalf("registered client fails metadata validation: %v: %s", err, body)
	}
	if !clientIDShape.MatchString(c.ClientID) || strings.ContainsAny(c.ClientID, ":/") {
		t.Fatalf("client_id %q is not a random opaque identifier", c.ClientID)
	}
	if c.RegistrationClientURI != endpoint+"/"+c.ClientID || c.RegistrationAccessToken == "" {
		t.Fatalf("registration_client_uri %q, registration_access_token %q", c.RegistrationClientURI, c.RegistrationAccessToken)
	}
	secretMethod := c.TokenEndpointAuthMethod == "client_secret_basic" || c.TokenEndpointAuthMethod == "client_secret_post"
	if !slices.Contains([]string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"}, c.TokenEndpointAuthMethod) {
		t.Fatalf("registered token_endpoint_auth_method %q", c.TokenEndpointAuthMethod)
	}
	if (c.ClientSecretExpiresAt != nil) != secretMethod {
		t.Fatalf("client_secret_expires_at %v for method %q", c.ClientSecretExpiresAt, c.TokenEndpointAuthMethod)
	}
	if !secretMethod && c.ClientSecret != "" {
		t.Fatalf("a %q client was given a secret", c.TokenEndpointAuthMethod)
	}
	if len(c.GrantTypes) == 0 {
		t.Fatal("registered without grant types")
	}
	for _, g := range c.GrantTypes {
		if g != "authorization_code" && g != "refresh_token" {
			t.Fatalf("registered grant type %q the server does not offer", g)
		}
	}
	if c.ApplicationType != "web" && c.ApplicationType != "native" {
		t.Fatalf("application_type %q", c.ApplicationType)
	}
	for _, list := range [][]string{c.RedirectURIs, c.PostLogoutRedirectURIs, {c.ClientURI, c.LogoURI, c.TOSURI, c.PolicyURI, c.JWKSURI}} {
		for _, s := range list {
			if s == "" {
				continue
			}
			u, err := url.Parse(s)
			if err != nil || !hosts.Match(u.Hostname()) {
				t.Fatalf("registered URI %q on an untrusted host", s)
			}
		}
	}
	if c.Scope == "" {
		t.Fatal("registered with an empty scope")
	}
	for _, s := range strings.Split(c.Scope, " ") {
		if !slices.Contains(allowedScopes, s) {
			t.Fatalf("registered scope %q the policy does not allow", s)
		}
	}
	if c.SoftwareStatement != "" {
		t.Fatal("an unverified software statement was kept")
	}
	return c
}
