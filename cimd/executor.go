package cimd

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/nqrust/identity/internal/hostmatch"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
)

// ExecutorConfig configures the "client-id-metadata-document" policy
// executor. The JSON member names are Keycloak's, so a profile written for
// the seed guide loads unchanged. The zero value refuses every client
// (no trusted domain).
type ExecutorConfig struct {
	// AllowHTTP accepts http client_id URLs ("Allow http scheme").
	// Development only.
	AllowHTTP bool `json:"cimd-allow-http-scheme"`
	// TrustedDomains are host patterns ("Trusted domains", package
	// internal/hostmatch rules: "vscode.dev" exactly, "*.example.org" for
	// the domain and its subdomains, case-insensitive, ASCII only). The
	// client_id host and the host of every URL in the document (client_uri,
	// logo_uri, tos_uri, policy_uri, jwks_uri, each redirect_uris and
	// post_logout_redirect_uris entry) must match one; loopback redirect
	// hosts too ("127.0.0.1", "localhost", "[::1]"). Empty denies all.
	TrustedDomains []string `json:"cimd-allow-permitted-domains"`
	// RestrictSameDomain requires one trusted pattern to cover both the
	// client_id host and the request's redirect_uri host, and, for each of
	// client_uri, logo_uri, tos_uri, policy_uri, jwks_uri and the
	// post-logout redirect URIs, one pattern covering that host and the
	// redirect_uri host. Must be off for native clients (loopback
	// redirects).
	RestrictSameDomain bool `json:"cimd-restrict-same-domain"`
	// RequiredProperties are member names the fetched JSON object must
	// carry with a non-null value. They are checked against the raw
	// document, so names this library does not know work too; a member the
	// library would default (token_endpoint_auth_method) counts only if the
	// document itself has it.
	RequiredProperties []string `json:"cimd-required-properties"`
	// OnlyAllowConfidentialClient accepts only documents whose
	// token_endpoint_auth_method is private_key_jwt, or tls_client_auth
	// when AllowTLSClientAuth is set, and that carry jwks or jwks_uri, as
	// the seed (Keycloak) says. self_signed_tls_client_auth is not among
	// the seed's confidential methods, so this refuses it.
	OnlyAllowConfidentialClient bool `json:"only-allow-confidential-client"`
	// AllowTLSClientAuth accepts documents whose
	// token_endpoint_auth_method is tls_client_auth or
	// self_signed_tls_client_auth (RFC 8705 §2). Set it only when the
	// authorization server authenticates them (authz.Config.MTLS); the
	// server refuses, before consent, a document whose method it has not
	// enabled anyway. Off, such documents are refused with
	// ReasonTLSClientAuth or ReasonSelfSignedTLSClientAuth.
	AllowTLSClientAuth bool `json:"cimd-allow-tls-client-auth"`
}

// Executor is the "client-id-metadata-document" policy executor: it
// resolves a URL client_id to a client through a [Resolver] and applies the
// profile's rules. Build it with [NewExecutor] or load it by ID from a
// policy.Registry after [Register].
//
// At policy.EventAuthorizationRequest it requires a redirect_uri, checks
// the client_id URL and its trusted domain, resolves the document (cache
// or fetch), checks the trusted domain of every URL property, the
// same-domain restriction, the required properties, that the token
// endpoint can authenticate the document's token_endpoint_auth_method
// ("none" or "private_key_jwt", and the mutual-TLS methods only with
// AllowTLSClientAuth; see [ReasonTLSClientAuth]), the confidential-only
// rule, requires the redirect_uri to match one of the
// document's redirect_uris (loopback http on any port), and sets r.Client
// to a storage.Client of Kind storage.ClientMetadataDocument.
//
// At policy.EventTokenRequest and policy.EventRefresh it does the same
// except for the redirect_uri rules, so the token endpoint gets the client
// from the cache, or fetched again once the cached copy expired, and can
// authenticate a private_key_jwt client with the document's current keys.
// A document that changed in a way the profile refuses ends the client's
// token requests too.
//
// It leaves a request alone whose r.Client is already set to a client of
// another kind (a static client that happens to have a URL as its ID).
//
// Refusals are *policy.Error values with Code "invalid_request" at the
// authorization request and "invalid_client" at the token endpoint, the
// cimd Reason as Reason, and the *Error in Err. A request abandoned by its
// caller returns the plain *Error (Reason ReasonCanceled), which the
// policy engine reports as a server error.
type Executor struct {
	r          *Resolver
	allowHTTP  bool
	sameDomain bool
	confOnly   bool
	allowMTLS  bool
	domains    *hostmatch.Matcher
	patterns   []*hostmatch.Matcher // one per pattern, for RestrictSameDomain
	required   []string
}

