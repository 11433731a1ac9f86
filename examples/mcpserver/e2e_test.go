package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"
)

// exchange is one HTTP round trip seen by the MCP client.
type exchange struct {
	method, url string
	status      int
	challenge   string     // WWW-Authenticate
	form        url.Values // the request form, for POST /token
}

// recorder is an http.RoundTripper that keeps a log of round trips.
type recorder struct {
	mu  sync.Mutex
	log []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	x := exchange{method: req.Method, url: req.URL.String()}
	if req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/token") && req.Body != nil {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body.Close()
		req.Body = io.NopCloser(bytes.NewReader(b))
		x.form, _ = url.ParseQuery(string(b))
	}
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	x.status = resp.StatusCode
	x.challenge = resp.Header.Get("WWW-Authenticate")
	r.mu.Lock()
	r.log = append(r.log, x)
	r.mu.Unlock()
	return resp, nil
}

func (r *recorder) exchanges() []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.log)
}

// index returns the position of the first exchange at or after from that
// matches, or -1.
func index(log []exchange, from int, match func(exchange) bool) int {
	for i := from; i < len(log); i++ {
		if match(log[i]) {
			return i
		}
	}
	return -1
}

// loginFetcher is an auth.AuthorizationCodeFetcher that drives the demo
// login and consent pages over HTTP, like a person in a browser, and
// returns what the final redirect to the loopback redirect URI carries.
type loginFetcher struct {
	t       *testing.T
	b       *browser
	mu      sync.Mutex
	scopes  [][]string // the scope parameter of each authorization
	granted [][]string // the scopes listed on each consent page
	logins  int        // how often the login form was shown
}

func (f *loginFetcher) fetch(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
	t := f.t
	au, err := url.Parse(args.URL)
	if err != nil {
		return nil, err
	}
	q := au.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("resource") == "" {
		return nil, errors.New("authorization request without PKCE S256 or resource: " + args.URL)
	}
	pg := f.b.get(t, args.URL)
	if pg.isLogin() {
		f.mu.Lock()
		f.logins++
		f.mu.Unlock()
		form := pg.hidden()
		form.Set("username", testUser)
		form.Set("password", testPassword)
		form.Set("action", "login")
		pg = f.b.post(t, pg.formURL(t), form)
	}
	if pg.status != http.StatusOK || !pg.isConsent() {
		return nil, errors.New("no consent page: " + pg.body)
	}
	offered := pg.scopes()
	form := pg.hidden()
	form.Set("action", "approve")
	done := f.b.post(t, pg.formURL(t), form)
	if f.b.final == nil {
		return nil, errors.New("consent did not redirect to the client: " + done.body)
	}
	f.mu.Lock()
	f.scopes = append(f.scopes, strings.Fields(q.Get("scope")))
	f.granted = append(f.granted, offered)
	f.mu.Unlock()
	fq := f.b.final.Query()
	return &auth.AuthorizationResult{Code: fq.Get("code"), State: fq.Get("state"), Iss: fq.Get("iss")}, nil
}

// TestEndToEndSDKClient runs the official MCP Go SDK client with its
// OAuth support against the demo: discovery from the 401, registration,
// login and consent over HTTP, PKCE and resource, tools, then step-up to
// mcp:admin for the secret tool. It runs once with the SDK's newest
// protocol (2026-07-28: stateless, Mcp-Method and Mcp-Name headers) and
// once with 2025-06-18 (initialize handshake; the tool name is only in the
// body).
func TestEndToEndSDKClient(t *testing.T) {
	for _, tc := range []struct{ name, protocolVersion, path, regScope string }{
		{"latest", "", "", ""},
		{"2025-06-18", "2025-06-18", "", ""},
		// A public URL with a path: every endpoint moves under it, the
		// well-known documents use path insertion.
		{"path prefix", "", "/nq", ""},
		// The client registers the scopes the protected resource
		// metadata lists, as the MCP Inspector and VS Code do. The
		// registration policy registers every allowed scope anyway
		// (RegisterAllAllowedScopes), so the step-up to mcp:admin works.
		{"registered with the PRM scopes", "", "", strings.Join(basicScopes, " ")},
	} {
		t.Run(tc.name, func(t *testing.T) { testEndToEndSDKClient(t, tc.protocolVersion, tc.path, tc.regScope) })
	}
}

