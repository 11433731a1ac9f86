package dcr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
)

// Store is what the registrar needs from storage. Every [storage.Store]
// satisfies it.
type Store interface {
	storage.ClientStore
	storage.GrantStore
	storage.InitialAccessTokenStore
}

// Defaults applied by [New] to zero-valued [Config] and [Policy] fields.
const (
	// DefaultMaxClients bounds the number of unexpired registered clients
	// when Config.MaxClients is 0.
	DefaultMaxClients = 1000
	// DefaultUnusedClientTTL is how long a registered client that is never
	// used (no completed authorization, no token) lives when
	// Config.UnusedClientTTL is 0.
	DefaultUnusedClientTTL = 24 * time.Hour
	// DefaultRateLimit is the sustained per-address registration rate when
	// Policy.RateLimit is 0: one request every six seconds.
	DefaultRateLimit = rate.Limit(1.0 / 6)
	// DefaultRateBurst is the per-address burst when Policy.RateBurst is 0.
	DefaultRateBurst = 10
	// DefaultRateLimitAddresses is how many caller addresses each policy's
	// rate limiter tracks when Config.RateLimitAddresses is 0.
	DefaultRateLimitAddresses = 4096
	// MaxBodyBytes bounds a registration or update body.
	MaxBodyBytes = 64 << 10
	// maxJSONDepth bounds the nesting of a body, before it is parsed, with
	// the bound metadata.ParseClient applies: client metadata is at most
	// four levels deep (jwks → keys → key → x5c), and 32 leaves room for
	// harmless extensions while refusing pathological input early.
	maxJSONDepth = metadata.MaxClientMetadataDepth
	// corsMaxAge is the preflight cache lifetime, in seconds.
	corsMaxAge = "600"
)

// Config configures a [Registrar]. The zero value of every optional field is
// safe; [New] rejects what is missing or inconsistent.
type Config struct {
	// Store keeps clients and initial access tokens and revokes a deleted
	// client's grants. Required.
	Store Store

	// Endpoint is the absolute URL of the registration endpoint, for
	// example issuer + "/register". It is what the authorization server
	// advertises as registration_endpoint. Each registered client is
	// managed at Endpoint + "/" + client_id (its registration_client_uri).
	// It must be https, except on a loopback host (for tests and local
	// development), and must have a path other than "/" without a trailing
	// slash, query or fragment. Required.
	Endpoint string

	// Anonymous is the policy for open registration, without an initial
	// access token. nil disables anonymous registration.
	Anonymous *Policy
	// Authenticated is the policy for registration with an initial access
	// token (RFC 7591 §3), minted with [Registrar.MintInitialAccessToken].
	// nil means initial access tokens are not accepted.
	Authenticated *Policy

	// MaxClients bounds the number of unexpired dynamically registered
	// clients, across both policies; the check and the insert are atomic
	// in the store. 0 means DefaultMaxClients; a negative value means no
	// limit.
	MaxClients int
	// UnusedClientTTL is how long a registered client lives if it never
	// completes an authorization nor obtains a token. The authorization
	// server calls [storage.ClientStore.MarkClientUsed] on the first
	// completed authorization or issued token (package authz does both),
	// which makes the client permanent; the store's
	// PurgeExpired sweeps the others. 0 means DefaultUnusedClientTTL; a
	// negative value means registered clients never lapse.
	UnusedClientTTL time.Duration
	// SecretLifetime is how long an issued client_secret stays valid. 0
	// means it never expires (client_secret_expires_at 0).
	SecretLifetime time.Duration

	// DefaultScopes is the scope a client is registered with when its body
	// has no scope, an empty one, or only scopes that a policy dropped;
	// normally the scopes the protected resources advertise. The policy's
	// AllowedClientScopes filter it.
	DefaultScopes []string
	// SupportedScopes, when not empty, is every scope the server knows.
	// A requested scope outside it is refused (or dropped, when the
	// policy's DropDisallowedScopes is set). Empty means the server does
	// not restrict scope at registration (policies still may).
	SupportedScopes []string
	// GrantTypesSupported is the grant types the authorization server
	// implements. A requested grant type outside it is dropped from the
	// registration (RFC 7591 §3.2.1 lets the server replace requested
	// values, and VS Code, ChatGPT and Claude list grants such as
	// device_code or jwt-bearer they do not need); a registration left
	// with no grant type is refused. nil means authorization_code and
	// refresh_token.
	GrantTypesSupported []string
	// TokenEndpointAuthMethodsSupported is the token endpoint
	// authentication methods the server implements. A registration asking
	// for another one is refused: substituting a method would leave the
	// client unable to authenticate. nil means none, client_secret_basic,
	// client_secret_post and private_key_jwt. List tls_client_auth or
	// self_signed_tls_client_auth only if the token endpoint checks them
	// (package authz fills this list with them when its Config.MTLS
	// enables them).
	TokenEndpointAuthMethodsSupported []string

	// Policies are client policies evaluated at policy.EventRegistration,
	// for registrations and RFC 7592 updates: after the body passed
	// validation and this package's policy (so executors see the
	// metadata as it would be registered, in Request.Registration) and
	// before anything is stored or an initial access token is spent. A
	// refusal is 400 with the refusal's code when it is
	// invalid_redirect_uri or invalid_client_metadata (any other code
	// becomes invalid_client_metadata) and its reason in
	// error_description; an internal failure of a condition or executor
	// is 503. Changes executors make to Request.Registration are
	// registered as made. Nil means none; package authz passes its own
	// Config.Policies when this is nil.
	Policies *policy.Engine

	// AllowInsecureRedirectURIs accepts http redirect URIs on hosts other
	// than loopback for clients that are not native. For development
	// only: OAuth 2.1 and RFC 9700 forbid it.
	AllowInsecureRedirectURIs bool
	// AllowSingleLabelSchemes accepts private-use redirect URI schemes
	// that are not in reverse-domain form, such as Cursor's "cursor://".
	// RFC 8252 §7.1 advises against them because any app can claim them.
	AllowSingleLabelSchemes bool

	// ClientIP returns the address of the caller, used for the trusted
	// host check and the rate limit key. nil means the address in
	// r.RemoteAddr. Behind a reverse proxy, supply a function that reads
	// the header your proxy sets, and only that proxy's value: forwarded
	// headers are never trusted by default. An invalid address counts as
	// untrusted.
	ClientIP func(r *http.Request) netip.Addr
	// RateLimitAddresses bounds how many caller addresses each policy's
	// rate limiter remembers; the least recently seen are forgotten first.
	// 0 means DefaultRateLimitAddresses.
	RateLimitAddresses int

	// OnDelete, if set, is called after a client was deleted through
	// RFC 7592, for example to drop it from a cache.
	OnDelete func(ctx context.Context, clientID string)

	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
	// Rand is the source of client IDs, secrets and tokens; nil means
	// crypto/rand.Reader.
	Rand io.Reader
	// Logger receives one record per refused or accepted request, never
	// with secrets; nil discards.
	Logger *slog.Logger
}

