package main

import (
	"context"
	"crypto/rand"
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
	"os"
	"slices"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/metadata"
)

// version is reported to MCP clients.
const version = "0.1.0"

// Defaults of the command line.
const (
	defaultAddr       = "127.0.0.1:8080"
	defaultDemoUser   = "demo"
	defaultDCROrigins = "http://localhost:6274"
	defaultCIMD       = "*"
)

// config is the parsed command line.
type config struct {
	addr      string
	publicURL string // empty: derived from the listening address

	demoUser          string
	demoPassword      string
	passwordGenerated bool

	store     string
	keySecret string

	// resources are extra resource identifiers (-resource), besides
	// <public-url>/mcp, that the authorization server issues tokens for.
	resources []string

	dcr               bool
	dcrOrigins        []string
	cimdDomains       []string
	cimdAllowHTTP     bool
	allowPrivateFetch bool
	// cimdCAFile is a PEM bundle of extra CAs trusted by outbound fetches
	// of client-named URLs (-cimd-ca-file).
	cimdCAFile string

	// loginFailureRate is the sustained rate of failed sign-ins allowed
	// (burst 5); zero means one per second. Tests lower it.
	loginFailureRate rate.Limit
	// fetchClient, when set, makes every outbound fetch of a URL a client
	// names (metadata documents, jwks_uri, logos). Tests set it to trust
	// their TLS servers; nil means the library's safe clients.
	fetchClient *http.Client
}

// parseConfig reads the command line; getenv supplies the NQ_*
// environment variables (flags win over them).
func parseConfig(args []string, getenv func(string) string, out io.Writer) (*config, error) {
	c := &config{}
	fs := flag.NewFlagSet("mcpserver", flag.ContinueOnError)
	fs.SetOutput(out)
	var dcrOrigins, cimdDomains string
	fs.StringVar(&c.addr, "addr", defaultAddr, "listen address (host:port; port 0 picks a free port)")
	fs.StringVar(&c.publicURL, "public-url", "", "public base URL: the issuer, used verbatim; the MCP endpoint is <public-url>/mcp (default \"http://\" + addr)")
	fs.StringVar(&c.demoUser, "demo-user", "", "demo user name (env NQ_DEMO_USER; default \"demo\")")
	fs.StringVar(&c.demoPassword, "demo-password", "", "demo password (env NQ_DEMO_PASSWORD; default: random, printed at start)")
	fs.StringVar(&c.store, "store", "memory", "storage: memory, sqlite:FILE or postgres:DSN")
	fs.StringVar(&c.keySecret, "key-secret", "", "secret encrypting signing keys in a sqlite or postgres store, hex or base64, ≥ 32 bytes (env NQ_KEY_SECRET; sqlite default: FILE.key-secret, created on first start)")
	fs.BoolVar(&c.dcr, "dcr", true, "allow dynamic client registration (RFC 7591)")
	fs.StringVar(&dcrOrigins, "dcr-origins", defaultDCROrigins, "browser origins allowed to register clients, comma-separated (MCP Inspector: http://localhost:6274)")
	fs.StringVar(&cimdDomains, "cimd-domains", defaultCIMD, "trusted domains of client ID metadata documents, comma-separated (\"*\": any https host; \"*.example.org\": the domain and its subdomains; \"\": none)")
	fs.BoolVar(&c.cimdAllowHTTP, "cimd-allow-http", false, "accept http client ID metadata document URLs (development only)")
	fs.BoolVar(&c.allowPrivateFetch, "allow-private-fetch", false, "let outbound fetches of client-named URLs (metadata documents, jwks_uri, logos) reach loopback and private addresses (development only)")
	fs.StringVar(&c.cimdCAFile, "cimd-ca-file", "", "PEM file of CA certificates trusted, besides the system roots, by outbound fetches of client-named URLs (metadata documents, jwks_uri, logos); for development and testing")
	fs.Func("resource", "another resource (an MCP server on another origin, absolute URL) the authorization server issues tokens for, besides <public-url>/mcp; repeatable", func(v string) error {
		if err := checkResource(v); err != nil {
			return err
		}
		if slices.Contains(c.resources, v) {
			return fmt.Errorf("%q is given twice", v)
		}
		c.resources = append(c.resources, v)
		return nil
	})
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if !set["demo-user"] {
		c.demoUser = getenv("NQ_DEMO_USER")
		if c.demoUser == "" {
			c.demoUser = defaultDemoUser
		}
	}
	if !set["demo-password"] {
		c.demoPassword = getenv("NQ_DEMO_PASSWORD")
	}
	if !set["key-secret"] {
		c.keySecret = getenv("NQ_KEY_SECRET")
	}
	if c.demoUser == "" {
		return nil, errors.New("-demo-user must not be empty")
	}
	if c.demoPassword == "" {
		if set["demo-password"] {
			return nil, errors.New("-demo-password must not be empty")
		}
		c.demoPassword = randomPassword()
		c.passwordGenerated = true
	}
	c.dcrOrigins = splitList(dcrOrigins)
	c.cimdDomains = splitList(cimdDomains)
	return c, nil
}

