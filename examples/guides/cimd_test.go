package guides_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/policy"
)

// cimdConfig is the seed guide's setup for Client ID Metadata Documents
// in JSON: a profile "cimd-profile" running the
// client-id-metadata-document executor, and a policy "cimd-policy" whose
// client-id-uri condition sends https client_ids on the trusted domains
// to it. The member names are Keycloak's.
const cimdConfig = `{
  "profiles": [
    {
      "name": "cimd-profile",
      "description": "Resolve clients from their Client ID Metadata Documents",
      "executors": [
        {
          "executor": "client-id-metadata-document",
          "configuration": {
            "cimd-allow-http-scheme": false,
            "cimd-allow-permitted-domains": ["*.example.org"],
            "cimd-restrict-same-domain": true,
            "cimd-required-properties": ["client_name"],
            "only-allow-confidential-client": false
          }
        }
      ]
    }
  ],
  "policies": [
    {
      "name": "cimd-policy",
      "description": "https client_id URLs on example.org",
      "enabled": true,
      "conditions": [
        {
          "condition": "client-id-uri",
          "configuration": {
            "client-id-uri-scheme": ["https"],
            "client-id-uri-allow-permitted-domains": ["*.example.org"]
          }
        }
      ],
      "profiles": ["cimd-profile"]
    }
  ]
}`

// clientDocs plays the web server of app.example.org, which publishes its
// client's metadata document, and counts the fetches.
func clientDocs(fetches *atomic.Int32) *tlsServer {
	return startTLS(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/client.json" {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=60") // raised to MinCacheTime
		fmt.Fprint(w, `{
  "client_id": "https://app.example.org/oauth/client.json",
  "client_name": "Example App",
  "client_uri": "https://app.example.org/",
  "redirect_uris": ["https://app.example.org/callback"],
  "grant_types": ["authorization_code", "refresh_token"],
  "response_types": ["code"],
  "token_endpoint_auth_method": "none"
}`)
	}), "app.example.org")
}

