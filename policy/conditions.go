package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/nqrust/identity/internal/hostmatch"
	"github.com/nqrust/identity/storage"
)

// IDs of the built-in conditions.
const (
	ConditionAnyClient   = "any-client"
	ConditionClientIDURI = "client-id-uri"
	ConditionClientKind  = "client-kind"
	ConditionGrantType   = "grant-type"
)

func builtinConditions() map[string]ConditionFactory {
	return map[string]ConditionFactory{
		ConditionAnyClient: func(cfg json.RawMessage) (Condition, error) {
			if err := DecodeConfig(cfg, &struct{}{}); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			return NewAnyClient(), nil
		},
		ConditionClientIDURI: func(cfg json.RawMessage) (Condition, error) {
			var c ClientIDURIConfig
			if err := DecodeConfig(cfg, &c); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			return NewClientIDURI(c)
		},
		ConditionClientKind: func(cfg json.RawMessage) (Condition, error) {
			var c ClientKindConfig
			if err := DecodeConfig(cfg, &c); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			return NewClientKind(c)
		},
		ConditionGrantType: func(cfg json.RawMessage) (Condition, error) {
			var c GrantTypeConfig
			if err := DecodeConfig(cfg, &c); err != nil {
				return nil, fmt.Errorf("configuration: %w", err)
			}
			return NewGrantType(c)
		},
	}
}

// ---------------------------------------------------------------------------
// any-client

type anyClient struct{}

// NewAnyClient returns the "any-client" condition, which matches every
// request at every event. It takes no configuration. Use it for policies
// that should apply to everyone (a policy without conditions never applies).
func NewAnyClient() Condition { return anyClient{} }

func (anyClient) Match(context.Context, *Request) (bool, error) { return true, nil }

func (anyClient) Explain(context.Context, *Request) (bool, string, error) {
	return true, "matches every client", nil
}

// ---------------------------------------------------------------------------
// client-id-uri

// ClientIDURIConfig configures the "client-id-uri" condition. The JSON
// member names are Keycloak's.
type ClientIDURIConfig struct {
	// Schemes lists the accepted client_id URI schemes, such as "https".
	// They are compared case-insensitively (Keycloak compares exactly; a
	// URI scheme is case-insensitive by RFC 3986 §3.1). Empty: never
	// matches.
	Schemes []string `json:"client-id-uri-scheme"`
	// Domains lists trusted-domain patterns for the client_id host, with
	// the package hostmatch rules: "example.org" exactly, "*.example.org"
	// for the domain and all its subdomains, case-insensitive, no IDN.
	// Empty: never matches (as in Keycloak).
	Domains []string `json:"client-id-uri-allow-permitted-domains"`
}

type clientIDURI struct {
	schemes []string
	domains *hostmatch.Matcher
	// suffixes, when not nil, is a cheap pre-filter: every host the
	// domains can match ends with one of these (compared without regard
	// to case). It is nil when a pattern holds a glob, which has no fixed
	// suffix worth checking.
	suffixes []string
}

// NewClientIDURI returns the "client-id-uri" condition. It matches when the
// request's client_id is an absolute URI with an authority, whose scheme is
// listed, which has no userinfo (so "https://vscode.dev@evil.com/x" never
// matches; its host is evil.com anyway), and whose host matches a trusted
// domain pattern. Anything that does not parse is simply no match.
//
// It reacts to the authorization request, the token request and refresh.
// Keycloak's condition reacts only before the authorization request; we
// also react at the token endpoint because a metadata-document client is
// identified there by the same URL, and executors such as the CIMD
// resolver may need to resolve it again (executors that only make sense
// at authorization declare that themselves with [EventFilter]). There is
// no client_id to look at during registration.
func NewClientIDURI(c ClientIDURIConfig) (Condition, error) {
	out := &clientIDURI{}
	for i, s := range c.Schemes {
		s = strings.ToLower(strings.TrimSpace(s))
		if s == "" {
			continue
		}
		if p, _ := splitURI(s + "://h"); p.scheme == "" {
			return nil, fmt.Errorf("client-id-uri-scheme[%d]: invalid scheme %q", i, c.Schemes[i])
		}
		if !slices.Contains(out.schemes, s) {
			out.schemes = append(out.schemes, s)
		}
	}
	m, err := hostmatch.Compile(c.Domains)
	if err != nil {
		return nil, fmt.Errorf("client-id-uri-allow-permitted-domains: %w", err)
	}
	out.domains = m
	out.suffixes = make([]string, 0, len(m.Patterns()))
	for _, p := range m.Patterns() {
		// "*.example.org" matches example.org and its subdomains, all
		// ending in "example.org"; an exact pattern ends in itself.
		p = strings.TrimPrefix(p, "*.")
		if strings.Contains(p, "*") {
			out.suffixes = nil
			break
		}
		out.suffixes = append(out.suffixes, p)
	}
	return out, nil
}