// NewExecutor returns the executor for cfg, resolving through r. It fails
// if r is nil or a trusted-domain pattern is invalid.
func NewExecutor(r *Resolver, cfg ExecutorConfig) (*Executor, error) {
	if r == nil {
		return nil, errors.New("cimd: NewExecutor: nil Resolver")
	}
	m, err := hostmatch.Compile(cfg.TrustedDomains)
	if err != nil {
		return nil, fmt.Errorf("cimd: cimd-allow-permitted-domains: %w", err)
	}
	e := &Executor{
		r:          r,
		allowHTTP:  cfg.AllowHTTP,
		sameDomain: cfg.RestrictSameDomain,
		confOnly:   cfg.OnlyAllowConfidentialClient,
		allowMTLS:  cfg.AllowTLSClientAuth,
		domains:    m,
	}
	for _, p := range m.Patterns() {
		pm, err := hostmatch.Compile([]string{p})
		if err != nil {
			return nil, fmt.Errorf("cimd: cimd-allow-permitted-domains: %w", err)
		}
		e.patterns = append(e.patterns, pm)
	}
	for _, p := range cfg.RequiredProperties {
		if p = strings.TrimSpace(p); p != "" && !slices.Contains(e.required, p) {
			e.required = append(e.required, p)
		}
	}
	return e, nil
}

// ExecutorFactory returns a policy.ExecutorFactory that builds executors
// from their JSON configuration (an [ExecutorConfig]; unknown members are
// refused), all resolving through r.
func (r *Resolver) ExecutorFactory() policy.ExecutorFactory {
	return func(cfg json.RawMessage) (policy.Executor, error) {
		var c ExecutorConfig
		if err := policy.DecodeConfig(cfg, &c); err != nil {
			return nil, fmt.Errorf("configuration: %w", err)
		}
		e, err := NewExecutor(r, c)
		if err != nil {
			return nil, err
		}
		return e, nil
	}
}

// Register registers the executor under policy.ExecutorClientIDMetadataDocument
// ("client-id-metadata-document") on reg, resolving through r.
func Register(reg *policy.Registry, r *Resolver) error {
	if reg == nil || r == nil {
		return errors.New("cimd: Register: nil Registry or Resolver")
	}
	return reg.RegisterExecutor(policy.ExecutorClientIDMetadataDocument, r.ExecutorFactory())
}

// Events reports the events the executor reacts to.
func (*Executor) Events() []policy.Event {
	return []policy.Event{policy.EventAuthorizationRequest, policy.EventTokenRequest, policy.EventRefresh}
}

