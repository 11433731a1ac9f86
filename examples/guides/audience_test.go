package guides_test

import (
	"fmt"
	"log"
	"strings"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/metadata"
)

// MCP 2025-06-18 and later: the client sends the MCP server's URL as the
// RFC 8707 "resource" parameter on the authorization and token requests,
// and the token's "aud" is that URL. Register every MCP server the
// authorization server issues tokens for in Resources; a resource that is
// not registered is refused with invalid_target.
func Example_audienceResourceIndicator() {
	cfg := authz.Config{
		Scopes: []authz.Scope{
			{Name: "mcp:tools", Description: "Use the tools"},
			{Name: "mcp:prompts", Description: "Use the prompts"},
			{Name: "mcp:resources", Description: "Read the resources"},
		},
		Resources: []authz.Resource{{
			Identifier: "https://example.com/mcp",
			Name:       "Example MCP server",
			Scopes:     []string{"mcp:tools", "mcp:prompts", "mcp:resources"},
		}},
		Clients: []authz.StaticClient{{Metadata: metadata.Client{
			ClientID:     "mcp-client",
			RedirectURIs: []string{"http://127.0.0.1:33418/"},
		}}},
	}
	srv := startAS(cfg, "")
	defer srv.Close()
	client := &oauth2.Config{
		ClientID:    "mcp-client",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURI,
		Scopes:      []string{"mcp:resources", "mcp:tools", "mcp:prompts"},
	}

	tok, err := authorize(client, oauth2.SetAuthURLParam("resource", "https://example.com/mcp"))
	if err != nil {
		log.Fatal(err)
	}
	info := verify(srv.AS, "https://example.com/mcp", tok.AccessToken)
	fmt.Printf("aud: %q\nscope: %q\n", info.Audience, strings.Join(info.Scopes, " "))

	_, err = authorize(client, oauth2.SetAuthURLParam("resource", "https://other.example.com/mcp"))
	fmt.Println("unregistered resource:", err)
	// Output:
	// aud: ["https://example.com/mcp"]
	// scope: "mcp:resources mcp:tools mcp:prompts"
	// unregistered resource: invalid_target
}

// The seed guide's way, for clients that send no "resource": each MCP
// scope carries the MCP server's URL as its audience (Keycloak's audience
// mapper with "Included Custom Audience"), so that asking for the scopes
// yields a token for that server. The audience must be exactly the URL
// the MCP server checks ("aud" is compared with its resource identifier).
func Example_audienceScopeMapping() {
	const mcpURL = "https://example.com/mcp"
	cfg := authz.Config{
		Scopes: []authz.Scope{
			{Name: "mcp:tools", Description: "Use the tools", Audiences: []string{mcpURL}},
			{Name: "mcp:prompts", Description: "Use the prompts", Audiences: []string{mcpURL}},
			{Name: "mcp:resources", Description: "Read the resources", Audiences: []string{mcpURL}},
		},
		Clients: []authz.StaticClient{{Metadata: metadata.Client{
			ClientID:     "mcp-client",
			RedirectURIs: []string{"http://127.0.0.1:33418/"},
		}}},
	}
	srv := startAS(cfg, "")
	defer srv.Close()
	client := &oauth2.Config{
		ClientID:    "mcp-client",
		Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURI,
		Scopes:      []string{"mcp:resources", "mcp:tools", "mcp:prompts"},
	}

	tok, err := authorize(client) // no resource parameter
	if err != nil {
		log.Fatal(err)
	}
	info := verify(srv.AS, mcpURL, tok.AccessToken)
	fmt.Printf("aud: %q\nscope: %q\n", info.Audience, strings.Join(info.Scopes, " "))
	// Output:
	// aud: ["https://example.com/mcp"]
	// scope: "mcp:resources mcp:tools mcp:prompts"
}

// Both at once, for a server whose clients are a mix: the MCP server is a
// registered resource (for clients that send "resource") and its scopes
// map to it (for clients that do not). A seed-style configuration with
// scope audiences alone refuses clients that do send "resource" with
// invalid_target, since only registered resources may be named.
func Example_audienceBoth() {
	const mcpURL = "https://example.com/mcp"
	scopes := []authz.Scope{
		{Name: "mcp:tools", Description: "Use the tools", Audiences: []string{mcpURL}},
		{Name: "mcp:prompts", Description: "Use the prompts", Audiences: []string{mcpURL}},
	}
	clients := []authz.StaticClient{{Metadata: metadata.Client{
		ClientID:     "mcp-client",
		RedirectURIs: []string{"http://127.0.0.1:33418/"},
	}}}
	for _, resources := range [][]authz.Resource{
		nil, // scope audiences alone
		{{Identifier: mcpURL, Name: "Example MCP server"}}, // and the registered resource
	} {
		srv := startAS(authz.Config{Scopes: scopes, Resources: resources, Clients: clients}, "")
		client := &oauth2.Config{
			ClientID:    "mcp-client",
			Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: redirectURI,
			Scopes:      []string{"mcp:tools"},
		}
		fmt.Printf("%d registered resources:\n", len(resources))
		for _, opts := range [][]oauth2.AuthCodeOption{nil, {oauth2.SetAuthURLParam("resource", mcpURL)}} {
			tok, err := authorize(client, opts...)
			if err != nil {
				fmt.Printf("  resource sent %v: %v\n", len(opts) > 0, err)
				continue
			}
			fmt.Printf("  resource sent %v: aud %q\n", len(opts) > 0, verify(srv.AS, mcpURL, tok.AccessToken).Audience)
		}
		srv.Close()
	}
	// Output:
	// 0 registered resources:
	//   resource sent false: aud ["https://example.com/mcp"]
	//   resource sent true: invalid_target
	// 1 registered resources:
	//   resource sent false: aud ["https://example.com/mcp"]
	//   resource sent true: aud ["https://example.com/mcp"]
}
