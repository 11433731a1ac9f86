// Package guides holds the integration guides of NQRust-Identity as
// runnable examples: every Example function sets up what a guide
// describes, runs it against local servers and prints what a reader
// should see. "go test" checks the printed output, so a guide that stops
// working fails the build. The prose is in GUIDES.md next to this file;
// its Go and JSON snippets are copies of these examples, and a test keeps
// them verbatim.
//
// The guides:
//
//   - Example_mcp20250326: MCP 2025-03-26 clients need nothing special —
//     the authorization server metadata at the root of the origin and the
//     default endpoints /authorize, /token and /register, and an audience
//     for requests without "resource".
//   - Example_audienceResourceIndicator and Example_audienceScopeMapping:
//     MCP 2025-06-18 and later, token audience binding with RFC 8707
//     resource indicators, or with scopes mapped to an audience as in the
//     seed guide.
//   - Example_mcpInspector: the registration policy the MCP Inspector
//     needs (allowed client scopes, allowed web origin, trusted hosts).
//   - Example_clientIDMetadataDocumentJSON and
//     Example_clientIDMetadataDocumentGo: Client ID Metadata Documents,
//     the profile with the client-id-metadata-document executor and the
//     policy with the client-id-uri condition, in JSON and in Go, with the
//     cache and size settings.
//   - Example_vsCodeDesktop: the VS Code desktop policy, run against a
//     local server playing vscode.dev.
//   - Example_multiNode: several authorization server nodes sharing one
//     database and one signing key.
//
// Two more guides are programs: examples/embed (embedding into an app with
// its own users and sessions) and examples/resource-server (an MCP server
// in another process, trusting the authorization server through its JWKS).
//
// The package has no API.
package guides
