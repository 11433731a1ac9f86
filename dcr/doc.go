// Package dcr implements OAuth 2.0 Dynamic Client Registration (RFC 7591)
// and the client configuration endpoint of RFC 7592, with the registration
// policies an MCP authorization server needs to offer registration to
// anonymous callers safely.
//
// MCP deprecated dynamic registration in favour of Client ID Metadata
// Documents (2026-07-28), but VS Code, the MCP Inspector, the MCP SDKs and
// many hosts still register this way, so it stays, off unless configured.
//
// # Endpoints
//
// [Registrar.Handler] serves, relative to Config.Endpoint's path:
//
//	POST    /register              register a client (RFC 7591 §3)
//	GET     /register/{client_id}  read it       (RFC 7592 §2.1)
//	PUT     /register/{client_id}  replace it    (RFC 7592 §2.2)
//	DELETE  /register/{client_id}  delete it     (RFC 7592 §2.3)
//	OPTIONS both                   CORS preflight
//
// Mount it with [Registrar.Mount], or on both patterns yourself, without
// stripping the prefix. The authorization server advertises
// [Registrar.Endpoint] as registration_endpoint only when
// [Registrar.Enabled].
//
// # Registration
//
// A registration body must be JSON (Content-Type application/json) of at
// most [MaxBodyBytes], nested at most 32 deep. It is parsed and validated
// by [metadata.ParseClient] and [metadata.Client.Validate]; members this
// package does not know are ignored (RFC 7591 §2), as are identifiers and
// credentials the client tries to choose (client_id, client_secret, ...)
// and software statements (not trusted, not stored). Then:
//
//   - RFC 7591 defaults apply to absent members: token_endpoint_auth_method
//     client_secret_basic, grant_types [authorization_code], response_types
//     [code]. MCP clients that want to be public send "none"; one that sends
//     nothing (the MCP Go SDK) gets a secret, as the RFC says.
//   - Grant types the server does not offer (Config.GrantTypesSupported)
//     are dropped, as RFC 7591 §3.2.1 permits (VS Code lists device_code);
//     a registration left with none, or asking for authorization_code where
//     it is not offered, is refused. An unsupported token endpoint
//     authentication method is refused.
//   - An absent application_type is inferred from the redirect URIs, as
//     the MCP Go SDK does: "web" when every one is https on a non-loopback
//     host, otherwise "native". OpenID Connect's default "web" would refuse
//     the MCP Inspector, a web page that redirects to http://localhost:6274.
//     Redirect URIs are https, http on a loopback host, or (native only) a
//     private-use scheme; a client that says "web" must use https on a
//     public host. http on other hosts is refused unless
//     Config.AllowInsecureRedirectURIs.
//   - The policy's URI host and scope rules apply (see [Policy]). An empty
//     or absent scope registers Config.DefaultScopes (the scopes the
//     resource advertises) filtered by the policy, never "nothing". A
//     policy with RegisterAllAllowedScopes registers all its
//     AllowedClientScopes whatever subset was asked for, so that a client
//     can later step up to a scope it did not register.
//   - client_credentials is refused (invalid_client_metadata) unless the
//     policy sets AllowClientCredentials: that grant issues tokens with no
//     user signing in or consenting, so an open policy must never allow it.
//   - Config.Policies, if any, run at policy.EventRegistration on the
//     metadata as it would be registered (also at RFC 7592 updates); a
//     refusal is 400 invalid_redirect_uri or invalid_client_metadata with
//     the client policy's name and reason, and nothing is stored.
//   - Confidential clients (client_secret_basic, client_secret_post) get a
//     256-bit client_secret; client_secret_expires_at is 0 unless
//     Config.SecretLifetime is set. private_key_jwt needs jwks or jwks_uri
//     (jwks_uri is not fetched here). The mutual-TLS methods (RFC 8705)
//     are registered only where Config.TokenEndpointAuthMethodsSupported
//     lists them (package authz does when its Config.MTLS enables them):
//     tls_client_auth with exactly one tls_client_auth_subject_dn or
//     tls_client_auth_san_* value, self_signed_tls_client_auth with jwks
//     (each key carrying its x5c certificate) or jwks_uri; neither gets a
//     secret.
//   - The client is stored with a random 128-bit client_id, which never
//     contains ':' or '/' and so never looks like a Client ID Metadata
//     Document URL, and lapses after Config.UnusedClientTTL unless the
//     authorization server calls [storage.ClientStore.MarkClientUsed] on
//     its first completed authorization or first issued token (package
//     authz does both, so a client_credentials-only client stays). The
//     store's PurgeExpired sweeps lapsed clients.
//
// Success is 201 with Cache-Control: no-store, echoing every registered
// member including the ones the server set, client_id_issued_at,
// client_secret and client_secret_expires_at when a secret was issued, and
// registration_access_token and registration_client_uri (RFC 7592). Secrets
// and tokens are stored only as hashes.
//
// # Errors
//
// Every error is JSON {"error", "error_description"} with a description
// that names the policy and the reason; the same reason is logged. The
// status and code tell what went wrong:
//
//   - 400 invalid_redirect_uri or invalid_client_metadata: the body (RFC
//     7591 §3.2.2), including a wrong Content-Type or an oversized body
//     (400 rather than 415 or 413, because RFC 7591 answers registration
//     errors with 400 and clients such as the MCP Go SDK show the
//     description only then), and a scope or URI host a policy refuses.
//   - 401 invalid_token with a Bearer challenge: a missing, invalid,
//     expired or used-up initial access token, or registration access token;
//     also an unknown or lapsed client at its configuration URI (RFC 7592
//     §2.1 says 401, not 404).
//   - 403 access_denied: refused for who is calling, not for what was sent:
//     a web origin not allowed, an untrusted caller address, the
//     Config.MaxClients limit, registration disabled, or an update to a
//     client whose registration policy is no longer configured.
//   - 429 temporarily_unavailable with Retry-After: the per-address rate
//     limit.
//   - 405 with Allow for other methods; 503 when the store is unavailable.
//
// # Client configuration (RFC 7592)
//
// Each call presents the registration access token as a Bearer token,
// compared by hash in constant time. GET answers the current registration
// (the token is not rotated, and since only its hash is kept, the token
// presented is echoed; a client_secret is never shown again). PUT replaces
// the registration: client_id must be present and equal, a client_secret,
// if sent, must match, and the server-managed members
// registration_access_token, registration_client_uri,
// client_secret_expires_at and client_id_issued_at must be absent; members
// left out are removed, defaults and the registration's policy apply again,
// and a secret is issued if the client becomes confidential or its secret
// has expired. DELETE revokes the client's grants (and so every code and
// token issued from them) with [storage.GrantStore.RevokeClientGrants],
// deletes the client and answers 204. The policy a client registered under
// also governs these calls (web origin, caller address, rate limit).
//
// # Limits
//
// Registration is open to anonymous callers, so every input is bounded:
//
//   - body (registration and update): [MaxBodyBytes] (64 KiB), JSON nested
//     at most 32 deep; then the member limits of [metadata.Client.Validate]
//     (for example 20 redirect URIs of at most 2000 bytes each). Over a
//     limit is 400 invalid_client_metadata (or invalid_redirect_uri), and
//     nothing is stored or changed;
//   - Authorization header: exactly one, carrying a b64token of at most 512
//     bytes (issued tokens are 45); otherwise 401 invalid_token before any
//     lookup;
//   - client_id in a configuration URI: at most 128 bytes (issued IDs are
//     22), else the same 401 as for an unknown client, without a lookup;
//   - client input quoted in an error description (Origin, URIs, scopes):
//     at most 80 bytes, printable ASCII, quotes replaced;
//   - per-address rate limit ([DefaultRateLimit], [DefaultRateBurst]),
//     remembering at most Config.RateLimitAddresses (4096) addresses per
//     policy; at most Config.MaxClients (1000) unexpired registered
//     clients; unused clients lapse after Config.UnusedClientTTL (24 h).
//
// Nothing secret is logged or echoed: log records name the client_id,
// policy, caller address and reason, never a client secret, initial or
// registration access token, and error descriptions never quote them.
// Credentials are compared as hashes with [storage.Hash.Equal], in
// constant time.
//
// # Policies
//
// Anonymous registration and registration with an initial access token
// ([Registrar.MintInitialAccessToken]) each have their own [Policy],
// mirroring Keycloak's client registration policies: trusted hosts,
// allowed client scopes, allowed registration web origins, plus a
// per-address rate limit. The MCP Inspector setup from the seed guide, for
// example, is
//
//	&dcr.Policy{
//		Name:                "anonymous",
//		TrustedHosts:        []string{"localhost", "github.com"},
//		AllowedClientScopes: []string{"mcp:tools", "mcp:prompts"},
//		AllowedWebOrigins:   []string{"http://localhost:6274"},
//	}
//
// and VS Code's registration needs "127.0.0.1", "*.vscode.dev" and
// "code.visualstudio.com" among the trusted hosts.
package dcr
