package bearer

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/nqrust/identity/metadata"
)

// ProtectedResourceMetadata returns the RFC 9728 document for an MCP
// server: resource is the MCP endpoint URL exactly as clients use it
// (it is served byte for byte, never re-serialised, RFC 9728 §3.3),
// authorizationServers the issuer identifiers of the authorization servers
// that issue tokens for it, scopes the scopes to advertise (not
// "offline_access"). Bearer tokens are accepted in the header only. Add
// other members (resource_name, resource_documentation…) to the returned
// value before passing it to [MetadataHandler] or
// [MountProtectedResourceMetadata].
func ProtectedResourceMetadata(resource string, authorizationServers, scopes []string) *metadata.ProtectedResource {
	return &metadata.ProtectedResource{
		Resource:               resource,
		AuthorizationServers:   slices.Clone(authorizationServers),
		ScopesSupported:        slices.Clone(scopes),
		BearerMethodsSupported: []string{"header"},
	}
}

// MetadataHandler validates doc and returns a handler serving it (JSON,
// cacheable, readable cross-origin; see [metadata.ServeJSON]). An empty
// bearer_methods_supported becomes ["header"]; any other method is refused,
// since [Middleware] rejects tokens in the query or body. doc is copied.
func MetadataHandler(doc *metadata.ProtectedResource) (http.Handler, error) {
	if doc == nil {
		return nil, errors.New("bearer: no protected resource metadata")
	}
	d := *doc
	if len(d.BearerMethodsSupported) == 0 {
		d.BearerMethodsSupported = []string{"header"}
	}
	for _, m := range d.BearerMethodsSupported {
		if m != "header" {
			return nil, fmt.Errorf("bearer: bearer_methods_supported must be [\"header\"]: the middleware refuses tokens sent by %q", m)
		}
	}
	h, err := metadata.ProtectedResourceHandler(&d)
	if err != nil {
		return nil, fmt.Errorf("bearer: protected resource metadata: %w", err)
	}
	return h, nil
}

// MountProtectedResourceMetadata serves doc on mux at the paths MCP
// clients look for it: the path-specific well-known URL of RFC 9728 §3.1
// ("/.well-known/oauth-protected-resource/mcp" for the resource
// "https://h/mcp") and the root "/.well-known/oauth-protected-resource"
// that clients try next. The root path is taken only if nothing is mounted
// there yet, so with several resources on one origin the first one mounted
// owns it.
//
// It returns the URL of the path-specific document, the value for
// [Options.ResourceMetadataURL]. It fails, mounting nothing, when doc is
// invalid (see [MetadataHandler]), when the path-specific pattern is
// already taken, or when the resource path holds characters that
// http.ServeMux patterns treat specially ('{', '}', '%'); mount
// [MetadataHandler] yourself then.
func MountProtectedResourceMetadata(mux *http.ServeMux, doc *metadata.ProtectedResource) (resourceMetadataURL string, err error) {
	if mux == nil {
		return "", errors.New("bearer: nil ServeMux")
	}
	h, err := MetadataHandler(doc)
	if err != nil {
		return "", err
	}
	u, err := metadata.ProtectedResourceMetadataURL(doc.Resource)
	if err != nil {
		return "", fmt.Errorf("bearer: %w", err)
	}
	paths, err := metadata.ProtectedResourceWellKnownPaths(doc.Resource)
	if err != nil {
		return "", fmt.Errorf("bearer: %w", err)
	}
	for _, p := range paths {
		if strings.ContainsAny(p, "{}%") {
			return "", fmt.Errorf("bearer: resource path %q cannot be a ServeMux pattern; mount MetadataHandler yourself", p)
		}
	}
	if mounted(mux, paths[0]) {
		return "", fmt.Errorf("bearer: %s is already mounted", paths[0])
	}
	// ServeMux.Handle panics on a conflicting pattern; the checks above
	// should prevent that, and this turns any we missed into an error.
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("bearer: mounting protected resource metadata: %v", r)
		}
	}()
	mux.Handle(paths[0], h)
	for _, p := range paths[1:] {
		if !mounted(mux, p) {
			mux.Handle(p, h)
		}
	}
	return u, nil
}

// mounted reports whether mux already has a pattern for exactly path.
func mounted(mux *http.ServeMux, path string) bool {
	for _, m := range []string{http.MethodGet, http.MethodOptions} {
		_, pattern := mux.Handler(&http.Request{Method: m, URL: &url.URL{Path: path}, Host: "localhost"})
		if p := pattern[strings.IndexByte(pattern, ' ')+1:]; p == path {
			return true
		}
	}
	return false
}
