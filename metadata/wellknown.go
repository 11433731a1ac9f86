package metadata

import (
	"errors"
	"net/url"
	"strings"
)

// Well-known URI suffixes (RFC 8615) for the documents of this package.
const (
	// WellKnownAuthorizationServer is RFC 8414 §3's suffix.
	WellKnownAuthorizationServer = "/.well-known/oauth-authorization-server"
	// WellKnownOpenIDConfiguration is OpenID Connect Discovery 1.0 §4's suffix.
	WellKnownOpenIDConfiguration = "/.well-known/openid-configuration"
	// WellKnownProtectedResource is RFC 9728 §3's suffix.
	WellKnownProtectedResource = "/.well-known/oauth-protected-resource"
)

// MCP specification revisions whose discovery behaviour
// [AuthorizationServerProbeURLs] reproduces.
const (
	MCPRevision20250326 = "2025-03-26"
	MCPRevision20250618 = "2025-06-18"
	MCPRevision20251125 = "2025-11-25"
	MCPRevision20260728 = "2026-07-28"
)

// ErrInvalidURL is wrapped by the errors of the well-known URL helpers.
var ErrInvalidURL = errors.New("metadata: invalid URL")

type urlErr struct{ what, msg string }

func (e *urlErr) Error() string { return "metadata: invalid " + e.what + ": " + e.msg }
func (e *urlErr) Unwrap() error { return ErrInvalidURL }

// splitBase checks that raw is an absolute http or https URL with a host,
// no userinfo and no fragment (and no query unless allowQuery), and splits
// it into origin ("https://host:port"), path and query (with its "?"),
// keeping the caller's spelling: well-known URLs are built by inserting a
// segment, never by re-serialising the identifier (RFC 8414 §3.3 and
// RFC 9728 §3.3 compare the values byte for byte).
func splitBase(raw, what string, allowQuery bool) (origin, path, query string, err error) {
	if raw == "" {
		return "", "", "", &urlErr{what, "empty"}
	}
	if len(raw) > MaxURILength {
		return "", "", "", &urlErr{what, "too long"}
	}
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if c <= 0x20 || c == 0x7f || c >= 0x80 || c == '\\' {
			return "", "", "", &urlErr{what, "contains a character that must be percent-encoded"}
		}
	}
	if strings.IndexByte(raw, '#') >= 0 {
		return "", "", "", &urlErr{what, "has a fragment"}
	}
	u, perr := url.Parse(raw)
	if perr != nil {
		return "", "", "", &urlErr{what, "not a URL"}
	}
	if !strings.HasPrefix(raw, "https://") && !strings.HasPrefix(raw, "http://") {
		return "", "", "", &urlErr{what, `scheme must be "https" (or "http"), in lower case`}
	}
	if u.User != nil {
		return "", "", "", &urlErr{what, "has userinfo"}
	}
	if u.Host == "" || u.Hostname() == "" {
		return "", "", "", &urlErr{what, "has no host"}
	}
	if !allowQuery && strings.IndexByte(raw, '?') >= 0 {
		return "", "", "", &urlErr{what, "has a query"}
	}
	scheme, rest, _ := strings.Cut(raw, "://")
	authority, tail := splitAuthority(rest)
	origin = scheme + "://" + authority
	path, query = tail, ""
	if i := strings.IndexByte(tail, '?'); i >= 0 {
		path, query = tail[:i], tail[i:]
	}
	return origin, path, query, nil
}

// AuthorizationServerMetadataURL returns the RFC 8414 metadata URL of an
// issuer: "/.well-known/oauth-authorization-server" inserted between the
// host and the path, after one trailing "/" is removed from the path
// (RFC 8414 §3.1). "https://h/t1" gives
// "https://h/.well-known/oauth-authorization-server/t1"; "https://h" and
// "https://h/" give "https://h/.well-known/oauth-authorization-server".
//
// The issuer must be an http(s) URL with no query, fragment or userinfo;
// errors wrap [ErrInvalidURL]. Whether http is acceptable is for
// [AuthorizationServer.Validate] to decide.
func AuthorizationServerMetadataURL(issuer string) (string, error) {
	origin, path, _, err := splitBase(issuer, "issuer", false)
	if err != nil {
		return "", err
	}
	return origin + WellKnownAuthorizationServer + strings.TrimSuffix(path, "/"), nil
}

// OpenIDConfigurationURLs returns the OpenID Connect discovery URLs of an
// issuer in the order MCP clients (2025-11-25 and later) try them: for an
// issuer with a path, the path-inserted form
// ("https://h/.well-known/openid-configuration/t1", RFC 8414 §5) and then
// the path-appended form of OpenID Connect Discovery 1.0 §4
// ("https://h/t1/.well-known/openid-configuration"); for an issuer without
// a path, the single URL "https://h/.well-known/openid-configuration".
// One trailing "/" is removed from the path first. Errors wrap
// [ErrInvalidURL].
func OpenIDConfigurationURLs(issuer string) ([]string, error) {
	origin, path, _, err := splitBase(issuer, "issuer", false)
	if err != nil {
		return nil, err
	}
	path = strings.TrimSuffix(path, "/")
	if path == "" {
		return []string{origin + WellKnownOpenIDConfiguration}, nil
	}
	return []string{
		origin + WellKnownOpenIDConfiguration + path,
		origin + path + WellKnownOpenIDConfiguration,
	}, nil
}

