// Package authztest runs an in-memory authorization server for tests of
// MCP servers (and their clients), so that they run without a real login:
//
//	srv := authztest.New(t, authztest.Options{Resource: "https://example.com/mcp", Scopes: []string{"mcp:tools"}})
//	handler := bearer.Middleware(srv.Verifier(), bearer.Options{Scopes: []string{"mcp:tools"}})(myMCPHandler)
//	req.Header.Set("Authorization", "Bearer "+srv.Token("alice", "mcp:tools"))
//
// The server is a real [authz.Server] on an httptest server (loopback,
// plain http) with the resource registered, a fresh ES256 key, an
// in-memory store, open dynamic registration and an interaction step that
// approves every request at once as Options.Subject. So tests can either
// mint tokens directly ([Server.Token], [Server.TokenFor]) or let a real
// OAuth client (the MCP Go SDK's, golang.org/x/oauth2) run the whole
// authorization code flow against [Server.Issuer] with nobody clicking.
//
// It closes when the test ends. Never use it outside tests: anyone who
// reaches it gets tokens.
package authztest
