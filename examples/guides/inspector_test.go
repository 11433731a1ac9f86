package guides_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log"
	"net/http"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/dcr"
)

// The MCP Inspector registers itself from JavaScript in the browser, at
// http://localhost:6274, unless its proxy makes the calls. Its
// registration needs three things from the anonymous registration policy:
//
//   - AllowedClientScopes: the scopes it registers, which are all the
//     scopes the MCP server advertises (or what the user typed);
//   - AllowedWebOrigins: its origin, so that the browser may call the
//     registration endpoint (CORS);
//   - TrustedHosts: "localhost", which trusts callers on this machine (the
//     browser runs here) and its redirect URIs on localhost, and
//     "github.com", the host of its client_uri.
func Example_mcpInspector() {
	srv := startAS(authz.Config{
		Scopes:    []authz.Scope{{Name: "mcp:tools"}, {Name: "mcp:prompts"}, {Name: "mcp:resources"}},
		Resources: []authz.Resource{{Identifier: "https://mcp.example.com/mcp"}},
		Registration: &dcr.Config{
			Anonymous: &dcr.Policy{
				Name:                "anonymous",
				TrustedHosts:        []string{"localhost", "github.com"},
				AllowedClientScopes: []string{"mcp:tools", "mcp:prompts", "mcp:resources"},
				AllowedWebOrigins:   []string{"http://localhost:6274"},
			},
		},
	}, "")
	defer srv.Close()

	// The Inspector's registration body, as it sends it.
	body := []byte(`{
  "client_name": "MCP Inspector",
  "client_uri": "https://github.com/modelcontextprotocol/inspector",
  "redirect_uris": ["http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"],
  "grant_types": ["authorization_code", "refresh_token"],
  "response_types": ["code"],
  "token_endpoint_auth_method": "none",
  "scope": "mcp:tools mcp:prompts mcp:resources"
}`)

	// The browser's preflight, then the registration, from the
	// Inspector's origin; then the same registration from another origin.
	preflight, _ := http.NewRequest(http.MethodOptions, srv.URL+"/register", nil)
	preflight.Header.Set("Origin", "http://localhost:6274")
	preflight.Header.Set("Access-Control-Request-Method", "POST")
	preflight.Header.Set("Access-Control-Request-Headers", "content-type")
	show("preflight from http://localhost:6274", preflight)

	for _, origin := range []string{"http://localhost:6274", "https://evil.example"} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/register", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		show("register from "+origin, req)
	}

	// The token request is cross-origin too; the token endpoint allows any
	// origin (it needs no cookies).
	tokenPreflight, _ := http.NewRequest(http.MethodOptions, srv.URL+"/token", nil)
	tokenPreflight.Header.Set("Origin", "http://localhost:6274")
	tokenPreflight.Header.Set("Access-Control-Request-Method", "POST")
	show("token preflight", tokenPreflight)
	// Output:
	// preflight from http://localhost:6274: 204, Access-Control-Allow-Origin "http://localhost:6274"
	// register from http://localhost:6274: 201, Access-Control-Allow-Origin "http://localhost:6274"
	// register from https://evil.example: 403, Access-Control-Allow-Origin ""
	// token preflight: 204, Access-Control-Allow-Origin "*"
}

// show sends req and prints the status and the CORS answer.
func show(what string, req *http.Request) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Printf("%s: %d, Access-Control-Allow-Origin %q\n", what, resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"))
}

// Without "github.com" among the trusted hosts the Inspector's
// registration fails on its client_uri; without the scopes it registers
// among the allowed client scopes it fails on its scope.
func Example_mcpInspectorRefusals() {
	body := `{"client_name": "MCP Inspector", "client_uri": "https://github.com/modelcontextprotocol/inspector",
	  "redirect_uris": ["http://localhost:6274/oauth/callback"], "token_endpoint_auth_method": "none",
	  "grant_types": ["authorization_code", "refresh_token"], "response_types": ["code"],
	  "scope": "mcp:tools mcp:prompts mcp:resources"}`
	for _, p := range []*dcr.Policy{
		{Name: "no-github", TrustedHosts: []string{"localhost"}, AllowedWebOrigins: []string{"http://localhost:6274"},
			AllowedClientScopes: []string{"mcp:tools", "mcp:prompts", "mcp:resources"}},
		{Name: "tools-only", TrustedHosts: []string{"localhost", "github.com"}, AllowedWebOrigins: []string{"http://localhost:6274"},
			AllowedClientScopes: []string{"mcp:tools"}},
	} {
		srv := startAS(authz.Config{
			Scopes:       []authz.Scope{{Name: "mcp:tools"}, {Name: "mcp:prompts"}, {Name: "mcp:resources"}},
			Registration: &dcr.Config{Anonymous: p},
		}, "")
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/register", bytes.NewReader([]byte(body)))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", "http://localhost:6274")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		var e struct {
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&e)
		resp.Body.Close()
		fmt.Printf("%s: %d %s: %s\n", p.Name, resp.StatusCode, e.Error, e.Description)
		srv.Close()
	}
	// Output:
	// no-github: 400 invalid_client_metadata: policy 'no-github': client_uri 'https://github.com/modelcontextprotocol/inspector': host 'github.com' is not a trusted host
	// tools-only: 400 invalid_client_metadata: policy 'tools-only': scope 'mcp:prompts' is not an allowed client scope
}
