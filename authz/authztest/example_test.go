package authztest_test

import (
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/nqrust/identity/authz/authztest"
	"github.com/nqrust/identity/authz/bearer"
)

// Test an MCP server's authorization without a login: mint tokens with
// the scopes each case needs. In a test, use authztest.New(t, …), which
// also stops the server when the test ends.
func Example() {
	srv, err := authztest.Start(authztest.Options{Resource: "https://example.com/mcp", Scopes: []string{"mcp:tools"}})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()

	// The MCP server under test, protected as in production.
	mcp := bearer.Middleware(srv.Verifier(), bearer.Options{Scopes: []string{"mcp:tools"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			info, _ := bearer.TokenInfoFromContext(r.Context())
			fmt.Fprintf(w, "hello %s", info.Subject)
		}))

	call := func(token string) {
		req := httptest.NewRequest("POST", "https://example.com/mcp", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		w := httptest.NewRecorder()
		mcp.ServeHTTP(w, req)
		fmt.Println(strings.TrimSpace(fmt.Sprint(w.Code, " ", w.Body.String())))
	}
	call("")
	call(srv.Token("alice", "mcp:prompts"))
	call(srv.Token("alice", "mcp:tools"))
	call(srv.TokenFor(authztest.TokenOptions{Subject: "alice", Scopes: []string{"mcp:tools"}, Audience: []string{"https://other.example/mcp"}}))
	// Output:
	// 401
	// 403 {"error":"insufficient_scope"}
	// 200 hello alice
	// 401 {"error":"invalid_token"}
}
