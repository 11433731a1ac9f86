package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

const redirectURI = "http://127.0.0.1:47013/callback"

// proxy is the load balancer in front of the two processes: the MCP
// endpoint and its protected resource metadata go to the resource
// server, everything else to the authorization server. It keeps the Host
// header, as a load balancer does.
type proxy struct {
	as, rs atomic.Pointer[url.URL]
	jwks   atomic.Int32 // JWKS requests passed to the authorization server
}

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	toRS := r.URL.Path == "/mcp" || strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource")
	target := p.as.Load()
	if toRS {
		target = p.rs.Load()
	}
	if target == nil {
		http.Error(w, "backend not ready", http.StatusBadGateway)
		return
	}
	if r.URL.Path == "/jwks" {
		p.jwks.Add(1)
	}
	(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}).ServeHTTP(w, r)
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestWithExampleAuthorizationServer runs the example MCP server
// (examples/mcpserver) as the authorization server in its own process and
// this resource server in another, behind one proxy that gives both a
// single public origin. The MCP Go SDK client finds its way from the
// resource server's 401 to the authorization server, signs in, and its
// tools/call is answered by the resource server, which verified the token
// with keys fetched from the authorization server's JWKS.
//
// The same token is then refused by resource servers configured for
// another resource (audience), another issuer, or a scope the token lacks.
func TestWithExampleAuthorizationServer(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	px := &proxy{}
	front := &http.Server{Handler: px, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = front.Serve(ln) }()
	t.Cleanup(func() { front.Close() })
	public := "http://" + ln.Addr().String()
	resource := public + "/mcp"

	as := interoptest.StartMCPServer(t, mcpserverBin, nil, "-public-url", public)
	if as.Issuer != public {
		t.Fatalf("issuer %q, want %q", as.Issuer, public)
	}
	px.as.Store(mustURL(t, "http://"+as.Addr))

	// The resource server discovers the JWKS through the proxy.
	s := startRS(t, "-issuer", public, "-resource", resource)
	px.rs.Store(mustURL(t, "http://"+s.addr))
	if want := "JWKS:          " + public + "/jwks"; !strings.Contains(s.output(), want) {
		t.Errorf("start-up output lacks %q:\n%s", want, s.output())
	}

	ctx := interoptest.Context(t, 30*time.Second)
	rec := &interoptest.Recorder{}
	hc := &http.Client{Transport: rec}
	b := interoptest.NewBrowser(interoptest.StopAtPrefix(redirectURI))
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName:              "resource server test",
			RedirectURIs:            []string{redirectURI},
			TokenEndpointAuthMethod: "none",
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
		}},
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc, err := b.Authorize(ctx, args.URL)
			if err != nil {
				return nil, err
			}
			q := loc.Query()
			return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
		},
		Client: hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "rs-test", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: resource, HTTPClient: hc, OAuthHandler: handler, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil || res.IsError {
		t.Fatalf("tools/call whoami: %v %+v", err, res)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var who whoamiOutput
	if err := json.Unmarshal(raw, &who); err != nil {
		t.Fatal(err)
	}
	// Only this server's whoami reports audience and issuer: the call was
	// served here, not by the demo's own MCP endpoint.
	if who.Subject != interoptest.User || who.Issuer != public || !slices.Equal(who.Audience, []string{resource}) || !slices.Contains(who.Scopes, "mcp:tools") {
		t.Errorf("whoami = %+v", who)
	}
	if px.jwks.Load() == 0 {
		t.Error("the resource server never fetched the authorization server's JWKS")
	}
	// The client learned where to sign in from this server's metadata.
	if x := rec.Find(http.MethodGet, public+"/.well-known/oauth-protected-resource/mcp"); x == nil || x.Status != http.StatusOK {
		t.Errorf("no protected resource metadata fetched: %+v", rec.Exchanges())
	}

	ts, err := handler.TokenSource(ctx)
	if err != nil || ts == nil {
		t.Fatalf("TokenSource: %v", err)
	}
	tok, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := toolCall(t, resource, tok.AccessToken); status != http.StatusOK {
		t.Fatalf("raw tools/call with the token: status %d", status)
	}

	// Resource servers that must refuse the token. Each fetches the same
	// JWKS (the signature is good); what differs is what they expect.
	for _, tc := range []struct {
		name   string
		args   []string
		status int
		errc   string
	}{
		{"other audience", []string{"-issuer", public, "-jwks-url", public + "/jwks"}, http.StatusUnauthorized, "invalid_token"},
		{"other issuer", []string{"-issuer", public + "/elsewhere", "-jwks-url", public + "/jwks", "-resource", resource}, http.StatusUnauthorized, "invalid_token"},
		{"missing scope", []string{"-issuer", public, "-resource", resource, "-scopes", "mcp:tools,mcp:admin"}, http.StatusForbidden, "insufficient_scope"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			other := startRS(t, tc.args...)
			target := "http://" + other.addr + "/mcp"
			// A resource URL other than the listening address is served
			// directly (no proxy in between): Host does not matter to the
			// verifier, only the token does.
			status, challenge := toolCall(t, target, tok.AccessToken)
			if status != tc.status || !strings.Contains(challenge, `error="`+tc.errc+`"`) {
				t.Errorf("status %d, challenge %q; want %d %s", status, challenge, tc.status, tc.errc)
			}
		})
	}
}

// toolCall posts a tools/call for whoami with token and returns the
// status and the challenge.
func toolCall(t *testing.T, endpoint, token string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// TestDiscoverJWKS: the jwks_uri is taken only from the issuer's own
// metadata document.
func TestDiscoverJWKS(t *testing.T) {
	var doc string
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/oauth-authorization-server/as" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(doc))
	}))
	defer ts.Close()
	issuer := ts.URL + "/as"
	for _, tc := range []struct {
		name, doc, issuer, want, err string
	}{
		{"ok", `{"issuer":"` + issuer + `","jwks_uri":"` + issuer + `/jwks"}`, issuer, issuer + "/jwks", ""},
		{"other issuer", `{"issuer":"` + ts.URL + `","jwks_uri":"` + ts.URL + `/jwks"}`, issuer, "", "names issuer"},
		{"no jwks_uri", `{"issuer":"` + issuer + `"}`, issuer, "", "no jwks_uri"},
		{"not found", ``, ts.URL + "/nothing", "", "status 404"},
		{"not JSON", `<html>`, issuer, "", "reading"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc = tc.doc
			got, err := discoverJWKS(context.Background(), ts.Client(), tc.issuer)
			if got != tc.want || (tc.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.err) {
				t.Errorf("discoverJWKS = %q, %v; want %q, error containing %q", got, err, tc.want, tc.err)
			}
		})
	}
}

// TestFlags: -issuer is required, -resource must be an http(s) URL and
// http only on loopback.
func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		err  string
	}{
		{nil, "-issuer is required"},
		{[]string{"-issuer", "http://127.0.0.1:1", "-jwks-url", "http://127.0.0.1:1/jwks", "-resource", "http://mcp.example.com/mcp"}, "must use https"},
		{[]string{"-issuer", "http://127.0.0.1:1", "-jwks-url", "http://127.0.0.1:1/jwks", "-resource", "mcp"}, "absolute"},
		{[]string{"-issuer", "http://127.0.0.1:1", "extra"}, "unexpected argument"},
	} {
		err := run(context.Background(), append([]string{"-addr", "127.0.0.1:0"}, tc.args...), &strings.Builder{})
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("run %q = %v, want an error containing %q", tc.args, err, tc.err)
		}
	}
}