func testEndToEndSDKClient(t *testing.T, protocolVersion, path, regScope string) {
	s := startServerAt(t, path, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	rec := &recorder{}
	hc := &http.Client{Transport: rec}
	f := &loginFetcher{t: t, b: newBrowser(t)}
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName:              "e2e test",
			RedirectURIs:            []string{testRedirect},
			TokenEndpointAuthMethod: "none",
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
			Scope:                   regScope,
		}},
		AuthorizationCodeFetcher: f.fetch,
		Client:                   hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	client := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil)
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.mcpURL, HTTPClient: hc, OAuthHandler: handler, MaxRetries: -1}, &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatalf("ListTools: %v", err)
	}
	var names []string
	for _, tool := range tools.Tools {
		names = append(names, tool.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"add", "echo", "secret", "whoami"}) {
		t.Fatalf("tools = %v", names)
	}
	sum := callTool(ctx, t, cs, "add", map[string]any{"a": 2, "b": 40})
	if sum["sum"] != 42.0 {
		t.Errorf("add = %v", sum)
	}
	who := callTool(ctx, t, cs, "whoami", nil)
	if who["subject"] != testUser || who["client_id"] == "" || who["client_id"] == nil {
		t.Errorf("whoami = %v", who)
	}
	if got := toStrings(who["scopes"]); !sameSet(got, basicScopes) {
		t.Errorf("whoami scopes = %v, want %v", got, basicScopes)
	}

	// The discovery and authorization sequence, as the client saw it.
	log := rec.exchanges()
	i := index(log, 0, func(x exchange) bool { return x.url == s.mcpURL && x.status == http.StatusUnauthorized })
	if i < 0 {
		t.Fatalf("no 401 from the MCP endpoint: %+v", log)
	}
	ch := parseChallenge(t, log[i].challenge)
	if ch["resource_metadata"] != s.prmURL || ch["scope"] != "mcp:tools mcp:prompts mcp:resources" || ch["error"] != "" {
		t.Errorf("401 challenge = %q", log[i].challenge)
	}
	steps := []struct {
		what  string
		match func(exchange) bool
	}{
		{"protected resource metadata", func(x exchange) bool {
			return x.method == "GET" && x.url == s.prmURL && x.status == 200
		}},
		{"authorization server metadata", func(x exchange) bool {
			u, _ := url.Parse(s.publicURL)
			return x.method == "GET" && x.url == u.Scheme+"://"+u.Host+"/.well-known/oauth-authorization-server"+u.Path && x.status == 200
		}},
		{"registration", func(x exchange) bool {
			return x.method == "POST" && x.url == s.publicURL+"/register" && x.status == 201
		}},
		{"token", func(x exchange) bool {
			return x.method == "POST" && x.url == s.publicURL+"/token" && x.status == 200 &&
				x.form.Get("grant_type") == "authorization_code" && x.form.Get("resource") == s.mcpURL && x.form.Get("code_verifier") != ""
		}},
		{"authorized MCP request", func(x exchange) bool { return x.url == s.mcpURL && x.status == 200 }},
	}
	for _, st := range steps {
		j := index(log, i, st.match)
		if j < 0 {
			t.Fatalf("after exchange %d: no %s in %+v", i, st.what, log[i:])
		}
		i = j
	}
	ts, err := handler.TokenSource(ctx)
	if err != nil || ts == nil {
		t.Fatalf("TokenSource: %v", err)
	}
	first, err := ts.Token()
	if err != nil {
		t.Fatal(err)
	}

	// Step-up, seen raw: the first token cannot call secret, and the 403
	// names every scope the call needs.
	status, challenge := rawToolCall(t, s.mcpURL, first.AccessToken, "secret")
	if status != http.StatusForbidden {
		t.Fatalf("secret with the first token: status %d", status)
	}
	ch = parseChallenge(t, challenge)
	if ch["error"] != "insufficient_scope" || ch["resource_metadata"] != s.prmURL {
		t.Errorf("403 challenge = %q", challenge)
	}
	if got := strings.Fields(ch["scope"]); !slices.Contains(got, scopeTools) || !slices.Contains(got, scopeAdmin) || len(got) != 2 {
		t.Errorf("403 scope = %q, want mcp:tools and mcp:admin", ch["scope"])
	}

	// The SDK client steps up by itself: 403, authorization with the
	// wider scope, retry.
	before := len(rec.exchanges())
	secret := callTool(ctx, t, cs, "secret", nil)
	if secret["secret"] != "The answer is 42." {
		t.Errorf("secret = %v", secret)
	}
	log = rec.exchanges()[before:]
	if j := index(log, 0, func(x exchange) bool {
		return x.url == s.mcpURL && x.status == http.StatusForbidden && strings.Contains(x.challenge, `error="insufficient_scope"`)
	}); j < 0 {
		t.Errorf("the client saw no 403 insufficient_scope: %+v", log)
	}
	f.mu.Lock()
	authorizations, lastScopes, logins := len(f.scopes), f.scopes[len(f.scopes)-1], f.logins
	lastGranted := f.granted[len(f.granted)-1]
	f.mu.Unlock()
	if authorizations != 2 {
		t.Errorf("%d authorizations, want 2 (login, step-up)", authorizations)
	}
	if logins != 1 {
		t.Errorf("the login form was shown %d times, want once (the step-up reuses the session)", logins)
	}
	if !slices.Contains(lastGranted, scopeAdmin) {
		t.Errorf("the step-up consent page lists %v, without %s", lastGranted, scopeAdmin)
	}
	for _, sc := range []string{scopeTools, scopeAdmin} {
		if !slices.Contains(lastScopes, sc) {
			t.Errorf("step-up asked for %v, missing %s", lastScopes, sc)
		}
	}
	who = callTool(ctx, t, cs, "whoami", nil)
	if got := toStrings(who["scopes"]); !slices.Contains(got, scopeAdmin) || who["subject"] != testUser {
		t.Errorf("whoami after step-up = %v", who)
	}
	ts2, err := handler.TokenSource(ctx)
	if err != nil || ts2 == nil {
		t.Fatalf("TokenSource after step-up: %v", err)
	}
	tok, err := ts2.Token()
	if err != nil {
		t.Fatal(err)
	}
	if tok.AccessToken == first.AccessToken {
		t.Fatal("step-up did not replace the token")
	}
	if status, _ := rawToolCall(t, s.mcpURL, tok.AccessToken, "secret"); status != http.StatusOK {
		t.Errorf("secret with the stepped-up token: status %d", status)
	}
}

