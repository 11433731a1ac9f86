package authztest_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/authztest"
	"github.com/nqrust/identity/authz/bearer"
)

const resource = "https://example.com/mcp"

func TestTokenVerifies(t *testing.T) {
	srv := authztest.New(t, authztest.Options{Resource: resource, Scopes: []string{"mcp:tools"}})
	if !strings.HasPrefix(srv.Issuer(), "http://127.0.0.1:") || srv.URL() != srv.Issuer() || srv.Resource() != resource {
		t.Fatalf("issuer %q, resource %q", srv.Issuer(), srv.Resource())
	}
	tok := srv.Token("alice", "mcp:tools", "mcp:admin")
	info, err := srv.Verifier().Verify(t.Context(), tok)
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != "alice" || info.ClientID != authztest.DefaultClientID || info.Issuer != srv.Issuer() ||
		!slices.Equal(info.Audience, []string{resource}) || !slices.Equal(info.Scopes, []string{"mcp:tools", "mcp:admin"}) {
		t.Errorf("token info %+v", info)
	}
	if d := time.Until(info.Expiry); d < 29*time.Minute || d > 31*time.Minute {
		t.Errorf("lifetime %v, want the default 30 minutes", d)
	}
	if info, _ := srv.Verifier().Verify(t.Context(), srv.Token("")); info == nil || info.Subject != authztest.DefaultSubject || len(info.Scopes) != 0 {
		t.Errorf("default subject: %+v", info)
	}
}

