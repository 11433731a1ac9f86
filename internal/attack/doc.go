// Package attack is the attack suite of NQRust-Identity: one configured
// deployment (package authz with a memory store, static confidential and
// public clients, two MCP resources on one origin, dynamic registration,
// Client ID Metadata Documents through the cimd executor and the safe
// outbound client, the default consent page behind a login, and an MCP
// endpoint per resource behind authz/bearer) driven over HTTP with one
// named case per attack. Every case asserts the exact refusal: status,
// OAuth error code, no redirect (or one only to the registered URI), no
// token, and nothing written to the store.
//
// The package holds only tests; run them with
//
//	go test -race ./internal/attack/
package attack
