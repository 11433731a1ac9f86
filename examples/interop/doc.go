// Package interop holds the interoperability tests: real OAuth and MCP
// clients, unchanged, against the example server examples/mcpserver built
// and started as its own process, each ending with an MCP tools/call that
// the server accepts.
//
//   - The MCP Go SDK client (auth.NewAuthorizationCodeHandler) configured
//     with a Client ID Metadata Document and dynamic registration as the
//     fallback: it uses the document when the server advertises
//     client_id_metadata_document_supported, and registers when it does
//     not.
//   - golang.org/x/oauth2 with PKCE (S256) and the RFC 8707 resource
//     parameter on the authorization and token requests, then a refresh.
//   - A client written to MCP 2025-03-26: no protected resource metadata,
//     the authorization server metadata at the root of the MCP server's
//     origin, the default endpoint paths /authorize, /token and /register,
//     and no resource parameter. The token still names the MCP endpoint as
//     its audience (the example sets authz.Config.DefaultResource).
//
// The login and consent pages are driven over HTTP by a scripted browser
// with a cookie jar (package interoptest). The package has no non-test
// code besides this comment.
package interop
