package dcr

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/nqrust/identity/internal/hostmatch"
	"github.com/nqrust/identity/metadata"
)

// compiledPolicy is a validated Policy with its lists compiled once.
type compiledPolicy struct {
	name string

	checkCaller     bool
	checkURIs       bool
	anyCaller       bool
	loopbackCallers bool
	prefixes        []netip.Prefix
	hosts           *hostmatch.Matcher

	// allowedScopes is nil when the policy does not restrict scope.
	allowedScopes map[string]struct{}
	allowedList   []string
	dropScopes    bool
	registerAll   bool
	allowCC       bool

	anyOrigin bool
	origins   map[string]struct{}

	limiter *limiterSet
}

func compilePolicy(p *Policy, s *settings, addrs int) (*compiledPolicy, error) {
	if strings.TrimSpace(p.Name) == "" {
		return nil, errors.New("Policy.Name is required")
	}
	cp := &compiledPolicy{
		name:        p.Name,
		checkCaller: !p.SkipCallerCheck,
		checkURIs:   !p.SkipURIHostCheck,
		dropScopes:  p.DropDisallowedScopes,
		registerAll: p.RegisterAllAllowedScopes,
		allowCC:     p.AllowClientCredentials,
	}
	var patterns []string
	for _, e := range p.TrustedHosts {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if e == "*" {
			cp.anyCaller = true
			patterns = append(patterns, e)
			continue
		}
		ip := strings.TrimSuffix(strings.TrimPrefix(e, "["), "]")
		if a, err := netip.ParseAddr(ip); err == nil && a.Zone() == "" {
			a = a.Unmap()
			cp.prefixes = append(cp.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		if pf, err := netip.ParsePrefix(e); err == nil {
			if pf.Addr().Is4In6() || pf.Addr().Zone() != "" {
				return nil, fmt.Errorf("policy %q: TrustedHosts: write %q as a plain IPv4 or IPv6 range", p.Name, e)
			}
			cp.prefixes = append(cp.prefixes, pf.Masked())
			continue
		}
		patterns = append(patterns, e)
	}
	m, err := hostmatch.Compile(patterns)
	if err != nil {
		return nil, fmt.Errorf("policy %q: TrustedHosts: %w", p.Name, err)
	}
	cp.hosts = m
	cp.loopbackCallers = m.Match("localhost")

	if cp.checkCaller && !cp.anyCaller && !cp.loopbackCallers && len(cp.prefixes) == 0 {
		return nil, fmt.Errorf("policy %q: the caller check needs an IP address, CIDR range, \"localhost\" or \"*\" in TrustedHosts (host names are not resolved); list one or set SkipCallerCheck", p.Name)
	}
	if cp.checkURIs && m.Empty() && len(cp.prefixes) == 0 {
		return nil, fmt.Errorf("policy %q: the URI host check needs host patterns in TrustedHosts; list the hosts clients may redirect to or set SkipURIHostCheck", p.Name)
	}

	if len(p.AllowedClientScopes) > 0 {
		cp.allowedScopes = make(map[string]struct{}, len(p.AllowedClientScopes))
		for _, sc := range p.AllowedClientScopes {
			if !validScopeToken(sc) {
				return nil, fmt.Errorf("policy %q: AllowedClientScopes: %q is not a valid scope", p.Name, sc)
			}
			if s.supportedScopes != nil {
				if _, ok := s.supportedScopes[sc]; !ok {
					return nil, fmt.Errorf("policy %q: AllowedClientScopes: %q is not in Config.SupportedScopes", p.Name, sc)
				}
			}
			if _, dup := cp.allowedScopes[sc]; !dup {
				cp.allowedScopes[sc] = struct{}{}
				cp.allowedList = append(cp.allowedList, sc)
			}
		}
	}

	if cp.registerAll && cp.allowedScopes == nil {
		return nil, fmt.Errorf("policy %q: RegisterAllAllowedScopes needs AllowedClientScopes (the scopes to register)", p.Name)
	}

	for _, o := range p.AllowedWebOrigins {
		if o == "*" {
			cp.anyOrigin = true
			continue
		}
		if err := checkOrigin(o); err != nil {
			return nil, fmt.Errorf("policy %q: AllowedWebOrigins: %w", p.Name, err)
		}
		if cp.origins == nil {
			cp.origins = map[string]struct{}{}
		}
		cp.origins[o] = struct{}{}
	}

	if p.RateLimit < 0 || p.RateBurst < 0 {
		return nil, fmt.Errorf("policy %q: RateLimit and RateBurst must not be negative", p.Name)
	}
	limit, burst := p.RateLimit, p.RateBurst
	if limit == 0 {
		limit = DefaultRateLimit
	}
	if burst == 0 {
		burst = DefaultRateBurst
	}
	cp.limiter = newLimiterSet(limit, burst, addrs)
	return cp, nil
}

// checkOrigin checks that o is a serialised origin as browsers send it:
// scheme "://" host [":" port], lower case, nothing else.
func checkOrigin(o string) error {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.User != nil || u.Path != "" || u.RawQuery != "" || u.Fragment != "" ||
		strings.ContainsAny(o, "?#") || o != strings.ToLower(o) {
		return fmt.Errorf("%q is not an origin such as \"http://localhost:6274\" (scheme://host[:port], lower case, no path or trailing slash)", o)
	}
	return nil
}

// originAllowed reports whether the policy lets a browser at origin call.
func (p *compiledPolicy) originAllowed(origin string) bool {
	if p == nil {
		return false
	}
	if p.anyOrigin {
		return true
	}
	_, ok := p.origins[origin]
	return ok
}

// callerTrusted reports whether the caller address passes the policy.
func (p *compiledPolicy) callerTrusted(a netip.Addr) bool {
	if !p.checkCaller || p.anyCaller {
		return true
	}
	if !a.IsValid() {
		return false
	}
	if p.loopbackCallers && a.IsLoopback() {
		return true
	}
	for _, pf := range p.prefixes {
		if pf.Contains(a) {
			return true
		}
	}
	return false
}

// uriHostTrusted reports whether a validated absolute URI's host passes
// the policy, and the host for the error message.
func (p *compiledPolicy) uriHostTrusted(raw string) (string, bool) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", false
	}
	host := u.Hostname()
	if host == "" {
		return "", false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		a = a.Unmap()
		for _, pf := range p.prefixes {
			if pf.Contains(a) {
				return host, true
			}
		}
	}
	return host, p.hosts.Match(host)
}

