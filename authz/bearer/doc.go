// Package bearer is the resource-server side of MCP authorization: what an
// MCP server needs to accept OAuth 2.1 access tokens and to tell clients
// where to get them. It keeps no server state and does not depend on the
// authorization server package.
//
// # Verifying tokens
//
// A [Verifier] checks RFC 9068 JWT access tokens: JOSE "typ" at+jwt, an
// asymmetric "alg" from an allow list (never "none" or HMAC), the
// signature against the issuer's keys, "iss" byte-equal to the configured
// issuer, "aud" naming this resource, "exp", "nbf" and "iat" with a small
// leeway, "sub" and "client_id" present. Keys come from a [KeySource] in
// the same process (the authorization server of this module satisfies it,
// and [StaticKeys] wraps a fixed set) or from the issuer's jwks_uri, cached
// per Cache-Control and refetched when a token names an unknown "kid"
// (rate-limited, so made-up kids cannot hammer the issuer).
//
// Verified tokens are cached by SHA-256 digest (never the token itself) in
// a bounded LRU until they expire or a maximum age passes, so a client
// that reuses its token skips the signature check; expiry, audience and
// scopes are still checked on every request.
//
// An [IntrospectionVerifier] asks the authorization server instead
// (RFC 7662), for opaque tokens, caching answers no longer than the
// token's "exp" and a short TTL so that revocation is noticed.
//
// # Audience
//
// A token is accepted only if its "aud" names this resource (MCP forbids
// token passthrough). The comparison is exact except that scheme and host
// ignore case and an empty path equals "/" ([metadata.ResourceEqual]): the
// resource "https://h/mcp" accepts "https://H/mcp" but not
// "https://h/mcp/" or "https://h".
//
// # Middleware
//
// [Middleware] wraps an MCP handler. It answers requests without a bearer
// token with 401 and a WWW-Authenticate challenge carrying
// resource_metadata and scope (no error code, RFC 6750 §3.1), bad tokens
// with 401 error="invalid_token", tokens lacking a scope with 403
// error="insufficient_scope" listing every scope the request needs (scopes
// may depend on the request, for step-up authorization, and may form a
// hierarchy), and malformed requests, including tokens in the query string
// or a form body, with 400 error="invalid_request". It handles CORS so
// that browser-based clients can read the challenge. The verified token
// is available to the handler through [TokenInfoFromContext].
//
// # Limits
//
// Every input from the network is bounded before it costs anything:
//
//   - Authorization header: at most 16 KiB + 23 bytes, and the token in it
//     at most 16 KiB; longer is 400 invalid_request, refused before the
//     token is hashed or parsed. Two Authorization headers are 400 too.
//   - Tokens given to [Verifier.Verify] or [IntrospectionVerifier.Verify]
//     directly: at most 16 KiB (ReasonMalformed), so JWT header and claims
//     JSON are bounded by it; an oversized token is never sent to the
//     introspection endpoint.
//   - Form bodies: only the first 64 KiB are scanned for an access_token
//     parameter (which is refused); the body reaches the handler intact.
//     The query string is scanned whole; net/http bounds it together with
//     the headers (http.Server.MaxHeaderBytes, 1 MiB by default).
//   - JWKS responses: at most 256 KiB and the first 100 usable keys; no
//     redirects; at most 10 s per fetch, whatever the HTTP client's own
//     Timeout (a shorter one applies too);
//     refetches for unknown kids at most once per JWKSRefetchInterval.
//   - Introspection responses: at most 64 KiB of application/json; no
//     redirects; at most 10 s per call, whatever the HTTP client's own
//     Timeout (a shorter one, or the request context's deadline, applies
//     too).
//     encoding/json bounds nesting (10 000 levels); deeper is an error.
//   - Caches: verified tokens and introspection answers, 10 000 entries
//     each by default, keyed by SHA-256 digest.
//
// Responses and logs never contain a token, a client secret or a stack
// trace: error descriptions are fixed texts, and log records carry the
// refusal reason, the client_id and the subject at most.
//
// # Discovery
//
// [MountProtectedResourceMetadata] serves the RFC 9728 document for the
// MCP endpoint at the well-known paths clients probe and returns the URL
// to put in the challenge.
package bearer
