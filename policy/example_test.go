package policy_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/nqrust/identity/policy"
)

// Example loads a JSON configuration that requires PKCE with S256 from
// client_id URLs on vscode.dev and restricts the resources they may ask
// for, then evaluates two authorization requests.
func Example() {
	config := []byte(`{
	  "profiles": [{
	    "name": "vscode-hardening",
	    "executors": [
	      {"executor": "pkce-enforcer"},
	      {"executor": "resource-allow-list", "configuration": {"resources": ["https://mcp.example.com/mcp"]}}
	    ]
	  }],
	  "policies": [{
	    "name": "vscode",
	    "enabled": true,
	    "conditions": [{
	      "condition": "client-id-uri",
	      "configuration": {
	        "client-id-uri-scheme": ["https"],
	        "client-id-uri-allow-permitted-domains": ["vscode.dev"]
	      }
	    }],
	    "profiles": ["vscode-hardening"]
	  }]
	}`)
	engine, err := policy.Load(policy.NewRegistry(), config)
	if err != nil {
		log.Fatal(err)
	}

	r := &policy.Request{
		Event:               policy.EventAuthorizationRequest,
		ClientID:            "https://vscode.dev/oauth/client-metadata.json",
		ResponseType:        "code",
		CodeChallenge:       "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
		CodeChallengeMethod: "S256",
		Resources:           []string{"https://MCP.example.com/mcp"},
	}
	fmt.Println("S256:", engine.Evaluate(context.Background(), r))

	r.CodeChallengeMethod = "plain"
	err = engine.Evaluate(context.Background(), r)
	var pe *policy.Error
	if errors.As(err, &pe) {
		fmt.Println("plain:", pe.Code, "-", pe.Reason, "- by", pe.Policy+"/"+pe.Profile+"/"+pe.Executor)
	}
	// Output:
	// S256: <nil>
	// plain: invalid_request - code_challenge_method plain is not allowed; use S256 - by vscode/vscode-hardening/pkce-enforcer
}
