package authz

import (
	"crypto"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
)

// Defaults and bounds for lifetimes. The defaults follow OAuth 2.1 and MCP
// advice: short access tokens, very short codes, rotated refresh tokens.
const (
	DefaultAccessTokenLifetime  = 30 * time.Minute
	DefaultCodeLifetime         = 60 * time.Second
	DefaultRefreshTokenLifetime = 30 * 24 * time.Hour
	DefaultGrantLifetime        = 90 * 24 * time.Hour
	DefaultRequestLifetime      = 10 * time.Minute
	DefaultMaxBodyBytes         = 64 << 10
	DefaultKeyPublicationDelay  = 5 * time.Minute
	DefaultKeyReloadInterval    = time.Minute

	maxAccessTokenLifetime = 24 * time.Hour
	maxCodeLifetime        = 10 * time.Minute
	maxRequestLifetime     = time.Hour
	maxRefreshGracePeriod  = 60 * time.Second
	maxKeyPublicationDelay = 24 * time.Hour
	maxKeyReloadInterval   = time.Hour
	// minJWKSMaxAge is the least JWKS max-age worth advertising; verifiers
	// such as authz/bearer cache a JWKS for at least a minute anyway.
	minJWKSMaxAge = time.Minute
)

// ScopeOfflineAccess is the scope MCP clients add to ask for a refresh token
// (MCP 2026-07-28 "Refresh Tokens"). The server always recognises it; it
// carries no audience and every resource accepts it.
const ScopeOfflineAccess = "offline_access"

