package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"

	"github.com/nqrust/identity/metadata"
)

// IDs of the built-in executors, and of the CIMD executor that package cimd
// registers.
const (
	ExecutorPKCEEnforcer       = "pkce-enforcer"
	ExecutorSecureRedirectURIs = "secure-redirect-uris"
	ExecutorResourceAllowList  = "resource-allow-list"
	// ExecutorClientIDMetadataDocument is not built in: package cimd
	// registers it on the registry the host gives it.
	ExecutorClientIDMetadataDocument = "client-id-metadata-document"
)

func builtinExecutors() map[string]ExecutorFactory {
	return map[string]ExecutorFactory{
		ExecutorPKCEEnforcer: func(cfg json.RawMessage) (Executor, error) {
			var c PKCEEnforcerConfig
			if err := DecodeConfig(cfg, &c); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			return NewPKCEEnforcer(c), nil
		},
		ExecutorSecureRedirectURIs: func(cfg json.RawMessage) (Executor, error) {
			var c SecureRedirectURIsConfig
			if err := DecodeConfig(cfg, &c); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			return NewSecureRedirectURIs(c), nil
		},
		ExecutorResourceAllowList: func(cfg json.RawMessage) (Executor, error) {
			var c ResourceAllowListConfig
			if err := DecodeConfig(cfg, &c); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			return NewResourceAllowList(c)
		},
	}
}

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Reason: fmt.Sprintf(format, args...)}
}

// ---------------------------------------------------------------------------
// pkce-enforcer

// PKCEEnforcerConfig configures the "pkce-enforcer" executor.
type PKCEEnforcerConfig struct {
	// AllowPlain accepts code_challenge_method "plain" (and a missing
	// method, which RFC 7636 §4.3 defines as plain). Off by default: plain
	// offers no protection when the authorization request leaks, and
	// OAuth 2.1 clients can all do S256.
	AllowPlain bool `json:"allow-plain"`
}

type pkceEnforcer struct{ allowPlain bool }

// NewPKCEEnforcer returns the "pkce-enforcer" executor. At the
// authorization request it requires a code_challenge of 43 to 128
// characters from the RFC 7636 alphabet and the method "S256" (or "plain"
// when allowed; a missing method means plain). Every refusal is
// "invalid_request". Checking the code_verifier at the token endpoint is the
// authorization server's job, not this executor's.
func NewPKCEEnforcer(c PKCEEnforcerConfig) Executor { return &pkceEnforcer{allowPlain: c.AllowPlain} }

func (*pkceEnforcer) Events() []Event { return []Event{EventAuthorizationRequest} }

func (p *pkceEnforcer) Execute(_ context.Context, r *Request) error {
	if r.CodeChallenge == "" {
		return refuse("invalid_request", "code_challenge is required (PKCE)")
	}
	switch r.CodeChallengeMethod {
	case "S256":
	case "plain", "":
		if !p.allowPlain {
			if r.CodeChallengeMethod == "" {
				return refuse("invalid_request", "code_challenge_method is required and must be S256")
			}
			return refuse("invalid_request", "code_challenge_method plain is not allowed; use S256")
		}
	default:
		return refuse("invalid_request", "unsupported code_challenge_method")
	}
	if !validChallenge(r.CodeChallenge) {
		return refuse("invalid_request", "code_challenge must be 43 to 128 characters of [A-Za-z0-9-._~]")
	}
	return nil
}

