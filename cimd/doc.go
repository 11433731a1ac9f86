// Package cimd resolves OAuth Client ID Metadata Documents
// (draft-ietf-oauth-client-id-metadata-document-02, "CIMD"): a client_id
// that is an https URL names a JSON document, served at that URL, holding
// the client's metadata. MCP (2025-11-25 and later) prefers this over
// dynamic registration; VS Code, Claude and ChatGPT use it.
//
// # Pieces
//
//   - [ValidateClientIDURL] applies the draft's URL rules (https, a path,
//     no userinfo, fragment, query or dot segments) and refuses the
//     spellings parsers disagree on. Client IDs are compared as plain
//     strings, never normalised.
//   - [Resolver] fetches a document through the package-internal safe HTTP
//     client (no redirects; loopback, private, link-local and other
//     special-purpose addresses refused when dialling, so DNS rebinding
//     has no window; 5 s timeout; 5000-byte cap enforced while reading,
//     after decompression; JSON content type required), validates it, and
//     caches it.
//   - [Executor] is the "client-id-metadata-document" policy executor that
//     the authorization and token endpoints run through package policy;
//     [Register] adds it to a policy.Registry with Keycloak's configuration
//     keys.
//
// # Document rules
//
// A document must be a JSON object whose client_id equals the URL exactly,
// with redirect_uris, without client_secret or client_secret_expires_at,
// without a shared-secret token_endpoint_auth_method (client_secret_basic,
// client_secret_post, client_secret_jwt), and with public keys only in
// jwks; then it must pass the client metadata validation shared with
// dynamic registration (metadata.Client.Validate). Members this library
// does not know (token_endpoint_auth_methods_supported,
// code_challenge_methods_used, ...) are ignored and grant types it does not
// implement (jwt-bearer, device_code) are tolerated, so the documents of
// real MCP clients are accepted.
//
// A document without token_endpoint_auth_method describes a public client
// ("none"). RFC 7591's default would be client_secret_basic, a shared
// secret CIMD forbids; Keycloak makes the same choice.
//
// The token endpoint authenticates metadata-document clients with "none"
// (public clients), "private_key_jwt" (keys from the document's jwks or
// jwks_uri), and, when the profile sets cimd-allow-tls-client-auth
// (ExecutorConfig.AllowTLSClientAuth) and the server has mutual TLS on
// (authz.Config.MTLS), "tls_client_auth" (the document names its
// certificate with exactly one tls_client_auth_subject_dn or
// tls_client_auth_san_* member, RFC 8705 §2.1.2) or
// "self_signed_tls_client_auth" (its certificates as x5c in jwks or at
// jwks_uri). Without that option the [Executor] refuses such documents at
// the authorization request, before the user is asked to consent, with
// [ReasonTLSClientAuth] or [ReasonSelfSignedTLSClientAuth], rather than
// letting the client fail its first token request with invalid_client.
// only-allow-confidential-client admits, as in the seed (Keycloak),
// private_key_jwt and tls_client_auth documents that carry jwks or
// jwks_uri; self_signed_tls_client_auth is not among the seed's
// confidential methods.
//
// # Caching
//
// Documents are cached in a bounded LRU keyed by the exact client_id
// string. A document's lifetime follows the response's Cache-Control
// (s-maxage, then max-age; no-store and no-cache mean the minimum), else
// Expires minus Date, else the minimum, less the Age header, clamped to
// [MinCacheTime, MaxCacheTime] (defaults 300 s and 3 days, as in
// Keycloak). An expired document is revalidated with If-None-Match and
// If-Modified-Since when the server sent validators; a 304 extends the
// lifetime of the cached document.
//
// Error responses and invalid documents are never cached as documents
// (CIMD §5.2). The failure itself is remembered for NegativeCacheTime
// (default 10 s) in a separate, smaller LRU so that a failing client_id is
// not fetched on every request and a burst of bad client_ids cannot evict
// good documents. Optionally (StaleIfError), a document whose revalidation
// failed for a momentary reason (timeout, connection error, 5xx) is used a
// little longer.
//
// Concurrent requests for one URL share a single fetch, which runs
// detached from any one caller's cancellation. A cache hit takes well
// under a microsecond and does not allocate; the returned *Document is
// shared and must be treated as read-only.
//
// # Errors
//
// Every refusal is an *[Error] with a [Class] (URL, transport, document,
// policy) and a fixed Reason sentence, close to Keycloak's texts, so logs
// say exactly why a client was refused while the browser-facing page can
// stay generic. The executor wraps it in a *policy.Error.
package cimd
