package metadata_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	"github.com/nqrust/identity/metadata"
)

// Serve authorization-server metadata and protected-resource metadata on a
// ServeMux at every well-known path MCP clients probe.
func Example() {
	const issuer = "https://auth.example.com/tenant1"
	const resource = "https://mcp.example.com/mcp"

	as := &metadata.AuthorizationServer{
		Issuer:                            issuer,
		AuthorizationEndpoint:             issuer + "/authorize",
		TokenEndpoint:                     issuer + "/token",
		JWKSURI:                           issuer + "/jwks",
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethodsSupported: []string{"none", "private_key_jwt"},
		CodeChallengeMethodsSupported:     []string{"S256"},
		ClientIDMetadataDocumentSupported: true,
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
	}
	prm := &metadata.ProtectedResource{
		Resource:               resource,
		AuthorizationServers:   []string{issuer},
		ScopesSupported:        []string{"mcp:tools"},
		BearerMethodsSupported: []string{"header"},
	}

	mux := http.NewServeMux()
	asHandler, err := metadata.AuthorizationServerHandler(as)
	if err != nil {
		log.Fatal(err)
	}
	oidcHandler, err := metadata.OpenIDConfigurationHandler(as)
	if err != nil {
		log.Fatal(err)
	}
	paths, err := metadata.AuthorizationServerWellKnownPaths(issuer)
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle(paths.AuthorizationServer, asHandler)
	for _, p := range paths.OpenIDConfiguration {
		mux.Handle(p, oidcHandler)
	}

	// The MCP server, usually another process, serves its own metadata.
	prmHandler, err := metadata.ProtectedResourceHandler(prm)
	if err != nil {
		log.Fatal(err)
	}
	prmPaths, err := metadata.ProtectedResourceWellKnownPaths(resource)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range prmPaths {
		mux.Handle(p, prmHandler)
	}

	// What a 2025-11-25 client fetches, in order.
	prmURL, _ := metadata.ProtectedResourceMetadataURL(resource)
	fmt.Println("PRM:", prmURL)
	for _, u := range metadata.AuthorizationServerProbeURLs(issuer, metadata.MCPRevision20251125) {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, u, nil))
		fmt.Println(rec.Code, u)
	}
	// Output:
	// PRM: https://mcp.example.com/.well-known/oauth-protected-resource/mcp
	// 200 https://auth.example.com/.well-known/oauth-authorization-server/tenant1
	// 200 https://auth.example.com/.well-known/openid-configuration/tenant1
	// 200 https://auth.example.com/tenant1/.well-known/openid-configuration
}

func ExampleRedirectURIMatches() {
	// VS Code registers a loopback URI with a port and comes back on another.
	fmt.Println(metadata.RedirectURIMatches("http://127.0.0.1:33418/", "http://127.0.0.1:51234/"))
	// Claude registers a portless localhost URI and comes back with a port.
	fmt.Println(metadata.RedirectURIMatches("http://localhost/callback", "http://localhost:49152/callback"))
	// Everything else is exact.
	fmt.Println(metadata.RedirectURIMatches("https://app.example.com/cb", "https://app.example.com:8443/cb"))
	// Output:
	// true
	// true
	// false
}

func ExampleParseClient() {
	body := []byte(`{"client_name":"My MCP client","redirect_uris":["http://127.0.0.1/callback"],
		"grant_types":["authorization_code","urn:ietf:params:oauth:grant-type:jwt-bearer"],
		"token_endpoint_auth_method":"none","code_challenge_methods_used":["S256"]}`)
	c, err := metadata.ParseClient(body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(c.Validate(metadata.ClientValidation{}))
	fmt.Println(c.Validate(metadata.ClientValidation{IgnoreUnknownGrantTypes: true}))
	// Output:
	// invalid_client_metadata: grant type 'urn:ietf:params:oauth:grant-type:jwt-bearer' is not supported
	// <nil>
}

func ExampleResourceEqual() {
	fmt.Println(metadata.ResourceEqual("HTTPS://MCP.Example.com", "https://mcp.example.com/"))
	fmt.Println(metadata.ResourceEqual("https://mcp.example.com/mcp/", "https://mcp.example.com/mcp"))
	// Output:
	// true
	// false
}
