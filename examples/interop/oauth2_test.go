package interop

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
	"golang.org/x/oauth2"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

// TestOAuth2ClientWithPKCEAndResource uses golang.org/x/oauth2 as a
// generic OAuth 2.1 client would: discovery from the MCP endpoint's 401
// (RFC 9728 protected resource metadata, then RFC 8414 authorization
// server metadata), dynamic registration, an authorization request with
// PKCE S256 and resource, the code exchange with the verifier and the
// resource, a tools/call with the token, and a refresh whose new token
// works too while the rotated refresh token is refused.
func TestOAuth2ClientWithPKCEAndResource(t *testing.T) {
	t.Parallel()
	srv := interoptest.StartMCPServer(t, mcpserverBin, nil)
	ctx := interoptest.Context(t, 30*time.Second)
	hc := &http.Client{}

	// Discovery, starting from the MCP endpoint alone.
	resp, err := hc.Post(srv.MCPURL, "application/json", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("MCP request without a token: status %d", resp.StatusCode)
	}
	challenges, err := oauthex.ParseWWWAuthenticate(resp.Header.Values("WWW-Authenticate"))
	if err != nil || len(challenges) != 1 || challenges[0].Params["resource_metadata"] == "" {
		t.Fatalf("challenge %q: %v", resp.Header.Values("WWW-Authenticate"), err)
	}
	var prm struct {
		Resource             string   `json:"resource"`
		AuthorizationServers []string `json:"authorization_servers"`
		ScopesSupported      []string `json:"scopes_supported"`
	}
	getJSON(ctx, t, hc, challenges[0].Params["resource_metadata"], &prm)
	if prm.Resource != srv.MCPURL || len(prm.AuthorizationServers) != 1 {
		t.Fatalf("protected resource metadata %+v", prm)
	}
	issuer := prm.AuthorizationServers[0]
	var asm struct {
		Issuer                        string   `json:"issuer"`
		AuthorizationEndpoint         string   `json:"authorization_endpoint"`
		TokenEndpoint                 string   `json:"token_endpoint"`
		RegistrationEndpoint          string   `json:"registration_endpoint"`
		CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	}
	// RFC 8414 §3: the issuer has no path, so the document is at the root.
	getJSON(ctx, t, hc, issuer+"/.well-known/oauth-authorization-server", &asm)
	if asm.Issuer != issuer || !slices.Contains(asm.CodeChallengeMethodsSupported, "S256") || asm.RegistrationEndpoint == "" {
		t.Fatalf("authorization server metadata %+v", asm)
	}

	clientID := register(ctx, t, hc, asm.RegistrationEndpoint, nil)
	cfg := &oauth2.Config{
		ClientID:    clientID,
		Endpoint:    oauth2.Endpoint{AuthURL: asm.AuthorizationEndpoint, TokenURL: asm.TokenEndpoint, AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURI,
		Scopes:      prm.ScopesSupported,
	}
	verifier := oauth2.GenerateVerifier()
	resource := oauth2.SetAuthURLParam("resource", srv.MCPURL)
	authURL := cfg.AuthCodeURL("state-123", oauth2.S256ChallengeOption(verifier), resource)

	// The server reads the resource: one it does not serve is refused
	// (RFC 8707 invalid_target), redirected to the client before any
	// login page.
	bad, err := newBrowser().Authorize(ctx, cfg.AuthCodeURL("state-bad", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", "https://elsewhere.example/mcp")))
	if err != nil {
		t.Fatal(err)
	}
	if q := bad.Query(); q.Get("error") != "invalid_target" || q.Get("state") != "state-bad" || q.Get("iss") != issuer || q.Has("code") {
		t.Errorf("authorization for a foreign resource: %s", bad)
	}

	loc, err := newBrowser().Authorize(ctx, authURL)
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("state") != "state-123" || q.Get("iss") != issuer || q.Get("code") == "" {
		t.Fatalf("authorization response %s", loc)
	}
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier), resource)
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.RefreshToken == "" || !strings.EqualFold(tok.TokenType, "Bearer") {
		t.Fatalf("token response: type %q, refresh token present %v", tok.TokenType, tok.RefreshToken != "")
	}
	c, err := interoptest.UnverifiedClaims(tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Audience) != 1 || c.Audience[0] != srv.MCPURL || c.ClientID != clientID || c.Subject != interoptest.User {
		t.Errorf("claims %+v", c)
	}
	if got := strings.Fields(c.Scope); !sameSet(got, prm.ScopesSupported) {
		t.Errorf("scope %q, want %v", c.Scope, prm.ScopesSupported)
	}

	// The MCP Go SDK client, with x/oauth2 adding the token.
	who := whoami(ctx, t, &mcp.StreamableClientTransport{Endpoint: srv.MCPURL, HTTPClient: cfg.Client(ctx, tok)}, "")
	if who["client_id"] != clientID || who["subject"] != interoptest.User {
		t.Errorf("whoami = %v", who)
	}

	// Refresh: make the access token look expired so that x/oauth2
	// refreshes it before the next call.
	expired := *tok
	expired.Expiry = time.Now().Add(-time.Minute)
	fresh, err := cfg.TokenSource(ctx, &expired).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if fresh.AccessToken == tok.AccessToken || fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
		t.Fatal("the refresh did not issue a new access token and a rotated refresh token")
	}
	if c2, err := interoptest.UnverifiedClaims(fresh.AccessToken); err != nil || len(c2.Audience) != 1 || c2.Audience[0] != srv.MCPURL {
		t.Errorf("refreshed token claims %+v, %v", c2, err)
	}
	who = whoami(ctx, t, &mcp.StreamableClientTransport{Endpoint: srv.MCPURL, HTTPClient: oauth2.NewClient(ctx, oauth2.StaticTokenSource(fresh))}, "")
	if who["client_id"] != clientID {
		t.Errorf("whoami with the refreshed token = %v", who)
	}
	// The rotated refresh token is spent.
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) || re.ErrorCode != "invalid_grant" {
		t.Errorf("reusing the rotated refresh token: %v, want invalid_grant", err)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
