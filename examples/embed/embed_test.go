package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

const (
	testPassword = "wonderland-0123456789"
	redirectURI  = "http://127.0.0.1:47014/callback"
)

// started is the app running in process through runWith.
type started struct {
	base string
	mu   sync.Mutex
	out  strings.Builder
}

func (s *started) output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.out.String()
}

// start runs the program on a free port (with few PBKDF2 rounds) until
// the test ends.
func start(t *testing.T) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	s := &started{}
	done := make(chan error, 1)
	go func() {
		err := runWith(ctx, []string{"-addr", "127.0.0.1:0", "-demo-password", testPassword}, pw, 1000)
		pw.CloseWithError(io.EOF)
		done <- err
	}()
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		app, sent := "", false
		for sc.Scan() {
			line := sc.Text()
			s.mu.Lock()
			s.out.WriteString(line + "\n")
			s.mu.Unlock()
			if v, ok := strings.CutPrefix(strings.TrimSpace(line), "App:"); ok {
				app = strings.TrimSuffix(strings.TrimSpace(v), "/")
			}
			if strings.HasPrefix(line, "Listening on ") && !sent {
				ready <- app
				sent = true
			}
		}
		if !sent {
			close(ready)
		}
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("run: %v", err)
		}
		if t.Failed() {
			t.Logf("output:\n%s", s.output())
		}
	})
	select {
	case base, ok := <-ready:
		if !ok || base == "" {
			t.Fatalf("the app did not start:\n%s", s.output())
		}
		s.base = base
	case <-time.After(15 * time.Second):
		t.Fatalf("the app is not listening after 15 s:\n%s", s.output())
	}
	return s
}

