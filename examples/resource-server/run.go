package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/nqrust/identity/metadata"
)

// config is the parsed command line.
type config struct {
	addr     string
	issuer   string
	resource string // empty: derived from the listening address
	jwksURL  string // empty: discovered from the issuer's metadata
	scopes   []string
}

func parseConfig(args []string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("resource-server", flag.ContinueOnError)
	fs.SetOutput(out)
	var scopes string
	fs.StringVar(&c.addr, "addr", "127.0.0.1:8090", "listen address (host:port; port 0 picks a free port)")
	fs.StringVar(&c.issuer, "issuer", "", "issuer identifier of the authorization server (required)")
	fs.StringVar(&c.resource, "resource", "", "this MCP server's URL, the audience of its tokens (default \"http://\" + addr + \"/mcp\")")
	fs.StringVar(&c.jwksURL, "jwks-url", "", "the issuer's jwks_uri (default: from the issuer's RFC 8414 metadata)")
	fs.StringVar(&scopes, "scopes", "mcp:tools", "scopes every request needs, comma-separated")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	if c.issuer == "" {
		return nil, errors.New("-issuer is required")
	}
	for _, s := range strings.Split(scopes, ",") {
		if s = strings.TrimSpace(s); s != "" {
			c.scopes = append(c.scopes, s)
		}
	}
	return c, nil
}

// defaultResource is "http://" + the bound address + "/mcp", with an
// unspecified host (0.0.0.0, ::) shown as 127.0.0.1.
func defaultResource(bound net.Addr) string {
	ap, err := netip.ParseAddrPort(bound.String())
	if err != nil {
		return "http://" + bound.String() + "/mcp"
	}
	host := ap.Addr().Unmap()
	if host.IsUnspecified() {
		host = netip.MustParseAddr("127.0.0.1")
	}
	return "http://" + netip.AddrPortFrom(host, ap.Port()).String() + "/mcp"
}

// discoverJWKS reads the issuer's RFC 8414 metadata and returns its
// jwks_uri, after checking that the document is the issuer's own.
func discoverJWKS(ctx context.Context, hc *http.Client, issuer string) (string, error) {
	u, err := metadata.AuthorizationServerMetadataURL(issuer)
	if err != nil {
		return "", fmt.Errorf("-issuer: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", fmt.Errorf("fetching the issuer's metadata: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("fetching the issuer's metadata %s: status %d", u, resp.StatusCode)
	}
	var doc metadata.AuthorizationServer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<10)).Decode(&doc); err != nil {
		return "", fmt.Errorf("reading the issuer's metadata: %w", err)
	}
	// RFC 8414 §3.3: a document naming another issuer must not be used.
	if doc.Issuer != issuer {
		return "", fmt.Errorf("the metadata at %s names issuer %q, not %q", u, doc.Issuer, issuer)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("the issuer's metadata has no jwks_uri; pass -jwks-url")
	}
	return doc.JWKSURI, nil
}

// run is the whole program: it parses args, discovers the issuer's keys
// URL, serves until ctx ends, then shuts down gracefully. The start-up
// message goes to stdout; its last line says the server is listening.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseConfig(args, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	if cfg.resource == "" {
		cfg.resource = defaultResource(ln.Addr())
	}
	// Outbound calls go to the issuer only (metadata, then the JWKS, which
	// package bearer fetches without following redirects).
	hc := &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	if cfg.jwksURL == "" {
		if cfg.jwksURL, err = discoverJWKS(ctx, hc, cfg.issuer); err != nil {
			return err
		}
	}
	h, err := newHandler(cfg, hc, log)
	if err != nil {
		return err
	}
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	fmt.Fprintf(stdout, `NQRust-Identity example resource server

  MCP endpoint:  %s
  Issuer:        %s
  JWKS:          %s
  Scopes:        %s

Listening on %s (press Ctrl+C to stop)
`, cfg.resource, cfg.issuer, cfg.jwksURL, strings.Join(cfg.scopes, " "), ln.Addr())

	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := hs.Shutdown(shutCtx); err != nil {
		hs.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// resourcePath returns the path of the resource URL, where the MCP
// endpoint is mounted.
func resourcePath(resource string) (string, *url.URL, error) {
	u, err := url.Parse(resource)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", nil, fmt.Errorf("-resource %q must be an absolute http(s) URL without query or fragment", resource)
	}
	if u.Scheme == "http" && !metadata.IsLoopbackHost(u.Hostname()) {
		return "", nil, fmt.Errorf("-resource %q must use https (http only on a loopback host)", resource)
	}
	p := u.Path
	if p == "" {
		p = "/"
	}
	return p, u, nil
}