// Config configures a [Server]. The zero value of every optional field is
// safe; [New] validates the whole struct and fails on the first problem.
type Config struct {
	// Issuer is the issuer identifier: https (or http on a loopback host
	// for development), no query, no fragment, no trailing slash. It is
	// used verbatim as the metadata "issuer", the JWT "iss" and the RFC 9207
	// "iss" authorization response parameter. Its path, if any, prefixes
	// every endpoint.
	Issuer string

	// Keys are the signing keys: *ecdsa.PrivateKey (P-256, ES256),
	// *rsa.PrivateKey (≥ 2048 bits, RS256) or ed25519.PrivateKey (EdDSA).
	// Keys[0] signs new tokens; the others are still published and verify
	// tokens they signed before a rotation. When Keys is empty the server
	// uses the keys in Store (see storage.KeyStore), generating and storing
	// an ES256 key when there is none.
	Keys []crypto.Signer

	// KeyPublicationDelay is how long a key made by [Server.RotateKey] is
	// published before it signs; 0 means DefaultKeyPublicationDelay (5
	// minutes), at most 24 hours. It must be at least KeyReloadInterval
	// plus one minute: the JWKS is cacheable for the difference, so that
	// every node and every verifier that honours the cache lifetime knows
	// the key before it signs.
	KeyPublicationDelay time.Duration
	// KeyReloadInterval is how often each node re-reads the keys from the
	// store (in the background, on the first signing or JWKS request after
	// it elapsed), picking up rotations started elsewhere; 0 means
	// DefaultKeyReloadInterval (1 minute), between 1 s and 1 hour. A
	// token naming an unknown key also makes the node reload, at most
	// every 10 seconds. When Keys is set nothing is reloaded or rotated,
	// but both are still validated and still set the JWKS Cache-Control
	// max-age (KeyPublicationDelay minus KeyReloadInterval).
	KeyReloadInterval time.Duration

	// Store keeps clients, parked requests, grants, codes, refresh tokens
	// and keys. Nil means a new in-memory store (storage/memory), with a
	// warning in the log: everything is lost on restart and nothing is
	// shared between processes.
	Store storage.Store

	// Clients are pre-registered clients, kept in memory and looked up
	// before the store.
	Clients []StaticClient

	// Scopes are the scopes the server knows. Requested scopes that are not
	// listed here are dropped (see the package documentation).
	Scopes []Scope

	// Resources are the protected resources (MCP servers) tokens may be
	// issued for. A "resource" parameter must name one of them.
	Resources []Resource

	// DefaultResource is the audience used when a request names no
	// resource and its scopes map to no audience. It must be the Identifier
	// of one of Resources. Empty means such requests fail with
	// invalid_target.
	DefaultResource string

	// AccessTokenLifetime is the lifetime of access tokens; 0 means
	// DefaultAccessTokenLifetime, at most 24 hours. A Resource may
	// shorten it.
	AccessTokenLifetime time.Duration
	// CodeLifetime is the lifetime of authorization codes; 0 means
	// DefaultCodeLifetime, at most 10 minutes.
	CodeLifetime time.Duration
	// RefreshTokenLifetime is how long a refresh token stays usable when
	// it is not used (each rotation starts a new period); 0 means
	// DefaultRefreshTokenLifetime.
	RefreshTokenLifetime time.Duration
	// GrantLifetime bounds a grant and every refresh token issued from it,
	// however often they rotate; 0 means DefaultGrantLifetime. It must not
	// be shorter than RefreshTokenLifetime.
	GrantLifetime time.Duration
	// RequestLifetime is how long a parked authorization request waits
	// for the user to log in and consent; 0 means DefaultRequestLifetime,
	// at most one hour.
	RequestLifetime time.Duration
	// RefreshGracePeriod lets a refresh token that has already rotated be
	// used again for this long after its first rotation, for clients that
	// refresh in parallel: the reuse rotates it once more, to another new
	// token of the same family, instead of revoking the family and the
	// grant. It applies to every token of the family rotated within the
	// period, not only the immediately previous one (the store keeps no
	// order within a family), so each such token can fork the family while
	// the period lasts and reuse of a stolen copy goes undetected during
	// it; reuse is never allowed again once the period since that token's
	// first rotation has passed. 0 disables it (strict reuse detection);
	// at most 60 s.
	RefreshGracePeriod time.Duration
	// RefreshTokens decides when refresh tokens are issued.
	RefreshTokens RefreshTokenPolicy

	// InteractionURL is where the browser goes to log in and consent: the
	// server parks a validated authorization request and answers 303 to
	// InteractionURL with a "request_id" query parameter. It is an absolute
	// URL or an absolute path ("/login"). Required.
	InteractionURL string

	// Policies are client policies, evaluated at authorization requests
	// (before the client is looked up, so that an executor can resolve a
	// URL-shaped client_id), token requests and refreshes, and, through
	// Registration (whose Policies it fills when left nil), at dynamic
	// registrations and their RFC 7592 updates. Nil means none.
	Policies *policy.Engine
	// ClientIDMetadataDocuments forces the metadata to advertise
	// client_id_metadata_document_supported. It is rarely needed: the
	// server advertises it by itself when Policies can run the
	// client-id-metadata-document executor (package cimd; see
	// policy.Engine.HasExecutor). Set it only when a custom executor
	// registered under another ID resolves URL-shaped client_ids. New
	// refuses it without Policies.
	ClientIDMetadataDocuments bool

	// Registration enables dynamic client registration (RFC 7591) and
	// management (RFC 7592) at {issuer}/register. Store, Endpoint,
	// SupportedScopes, DefaultScopes, GrantTypesSupported,
	// TokenEndpointAuthMethodsSupported, Policies, Clock, Rand and Logger
	// are filled from this configuration when left empty. registration_endpoint is
	// advertised only when a registration policy is configured. Nil
	// disables registration.
	Registration *dcr.Config

	// ErrorPage renders the HTML page shown when the authorization
	// endpoint, Approve or Deny cannot redirect to the client (unknown
	// client, unregistered redirect URI, expired request…). Before calling
	// it the server sets Cache-Control: no-store, X-Frame-Options: DENY,
	// X-Content-Type-Options: nosniff, Referrer-Policy: no-referrer and
	// Content-Security-Policy: frame-ancestors 'none'; the hook writes the
	// status (e.Status) and the body. It may replace the
	// Content-Security-Policy to allow its own styles, keeping
	// frame-ancestors 'none'. e.Description is safe to show (escaped);
	// errors.Is(e, ErrRequestNotFound) tells an expired or completed
	// request. Nil means a minimal built-in page.
	ErrorPage func(w http.ResponseWriter, r *http.Request, e *Error)

	// HTTPClient fetches the jwks_uri of private_key_jwt and
	// self_signed_tls_client_auth clients. Nil
	// means the library's safe client (package internal/safehttp): no
	// redirects, only public addresses (checked when dialling), 5 s and
	// 64 KiB limits. Give one only to go through an egress proxy, or in
	// tests; its dialer then decides which addresses are reachable.
	HTTPClient *http.Client

	// AuthFailureLimit limits failed client authentications per client_id
	// and per client address (on by default).
	AuthFailureLimit AuthFailureLimit

	// MTLS turns on mutual-TLS client authentication (RFC 8705 §2:
	// tls_client_auth and self_signed_tls_client_auth) for clients that
	// register it. Nil leaves both methods off: they are not advertised,
	// registration refuses them, and such clients cannot authenticate.
	MTLS *MTLSConfig

	// MaxBodyBytes limits request bodies; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	// DisableOpenIDConfiguration stops the server from publishing its
	// metadata at the OpenID Connect discovery URLs as well.
	DisableOpenIDConfiguration bool

	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Rand is the source of codes, tokens and identifiers; nil means
	// crypto/rand.Reader.
	Rand io.Reader
	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
}

