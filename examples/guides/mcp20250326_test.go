package guides_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
)

// An MCP 2025-03-26 client knows neither protected resource metadata nor
// the resource parameter. It takes the authorization server to be the MCP
// server's origin, reads /.well-known/oauth-authorization-server there,
// and, where that is missing, uses /authorize, /token and /register. The
// server serves all of these already; what it needs from you is an
// audience for tokens requested without "resource": DefaultResource.
func Example_mcp20250326() {
	const mcpURL = "https://mcp.example.com/mcp"
	cfg := authz.Config{
		Scopes:          []authz.Scope{{Name: "mcp:tools", Default: true}},
		Resources:       []authz.Resource{{Identifier: mcpURL, Name: "Example MCP server"}},
		DefaultResource: mcpURL, // the audience of tokens requested without "resource"
		Registration: &dcr.Config{Anonymous: &dcr.Policy{
			Name:         "anonymous",
			TrustedHosts: []string{"localhost", "127.0.0.1"},
		}},
		Clients: []authz.StaticClient{{Metadata: metadata.Client{
			ClientID:     "legacy-client",
			RedirectURIs: []string{"http://127.0.0.1:33418/"},
		}}},
	}
	srv := startAS(cfg, "")
	defer srv.Close()
	origin := srv.URL

	// What the 2025-03-26 client reads: the root metadata of the origin.
	resp, err := http.Get(origin + "/.well-known/oauth-authorization-server")
	if err != nil {
		log.Fatal(err)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	for _, k := range []string{"issuer", "authorization_endpoint", "token_endpoint", "registration_endpoint"} {
		fmt.Printf("%s: %s\n", k, strings.Replace(m[k].(string), origin, "{origin}", 1))
	}

	// A token requested the 2025-03-26 way, at the default endpoints and
	// without "resource", is still bound to the MCP server.
	tok, err := authorize(&oauth2.Config{
		ClientID:    "legacy-client",
		Endpoint:    oauth2.Endpoint{AuthURL: origin + "/authorize", TokenURL: origin + "/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURI,
	})
	if err != nil {
		log.Fatal(err)
	}
	info := verify(srv.AS, mcpURL, tok.AccessToken)
	fmt.Println("aud:", info.Audience, "scope:", info.Scopes)
	// Output:
	// issuer: {origin}
	// authorization_endpoint: {origin}/authorize
	// token_endpoint: {origin}/token
	// registration_endpoint: {origin}/register
	// aud: [https://mcp.example.com/mcp] scope: [mcp:tools]
}

// With an issuer that has a path (the authorization server mounted under
// /oauth of a larger site), the endpoints move under the path; the root
// metadata URL still answers, for 2025-03-26 clients that look there.
func Example_mcp20250326PathIssuer() {
	srv := startAS(authz.Config{
		Resources:       []authz.Resource{{Identifier: "https://mcp.example.com/mcp"}},
		DefaultResource: "https://mcp.example.com/mcp",
	}, "/oauth")
	defer srv.Close()

	for _, p := range []string{"/.well-known/oauth-authorization-server/oauth", "/.well-known/oauth-authorization-server"} {
		resp, err := http.Get(srv.URL + p)
		if err != nil {
			log.Fatal(err)
		}
		var m metadata.AuthorizationServer
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
			log.Fatal(err)
		}
		resp.Body.Close()
		fmt.Println(p, "→", strings.Replace(m.AuthorizationEndpoint, srv.URL, "{origin}", 1))
	}
	// Output:
	// /.well-known/oauth-authorization-server/oauth → {origin}/oauth/authorize
	// /.well-known/oauth-authorization-server → {origin}/oauth/authorize
}