// checkURIs applies the URI host check to every URI-valued member.
func (p *compiledPolicy) checkClientURIs(c *metadata.Client) *regError {
	if !p.checkURIs {
		return nil
	}
	check := func(field, v string, code string) *regError {
		if v == "" {
			return nil
		}
		host, ok := p.uriHostTrusted(v)
		if ok {
			return nil
		}
		if host == "" {
			return policyErr(p, code, "%s %s has no host to match against the trusted hosts", field, quote(v))
		}
		return policyErr(p, code, "%s %s: host %s is not a trusted host", field, quote(v), quote(host))
	}
	for _, u := range c.RedirectURIs {
		if e := check("redirect URI", u, codeInvalidRedirectURI); e != nil {
			return e
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if e := check("post_logout_redirect_uris entry", u, codeInvalidClientMetadata); e != nil {
			return e
		}
	}
	for _, m := range []struct{ field, value string }{
		{"client_uri", c.ClientURI},
		{"logo_uri", c.LogoURI},
		{"tos_uri", c.TOSURI},
		{"policy_uri", c.PolicyURI},
		{"jwks_uri", c.JWKSURI},
	} {
		if e := check(m.field, m.value, codeInvalidClientMetadata); e != nil {
			return e
		}
	}
	return nil
}

// resolveScopes computes the scope to register from the requested scope
// string: split on any white space, duplicates and empty names dropped,
// each name checked against the server's supported scopes and the policy's
// allowed scopes (refused, or dropped when the policy says so). When
// nothing is left, the client gets the default scopes the policy allows,
// and, if none of those, the policy's own list. A policy with
// RegisterAllAllowedScopes registers its whole list once the request
// passed those checks (its list is within the supported scopes: New
// checks that).
func (s *settings) resolveScopes(p *compiledPolicy, requested string) ([]string, *regError) {
	var out []string
	for _, sc := range strings.Fields(requested) {
		if slices.Contains(out, sc) {
			continue
		}
		if !validScopeToken(sc) {
			return nil, policyErr(nil, codeInvalidClientMetadata, "scope %s has a character RFC 6749 section 3.3 does not allow", quote(sc))
		}
		if s.supportedScopes != nil {
			if _, ok := s.supportedScopes[sc]; !ok {
				if p.dropScopes {
					continue
				}
				return nil, policyErr(p, codeInvalidClientMetadata, "scope %s is not supported by this server", quote(sc))
			}
		}
		if p.allowedScopes != nil {
			if _, ok := p.allowedScopes[sc]; !ok {
				if p.dropScopes {
					continue
				}
				return nil, policyErr(p, codeInvalidClientMetadata, "scope %s is not an allowed client scope", quote(sc))
			}
		}
		out = append(out, sc)
	}
	if p.registerAll {
		return slices.Clone(p.allowedList), nil
	}
	if len(out) > 0 {
		return out, nil
	}
	for _, sc := range s.defaultScopes {
		if p.allowedScopes != nil {
			if _, ok := p.allowedScopes[sc]; !ok {
				continue
			}
		}
		out = append(out, sc)
	}
	if len(out) == 0 && p.allowedScopes != nil {
		// A restricting policy must not leave the client with an empty,
		// and so unrestricted, scope.
		out = slices.Clone(p.allowedList)
	}
	return out, nil
}