// checkResource validates a -resource value: the token audience, used
// verbatim, so an absolute https URL (http only on a loopback host) with a
// host, and without userinfo or fragment.
func checkResource(v string) error {
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return err
	case u.Scheme != "https" && u.Scheme != "http", u.Host == "", u.Opaque != "":
		return fmt.Errorf("%q must be an absolute http or https URL", v)
	case u.User != nil, u.Fragment != "", strings.Contains(v, "#"):
		return fmt.Errorf("%q must not have userinfo or a fragment", v)
	case u.Scheme == "http" && !metadata.IsLoopbackHost(u.Hostname()):
		return fmt.Errorf("%q must use https (http only on a loopback host)", v)
	}
	return nil
}

// splitList splits a comma-separated flag value, dropping blanks.
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// randomPassword returns 16 characters from an alphabet without look-alike
// characters (about 80 bits).
func randomPassword() string {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	var b [16]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)] // 256 % 56 bias is irrelevant for a demo password
	}
	return string(b[:])
}

// defaultPublicURL is "http://" + the listening address, with the host as
// given in -addr (an unspecified host such as 0.0.0.0 becomes 127.0.0.1)
// and the port actually bound (so that -addr 127.0.0.1:0 works).
func defaultPublicURL(addr string, bound net.Addr) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = ""
	}
	if a, err := netip.ParseAddr(host); host == "" || err == nil && a.IsUnspecified() {
		host = "127.0.0.1"
	}
	port := ""
	if ta, ok := bound.(*net.TCPAddr); ok {
		port = fmt.Sprint(ta.Port)
	} else if _, p, err := net.SplitHostPort(bound.String()); err == nil {
		port = p
	}
	return "http://" + net.JoinHostPort(host, port)
}

// vscodeSnippet is the .vscode/mcp.json content for the MCP URL.
func vscodeSnippet(mcpURL string) string {
	u, _ := json.Marshal(mcpURL)
	return `{"servers":{"nqrust":{"type":"http","url":` + string(u) + `}}}`
}

// run is the whole program: it parses args, starts the server, prints the
// start-up message to stdout and serves until ctx ends, then shuts down
// gracefully.
func run(ctx context.Context, args []string, stdout io.Writer) error {
	cfg, err := parseConfig(args, os.Getenv, stdout)
	if err != nil {
		return err
	}
	log := slog.New(slog.NewTextHandler(stdout, &slog.HandlerOptions{Level: slog.LevelInfo}))

	ln, err := net.Listen("tcp", cfg.addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	publicURL := cfg.publicURL
	if publicURL == "" {
		publicURL = defaultPublicURL(cfg.addr, ln.Addr())
	}
	s, err := newServer(ctx, cfg, publicURL, log)
	if err != nil {
		return err
	}
	defer s.Close()

	hs := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	purgeCtx, stopPurge := context.WithCancel(ctx)
	defer stopPurge()
	go s.purge(purgeCtx, 5*time.Minute, log)

	s.printStartup(stdout, ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fmt.Fprintln(stdout, "Shutting down…")
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

// printStartup writes the start-up message; its last line says the
// server is listening.
func (s *server) printStartup(w io.Writer, bound net.Addr) {
	c := s.cfg
	pw := c.demoPassword
	pwNote := "set with -demo-password or NQ_DEMO_PASSWORD"
	if c.passwordGenerated {
		pwNote = "random for this run; set -demo-password or NQ_DEMO_PASSWORD to choose one"
	}
	fmt.Fprintf(w, `NQRust-Identity demo MCP server %s

  MCP endpoint:   %s
  Issuer:         %s
  Demo user:      %s
  Demo password:  %s   (%s)
  Tools:          %s%s
  Store:          %s
  Registration:   %s
  Metadata docs:  %s

VS Code: put this in .vscode/mcp.json, then start the "nqrust" server:
  %s

MCP Inspector: run
  npx @modelcontextprotocol/inspector
then choose Transport Type "Streamable HTTP", enter the URL %s and Connect.
Its registration origin http://localhost:6274 is allowed by default (-dcr-origins).
Calling the secret tool asks once more for consent, to mcp:admin (step-up).

Listening on %s (press Ctrl+C to stop)
`, version, s.mcpURL, s.publicURL, c.demoUser, pw, pwNote, describeTools(), s.resourcesLine(), s.store.describe, s.dcrNote, s.cimdNote,
		vscodeSnippet(s.mcpURL), s.mcpURL, bound)
}

// resourcesLine is the start-up line for -resource, if any.
func (s *server) resourcesLine() string {
	if len(s.cfg.resources) == 0 {
		return ""
	}
	return "\n  Resources:      " + strings.Join(s.cfg.resources, ", ") + " too (-resource)"
}
