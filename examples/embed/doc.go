// Command embed shows NQRust-Identity embedded in a service that already
// has users, a login page and sessions of its own: "Acme Notes", a tiny
// notes app. The app gains an MCP endpoint for its notes and an OAuth 2.1
// authorization server under /oauth, so that MCP clients act on a user's
// notes with the user's consent, and nothing about its users moves.
//
//	go run ./examples/embed
//
// listens on 127.0.0.1:8081 and prints the URLs and the demo password.
// Point an MCP client (VS Code, MCP Inspector) at http://127.0.0.1:8081/mcp.
//
// How the pieces fit:
//
//	/               the app's home page (its own session cookie)
//	/login          the app's own login page; the consent page sends
//	                users here with a request_id, and it sends them back
//	/oauth/…        the authorization server (issuer http://127.0.0.1:8081/oauth):
//	                /oauth/authorize, /oauth/token, /oauth/register, /oauth/jwks, …
//	/oauth/consent  the default consent page (package authz/consent), whose
//	                Authenticate reads the app's session
//	/mcp            the MCP endpoint, tokens verified in process (authz/bearer)
//	/.well-known/…  the metadata documents MCP clients look for
//
// The token's "sub" is the app's own user ID, so tools look up the user
// the same way the app's pages do.
package main