// callTool calls a tool and returns its structured result.
func callTool(ctx context.Context, t *testing.T, cs *mcp.ClientSession, name string, args map[string]any) map[string]any {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		t.Fatalf("CallTool %s: %v", name, err)
	}
	if res.IsError {
		b, _ := json.Marshal(res.Content)
		t.Fatalf("CallTool %s: tool error %s", name, b)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("CallTool %s: structured content %s: %v", name, b, err)
	}
	return out
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// rawToolCall posts a tools/call like a 2025-06-18 client (no session:
// the server is stateless) and returns the status and challenge.
func rawToolCall(t *testing.T, mcpURL, token, tool string) (int, string) {
	t.Helper()
	body := `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"` + tool + `","arguments":{}}}`
	req, err := http.NewRequest(http.MethodPost, mcpURL, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("WWW-Authenticate")
}

// parseChallenge parses a Bearer challenge with the SDK's parser.
func parseChallenge(t *testing.T, h string) map[string]string {
	t.Helper()
	cs, err := oauthex.ParseWWWAuthenticate([]string{h})
	if err != nil || len(cs) != 1 || cs[0].Scheme != "bearer" {
		t.Fatalf("challenge %q: %v %+v", h, err, cs)
	}
	return cs[0].Params
}

// TestEndToEndClientIDMetadataDocument: the SDK client identifies itself
// with a Client ID Metadata Document (an https URL) instead of
// registering; the server fetches and checks the document.
func TestEndToEndClientIDMetadataDocument(t *testing.T) {
	var docURL string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/client.json" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=600")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id":                  docURL,
			"client_name":                "CIMD test client",
			"redirect_uris":              []string{testRedirect},
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"response_types":             []string{"code"},
			"token_endpoint_auth_method": "none",
		})
	}))
	defer docs.Close()
	docURL = docs.URL + "/client.json"

	// The test's TLS server has a self-signed certificate on 127.0.0.1:
	// trust it, and reach loopback, through the test fetch client.
	s := startServerWith(t, func(c *config) { c.fetchClient = docs.Client() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f := &loginFetcher{t: t, b: newBrowser(t)}
	rec := &recorder{}
	hc := &http.Client{Transport: rec}
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: docURL},
		RedirectURL:                    testRedirect,
		AuthorizationCodeFetcher:       f.fetch,
		Client:                         hc,
	})
	if err != nil {
		t.Fatal(err)
	}
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "e2e", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.mcpURL, HTTPClient: hc, OAuthHandler: handler, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()
	who := callTool(ctx, t, cs, "whoami", nil)
	if who["client_id"] != docURL || who["subject"] != testUser {
		t.Fatalf("whoami = %v", who)
	}
	for _, x := range rec.exchanges() {
		if strings.HasSuffix(x.url, "/register") {
			t.Errorf("the client registered although it has a metadata document: %+v", x)
		}
	}
}
