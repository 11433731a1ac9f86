package dcr_test

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/storage/memory"
)

// Example mounts the registration endpoint on a mux, configured for the MCP
// Inspector as the seed guide describes, and registers the Inspector.
func Example() {
	reg, err := dcr.New(dcr.Config{
		Store:    memory.New(memory.Options{}),
		Endpoint: "https://auth.example.com/register",
		Anonymous: &dcr.Policy{
			Name: "anonymous",
			// The machine the browser runs on, and the hosts the
			// Inspector's metadata points to.
			TrustedHosts:        []string{"localhost", "github.com"},
			AllowedClientScopes: []string{"mcp:tools", "mcp:prompts"},
			AllowedWebOrigins:   []string{"http://localhost:6274"},
		},
		DefaultScopes: []string{"mcp:tools"},
	})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	reg.Mount(mux) // serves /register and /register/{client_id}

	body := `{"client_name":"MCP Inspector",
		"client_uri":"https://github.com/modelcontextprotocol/inspector",
		"redirect_uris":["http://localhost:6274/oauth/callback"],
		"grant_types":["authorization_code","refresh_token"],
		"response_types":["code"],
		"token_endpoint_auth_method":"none",
		"scope":""}`
	r := httptest.NewRequest("POST", "https://auth.example.com/register", strings.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Origin", "http://localhost:6274")
	r.RemoteAddr = "127.0.0.1:51000"
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, r)

	var resp struct {
		ClientID        string `json:"client_id"`
		Scope           string `json:"scope"`
		ApplicationType string `json:"application_type"`
		ConfigURI       string `json:"registration_client_uri"`
	}
	_ = json.Unmarshal(w.Body.Bytes(), &resp)
	fmt.Println(w.Code, w.Header().Get("Access-Control-Allow-Origin"))
	fmt.Println("advertise registration_endpoint:", reg.Enabled(), reg.Endpoint())
	fmt.Println("scope:", resp.Scope, "application_type:", resp.ApplicationType)
	fmt.Println(resp.ConfigURI == reg.Endpoint()+"/"+resp.ClientID)
	// Output:
	// 201 http://localhost:6274
	// advertise registration_endpoint: true https://auth.example.com/register
	// scope: mcp:tools application_type: native
	// true
}