// Policy is a registration policy: who may register and what. One applies
// to anonymous registration and one to registration with an initial access
// token; the policy a client was registered under also governs its later
// RFC 7592 reads, updates and deletion.
//
// The zero value refuses everything: an empty TrustedHosts matches no
// caller and no URI. [New] reports such a policy as a configuration error.
type Policy struct {
	// Name identifies the policy in logs and error descriptions.
	// Required.
	Name string

	// TrustedHosts lists who may register and where clients may point.
	// Keycloak equivalent: the "trusted-hosts" policy. Each entry is one
	// of:
	//   - an IP address ("192.0.2.7", "::1") or CIDR range ("10.0.0.0/8");
	//   - a host pattern with internal/hostmatch semantics: "example.org",
	//     "*.example.org" (the apex and any subdomain), "api-*.example.org"
	//     (within one label); matching ignores case;
	//   - "*", any caller and any host.
	// The caller check compares the caller's address with the IP and CIDR
	// entries only; host names are never resolved, forward or reverse. As
	// the one exception, a pattern matching "localhost" also trusts
	// loopback callers. The URI check requires the host of every redirect
	// URI, post-logout redirect URI, client_uri, logo_uri, tos_uri,
	// policy_uri and jwks_uri to match a pattern, or, for an IP literal, an
	// IP or CIDR entry. A URI without a host (a private-use scheme such as
	// com.example.app:/cb) fails the URI check.
	TrustedHosts []string
	// SkipCallerCheck turns off the caller address check. Keycloak
	// equivalent: host-sending-registration-request-must-match = false.
	SkipCallerCheck bool
	// SkipURIHostCheck turns off the URI host check. Keycloak equivalent:
	// client-uris-must-match = false.
	SkipURIHostCheck bool

	// AllowedClientScopes, when not empty, is every scope a client
	// registered under this policy may have. Keycloak equivalent: the
	// "allowed-client-templates" (Allowed Client Scopes) policy. Empty
	// means the policy does not restrict scope.
	AllowedClientScopes []string
	// DropDisallowedScopes drops a requested scope that the policy or the
	// server does not allow, instead of refusing the registration.
	DropDisallowedScopes bool
	// RegisterAllAllowedScopes registers every scope in
	// AllowedClientScopes, whatever subset the client asked for (a request
	// with a scope outside them is still refused, or the scope dropped);
	// RFC 7591 §3.2.1 lets the server replace requested values, and the
	// answer shows the registered scope. The authorization server grants
	// no more than a client's registered scope, so a client that
	// registered only the scopes the protected resource advertises, as the
	// MCP Inspector and VS Code do, could otherwise never step up to a
	// scope such as an admin scope; what an authorization grants is still
	// decided per request, by the requested scope and the user's consent.
	// It requires AllowedClientScopes. False registers what was asked
	// for (or the defaults).
	RegisterAllAllowedScopes bool
	// AllowClientCredentials lets clients registered under this policy
	// use the client_credentials grant. That grant issues tokens with no
	// user signing in or consenting, limited only by the client's
	// registered scope, so a policy open to anonymous callers must not
	// allow it: false (the default) refuses a registration asking for it
	// with invalid_client_metadata. Turn it on only for a policy behind
	// initial access tokens whose holders you trust with machine access.
	AllowClientCredentials bool

	// AllowedWebOrigins lists the browser origins allowed to call the
	// endpoint (CORS), compared as exact strings with the Origin header,
	// e.g. "http://localhost:6274" for the MCP Inspector. "*" allows every
	// origin, and only if listed. A request carrying an Origin not listed
	// is refused with 403 before anything is stored; a request without an
	// Origin header is unaffected. Keycloak equivalent: the
	// "registration-web-origins" policy.
	AllowedWebOrigins []string

	// RateLimit is the sustained rate of requests allowed per caller
	// address (IPv6 callers are grouped by /64), counting registrations
	// and RFC 7592 calls under this policy, refused ones included. 0 means
	// DefaultRateLimit; rate.Inf turns rate limiting off. Keycloak has no
	// equivalent.
	RateLimit rate.Limit
	// RateBurst is the number of requests a caller may make at once. 0
	// means DefaultRateBurst.
	RateBurst int
}

