// Command mcpserver is a runnable MCP server protected by NQRust-Identity:
// an MCP server built on the official MCP Go SDK (Streamable HTTP at
// /mcp, behind the authz/bearer middleware) and an authorization server
// (package authz) with a demo login page, on one origin, in one binary.
//
//	go run ./examples/mcpserver
//
// needs no flags: it listens on 127.0.0.1:8080, prints the MCP URL, the
// demo credentials and ready-to-paste settings for VS Code and MCP
// Inspector. See the repository README for the command line.
//
// What it shows:
//   - discovery: 401 with resource_metadata and scope, protected resource
//     metadata (RFC 9728) at the path-specific and root well-known URLs,
//     authorization server metadata (RFC 8414 and OpenID discovery);
//   - client identification: dynamic registration (RFC 7591) for local
//     clients, and Client ID Metadata Documents where available;
//   - login and consent pages owned by the host, finished with
//     authz.Server.Approve or Deny;
//   - per-tool scopes and step-up: the secret tool needs mcp:admin, and a
//     call with a smaller token gets one 403 insufficient_scope challenge
//     naming every scope it needs;
//   - both ways of plugging verification into the Go SDK: the
//     authz/bearer middleware, and [SDKTokenVerifier] for the SDK's own
//     auth.RequireBearerToken.
package main