// RefreshTokenPolicy decides when the server issues refresh tokens. Refresh
// tokens are always rotated on use, with reuse detection.
type RefreshTokenPolicy int

const (
	// RefreshWhenAllowed issues a refresh token with every
	// authorization_code grant to clients whose grant_types include
	// "refresh_token". This is the default: MCP clients that can refresh
	// say so at registration or in their metadata document.
	RefreshWhenAllowed RefreshTokenPolicy = iota
	// RefreshOnOfflineAccess additionally requires the "offline_access"
	// scope in the grant.
	RefreshOnOfflineAccess
	// RefreshNever issues no refresh tokens.
	RefreshNever
)

// StaticClient is a pre-registered client.
type StaticClient struct {
	// Metadata is the client's metadata; ClientID and RedirectURIs (for
	// authorization_code) are required. When GrantTypes is empty the client
	// may use authorization_code and refresh_token. When
	// TokenEndpointAuthMethod is empty it is client_secret_basic if Secret
	// is set, private_key_jwt if JWKS is set, and none otherwise;
	// tls_client_auth and self_signed_tls_client_auth must be named, and
	// need Config.MTLS.
	Metadata metadata.Client
	// Secret is the client secret for client_secret_basic or
	// client_secret_post, at least 16 characters; empty for public,
	// private_key_jwt and mutual-TLS clients. Only its digest is kept.
	Secret string
	// MayIntrospect lets this (confidential) client introspect tokens
	// issued to any client: give it to resource servers that verify by
	// introspection. Without it a client may introspect only its own
	// tokens.
	MayIntrospect bool
}

// Scope is a scope the server knows.
type Scope struct {
	// Name is the scope token, such as "mcp:tools".
	Name string
	// Description is shown on consent pages.
	Description string
	// Default marks scopes granted when a request has no "scope".
	Default bool
	// Audiences are added as the token audience when a request names no
	// resource (the seed guide's audience mapper: requesting "mcp:tools"
	// yields aud "https://example.com/mcp"). A request whose scopes map to
	// more than one audience, and that names no resource, fails with
	// invalid_scope (RFC 9068 §3).
	Audiences []string
}

// Resource is a protected resource (an MCP server) the server issues tokens
// for.
type Resource struct {
	// Identifier is the resource URI, used verbatim as the token "aud". It
	// should be the exact URL the resource publishes in its protected
	// resource metadata.
	Identifier string
	// Name is a display name for consent pages.
	Name string
	// Scopes are the scopes this resource accepts; empty means every
	// scope in Config.Scopes.
	Scopes []string
	// AccessTokenLifetime overrides Config.AccessTokenLifetime for tokens
	// whose only audience is this resource; 0 means no override.
	AccessTokenLifetime time.Duration
}

// validateIssuer checks the issuer rules of RFC 8414 §2 with the loopback
// development exception.
func validateIssuer(iss string) (*url.URL, error) {
	if iss == "" {
		return nil, fmt.Errorf("authz: Config.Issuer is required")
	}
	u, err := url.Parse(iss)
	if err != nil {
		return nil, fmt.Errorf("authz: Config.Issuer: %v", err)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && isLoopbackHost(u.Hostname()):
	default:
		return nil, fmt.Errorf("authz: Config.Issuer %q must use https (http only on a loopback host)", iss)
	}
	if u.Host == "" || u.User != nil || u.Opaque != "" {
		return nil, fmt.Errorf("authz: Config.Issuer %q must be an absolute URL with a host and no userinfo", iss)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.ContainsAny(iss, "?#") {
		return nil, fmt.Errorf("authz: Config.Issuer %q must not have a query or fragment", iss)
	}
	if strings.HasSuffix(iss, "/") {
		return nil, fmt.Errorf("authz: Config.Issuer %q must not end with a slash", iss)
	}
	if u.RawPath != "" {
		return nil, fmt.Errorf("authz: Config.Issuer %q must not contain escaped path characters", iss)
	}
	return u, nil
}

// validScopeToken checks RFC 6749 §3.3 scope-token syntax.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
			return false
		}
	}
	return true
}