// settings is a validated Config.
type settings struct {
	store           Store
	endpoint        string
	path            string
	anonymous       *compiledPolicy
	authenticated   *compiledPolicy
	maxClients      int
	unusedTTL       time.Duration
	secretLifetime  time.Duration
	defaultScopes   []string
	supportedScopes map[string]struct{}
	grantTypes      []string
	authMethods     []string
	allowInsecure   bool
	allowSingle     bool
	policies        *policy.Engine
	clientIP        func(*http.Request) netip.Addr
	onDelete        func(context.Context, string)
	now             func() time.Time
	rand            io.Reader
	log             *slog.Logger
}

func (c *Config) validate() (*settings, error) {
	if c.Store == nil {
		return nil, errors.New("dcr: Config.Store is required")
	}
	path, err := checkEndpoint(c.Endpoint)
	if err != nil {
		return nil, err
	}
	s := &settings{
		store:          c.Store,
		endpoint:       c.Endpoint,
		path:           path,
		maxClients:     c.MaxClients,
		unusedTTL:      c.UnusedClientTTL,
		secretLifetime: c.SecretLifetime,
		allowInsecure:  c.AllowInsecureRedirectURIs,
		allowSingle:    c.AllowSingleLabelSchemes,
		policies:       c.Policies,
		clientIP:       c.ClientIP,
		onDelete:       c.OnDelete,
		now:            c.Clock,
		rand:           c.Rand,
		log:            c.Logger,
	}
	switch {
	case s.maxClients == 0:
		s.maxClients = DefaultMaxClients
	case s.maxClients < 0:
		s.maxClients = 0 // the store's "no limit"
	}
	switch {
	case s.unusedTTL == 0:
		s.unusedTTL = DefaultUnusedClientTTL
	case s.unusedTTL < 0:
		s.unusedTTL = 0
	}
	if s.secretLifetime < 0 {
		return nil, errors.New("dcr: Config.SecretLifetime must not be negative")
	}
	if s.clientIP == nil {
		s.clientIP = remoteAddr
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = cryptoRand
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}

	if len(c.SupportedScopes) > 0 {
		s.supportedScopes = make(map[string]struct{}, len(c.SupportedScopes))
		for _, sc := range c.SupportedScopes {
			if !validScopeToken(sc) {
				return nil, fmt.Errorf("dcr: Config.SupportedScopes: %q is not a valid scope", sc)
			}
			s.supportedScopes[sc] = struct{}{}
		}
	}
	for _, sc := range c.DefaultScopes {
		if !validScopeToken(sc) {
			return nil, fmt.Errorf("dcr: Config.DefaultScopes: %q is not a valid scope", sc)
		}
		if s.supportedScopes != nil {
			if _, ok := s.supportedScopes[sc]; !ok {
				return nil, fmt.Errorf("dcr: Config.DefaultScopes: %q is not in SupportedScopes", sc)
			}
		}
		if !slices.Contains(s.defaultScopes, sc) {
			s.defaultScopes = append(s.defaultScopes, sc)
		}
	}

	s.grantTypes = slices.Clone(c.GrantTypesSupported)
	if s.grantTypes == nil {
		s.grantTypes = []string{"authorization_code", "refresh_token"}
	}
	if len(s.grantTypes) == 0 {
		return nil, errors.New("dcr: Config.GrantTypesSupported is empty")
	}
	for _, g := range s.grantTypes {
		if g == "" || g == "implicit" || g == "password" {
			return nil, fmt.Errorf("dcr: Config.GrantTypesSupported: %q cannot be offered", g)
		}
	}
	s.authMethods = slices.Clone(c.TokenEndpointAuthMethodsSupported)
	if s.authMethods == nil {
		s.authMethods = []string{"none", "client_secret_basic", "client_secret_post", "private_key_jwt"}
	}
	if len(s.authMethods) == 0 {
		return nil, errors.New("dcr: Config.TokenEndpointAuthMethodsSupported is empty")
	}
	if slices.Contains(s.authMethods, "client_secret_jwt") {
		// Verifying client_secret_jwt needs the secret in clear; this
		// library stores only its hash.
		return nil, errors.New("dcr: Config.TokenEndpointAuthMethodsSupported: client_secret_jwt is not supported")
	}

	addrs := c.RateLimitAddresses
	if addrs == 0 {
		addrs = DefaultRateLimitAddresses
	}
	if addrs < 0 {
		return nil, errors.New("dcr: Config.RateLimitAddresses must not be negative")
	}
	if c.Anonymous != nil {
		if s.anonymous, err = compilePolicy(c.Anonymous, s, addrs); err != nil {
			return nil, fmt.Errorf("dcr: Config.Anonymous: %w", err)
		}
	}
	if c.Authenticated != nil {
		if s.authenticated, err = compilePolicy(c.Authenticated, s, addrs); err != nil {
			return nil, fmt.Errorf("dcr: Config.Authenticated: %w", err)
		}
	}
	return s, nil
}