// A verifier configured as in production, fetching the JWKS over HTTP,
// accepts the tokens too.
func TestJWKSURL(t *testing.T) {
	srv := authztest.New(t, authztest.Options{Resource: resource})
	v, err := bearer.NewVerifier(bearer.Config{Issuer: srv.Issuer(), Resource: resource, JWKSURL: srv.JWKSURL()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(t.Context(), srv.Token("bob", "x")); err != nil {
		t.Fatalf("remote verification: %v", err)
	}
	v2, err := bearer.NewVerifier(bearer.Config{Issuer: srv.Issuer(), Resource: resource, Keys: srv.KeySource()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.Verify(t.Context(), srv.Token("bob", "x")); err != nil {
		t.Fatalf("KeySource verification: %v", err)
	}
	// The metadata document names the same issuer and JWKS.
	resp, err := srv.Client().Get(srv.Issuer() + "/.well-known/oauth-authorization-server")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
		Reg     string `json:"registration_endpoint"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&md); err != nil || md.Issuer != srv.Issuer() || md.JWKSURI != srv.JWKSURL() || md.Reg == "" {
		t.Fatalf("metadata %+v, %v", md, err)
	}
}

func TestTokenFor(t *testing.T) {
	srv := authztest.New(t, authztest.Options{Resource: resource, ClientID: "my-client"})
	v := srv.Verifier()
	authTime := time.Now().Add(-time.Hour).Truncate(time.Second)
	for _, tc := range []struct {
		name    string
		o       authztest.TokenOptions
		wantErr bool
		check   func(*bearer.TokenInfo) bool
	}{
		{"defaults", authztest.TokenOptions{}, false, func(i *bearer.TokenInfo) bool {
			return i.Subject == authztest.DefaultSubject && i.ClientID == "my-client"
		}},
		{"client and auth_time", authztest.TokenOptions{Subject: "s", ClientID: "c", AuthTime: authTime}, false, func(i *bearer.TokenInfo) bool {
			return i.ClientID == "c" && i.AuthTime.Equal(authTime)
		}},
		{"short lifetime", authztest.TokenOptions{Lifetime: time.Minute}, false, func(i *bearer.TokenInfo) bool {
			return time.Until(i.Expiry) <= time.Minute
		}},
		{"two audiences", authztest.TokenOptions{Audience: []string{"https://other.example/api", resource}}, false, nil},
		{"expired", authztest.TokenOptions{Lifetime: -time.Hour}, true, nil},
		{"foreign audience", authztest.TokenOptions{Audience: []string{"https://other.example/mcp"}}, true, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := v.Verify(t.Context(), srv.TokenFor(tc.o))
			if tc.wantErr {
				if !errors.Is(err, bearer.ErrInvalidToken) {
					t.Fatalf("verified: %+v, %v", info, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.check != nil && !tc.check(info) {
				t.Errorf("token info %+v", info)
			}
		})
	}
	if _, err := srv.Mint(t.Context(), authztest.TokenOptions{Scopes: []string{"bad scope"}}); err == nil {
		t.Error("Mint accepted a scope with a space")
	}
	if _, err := srv.Mint(t.Context(), authztest.TokenOptions{Audience: []string{"not a url"}}); err == nil {
		t.Error("Mint accepted a relative audience")
	}
}

// TestAuthorizationCodeFlow: a real OAuth client registers and completes
// the authorization code flow; nobody logs in, the interaction step
// approves as Options.Subject.
func TestAuthorizationCodeFlow(t *testing.T) {
	srv := authztest.New(t, authztest.Options{Resource: resource, Scopes: []string{"mcp:tools", "mcp:prompts"}, Subject: "dora"})
	hc := srv.Client()
	reg, err := hc.Post(srv.Issuer()+"/register", "application/json", strings.NewReader(
		`{"redirect_uris":["http://127.0.0.1:5151/cb"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token"],"client_name":"t"}`))
	if err != nil {
		t.Fatal(err)
	}
	var client struct {
		ClientID string `json:"client_id"`
	}
	err = json.NewDecoder(reg.Body).Decode(&client)
	reg.Body.Close()
	if err != nil || reg.StatusCode != http.StatusCreated {
		t.Fatalf("registration: %d %v", reg.StatusCode, err)
	}
	cfg := &oauth2.Config{
		ClientID:    client.ClientID,
		RedirectURL: "http://127.0.0.1:5151/cb",
		Scopes:      []string{"mcp:tools"},
		Endpoint:    oauth2.Endpoint{AuthURL: srv.Issuer() + "/authorize", TokenURL: srv.Issuer() + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	var callback *url.URL
	browser := &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
		if req.URL.Host == "127.0.0.1:5151" {
			callback = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(cfg.AuthCodeURL("s1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if callback == nil || callback.Query().Get("state") != "s1" || callback.Query().Get("iss") != srv.Issuer() {
		t.Fatalf("callback %v (status %d)", callback, resp.StatusCode)
	}
	ctx := context.WithValue(t.Context(), oauth2.HTTPClient, hc)
	tok, err := cfg.Exchange(ctx, callback.Query().Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	if err != nil {
		t.Fatal(err)
	}
	info, err := srv.Verifier().Verify(t.Context(), tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if info.Subject != "dora" || info.ClientID != client.ClientID || !slices.Equal(info.Scopes, []string{"mcp:tools"}) {
		t.Errorf("token info %+v", info)
	}
}

func TestOptions(t *testing.T) {
	t.Run("defaults", func(t *testing.T) {
		srv := authztest.New(t, authztest.Options{})
		if srv.Resource() != authztest.DefaultResource {
			t.Errorf("resource %q", srv.Resource())
		}
		if _, err := srv.Verifier().Verify(t.Context(), srv.Token("x")); err != nil {
			t.Error(err)
		}
	})
	t.Run("registration off", func(t *testing.T) {
		srv := authztest.New(t, authztest.Options{DisableRegistration: true})
		resp, err := srv.Client().Post(srv.Issuer()+"/register", "application/json", strings.NewReader(`{"redirect_uris":["http://127.0.0.1/cb"]}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("registration: %d", resp.StatusCode)
		}
	})
	t.Run("clock and lifetime", func(t *testing.T) {
		past := time.Now().Add(-2 * time.Hour)
		srv := authztest.New(t, authztest.Options{Clock: func() time.Time { return past }, TokenLifetime: time.Hour})
		tok := srv.Token("x")
		if _, err := srv.Verifier().Verify(t.Context(), tok); err != nil {
			t.Errorf("the server's own verifier shares its clock: %v", err)
		}
		v, _ := bearer.NewVerifier(bearer.Config{Issuer: srv.Issuer(), Resource: srv.Resource(), Keys: srv.KeySource()})
		if _, err := v.Verify(t.Context(), tok); !errors.Is(err, bearer.ErrInvalidToken) {
			t.Errorf("a token minted two hours ago with a one-hour lifetime verified now: %v", err)
		}
	})
	t.Run("configure", func(t *testing.T) {
		srv := authztest.New(t, authztest.Options{Configure: func(c *authz.Config) { c.DisableOpenIDConfiguration = true }})
		resp, err := srv.Client().Get(srv.Issuer() + "/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || srv.AuthServer().Issuer() != srv.Issuer() {
			t.Errorf("Configure was not applied: openid-configuration %d", resp.StatusCode)
		}
	})
	for name, opts := range map[string]authztest.Options{
		"bad resource":    {Resource: "not a url"},
		"issuer changed":  {Configure: func(c *authz.Config) { c.Issuer = "https://elsewhere.example" }},
		"bad scope":       {Scopes: []string{"two words"}},
		"bad lifetime":    {TokenLifetime: 48 * time.Hour},
		"interaction set": {Configure: func(c *authz.Config) { c.InteractionURL = "/login" }},
	} {
		t.Run(name, func(t *testing.T) {
			if srv, err := authztest.Start(opts); err == nil {
				srv.Close()
				t.Fatal("Start accepted invalid options")
			}
		})
	}
}

// The server stops when the test that created it ends.
func TestCleanup(t *testing.T) {
	var issuer string
	t.Run("inner", func(t *testing.T) {
		issuer = authztest.New(t, authztest.Options{}).Issuer()
		resp, err := http.Get(issuer + "/jwks")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
	})
	client := &http.Client{Timeout: 2 * time.Second}
	if resp, err := client.Get(issuer + "/jwks"); err == nil {
		resp.Body.Close()
		t.Fatal("the server still answers after its test ended")
	}
}

func TestTokenWithoutT(t *testing.T) {
	srv, err := authztest.Start(authztest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	defer func() {
		if recover() == nil {
			t.Error("Token with an invalid scope did not panic without a testing.TB")
		}
	}()
	srv.Token("x", "bad scope")
}