// Execute applies the executor to a request; see [Executor].
func (e *Executor) Execute(ctx context.Context, req *policy.Request) error {
	if req.Client != nil && req.Client.Kind != storage.ClientMetadataDocument {
		return nil
	}
	atAuthz := req.Event == policy.EventAuthorizationRequest
	code := "invalid_client"
	if atAuthz {
		code = "invalid_request"
	}
	refuse := func(ce *Error) error {
		if ce.ClientID == "" {
			ce.ClientID = req.ClientID
		}
		return &policy.Error{Code: code, Reason: ce.Reason, Err: ce}
	}
	policyErr := func(reason string) error {
		return refuse(&Error{Class: ClassPolicy, Reason: reason})
	}

	if atAuthz && req.RedirectURI == "" {
		return policyErr(ReasonNoRedirectURI)
	}
	if ce := validateClientIDURL(req.ClientID, e.allowHTTP); ce != nil {
		return refuse(ce)
	}
	idHost, _ := hostOf(req.ClientID) // validated above
	if !e.domains.Match(idHost) {
		return policyErr(ReasonDomainNotAllowed)
	}
	anchor := idHost
	if atAuthz {
		h, ok := hostOf(req.RedirectURI)
		if !ok {
			return policyErr(ReasonRedirectURIMismatch)
		}
		anchor = h
	}
	if e.sameDomain && !e.shareDomain(idHost, anchor) {
		return policyErr(ReasonSameDomainRedirect)
	}

	doc, ce := e.r.resolve(ctx, req.ClientID, e.allowHTTP)
	if ce != nil {
		if ce.Reason == ReasonCanceled {
			return ce
		}
		// ce may be shared (remembered failure); give the caller a copy.
		cp := *ce
		return refuse(&cp)
	}
	m := &doc.Metadata

	// Trusted domains for every URL the document carries.
	for _, u := range m.RedirectURIs {
		if reason := e.checkHost(u, anchor, false); reason != "" {
			return policyErr(reason)
		}
	}
	for _, u := range [...]string{m.ClientURI, m.LogoURI, m.TOSURI, m.PolicyURI, m.JWKSURI} {
		if u == "" {
			continue
		}
		if reason := e.checkHost(u, anchor, e.sameDomain); reason != "" {
			return policyErr(reason)
		}
	}
	for _, u := range m.PostLogoutRedirectURIs {
		if reason := e.checkHost(u, anchor, e.sameDomain); reason != "" {
			return policyErr(reason)
		}
	}
	for _, p := range e.required {
		if !doc.Has(p) {
			return policyErr(ReasonRequiredProperties)
		}
	}
	// A client the token endpoint cannot authenticate would be shown to
	// the user, consented to, and then fail its code exchange with
	// invalid_client: refuse it here instead.
	if reason := authMethodReason(m.TokenEndpointAuthMethod, e.allowMTLS); reason != "" {
		return policyErr(reason)
	}
	if e.confOnly {
		switch m.TokenEndpointAuthMethod {
		case metadata.AuthMethodPrivateKeyJWT, metadata.AuthMethodTLSClientAuth:
		default:
			return policyErr(ReasonConfidentialOnly)
		}
		// The seed asks for keys of tls_client_auth clients too; for
		// private_key_jwt a valid document always has them.
		if (len(m.JWKS) > 0) == (m.JWKSURI != "") {
			return policyErr(ReasonConfidentialKeys)
		}
	}
	if atAuthz && !doc.RedirectURIAllowed(req.RedirectURI) {
		return policyErr(ReasonRedirectURIMismatch)
	}
	req.Client = doc.StorageClient()
	return nil
}

// authMethodReason returns the reason a metadata-document client using
// token_endpoint_auth_method method is refused, or "" if the token
// endpoint can authenticate it; the mutual-TLS methods pass only with
// allowMTLS. Shared-secret methods never get here: the document rules
// refuse them.
func authMethodReason(method string, allowMTLS bool) string {
	switch method {
	case metadata.AuthMethodNone, metadata.AuthMethodPrivateKeyJWT:
		return ""
	case metadata.AuthMethodTLSClientAuth:
		if allowMTLS {
			return ""
		}
		return ReasonTLSClientAuth
	case metadata.AuthMethodSelfSignedTLSClientAuth:
		if allowMTLS {
			return ""
		}
		return ReasonSelfSignedTLSClientAuth
	}
	return ReasonAuthMethodUnsupported
}

// checkHost returns the reason u's host is refused, or "". With same set,
// the host must also share a trusted pattern with anchor.
func (e *Executor) checkHost(u, anchor string, same bool) string {
	h, ok := hostOf(u)
	if !ok {
		return ReasonPropertyNoHost
	}
	if !e.domains.Match(h) {
		return ReasonPropertyDomain
	}
	if same && !e.shareDomain(h, anchor) {
		return ReasonSameDomainProperty
	}
	return ""
}

// shareDomain reports whether a single trusted pattern matches both hosts:
// "same domain" means "covered by the same allow-list entry", so with
// "*.example.com" a.example.com and b.example.com count as the same.
func (e *Executor) shareDomain(a, b string) bool {
	for _, m := range e.patterns {
		if m.Match(a) && m.Match(b) {
			return true
		}
	}
	return false
}

// hostOf returns the host of a URL as the trusted-domain patterns expect
// it: lower case is not forced (patterns match case-insensitively), IPv6
// literals keep their brackets, the port is dropped. ok is false when the
// URL does not parse or has no host.
func hostOf(raw string) (host string, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return "", false
	}
	h := u.Hostname()
	if h == "" {
		return "", false
	}
	if strings.IndexByte(h, ':') >= 0 {
		h = "[" + h + "]"
	}
	return h, true
}
