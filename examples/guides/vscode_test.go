package guides_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"strings"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/policy"
)

// vscodePolicy is the seed guide's VS Code desktop setup. The executor
// trusts vscode.dev (the client_id and the document's URLs) and 127.0.0.1
// (VS Code's loopback redirect); restrict-same-domain is off because that
// redirect is not under vscode.dev; VS Code is a public client.
const vscodePolicy = `{
  "profiles": [
    {
      "name": "vscode-cimd-profile",
      "executors": [
        {
          "executor": "client-id-metadata-document",
          "configuration": {
            "cimd-allow-http-scheme": false,
            "cimd-allow-permitted-domains": ["vscode.dev", "127.0.0.1"],
            "cimd-restrict-same-domain": false,
            "only-allow-confidential-client": false
          }
        }
      ]
    }
  ],
  "policies": [
    {
      "name": "vscode-cimd-policy",
      "enabled": true,
      "conditions": [
        {
          "condition": "client-id-uri",
          "configuration": {
            "client-id-uri-scheme": ["https"],
            "client-id-uri-allow-permitted-domains": ["vscode.dev"]
          }
        }
      ],
      "profiles": ["vscode-cimd-profile"]
    }
  ]
}`

// vscodeDev plays https://vscode.dev, serving VS Code's client metadata
// document as VS Code publishes it (including its no-cache header, which
// makes the server keep it for min-cache-time).
func vscodeDev() *tlsServer {
	return startTLS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/client-metadata.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store, no-cache, max-age=0")
		fmt.Fprint(w, `{
  "client_id": "https://vscode.dev/oauth/client-metadata.json",
  "client_name": "Visual Studio Code",
  "client_uri": "https://vscode.dev/product",
  "application_type": "native",
  "token_endpoint_auth_method": "none",
  "grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
  "response_types": ["code"],
  "redirect_uris": ["http://127.0.0.1:33418/", "https://vscode.dev/redirect"]
}`)
	}), "vscode.dev")
}

// VS Code desktop signs in with its metadata document URL as client_id
// and a loopback redirect URI, on port 33418 or, when that is taken, any
// other port (loopback redirect URIs match on any port). The same flow is
// refused once restrict-same-domain is switched on.
func Example_vsCodeDesktop() {
	site := vscodeDev()
	defer site.Close()
	const mcpURL = "https://example.com/mcp"

	for _, restrict := range []bool{false, true} {
		config := vscodePolicy
		if restrict {
			config = strings.Replace(config, `"cimd-restrict-same-domain": false`, `"cimd-restrict-same-domain": true`, 1)
		}
		// In production leave HTTPClient nil (the safe built-in client);
		// here it reaches the local stand-in for vscode.dev.
		resolver, err := cimd.NewResolver(cimd.Options{HTTPClient: site.Client})
		if err != nil {
			log.Fatal(err)
		}
		reg := policy.NewRegistry()
		if err := cimd.Register(reg, resolver); err != nil {
			log.Fatal(err)
		}
		engine, err := policy.Load(reg, []byte(config))
		if err != nil {
			log.Fatal(err)
		}
		srv := startAS(authz.Config{
			Scopes:    []authz.Scope{{Name: "mcp:tools"}},
			Resources: []authz.Resource{{Identifier: mcpURL, Name: "Example MCP server"}},
			Policies:  engine,
		}, "")

		vscode := &oauth2.Config{
			ClientID:    "https://vscode.dev/oauth/client-metadata.json",
			Endpoint:    oauth2.Endpoint{AuthURL: srv.URL + "/authorize", TokenURL: srv.URL + "/token", AuthStyle: oauth2.AuthStyleInParams},
			RedirectURL: "http://127.0.0.1:52817/", // port 33418 was busy
			Scopes:      []string{"mcp:tools"},
		}
		fmt.Println("restrict-same-domain:", restrict)
		tok, err := authorize(vscode, oauth2.SetAuthURLParam("resource", mcpURL))
		if err != nil {
			fmt.Println("  refused:", err)
			why := engine.Evaluate(context.Background(), &policy.Request{
				Event:       policy.EventAuthorizationRequest,
				ClientID:    vscode.ClientID,
				RedirectURI: vscode.RedirectURL,
			})
			var pe *policy.Error
			if errors.As(why, &pe) {
				fmt.Println("  because:", pe.Reason)
			}
		} else {
			info := verify(srv.AS, mcpURL, tok.AccessToken)
			fmt.Printf("  client_id %s, aud %q\n", info.ClientID, info.Audience)
		}
		srv.Close()
	}
	// Output:
	// restrict-same-domain: false
	//   client_id https://vscode.dev/oauth/client-metadata.json, aud ["https://example.com/mcp"]
	// restrict-same-domain: true
	//   refused: authorization refused with status 400
	//   because: Invalid Client Metadata: client_id and redirect_uri are not under the same trusted domain.
}
