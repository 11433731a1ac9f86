package authz

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage/memory"
)

const (
	testResource  = "https://mcp.example.com/mcp"
	otherResource = "https://other.example.com/api"
	publicID      = "public-client"
	confID        = "conf-client"
	confSecret    = "conf-secret-0123456789"
	postID        = "post-client"
	postSecret    = "post-secret-0123456789"
	rsID          = "resource-server"
	rsSecret      = "rs-secret-0123456789ab"
	callback      = "http://127.0.0.1:9999/callback"
	httpsCallback = "https://app.example.com/cb"
	testVerifier  = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
)

// fakeClock is a settable clock shared by the server and the store.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// env is a running server on a loopback httptest server.
type env struct {
	t      *testing.T
	srv    *Server
	ts     *httptest.Server
	store  *memory.Store
	clock  *fakeClock
	issuer string
	// subject is what the interaction handler approves as.
	subject string
	// deny makes the interaction handler deny.
	deny bool
	// hc sends the requests; nil means noFollow (see newTLSEnv).
	hc *http.Client
}

// client returns the HTTP client of the environment's requests.
func (e *env) client() *http.Client {
	if e.hc != nil {
		return e.hc
	}
	return noFollow
}

func testConfig() Config {
	return Config{
		Clients: []StaticClient{
			{Metadata: metadata.Client{ClientID: publicID, RedirectURIs: []string{callback, httpsCallback}, ClientName: "Public <b>App</b>"}},
			{Metadata: metadata.Client{ClientID: confID, RedirectURIs: []string{httpsCallback},
				GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}}, Secret: confSecret},
			{Metadata: metadata.Client{ClientID: postID, RedirectURIs: []string{httpsCallback}, TokenEndpointAuthMethod: "client_secret_post"}, Secret: postSecret},
			{Metadata: metadata.Client{ClientID: rsID, GrantTypes: []string{"client_credentials"}}, Secret: rsSecret, MayIntrospect: true},
		},
		Scopes: []Scope{
			{Name: "mcp:tools", Description: "Use tools", Default: true},
			{Name: "mcp:prompts", Description: "Use prompts"},
			{Name: "other:read", Description: "Read other", Audiences: []string{otherResource}},
		},
		Resources: []Resource{
			{Identifier: testResource, Name: "Test MCP", Scopes: []string{"mcp:tools", "mcp:prompts"}},
			{Identifier: otherResource, Name: "Other API", Scopes: []string{"other:read"}},
		},
		InteractionURL: "/login",
	}
}

func newEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	e := &env{t: t, ts: ts, clock: &fakeClock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}, subject: "alice"}
	e.issuer = "http://" + ts.Listener.Addr().String()
	e.store = memory.New(memory.Options{Clock: e.clock.Now})
	cfg := testConfig()
	cfg.Issuer = e.issuer
	cfg.Store = e.store
	cfg.Clock = e.clock.Now
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("request_id")
		if e.deny {
			_ = srv.Deny(w, r, id)
			return
		}
		AutoApprove(srv, e.subject).ServeHTTP(w, r)
	})
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	return e
}

// noFollow is an HTTP client that never follows redirects.
var noFollow = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func challengeOf(verifier string) string {
	sum := sha256.Sum256([]byte(verifier))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// authorizeParams returns a valid authorization request for the public client.
func authorizeParams() url.Values {
	return url.Values{
		"client_id":             {publicID},
		"redirect_uri":          {callback},
		"response_type":         {"code"},
		"state":                 {"st-123"},
		"code_challenge":        {challengeOf(testVerifier)},
		"code_challenge_method": {"S256"},
		"resource":              {testResource},
		"scope":                 {"mcp:tools"},
	}
}

// get performs a GET without following redirects.
func (e *env) get(path string) *http.Response {
	e.t.Helper()
	resp, err := e.client().Get(e.ts.URL + path)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// authorize runs an authorization request through the interaction handler
// and returns the final redirect to the client (or the first non-redirect
// response).
func (e *env) authorize(q string) *http.Response {
	e.t.Helper()
	resp := e.get("/authorize?" + q)
	if resp.StatusCode == http.StatusSeeOther {
		loc := resp.Header.Get("Location")
		if strings.HasPrefix(loc, "/login") {
			resp.Body.Close()
			resp = e.get(loc)
		}
	}
	return resp
}

// code runs a successful authorization and returns the code.
func (e *env) code(v url.Values) string {
	e.t.Helper()
	resp := e.authorize(v.Encode())
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		b, _ := io.ReadAll(resp.Body)
		e.t.Fatalf("authorize: status %d: %s", resp.StatusCode, b)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		e.t.Fatal(err)
	}
	c := u.Query().Get("code")
	if c == "" {
		e.t.Fatalf("no code in %s", u)
	}
	return c
}

// post sends a form to path with optional basic credentials.
func (e *env) post(path string, form url.Values, basicID, basicSecret string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.ts.URL+path, strings.NewReader(form.Encode()))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := e.client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp
}

// tokenJSON is a decoded token endpoint response.
type tokenJSON struct {
	AccessToken      string `json:"access_token"`
	TokenType        string `json:"token_type"`
	ExpiresIn        int64  `json:"expires_in"`
	RefreshToken     string `json:"refresh_token"`
	Scope            string `json:"scope"`
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
}

func decodeToken(t *testing.T, resp *http.Response) (int, tokenJSON) {
	t.Helper()
	defer resp.Body.Close()
	var tj tokenJSON
	b, _ := io.ReadAll(resp.Body)
	if len(b) > 0 {
		if err := json.Unmarshal(b, &tj); err != nil {
			t.Fatalf("decode %q: %v", b, err)
		}
	}
	return resp.StatusCode, tj
}

// exchange redeems a code for the public client.
func (e *env) exchange(code string) (int, tokenJSON) {
	e.t.Helper()
	return decodeToken(e.t, e.post("/token", url.Values{
		"grant_type":    {"authorization_code"},
		"code":          {code},
		"code_verifier": {testVerifier},
		"client_id":     {publicID},
		"redirect_uri":  {callback},
	}, "", ""))
}

// introspect asks as the resource server.
func (e *env) introspect(token string) map[string]any {
	e.t.Helper()
	resp := e.post("/introspect", url.Values{"token": {token}}, rsID, rsSecret)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("introspect: status %d", resp.StatusCode)
	}
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		e.t.Fatal(err)
	}
	return m
}

var _ = context.Background