// connect runs the MCP Go SDK client with its OAuth handler (dynamic
// registration) against the app's MCP endpoint, with b as the user's
// browser, and returns the session.
func connect(ctx context.Context, t *testing.T, s *started, b *interoptest.Browser, user string, rec *interoptest.Recorder) *mcp.ClientSession {
	t.Helper()
	hc := &http.Client{Transport: rec}
	handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
		DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
			ClientName:              "embed test",
			RedirectURIs:            []string{redirectURI},
			TokenEndpointAuthMethod: "none",
			GrantTypes:              []string{"authorization_code", "refresh_token"},
			ResponseTypes:           []string{"code"},
		}},
		AuthorizationCodeFetcher: func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
			loc, err := b.AuthorizeAs(ctx, args.URL, user, testPassword)
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
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "embed-test", Version: "1"}, nil).
		Connect(ctx, &mcp.StreamableClientTransport{Endpoint: s.base + "/mcp", HTTPClient: hc, OAuthHandler: handler, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

func listNotes(ctx context.Context, t *testing.T, cs *mcp.ClientSession) listOutput {
	t.Helper()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "list_notes"})
	if err != nil || res.IsError {
		t.Fatalf("tools/call list_notes: %v %+v", err, res)
	}
	raw, _ := json.Marshal(res.StructuredContent)
	var out listOutput
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMCPClientSignsInThroughTheApp: an MCP client that has never been
// here discovers the authorization server under /oauth, registers, and
// sends the user to the consent page, which finds no app session and
// sends the browser to the app's own login page; after signing in there
// the user consents, and the MCP tool sees the app's user ID as the token
// subject.
func TestMCPClientSignsInThroughTheApp(t *testing.T) {
	s := start(t)
	ctx := interoptest.Context(t, 30*time.Second)
	b := interoptest.NewBrowser(interoptest.StopAtPrefix(redirectURI))
	rec := &interoptest.Recorder{}
	cs := connect(ctx, t, s, b, "alice", rec)

	got := listNotes(ctx, t, cs)
	if got.User != "Alice Liddell" || !slices.Equal(got.Notes, []string{"Buy tea for the March Hare", "Follow the white rabbit"}) {
		t.Errorf("list_notes = %+v", got)
	}
	if b.Logins() != 1 {
		t.Errorf("the login form was filled in %d times, want 1", b.Logins())
	}
	var sawAppLogin bool
	for _, h := range b.History() {
		if strings.Contains(h, s.base+"/login?request_id=") {
			sawAppLogin = true
		}
	}
	if !sawAppLogin {
		t.Errorf("the browser never reached the app's login page: %v", b.History())
	}
	// Discovery went through the path issuer's endpoints.
	for _, want := range []struct{ method, url string }{
		{"GET", s.base + "/.well-known/oauth-protected-resource/mcp"},
		{"GET", s.base + "/.well-known/oauth-authorization-server/oauth"},
		{"POST", s.base + "/oauth/register"},
		{"POST", s.base + "/oauth/token"},
	} {
		if x := rec.Find(want.method, want.url); x == nil || x.Status/100 != 2 {
			t.Errorf("no successful %s %s: %+v", want.method, want.url, rec.Exchanges())
		}
	}

	// The token is bound to the MCP endpoint and names the app's user ID.
	var tokenReq *interoptest.Exchange
	for _, x := range rec.Exchanges() {
		if x.URL == s.base+"/oauth/token" && x.Status == http.StatusOK {
			tokenReq = &x
		}
	}
	if tokenReq == nil || tokenReq.Form.Get("resource") != s.base+"/mcp" {
		t.Errorf("token request %+v", tokenReq)
	}
}

// TestExistingAppSession: a user already signed in to the app goes
// straight to the consent page; the grant is for that user.
func TestExistingAppSession(t *testing.T) {
	s := start(t)
	ctx := interoptest.Context(t, 30*time.Second)
	b := interoptest.NewBrowser(interoptest.StopAtPrefix(redirectURI))

	// Sign in to the app itself, as bob.
	p, err := b.Get(ctx, s.base+"/login")
	if err != nil {
		t.Fatal(err)
	}
	action, form, err := p.Form()
	if err != nil {
		t.Fatal(err)
	}
	form.Set("username", "bob")
	form.Set("password", testPassword)
	if p, err = b.Post(ctx, action, form); err != nil || !strings.Contains(p.Body, "Signed in as Bob Builder") {
		t.Fatalf("app login: %v\n%s", err, p.Body)
	}

	cs := connect(ctx, t, s, b, "alice", &interoptest.Recorder{})
	got := listNotes(ctx, t, cs)
	if got.User != "Bob Builder" || !slices.Equal(got.Notes, []string{"Fix the roof"}) {
		t.Errorf("list_notes = %+v, want bob's notes", got)
	}
	if b.Logins() != 0 {
		t.Errorf("the login form was shown %d times to a signed-in user", b.Logins())
	}
}

// TestLoginPage: wrong passwords are refused, forms need the browser's
// token, and the page never sends the browser elsewhere than a local
// path or the consent page.
func TestLoginPage(t *testing.T) {
	s := start(t)
	ctx := interoptest.Context(t, 30*time.Second)
	b := interoptest.NewBrowser(func(*url.URL) bool { return true }) // stop at every redirect
	p, err := b.Get(ctx, s.base+"/login?next=//evil.example/x")
	if err != nil {
		t.Fatal(err)
	}
	action, form, err := p.Form()
	if err != nil {
		t.Fatal(err)
	}
	form.Set("username", "alice")
	form.Set("password", "wrong")
	if p, err = b.Post(ctx, action, form); err != nil || p.Status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %v, status %d", err, p.Status)
	}
	form.Set("password", testPassword)
	bad := url.Values{"username": {"alice"}, "password": {testPassword}, "csrf": {"forged-token-forged-token-forged"}}
	if p, err = b.Post(ctx, action, bad); err != nil || p.Status != http.StatusForbidden {
		t.Fatalf("forged form token: %v, status %d", err, p.Status)
	}
	if p, err = b.Post(ctx, action, form); err != nil || p.Location == nil || p.Location.String() != s.base+"/" {
		t.Fatalf("login with next=//evil.example/x went to %v (%v)", p.Location, err)
	}
	form.Set("request_id", "abc")
	if p, err = b.Post(ctx, action, form); err != nil || p.Location == nil || p.Location.String() != s.base+"/oauth/consent?request_id=abc" {
		t.Fatalf("login with a request_id went to %v (%v)", p.Location, err)
	}
}

// TestMetadataForPathIssuer: the authorization server under /oauth
// publishes its metadata at the RFC 8414 path-inserted URL, at the root
// URL that MCP 2025-03-26 clients read, and at the OpenID Connect URLs.
func TestMetadataForPathIssuer(t *testing.T) {
	s := start(t)
	for _, p := range []string{
		"/.well-known/oauth-authorization-server/oauth",
		"/.well-known/oauth-authorization-server",
		"/.well-known/openid-configuration/oauth",
		"/oauth/.well-known/openid-configuration",
	} {
		resp, err := http.Get(s.base + p)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		err = json.NewDecoder(resp.Body).Decode(&m)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || m["issuer"] != s.base+"/oauth" || m["authorization_endpoint"] != s.base+"/oauth/authorize" {
			t.Errorf("%s: status %d, %v, issuer %v, authorization_endpoint %v", p, resp.StatusCode, err, m["issuer"], m["authorization_endpoint"])
		}
	}
}
