package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
	"github.com/nqrust/identity/authz/consent"
	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/metadata"
)

// resourceName is the display name of the MCP server, shown on the
// consent page and in the protected resource metadata.
const resourceName = "NQRust-Identity demo MCP server"

// dcrTrustedHosts are where dynamically registered clients may point
// (redirect URIs, client_uri, logo_uri, …) and, for the loopback entries,
// who may register: this machine only. They cover the registrations of
// MCP Inspector (http://localhost:6274/oauth/callback, client_uri on
// github.com), VS Code (http://127.0.0.1:33418/, vscode.dev redirects,
// client_uri on code.visualstudio.com) and the Go SDK (loopback redirect
// URIs).
var dcrTrustedHosts = []string{
	"localhost", "127.0.0.0/8", "::1",
	"*.vscode.dev", "code.visualstudio.com",
	"github.com",
}

// server is the whole demo: the authorization server, the MCP server and
// the login pages on one origin.
type server struct {
	handler   http.Handler
	publicURL string
	mcpURL    string
	prmURL    string
	az        *authz.Server
	verifier  *bearer.Verifier
	store     *openedStore
	cfg       *config
	// cimdNote and dcrNote describe the client identification setup for
	// the start-up message.
	dcrNote  string
	cimdNote string
}

// checkPublicURL validates -public-url: the issuer, used verbatim.
func checkPublicURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("-public-url: %v", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https", u.Host == "", u.Opaque != "":
		return nil, fmt.Errorf("-public-url %q must be an absolute http or https URL", s)
	case u.User != nil, u.RawQuery != "", u.ForceQuery, u.Fragment != "", strings.ContainsAny(s, "?#"):
		return nil, fmt.Errorf("-public-url %q must not have userinfo, a query or a fragment", s)
	case strings.HasSuffix(s, "/"):
		return nil, fmt.Errorf("-public-url %q must not end with a slash (it is the issuer, used verbatim)", s)
	case u.RawPath != "" || strings.ContainsAny(u.Path, "{}"):
		return nil, fmt.Errorf("-public-url %q must not have escaped or special characters in its path", s)
	case u.Scheme == "http" && !metadata.IsLoopbackHost(u.Hostname()):
		return nil, fmt.Errorf("-public-url %q must use https (http only on a loopback host)", s)
	}
	return u, nil
}

// newServer builds the demo for cfg, served at publicURL (the issuer;
// the MCP endpoint is publicURL + "/mcp").
func newServer(ctx context.Context, cfg *config, publicURL string, log *slog.Logger) (_ *server, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	pu, err := checkPublicURL(publicURL)
	if err != nil {
		return nil, err
	}
	base := pu.Path
	s := &server{publicURL: publicURL, mcpURL: publicURL + "/mcp", cfg: cfg}

	s.store, err = openStore(ctx, cfg.store, cfg.keySecret, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.store.close()
		}
	}()

	azCfg := authz.Config{
		Issuer: publicURL,
		Store:  s.store,
		Scopes: []authz.Scope{
			{Name: scopeTools, Description: "Use the tools of the demo MCP server.", Default: true},
			{Name: scopePrompts, Description: "Use its prompts.", Default: true},
			{Name: scopeResources, Description: "Read its resources.", Default: true},
			{Name: scopeAdmin, Description: "Call administrative tools (the secret tool)."},
		},
		Resources:       resources(s.mcpURL, cfg.resources),
		DefaultResource: s.mcpURL,
		InteractionURL:  base + "/consent",
		// The server's own error pages (unknown client, unregistered
		// redirect URI, expired request) in the consent page's look.
		ErrorPage: consent.ErrorPage(nil, nil),
		Logger:    log,
	}
	if s.store.ephemeral {
		// Nothing outlives the process, so a fresh key per run is all
		// there is to it (and authz need not warn about generating one).
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		azCfg.Keys = []crypto.Signer{key}
	}
	if cfg.dcr {
		azCfg.Registration = &dcr.Config{
			Anonymous: &dcr.Policy{
				Name:                 "local-anonymous",
				TrustedHosts:         dcrTrustedHosts,
				AllowedClientScopes:  allScopes,
				DropDisallowedScopes: true,
				// Every client is registered with every scope, mcp:admin
				// included, whatever it asked for: the MCP Inspector and
				// VS Code register the scopes of the protected resource
				// metadata, and would otherwise never step up to
				// mcp:admin. The user's consent still decides what each
				// authorization grants.
				RegisterAllAllowedScopes: true,
				AllowedWebOrigins:        cfg.dcrOrigins,
			},
			// Clients that register without a scope get every scope too.
			DefaultScopes: allScopes,
			Logger:        log,
		}
		s.dcrNote = "on, for callers on this machine; redirect hosts " + strings.Join(dcrTrustedHosts, ", ")
		if len(cfg.dcrOrigins) > 0 {
			s.dcrNote += "; browser origins " + strings.Join(cfg.dcrOrigins, ", ")
		}
	} else {
		s.dcrNote = "off (-dcr=false)"
	}
	fetchClient, err := outboundClient(cfg)
	if err != nil {
		return nil, err
	}
	azCfg.HTTPClient = fetchClient
	if err := s.setupCIMD(&azCfg, fetchClient, log); err != nil {
		return nil, err
	}

	s.az, err = authz.New(azCfg)
	if err != nil {
		return nil, err
	}
	s.verifier, err = bearer.NewVerifier(bearer.Config{Issuer: publicURL, Resource: s.mcpURL, Keys: s.az, Logger: log})
	if err != nil {
		return nil, err
	}
	lg, err := newLogin(loginConfig{
		az:          s.az,
		basePath:    base,
		secure:      pu.Scheme == "https",
		user:        cfg.demoUser,
		password:    cfg.demoPassword,
		consentPath: base + "/consent",
		failureRate: cfg.loginFailureRate,
		log:         log,
	})
	if err != nil {
		return nil, err
	}
	consentPage, err := newConsent(s.az, lg, s.store, fetchClient, log)
	if err != nil {
		return nil, err
	}

	mux := http.NewServeMux()
	prm := bearer.ProtectedResourceMetadata(s.mcpURL, []string{publicURL}, basicScopes)
	prm.ResourceName = resourceName
	if s.prmURL, err = bearer.MountProtectedResourceMetadata(mux, prm); err != nil {
		return nil, err
	}

	// The SDK's DNS-rebinding guard refuses requests that arrive on a
	// loopback address with a foreign Host header. Behind a reverse proxy
	// on this machine (a public URL that is not loopback) that is every
	// request, so the guard is off there and Host is checked instead.
	loopback := metadata.IsLoopbackHost(pu.Hostname())
	mcpServer := newMCPServer(version)
	mcpHandler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return mcpServer }, &mcp.StreamableHTTPOptions{
		Stateless:                  true,
		MaxRequestBodyBytes:        maxMCPBody,
		DisableLocalhostProtection: !loopback,
		Logger:                     log,
	})
	var protected http.Handler = auth.RequireBearerToken(SDKTokenVerifier(s.verifier), nil)(mcpHandler)
	protected = bearer.Middleware(s.verifier, bearer.Options{
		ResourceMetadataURL: s.prmURL,
		ScopesFunc:          requiredScopes,
		Logger:              log,
	})(protected)
	protected = peekRPC(protected)
	if !loopback {
		protected = requireHost(pu.Host, protected)
	}
	mux.Handle(base+"/mcp", protected)
	mux.Handle(base+"/login", lg)
	mux.Handle(base+"/consent", consentPage)
	mux.HandleFunc(base+"/{$}", s.serveIndex)
	mux.Handle("/", s.az.Handler())
	s.handler = mux
	return s, nil
}

