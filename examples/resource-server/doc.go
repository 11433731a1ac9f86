// Command resource-server is an MCP server that runs in a process of its
// own and trusts an authorization server it shares nothing with but a
// URL: it verifies access tokens against the keys the authorization
// server publishes (its JWKS), with package authz/bearer.
//
//	go run ./examples/resource-server -issuer https://auth.example.com -resource https://mcp.example.com/mcp
//
// Flags:
//
//	-issuer    the authorization server's issuer identifier (required); a
//	           token's "iss" must equal it byte for byte
//	-resource  this MCP server's URL as clients use it, the audience its
//	           tokens must carry (default "http://" + the listening
//	           address + "/mcp")
//	-addr      listen address (default 127.0.0.1:8090; port 0 picks one)
//	-jwks-url  the issuer's jwks_uri (default: read from the issuer's
//	           RFC 8414 metadata at start-up)
//	-scopes    scopes every request needs, comma-separated (default
//	           mcp:tools), advertised in the protected resource metadata
//
// The authorization server must issue tokens for the resource: with
// package authz, list it in Config.Resources. The examples/mcpserver demo
// issues tokens for its own MCP URL only, so to pair the two run this
// server behind a reverse proxy that gives it that URL (the proxy sends
// /mcp and /.well-known/oauth-protected-resource… here and everything else
// to the demo). The test of this package does exactly that.
//
// What it serves:
//   - the MCP endpoint (Streamable HTTP, tools "whoami" and "echo") at
//     the resource URL's path, behind bearer.Middleware: 401 with a
//     resource_metadata challenge without a token, 401 invalid_token for
//     a token that fails verification (wrong issuer, audience, signature,
//     expired), 403 insufficient_scope for a token without the scopes;
//   - the RFC 9728 protected resource metadata naming the issuer, at the
//     well-known URLs MCP clients probe.
package main