// validChallenge checks RFC 7636 §4.2's syntax, which §4.1's verifier shares.
func validChallenge(s string) bool {
	if len(s) < 43 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------------------
// secure-redirect-uris

// SecureRedirectURIsConfig configures the "secure-redirect-uris" executor.
// The Go fields are named so that the zero value is the default; in JSON
// the members are "allow-loopback-http" (default true),
// "allow-private-use-schemes" (default true) and "allow-http" (default
// false).
type SecureRedirectURIsConfig struct {
	// DenyLoopbackHTTP refuses http redirect URIs on loopback hosts
	// (127.0.0.0/8, [::1], localhost), which native apps need (RFC 8252
	// §7.3). JSON: "allow-loopback-http": false.
	DenyLoopbackHTTP bool
	// DenyPrivateUseSchemes refuses private-use URI schemes such as
	// "com.example.app:/cb" (RFC 8252 §7.1). JSON:
	// "allow-private-use-schemes": false.
	DenyPrivateUseSchemes bool
	// AllowHTTP accepts http redirect URIs on any host. For development
	// only. JSON: "allow-http": true.
	AllowHTTP bool
}

type secureRedirectWire struct {
	AllowLoopbackHTTP      *bool `json:"allow-loopback-http,omitempty"`
	AllowPrivateUseSchemes *bool `json:"allow-private-use-schemes,omitempty"`
	AllowHTTP              bool  `json:"allow-http,omitempty"`
}

// UnmarshalJSON reads the JSON form, refusing unknown members.
func (c *SecureRedirectURIsConfig) UnmarshalJSON(b []byte) error {
	var w secureRedirectWire
	if err := DecodeConfig(b, &w); err != nil {
		return err
	}
	*c = SecureRedirectURIsConfig{AllowHTTP: w.AllowHTTP}
	if w.AllowLoopbackHTTP != nil {
		c.DenyLoopbackHTTP = !*w.AllowLoopbackHTTP
	}
	if w.AllowPrivateUseSchemes != nil {
		c.DenyPrivateUseSchemes = !*w.AllowPrivateUseSchemes
	}
	return nil
}

// MarshalJSON writes the JSON form.
func (c SecureRedirectURIsConfig) MarshalJSON() ([]byte, error) {
	loop, priv := !c.DenyLoopbackHTTP, !c.DenyPrivateUseSchemes
	return json.Marshal(secureRedirectWire{AllowLoopbackHTTP: &loop, AllowPrivateUseSchemes: &priv, AllowHTTP: c.AllowHTTP})
}

type secureRedirectURIs struct{ cfg SecureRedirectURIsConfig }

// NewSecureRedirectURIs returns the "secure-redirect-uris" executor. It
// checks the redirect_uri of an authorization request (when present) and
// every redirect URI of a registration. A URI passes when it is an absolute
// URI without fragment or userinfo and is one of:
//
//   - https with a host;
//   - http on a loopback host (unless DenyLoopbackHTTP), or on any host
//     with AllowHTTP;
//   - a private-use scheme (unless DenyPrivateUseSchemes), other than
//     schemes browsers act on themselves (javascript, data, file, …).
//
// Refusals are "invalid_redirect_uri" at registration (RFC 7591 §3.2.2)
// and "invalid_request" at the authorization request. The executor is an
// extra, configurable layer: package metadata's client validation and the
// authorization endpoint's redirect matching still apply.
func NewSecureRedirectURIs(c SecureRedirectURIsConfig) Executor {
	return &secureRedirectURIs{cfg: c}
}

func (*secureRedirectURIs) Events() []Event {
	return []Event{EventRegistration, EventAuthorizationRequest}
}

func (s *secureRedirectURIs) Execute(_ context.Context, r *Request) error {
	switch r.Event {
	case EventAuthorizationRequest:
		if r.RedirectURI == "" {
			return nil
		}
		if why := s.check(r.RedirectURI); why != "" {
			return refuse("invalid_request", "redirect_uri %s", why)
		}
	case EventRegistration:
		if r.Registration == nil {
			return nil
		}
		for i, u := range r.Registration.RedirectURIs {
			if why := s.check(u); why != "" {
				return refuse("invalid_redirect_uri", "redirect_uris[%d] %s", i, why)
			}
		}
	}
	return nil
}

// browserSchemes are schemes a browser or the OS handles by itself; they are
// never private-use schemes of a native app.
var browserSchemes = map[string]bool{
	"javascript": true, "data": true, "file": true, "vbscript": true, "about": true,
	"blob": true, "filesystem": true, "ftp": true, "ws": true, "wss": true,
	"mailto": true, "tel": true, "sms": true, "urn": true, "view-source": true,
	"chrome": true, "chrome-extension": true, "moz-extension": true, "intent": true,
}

// check returns why u is not acceptable, or "".
func (s *secureRedirectURIs) check(u string) string {
	for i := 0; i < len(u); i++ {
		if c := u[i]; c <= 0x20 || c == 0x7f || c >= 0x80 || c == '\\' {
			return "contains a character that must be percent-encoded"
		}
	}
	if strings.IndexByte(u, '#') >= 0 {
		return "must not have a fragment"
	}
	p, err := url.Parse(u)
	if err != nil || p.Scheme == "" {
		return "is not an absolute URI"
	}
	if p.User != nil {
		return "must not contain userinfo"
	}
	scheme := strings.ToLower(p.Scheme)
	switch scheme {
	case "https":
		if p.Hostname() == "" {
			return "has no host"
		}
		return ""
	case "http":
		host := p.Hostname()
		if host == "" {
			return "has no host"
		}
		if s.cfg.AllowHTTP {
			return ""
		}
		if metadata.IsLoopbackHost(host) {
			if s.cfg.DenyLoopbackHTTP {
				return "must use https (loopback http is not allowed by policy)"
			}
			return ""
		}
		return "must use https, or http on a loopback address"
	}
	if browserSchemes[scheme] {
		return "uses the forbidden scheme " + scheme
	}
	if s.cfg.DenyPrivateUseSchemes {
		// The scheme is not quoted: a refusal may reach the client as
		// error_description, which must not echo request values.
		return "uses a private-use scheme, which is not allowed by policy"
	}
	return ""
}

// ---------------------------------------------------------------------------
// resource-allow-list

// ResourceAllowListConfig configures the "resource-allow-list" executor.
type ResourceAllowListConfig struct {
	// Resources lists the RFC 8707 resource indicators a client may
	// request. Each must be an absolute URI without fragment. An empty
	// list refuses every request that names a resource.
	Resources []string `json:"resources"`
}

type resourceAllowList struct {
	exact     map[string]struct{} // canonical forms, for the common exact hit
	canonical []string
}

// NewResourceAllowList returns the "resource-allow-list" executor. At the
// authorization request, the token request and refresh, every requested
// resource must equal a listed one, comparing scheme and host without
// regard to case and treating an empty path as "/" (nothing else is
// normalised; see metadata.ResourceEqual). Otherwise the request is
// refused with "invalid_target". A request that names no resource passes:
// requiring one is the authorization server's decision.
func NewResourceAllowList(c ResourceAllowListConfig) (Executor, error) {
	out := &resourceAllowList{exact: make(map[string]struct{}, len(c.Resources))}
	for i, s := range c.Resources {
		canon, err := metadata.CanonicalResource(s)
		if err != nil {
			return nil, fmt.Errorf("resources[%d]: %w", i, err)
		}
		if _, dup := out.exact[canon]; !dup {
			out.exact[canon] = struct{}{}
			out.canonical = append(out.canonical, canon)
		}
	}
	return out, nil
}

func (*resourceAllowList) Events() []Event {
	return []Event{EventAuthorizationRequest, EventTokenRequest, EventRefresh}
}

func (a *resourceAllowList) Execute(_ context.Context, r *Request) error {
	for i, res := range r.Resources {
		if !a.allowed(res) {
			if _, err := metadata.CanonicalResource(res); err != nil {
				return refuse("invalid_target", "requested resource %d is not a valid resource indicator", i+1)
			}
			return refuse("invalid_target", "requested resource %d is not allowed for this client", i+1)
		}
	}
	return nil
}

func (a *resourceAllowList) allowed(res string) bool {
	if _, ok := a.exact[res]; ok {
		return true
	}
	for _, c := range a.canonical {
		if metadata.ResourceEqual(c, res) {
			return true
		}
	}
	return false
}