// resources are the protected resources: the demo's own MCP endpoint and
// the -resource ones (MCP servers elsewhere, such as
// examples/resource-server, trusting this issuer), each accepting every
// scope of the demo.
func resources(mcpURL string, extra []string) []authz.Resource {
	out := []authz.Resource{{Identifier: mcpURL, Name: resourceName, Scopes: allScopes}}
	for _, r := range extra {
		name := r
		if u, err := url.Parse(r); err == nil {
			name = "MCP server at " + u.Host
		}
		out = append(out, authz.Resource{Identifier: r, Name: name, Scopes: allScopes})
	}
	return out
}

// outboundClient returns the client for outbound fetches of URLs that
// clients name (metadata documents, jwks_uri, logos), or nil for the
// library's safe clients, which refuse loopback and private addresses and
// trust the system roots. -allow-private-fetch (reach this machine and the
// local network) and -cimd-ca-file (trust a development CA too) need a
// client of their own; it keeps the other protections: no redirects,
// link-local and cloud metadata addresses refused, a 5 s limit.
func outboundClient(cfg *config) (*http.Client, error) {
	if cfg.fetchClient != nil {
		return cfg.fetchClient, nil
	}
	if !cfg.allowPrivateFetch && cfg.cimdCAFile == "" {
		return nil, nil
	}
	opts := safehttp.Options{Timeout: 5 * time.Second, AllowLoopback: cfg.allowPrivateFetch, AllowPrivate: cfg.allowPrivateFetch}
	if cfg.cimdCAFile != "" {
		pemData, err := os.ReadFile(cfg.cimdCAFile)
		if err != nil {
			return nil, fmt.Errorf("-cimd-ca-file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil || pool == nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pemData) {
			return nil, fmt.Errorf("-cimd-ca-file %s holds no PEM certificate", cfg.cimdCAFile)
		}
		opts.TLSConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	sc, err := safehttp.New(opts)
	if err != nil {
		return nil, err
	}
	return sc.HTTPClient(), nil
}

// requireHost refuses requests whose Host is not the public host.
func requireHost(host string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Host, host) {
			http.Error(w, "unexpected Host header", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Close releases the store.
func (s *server) Close() error { return s.store.close() }

// purge deletes expired records now and then until ctx ends.
func (s *server) purge(ctx context.Context, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for range 100 {
			n, err := s.store.PurgeExpired(ctx, time.Now(), 1000)
			if err != nil {
				if ctx.Err() == nil {
					log.Warn("purging expired records", slog.Any("error", err))
				}
				break
			}
			if n < 1000 {
				break
			}
		}
	}
}

// serveIndex is a small page for people who open the server URL in a
// browser.
func (s *server) serveIndex(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "NQRust-Identity demo MCP server\n\nMCP endpoint (Streamable HTTP): %s\nAuthorization server (issuer):  %s\n\nVS Code .vscode/mcp.json:\n%s\n", s.mcpURL, s.publicURL, vscodeSnippet(s.mcpURL))
}