// mayMatchHost is the pre-filter described at clientIDURI.suffixes. It
// never rejects a host that the domains would match.
func (c *clientIDURI) mayMatchHost(host string) bool {
	if c.suffixes == nil {
		return true
	}
	for _, s := range c.suffixes {
		if len(host) >= len(s) && strings.EqualFold(host[len(host)-len(s):], s) {
			return true
		}
	}
	return false
}

func (*clientIDURI) Events() []Event {
	return []Event{EventAuthorizationRequest, EventTokenRequest, EventRefresh}
}

func (c *clientIDURI) Match(_ context.Context, r *Request) (bool, error) {
	ok, _ := c.check(r, false)
	return ok, nil
}

func (c *clientIDURI) Explain(_ context.Context, r *Request) (bool, string, error) {
	ok, why := c.check(r, true)
	return ok, why, nil
}

// check decides; it builds a reason only when explain is set, so that
// Match stays allocation-free on the non-matching path.
func (c *clientIDURI) check(r *Request, explain bool) (bool, string) {
	clientID := r.ClientID
	if len(c.schemes) == 0 {
		return false, "no URI scheme is configured"
	}
	if c.domains.Empty() {
		return false, "no trusted domain is configured"
	}
	if clientID == "" {
		return false, "the request has no client_id"
	}
	p, ok := r.clientIDParts()
	if !ok {
		return false, "client_id is not an absolute URI with a host"
	}
	if !c.schemeListed(p.scheme) {
		if explain {
			return false, fmt.Sprintf("scheme %q is not one of %q", strings.ToLower(p.scheme), c.schemes)
		}
		return false, ""
	}
	if p.userinfo {
		return false, "client_id carries userinfo"
	}
	pattern := ""
	if c.mayMatchHost(p.host) {
		pattern = c.domains.MatchPattern(p.host)
	}
	if pattern == "" {
		if explain {
			return false, fmt.Sprintf("host %q matches no trusted domain", p.host)
		}
		return false, ""
	}
	if !confirmURI(clientID, p) {
		return false, "client_id is not a well-formed URI"
	}
	if explain {
		return true, fmt.Sprintf("scheme %q and host %q (trusted domain %q) match", strings.ToLower(p.scheme), p.host, pattern)
	}
	return true, ""
}