// checkEndpoint validates Config.Endpoint and returns its path.
func checkEndpoint(raw string) (string, error) {
	if raw == "" {
		return "", errors.New("dcr: Config.Endpoint is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("dcr: Config.Endpoint: %w", err)
	}
	switch {
	case u.Scheme != "https" && !(u.Scheme == "http" && metadata.IsLoopbackHost(u.Hostname())):
		return "", fmt.Errorf("dcr: Config.Endpoint %q must be an https URL (http only on a loopback host)", raw)
	case u.Host == "" || u.User != nil:
		return "", fmt.Errorf("dcr: Config.Endpoint %q must have a host and no userinfo", raw)
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(raw, "?#"):
		return "", fmt.Errorf("dcr: Config.Endpoint %q must not have a query or fragment", raw)
	case u.Path == "" || u.Path == "/" || strings.HasSuffix(u.Path, "/"):
		return "", fmt.Errorf("dcr: Config.Endpoint %q needs a path such as /register, without a trailing slash", raw)
	case u.RawPath != "":
		return "", fmt.Errorf("dcr: Config.Endpoint %q must not have a percent-encoded path", raw)
	}
	return u.Path, nil
}

// remoteAddr is the default Config.ClientIP.
func remoteAddr(r *http.Request) netip.Addr {
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		return ap.Addr().Unmap()
	}
	if a, err := netip.ParseAddr(r.RemoteAddr); err == nil {
		return a.Unmap()
	}
	return netip.Addr{}
}

// validScopeToken reports whether s is a scope-token of RFC 6749 §3.3.
func validScopeToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x21 || b > 0x7e || b == '"' || b == '\\' {
			return false
		}
	}
	return true
}