// Load the JSON setup, with the seed's system-wide settings as
// cimd.Options, and explain what the policies do with an authorization
// request from a metadata-document client.
func Example_clientIDMetadataDocumentJSON() {
	var fetches atomic.Int32
	docs := clientDocs(&fetches)
	defer docs.Close()

	resolver, err := cimd.NewResolver(cimd.Options{
		MinCacheTime: 300 * time.Second,    // min-cache-time
		MaxCacheTime: 259200 * time.Second, // max-cache-time
		MaxBytes:     5000,                 // upper-limit-metadata-bytes
		HTTPClient:   docs.Client,          // only here: reaches the local stand-in for app.example.org
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := policy.NewRegistry()
	if err := cimd.Register(reg, resolver); err != nil {
		log.Fatal(err)
	}
	engine, err := policy.Load(reg, []byte(cimdConfig))
	if err != nil {
		log.Fatal(err)
	}

	req := &policy.Request{
		Event:        policy.EventAuthorizationRequest,
		ClientID:     "https://app.example.org/oauth/client.json",
		RedirectURI:  "https://app.example.org/callback",
		ResponseType: "code",
		Scopes:       []string{"mcp:tools"},
	}
	out, _ := json.MarshalIndent(engine.Explain(context.Background(), req), "", "  ")
	fmt.Println(string(out))
	fmt.Println("client resolved:", req.Client.ID, req.Client.Kind, req.Client.Metadata.ClientName)

	// Requests from elsewhere do not match the policy's condition: the
	// policy does not apply, and the client is unknown to the server.
	other := &policy.Request{Event: policy.EventAuthorizationRequest, ClientID: "https://evil.example.com/client.json", RedirectURI: "https://evil.example.com/cb"}
	fmt.Println("evil.example.com:", engine.Explain(context.Background(), other).Policies[0].Outcome)

	// A redirect_uri the document does not list is refused.
	bad := &policy.Request{Event: policy.EventAuthorizationRequest, ClientID: "https://app.example.org/oauth/client.json", RedirectURI: "https://app.example.org/elsewhere"}
	fmt.Println("other redirect_uri:", engine.Evaluate(context.Background(), bad))
	fmt.Println("document fetches:", fetches.Load())
	// Output:
	// {
	//   "event": "authorization-request",
	//   "policies": [
	//     {
	//       "name": "cimd-policy",
	//       "outcome": "applied",
	//       "conditions": [
	//         {
	//           "condition": "client-id-uri",
	//           "outcome": "match",
	//           "reason": "scheme \"https\" and host \"app.example.org\" (trusted domain \"*.example.org\") match"
	//         }
	//       ],
	//       "profiles": [
	//         {
	//           "name": "cimd-profile",
	//           "executors": [
	//             {
	//               "executor": "client-id-metadata-document",
	//               "outcome": "passed"
	//             }
	//           ]
	//         }
	//       ]
	//     }
	//   ]
	// }
	// client resolved: https://app.example.org/oauth/client.json metadata-document Example App
	// evil.example.com: not-applied
	// other redirect_uri: invalid_request: Invalid Client Metadata: redirect_uri parameter does not match any redirect_uris entry. (policy cimd-policy, executor client-id-metadata-document)
	// document fetches: 1
}

// The same setup in Go. The engine explains the sample request exactly
// as the JSON one does, and an authorization server given it advertises
// client_id_metadata_document_supported by itself.
func Example_clientIDMetadataDocumentGo() {
	var fetches atomic.Int32
	docs := clientDocs(&fetches)
	defer docs.Close()

	resolver, err := cimd.NewResolver(cimd.Options{
		MinCacheTime: 300 * time.Second,
		MaxCacheTime: 259200 * time.Second,
		MaxBytes:     5000,
		HTTPClient:   docs.Client, // in production: nil, the built-in safe client
	})
	if err != nil {
		log.Fatal(err)
	}
	executor, err := cimd.NewExecutor(resolver, cimd.ExecutorConfig{
		AllowHTTP:                   false,
		TrustedDomains:              []string{"*.example.org"},
		RestrictSameDomain:          true,
		RequiredProperties:          []string{"client_name"},
		OnlyAllowConfidentialClient: false,
	})
	if err != nil {
		log.Fatal(err)
	}
	condition, err := policy.NewClientIDURI(policy.ClientIDURIConfig{
		Schemes: []string{"https"},
		Domains: []string{"*.example.org"},
	})
	if err != nil {
		log.Fatal(err)
	}
	engine, err := policy.New(nil,
		[]policy.Profile{{
			Name:        "cimd-profile",
			Description: "Resolve clients from their Client ID Metadata Documents",
			Executors:   []policy.ExecutorSpec{{ID: policy.ExecutorClientIDMetadataDocument, Executor: executor}},
		}},
		[]policy.Policy{{
			Name:        "cimd-policy",
			Description: "https client_id URLs on example.org",
			Conditions:  []policy.ConditionSpec{{ID: policy.ConditionClientIDURI, Condition: condition}},
			Profiles:    []string{"cimd-profile"},
		}})
	if err != nil {
		log.Fatal(err)
	}

	// The JSON form, for comparison.
	reg := policy.NewRegistry()
	if err := cimd.Register(reg, resolver); err != nil {
		log.Fatal(err)
	}
	fromJSON, err := policy.Load(reg, []byte(cimdConfig))
	if err != nil {
		log.Fatal(err)
	}
	explain := func(e *policy.Engine) string {
		req := &policy.Request{
			Event:       policy.EventAuthorizationRequest,
			ClientID:    "https://app.example.org/oauth/client.json",
			RedirectURI: "https://app.example.org/callback",
		}
		b, _ := json.Marshal(e.Explain(context.Background(), req))
		return string(b)
	}
	fmt.Println("same explanation:", explain(engine) == explain(fromJSON))

	srv := startAS(authz.Config{Policies: engine}, "")
	defer srv.Close()
	fmt.Println("client_id_metadata_document_supported:", srv.AS.Metadata().ClientIDMetadataDocumentSupported)
	// Output:
	// same explanation: true
	// client_id_metadata_document_supported: true
}
