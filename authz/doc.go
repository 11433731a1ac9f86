// Package authz is an embeddable OAuth 2.1 authorization server for the
// Model Context Protocol: authorization, token, revocation (RFC 7009),
// introspection (RFC 7662) and JWKS endpoints, RFC 8414 / OpenID Connect
// discovery metadata, optional dynamic client registration (package dcr)
// and client policies (package policy, with package cimd for Client ID
// Metadata Documents). It targets MCP 2025-03-26, 2025-06-18, 2025-11-25
// and 2026-07-28 clients at once.
//
// # Mounting
//
// Create a [Server] with [New] and mount [Server.Handler] on your mux. It
// serves, for an issuer "https://host/p" (p may be empty):
//
//	/p/authorize  /p/token  /p/revoke  /p/introspect  /p/jwks
//	/p/register, /p/register/{client_id}     (when Config.Registration is set)
//	/.well-known/oauth-authorization-server/p
//	/.well-known/openid-configuration/p and /p/.well-known/openid-configuration
//	/.well-known/oauth-authorization-server   (MCP 2025-03-26 clients, issuer with a path)
//
// For an issuer without a path the endpoints are /authorize, /token and
// /register, which are also the MCP 2025-03-26 fallback paths. Each
// endpoint is also available alone (AuthorizationHandler, TokenHandler,
// RevocationHandler, IntrospectionHandler, JWKSHandler, MetadataHandler,
// OpenIDConfigurationHandler). The token, revocation, metadata and JWKS
// endpoints allow any origin (CORS); the authorization endpoint never does.
//
// # Login and consent
//
// The host owns users. The authorization endpoint validates a request,
// parks it in the store and answers 303 to Config.InteractionURL with a
// "request_id" query parameter. The host's handler there authenticates the
// user, calls [Server.PendingRequest] for what to show (client name and
// kind, the client_id host for metadata-document clients, redirect host, a
// loopback-only warning flag, scopes with descriptions, resources with
// names), and finishes with [Server.Approve] or [Server.Deny], which
// consume the parked request exactly once and send the browser back to the
// client with code, state and iss (RFC 9207), or error=access_denied.
// For prompt=none, [Server.DenyWithError] answers login_required,
// consent_required, interaction_required or account_selection_required
// instead (OpenID Connect Core §3.1.2.6). [AutoApprove] is such a handler
// for tests and demos. [Server.ListGrants], [Server.RevokeGrant] and
// [Server.RevokeSubjectClientGrants] serve "connected applications"
// screens.
//
// # Validation order at the authorization endpoint
//
// Nothing is redirected until the client and its redirect URI are known
// good: an unknown client, a missing, repeated or unregistered redirect_uri,
// or a policy refusal is shown as an HTML error page (400, not frameable,
// not cached; Config.ErrorPage renders it in the host's style). Redirect URIs match exactly, except that http loopback URIs
// (127.0.0.0/8, [::1], localhost) ignore the port on both sides (RFC 8252
// §7.3). redirect_uri may be omitted only when the client registered
// exactly one. After that every error is redirected with state and iss:
// response_type must be "code"; PKCE with S256 is required of every client
// (plain and a missing method are refused); repeated parameters are
// refused, empty ones are absent, unknown ones ignored.
//
// # Scopes and audiences
//
// Every access token is audience-restricted (RFC 8707, RFC 9068 §3):
//
//   - Each "resource" must be absolute, without fragment, and one of
//     Config.Resources (compared with lower-cased scheme and host and an
//     empty path equal to "/"); otherwise invalid_target. The grant and the
//     token carry the registered Identifier verbatim.
//   - Without "resource", the audience is the one the requested scopes map
//     to (Scope.Audiences, the seed guide's audience mapper); scopes mapping
//     to different audiences are invalid_scope; else Config.DefaultResource;
//     else invalid_target.
//   - Requested scopes the server does not know, that the client did not
//     register (when it registered "scope"), or that no requested resource
//     accepts, are dropped: MCP clients often ask for everything a resource
//     advertises. A request whose every scope is dropped fails with
//     invalid_scope rather than becoming a broader grant.
//   - Without "scope", the scopes marked Default are requested; when none
//     is marked, the scopes the resources accept.
//   - "offline_access" is always known, has no audience and is accepted by
//     every resource.
//
// At the token endpoint "resource" may name a subset of the granted
// resources (never more: invalid_target); on refresh "scope" may narrow
// but never widen (invalid_scope). The access token is then down-scoped
// to its audience (RFC 8707 §2.2): it carries only the granted scopes that
// one of its resources accepts, and the response's "scope" says so. A
// refresh that would keep none of the granted scopes (offline_access alone
// does not count) fails with invalid_scope and leaves the refresh token
// usable; a code exchange, whose code is spent by then, issues the token
// with what is left. The refresh token always keeps the full grant.
//
// # Tokens
//
// Access tokens are RFC 9068 JWTs (typ "at+jwt", kid = RFC 7638 thumbprint)
// with iss, sub, aud (a string for one audience, an array for several),
// client_id, scope, iat, exp, jti and auth_time. For tokens issued from a
// grant the jti is "<grant id>.<random>": introspection and revocation find
// the grant from the token itself, and revoking the grant makes its access
// tokens introspect as inactive (resource servers that verify JWTs locally
// accept them until they expire, which is why they are short-lived).
//
// Authorization codes (256-bit, 60 s by default, at most 10 minutes) and
// refresh tokens (256-bit, opaque) are stored only as SHA-256 digests.
// Codes are single-use: a second valid redemption by the same client
// revokes the grant the first one produced; an invalid replay (wrong client
// or verifier) revokes nothing, so that it cannot be used to log anyone
// out. Refresh tokens rotate on every use; presenting a rotated one revokes
// its family and grant, unless Config.RefreshGracePeriod (off by default,
// at most 60 s) allows parallel refreshes: then any token of the family
// rotated less than that period ago may be used again. Whether refresh tokens are
// issued at all follows Config.RefreshTokens: by default to every client
// whose grant_types include refresh_token (MCP 2026-07-28 "Refresh
// Tokens"), optionally only with offline_access.
//
// # Clients
//
// Pre-registered clients come from Config.Clients and are kept in memory;
// dynamically registered and metadata-document clients live in the store.
// A client authenticates with its registered method only: none (public,
// client_id alone, in the body or as HTTP Basic "client_id:" with an
// empty password, which golang.org/x/oauth2's AuthStyleAutoDetect, and so
// the MCP Go SDK, sends first; a non-empty password is invalid_client),
// client_secret_basic (id and secret form-url-decoded, RFC 6749 §2.3.1;
// an empty password is invalid_client), client_secret_post,
// private_key_jwt (RFC 7523: asymmetric algorithms only, iss = sub =
// client_id, aud naming this server, exp at most five minutes ahead,
// single-use jti), or, with Config.MTLS, tls_client_auth and
// self_signed_tls_client_auth (see Mutual TLS below). Sending two methods
// at once is invalid_request. A metadata-document client without
// token_endpoint_auth_method is public. An unknown, deleted or expired
// client gets 401 invalid_client, so MCP clients register again.
// client_credentials is for confidential clients only (sub = client_id).
//
// Failed client authentications are limited per client_id and per client
// address (Config.AuthFailureLimit, OAuth 2.1 §2.4.1): by default twenty
// at once, then one every three seconds; past that attempts are refused
// with 429 invalid_client and Retry-After before any credential is
// checked.
//
// # Mutual TLS
//
// Config.MTLS turns on client authentication with the certificate of the
// TLS connection (RFC 8705 §2); access tokens are not bound to it (no
// "cnf", RFC 8705 §3). The client sends client_id in the body (or as
// HTTP Basic "client_id:" with an empty password) and no other
// credential; the server takes the chain the client presented from
// MTLSConfig.ClientCertificates (r.TLS.PeerCertificates by default, so
// the listener must request certificates, tls.RequestClientCert, without
// verifying them) and checks it against the registered method:
//
//   - tls_client_auth: the leaf, with the intermediates the client sent,
//     must chain to MTLSConfig.ClientCAs, be valid now and allow client
//     authentication (extended key usage clientAuth, or none), and carry
//     the one value the client registered: tls_client_auth_subject_dn,
//     compared as a distinguished name (attribute types by OID, values of
//     the usual string attributes case-insensitively with insignificant
//     spaces ignored), or a subject alternative name
//     (tls_client_auth_san_dns ignoring ASCII case, _san_uri exactly,
//     _san_ip as octets, _san_email with the domain case-insensitive).
//   - self_signed_tls_client_auth: the leaf must be valid now and equal,
//     byte for byte, the first x5c certificate of a key in the client's
//     jwks, or at its jwks_uri (fetched and cached as for private_key_jwt,
//     and fetched again once when no key matches).
//
// Every failure (no certificate, an untrusted, expired or mismatched one,
// the method not enabled) is 401 invalid_client and counts against
// AuthFailureLimit. Logs name a refused certificate by its subject and
// SHA-256 fingerprint only. The metadata lists the two methods, and
// registration accepts them, only as far as Config.MTLS enables them; a
// client whose method is not enabled is refused at the authorization
// endpoint before consent.
//
// Revocation accepts any authenticated client, for its own tokens.
// Introspection accepts confidential clients: for their own tokens, and
// for every token when configured with StaticClient.MayIntrospect (resource
// servers).
//
// # Keys
//
// Tokens are signed with ES256 by default; RS256 and EdDSA keys are
// accepted in Config.Keys. Without configured keys the server uses the
// keys in the store (storage.KeyStore, shared by every node), generating an
// ES256 key when there is none. Nodes that start together on an empty
// store may each add one; every node reads the store again after adding
// its own and signs with the oldest key that may sign, which every
// node's snapshot holds, so a token from any node verifies against every
// node's JWKS at once. The other keys stay published until a rotation
// retires them. (Oldest is by creation time as each node's clock gives
// it: when a node whose clock runs behind adds its key after another node
// has read the store, the other node publishes that key only from its
// next reload, at most Config.KeyReloadInterval later.)
//
// [Server.RotateKey] rotates in steps that need no coordination between
// nodes: the new key is stored with a NotBefore of now +
// Config.KeyPublicationDelay (5 minutes by default) and only published
// until then; every node re-reads the store each Config.KeyReloadInterval
// (1 minute, in the background, never making a request wait) and the JWKS
// may be cached for the difference (4 minutes), so every node and every
// verifier knows the key before any node signs with it. At NotBefore each
// node switches on its own. The old key is retired at that moment and
// stays published until the last token it signed has expired (the longest
// access-token lifetime plus a minute), then leaves the JWKS. A token
// naming a key a node has not loaded makes it reload at once (at most
// every 10 seconds). [Server.VerificationKey] lets an in-process resource
// server (authz/bearer) verify tokens without fetching the JWKS.
//
// # Errors
//
// Refusals are *[Error] values with an RFC 6749 code. JSON errors carry
// Cache-Control: no-store; 401 answers carry a Basic challenge. A store
// that is unavailable (storage.ErrUnavailable) or too slow gives 503
// server_error (temporarily_unavailable at the authorization endpoint)
// so that clients retry instead of discarding their credentials. Bodies
// are limited to Config.MaxBodyBytes (64 KiB by default), requests to 64
// parameters of at most 8 KiB each.
package authz