// ProtectedResourceMetadataURL returns the RFC 9728 metadata URL of a
// protected resource: "/.well-known/oauth-protected-resource" inserted
// between the host and the path and query, after one trailing "/" is
// removed from the path (RFC 9728 §3.1). "https://h/mcp" gives
// "https://h/.well-known/oauth-protected-resource/mcp". The resource must
// be an http(s) URL without fragment or userinfo; errors wrap
// [ErrInvalidURL].
//
// Serve the document at this URL and name it in the resource_metadata
// parameter of the 401 challenge; the document's "resource" must be the
// resource string passed here, byte for byte (RFC 9728 §3.3).
func ProtectedResourceMetadataURL(resource string) (string, error) {
	origin, path, query, err := splitBase(resource, "resource", true)
	if err != nil {
		return "", err
	}
	return origin + WellKnownProtectedResource + strings.TrimSuffix(path, "/") + query, nil
}

// ProtectedResourceMetadataRootURL returns
// "{origin}/.well-known/oauth-protected-resource", the URL MCP clients
// (2025-11-25 and later) try when the path-specific one fails. Serving the
// document there too helps clients only when the origin hosts a single
// protected resource. Errors wrap [ErrInvalidURL].
func ProtectedResourceMetadataRootURL(resource string) (string, error) {
	origin, _, _, err := splitBase(resource, "resource", true)
	if err != nil {
		return "", err
	}
	return origin + WellKnownProtectedResource, nil
}

// AuthorizationServerProbeURLs lists, in order, every URL an MCP client
// implementing the given specification revision fetches to discover the
// authorization server identified by issuer; an unknown revision or an
// invalid issuer gives nil.
//
//   - 2025-03-26: the "authorization base URL" is the origin (the MCP server
//     URL with its path dropped): "{origin}/.well-known/oauth-authorization-server",
//     and when that is missing the default endpoints "{origin}/authorize",
//     "{origin}/token" and "{origin}/register".
//   - 2025-06-18: the RFC 8414 URL only (see [AuthorizationServerMetadataURL]).
//   - 2025-11-25 and 2026-07-28: for an issuer with a path, the RFC 8414 URL,
//     then the path-inserted and the path-appended OpenID Connect URLs; for
//     an issuer without a path, the RFC 8414 URL then the OpenID Connect URL.
//
// A server that wants every revision to succeed serves the metadata at each
// of these URLs (see [AuthorizationServerWellKnownPaths]).
func AuthorizationServerProbeURLs(issuer, revision string) []string {
	origin, _, _, err := splitBase(issuer, "issuer", false)
	if err != nil {
		return nil
	}
	switch revision {
	case MCPRevision20250326:
		return []string{
			origin + WellKnownAuthorizationServer,
			origin + "/authorize",
			origin + "/token",
			origin + "/register",
		}
	case MCPRevision20250618:
		u, _ := AuthorizationServerMetadataURL(issuer)
		return []string{u}
	case MCPRevision20251125, MCPRevision20260728:
		u, _ := AuthorizationServerMetadataURL(issuer)
		oidc, _ := OpenIDConfigurationURLs(issuer)
		return append([]string{u}, oidc...)
	}
	return nil
}

// WellKnownPaths are the URL paths at which an authorization server's
// metadata is served, ready to prefix with a method for [net/http.ServeMux]
// ("GET " + p). Paths are in the escaped form used in the issuer.
type WellKnownPaths struct {
	// AuthorizationServer is the RFC 8414 path, e.g.
	// "/.well-known/oauth-authorization-server/t1". Serve the RFC 8414
	// document here.
	AuthorizationServer string
	// OpenIDConfiguration holds the OpenID Connect discovery paths: the
	// path-inserted then the path-appended form for an issuer with a path,
	// one path otherwise. Serve an OpenID-complete document here (see
	// [AuthorizationServer.ValidateOpenID]), or nothing.
	OpenIDConfiguration []string
	// Legacy is "/.well-known/oauth-authorization-server" when the issuer has
	// a path, otherwise empty. 2025-03-26 clients drop the MCP server's path
	// and look here; serving the metadata here helps them only when the
	// authorization server shares the MCP server's origin.
	Legacy string
}

// AuthorizationServerWellKnownPaths returns the paths at which to mount the
// metadata of issuer so that MCP clients of every revision find it.
// Errors wrap [ErrInvalidURL].
func AuthorizationServerWellKnownPaths(issuer string) (WellKnownPaths, error) {
	_, path, _, err := splitBase(issuer, "issuer", false)
	if err != nil {
		return WellKnownPaths{}, err
	}
	path = strings.TrimSuffix(path, "/")
	p := WellKnownPaths{AuthorizationServer: WellKnownAuthorizationServer + path}
	if path == "" {
		p.OpenIDConfiguration = []string{WellKnownOpenIDConfiguration}
	} else {
		p.OpenIDConfiguration = []string{WellKnownOpenIDConfiguration + path, path + WellKnownOpenIDConfiguration}
		p.Legacy = WellKnownAuthorizationServer
	}
	return p, nil
}

// ProtectedResourceWellKnownPaths returns the paths at which to mount the
// protected resource metadata of resource: the path-specific RFC 9728 path
// first and, when different, the root path
// "/.well-known/oauth-protected-resource" that MCP clients try next. A query
// in the resource is not part of the paths. Errors wrap [ErrInvalidURL].
func ProtectedResourceWellKnownPaths(resource string) ([]string, error) {
	_, path, _, err := splitBase(resource, "resource", true)
	if err != nil {
		return nil, err
	}
	path = strings.TrimSuffix(path, "/")
	if path == "" {
		return []string{WellKnownProtectedResource}, nil
	}
	return []string{WellKnownProtectedResource + path, WellKnownProtectedResource}, nil
}
