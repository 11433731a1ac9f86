// Package metadata holds the three documents of MCP authorization and the
// rules shared by every package that reads or serves them:
//
//   - [AuthorizationServer]: OAuth 2.0 Authorization Server Metadata
//     (RFC 8414), also usable as an OpenID Connect discovery document;
//   - [ProtectedResource]: OAuth 2.0 Protected Resource Metadata (RFC 9728),
//     served by an MCP server;
//   - [Client]: OAuth 2.0 client metadata (RFC 7591 §2), the body of a
//     dynamic registration and the content of a Client ID Metadata Document.
//
// The package knows no server state. It offers:
//
//   - validation: [Client.Validate] is the one client-metadata check that
//     package dcr (registration bodies) and package cimd (fetched documents)
//     both run before adding their own rules; [ParseClient] decodes leniently
//     (unknown members ignored, RFC 7591 §2) but refuses documents of the
//     wrong shape; [AuthorizationServer.Validate] and
//     [ProtectedResource.Validate] catch configuration mistakes MCP clients
//     would trip over;
//   - comparison: [RedirectURIMatches] (exact, with the RFC 8252 §7.3
//     loopback-port exception), [ResourceEqual] and [CanonicalResource]
//     (RFC 8707 resource indicators, lower-case scheme and host and an empty
//     path equal to "/", nothing else), [IsLoopbackHost];
//   - well-known URLs: [AuthorizationServerMetadataURL],
//     [OpenIDConfigurationURLs], [ProtectedResourceMetadataURL] (path
//     insertion for identifiers with a path), the URLs each MCP revision
//     probes ([AuthorizationServerProbeURLs]) and the paths to mount
//     ([AuthorizationServerWellKnownPaths], [ProtectedResourceWellKnownPaths]);
//   - handlers: [ServeJSON], [AuthorizationServerHandler],
//     [OpenIDConfigurationHandler] and [ProtectedResourceHandler] serve a
//     document marshalled once, with caching and CORS headers.
//
// # Limits
//
// Client metadata is hostile input, so everything about it is bounded:
// [ParseClient] takes at most [MaxClientMetadataBytes] (64 KiB) nested at
// most [MaxClientMetadataDepth] (32) deep, and [Client.Validate] bounds
// every member: URIs and client_id [MaxURILength] (2000 bytes), at most
// [MaxRedirectURIs] (20) redirect and post-logout redirect URIs,
// client_name [MaxClientNameLength] (200), identifiers and grant types
// [MaxShortStringLength] (255), [MaxListLength] (10) grant and response
// types, scope [MaxScopeLength] (4096), [MaxContacts] (10) contacts of
// [MaxContactLength] (320), software_statement
// [MaxSoftwareStatementLength] (16 KiB) and [MaxJWKSKeys] (20) inline keys.
// Error descriptions quote client input escaped and cut to 64 bytes.
// Resource and redirect comparisons refuse values over MaxURILength. The
// handlers read no request body and only compare If-None-Match, whose size
// net/http bounds (http.Server.MaxHeaderBytes).
//
// Identifiers (issuer, resource) are used as configured, never re-serialised:
// RFC 8414 §3.3 and RFC 9728 §3.3 make clients compare them byte for byte
// with the URL they started from.
package metadata