func (c *clientIDURI) schemeListed(s string) bool {
	for _, want := range c.schemes {
		if strings.EqualFold(s, want) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// client-kind

// ClientKindConfig configures the "client-kind" condition.
type ClientKindConfig struct {
	// Kinds lists the kinds that match: "static", "registered" and
	// "metadata-document" (the String forms of storage.ClientKind).
	// Required, non-empty.
	Kinds []string `json:"kinds"`
}

type clientKind struct {
	kinds []storage.ClientKind
}

// NewClientKind returns the "client-kind" condition, which matches when the
// client's kind (how it came to exist) is listed. It reacts to every event
// except registration, where no client exists yet.
//
// The kind is r.Client.Kind. At the authorization request r.Client may
// still be nil, because policies run before the endpoint insists on a
// known client (hosts fill r.Client in when their store already knows the
// client). While it is nil, a client_id that is an absolute http or https
// URL with a host counts as "metadata-document" — it can only become a
// client by being resolved as a Client ID Metadata Document — and any other
// client_id matches no kind (it names no client the server knows).
func NewClientKind(c ClientKindConfig) (Condition, error) {
	if len(c.Kinds) == 0 {
		return nil, fmt.Errorf("kinds: at least one kind is required")
	}
	out := &clientKind{}
	for i, s := range c.Kinds {
		k, ok := parseClientKind(s)
		if !ok {
			return nil, fmt.Errorf("kinds[%d]: unknown client kind %q (want static, registered or metadata-document)", i, s)
		}
		if !slices.Contains(out.kinds, k) {
			out.kinds = append(out.kinds, k)
		}
	}
	return out, nil
}

func parseClientKind(s string) (storage.ClientKind, bool) {
	for _, k := range []storage.ClientKind{storage.ClientStatic, storage.ClientRegistered, storage.ClientMetadataDocument} {
		if k.String() == s {
			return k, true
		}
	}
	return 0, false
}

func (*clientKind) Events() []Event {
	return []Event{EventAuthorizationRequest, EventTokenRequest, EventRefresh}
}

func (c *clientKind) kindOf(r *Request) (storage.ClientKind, bool) {
	if r.Client != nil {
		return r.Client.Kind, true
	}
	if p, ok := r.clientIDParts(); ok && !p.userinfo &&
		(strings.EqualFold(p.scheme, "https") || strings.EqualFold(p.scheme, "http")) {
		return storage.ClientMetadataDocument, true
	}
	return 0, false
}

func (c *clientKind) Match(_ context.Context, r *Request) (bool, error) {
	k, ok := c.kindOf(r)
	return ok && slices.Contains(c.kinds, k), nil
}

func (c *clientKind) Explain(_ context.Context, r *Request) (bool, string, error) {
	k, ok := c.kindOf(r)
	if !ok {
		return false, "the client is not resolved and its client_id is not a URL", nil
	}
	how := "client kind"
	if r.Client == nil {
		how = "unresolved URL client_id, taken as kind"
	}
	if slices.Contains(c.kinds, k) {
		return true, fmt.Sprintf("%s %q is listed", how, k), nil
	}
	return false, fmt.Sprintf("%s %q is not listed", how, k), nil
}

// ---------------------------------------------------------------------------
// grant-type

// GrantTypeConfig configures the "grant-type" condition.
type GrantTypeConfig struct {
	// GrantTypes lists the grant types that match, such as
	// "authorization_code", "refresh_token" or "client_credentials".
	// Required, non-empty.
	GrantTypes []string `json:"grant-types"`
}

type grantType struct {
	grants []string
}

// NewGrantType returns the "grant-type" condition. At token events it
// matches r.GrantType ("refresh_token" is assumed at [EventRefresh] when
// GrantType is empty). At the authorization request it treats
// response_type "code" as the grant "authorization_code", since that is
// the grant the request begins. It does not react to registration.
func NewGrantType(c GrantTypeConfig) (Condition, error) {
	if len(c.GrantTypes) == 0 {
		return nil, fmt.Errorf("grant-types: at least one grant type is required")
	}
	out := &grantType{}
	for i, g := range c.GrantTypes {
		g = strings.TrimSpace(g)
		if g == "" {
			return nil, fmt.Errorf("grant-types[%d]: empty grant type", i)
		}
		if !slices.Contains(out.grants, g) {
			out.grants = append(out.grants, g)
		}
	}
	return out, nil
}

func (*grantType) Events() []Event {
	return []Event{EventAuthorizationRequest, EventTokenRequest, EventRefresh}
}

func grantOf(r *Request) string {
	switch r.Event {
	case EventAuthorizationRequest:
		if r.ResponseType == "code" {
			return "authorization_code"
		}
		return ""
	case EventRefresh:
		if r.GrantType == "" {
			return "refresh_token"
		}
	}
	return r.GrantType
}

func (c *grantType) Match(_ context.Context, r *Request) (bool, error) {
	g := grantOf(r)
	return g != "" && slices.Contains(c.grants, g), nil
}

func (c *grantType) Explain(_ context.Context, r *Request) (bool, string, error) {
	g := grantOf(r)
	switch {
	case g == "":
		return false, "the request names no grant type", nil
	case slices.Contains(c.grants, g):
		return true, fmt.Sprintf("grant type %q is listed", g), nil
	}
	return false, fmt.Sprintf("grant type %q is not listed", g), nil
}
