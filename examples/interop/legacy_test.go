package interop

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
	"golang.org/x/oauth2"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

// TestClient20250326 is a client written to MCP 2025-03-26, which knows
// neither protected resource metadata (RFC 9728) nor resource indicators
// (RFC 8707): it takes the authorization server to live at the MCP
// server's origin, reads the metadata at the root well-known URL of that
// origin, or, in the "defaults" case, does not look for metadata at all
// and uses the default endpoint paths /authorize, /token and /register.
// It sends no resource parameter. The token it gets must still be
// accepted by the MCP endpoint: its audience comes from the server's
// default resource (the example sets authz.Config.DefaultResource to its
// MCP URL). The MCP session then runs with protocol version 2025-03-26.
func TestClient20250326(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		metadata bool
		scope    []string // nil: no scope parameter
	}{
		{"metadata", true, []string{"mcp:tools"}},
		{"defaults", false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := interoptest.StartMCPServer(t, mcpserverBin, nil)
			ctx := interoptest.Context(t, 30*time.Second)
			rec := &interoptest.Recorder{}
			hc := &http.Client{Transport: rec}
			base := origin(t, srv.MCPURL)

			endpoints := map[string]string{
				"authorization_endpoint": base + "/authorize",
				"token_endpoint":         base + "/token",
				"registration_endpoint":  base + "/register",
			}
			if tc.metadata {
				var asm map[string]any
				getJSON(ctx, t, hc, base+"/.well-known/oauth-authorization-server", &asm)
				// The 2025-03-26 fallbacks and the advertised endpoints
				// coincide, so clients that guess and clients that read
				// agree.
				for k, want := range endpoints {
					if asm[k] != want {
						t.Errorf("metadata %s = %v, want %s", k, asm[k], want)
					}
				}
			}

			clientID := register(ctx, t, hc, endpoints["registration_endpoint"], nil)
			cfg := &oauth2.Config{
				ClientID:    clientID,
				Endpoint:    oauth2.Endpoint{AuthURL: endpoints["authorization_endpoint"], TokenURL: endpoints["token_endpoint"], AuthStyle: oauth2.AuthStyleInParams},
				RedirectURL: redirectURI,
				Scopes:      tc.scope,
			}
			verifier := oauth2.GenerateVerifier()
			authURL := cfg.AuthCodeURL("legacy", oauth2.S256ChallengeOption(verifier))
			if u, _ := url.Parse(authURL); u.Query().Has("resource") {
				t.Fatal("the legacy client sent a resource parameter")
			}
			loc, err := newBrowser().Authorize(ctx, authURL)
			if err != nil {
				t.Fatal(err)
			}
			tok, err := cfg.Exchange(ctx, loc.Query().Get("code"), oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatalf("Exchange: %v", err)
			}
			c, err := interoptest.UnverifiedClaims(tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Audience) != 1 || c.Audience[0] != srv.MCPURL {
				t.Errorf("aud = %v, want the MCP endpoint %s (the server's default resource)", c.Audience, srv.MCPURL)
			}
			wantScopes := tc.scope
			if wantScopes == nil {
				// No scope parameter: the scopes the example marks Default.
				wantScopes = []string{"mcp:tools", "mcp:prompts", "mcp:resources"}
			}
			if got := strings.Fields(c.Scope); !sameSet(got, wantScopes) {
				t.Errorf("scope = %q, want %v", c.Scope, wantScopes)
			}

			hc2 := &http.Client{Transport: &oauth2.Transport{Source: oauth2.StaticTokenSource(tok), Base: rec}}
			who := whoami(ctx, t, &mcp.StreamableClientTransport{Endpoint: srv.MCPURL, HTTPClient: hc2}, "2025-03-26")
			if who["client_id"] != clientID || who["subject"] != interoptest.User {
				t.Errorf("whoami = %v", who)
			}
			if got := toStrings(who["scopes"]); !slices.Contains(got, "mcp:tools") {
				t.Errorf("whoami scopes = %v", got)
			}
			for _, x := range rec.Exchanges() {
				if strings.Contains(x.URL, "oauth-protected-resource") {
					t.Errorf("the 2025-03-26 client fetched protected resource metadata: %+v", x)
				}
				if x.Form.Has("resource") {
					t.Errorf("the 2025-03-26 client sent a resource parameter: %+v", x)
				}
				if x.Method == http.MethodPost && x.URL == srv.MCPURL && x.Status != http.StatusOK && x.Status != http.StatusAccepted {
					t.Errorf("MCP request refused: %+v", x)
				}
			}
		})
	}
}
