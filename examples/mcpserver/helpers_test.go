package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/oauth2"
)

const (
	testUser     = "alice"
	testPassword = "correct horse battery staple"
	// testRedirect is the loopback redirect URI of test clients; nothing
	// listens there: the browser stops at the redirect.
	testRedirect = "http://127.0.0.1:47011/callback"
	// testVerifier is the PKCE code verifier of authorizeURL.
	testVerifier = "test-verifier-0123456789-0123456789-0123456789"
)

// testServer is the demo started in process on httptest.
type testServer struct {
	*server
	ts *httptest.Server
}

// startServer starts the demo on a loopback httptest server with the
// given extra flags (the demo credentials are fixed).
func startServer(t *testing.T, args ...string) *testServer {
	t.Helper()
	return startServerWith(t, nil, args...)
}

// startServerWith is startServer with a hook to adjust the configuration.
func startServerWith(t *testing.T, edit func(*config), args ...string) *testServer {
	t.Helper()
	return startServerAt(t, "", edit, args...)
}

// startServerAt is startServerWith with a public URL path (such as "/nq").
func startServerAt(t *testing.T, path string, edit func(*config), args ...string) *testServer {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	publicURL := "http://" + ts.Listener.Addr().String() + path
	cfg, err := parseConfig(append([]string{"-demo-user", testUser, "-demo-password", testPassword}, args...), func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	s, err := newServer(context.Background(), cfg, publicURL, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s.handler
	ts.Start()
	t.Cleanup(func() {
		ts.Close()
		s.Close()
	})
	return &testServer{server: s, ts: ts}
}

// testLogger logs to t for failing tests only.
func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// browser is a cookie-keeping HTTP client that follows redirects within
// the server and stops at the client's redirect URI.
type browser struct {
	*http.Client
	final *url.URL
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &browser{}
	b.Client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if strings.HasPrefix(req.URL.String(), "http://127.0.0.1:47011/") {
			b.final = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	return b
}

// page is a fetched HTML page.
type page struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (b *browser) do(t *testing.T, req *http.Request) *page {
	t.Helper()
	b.final = nil
	resp, err := b.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &page{status: resp.StatusCode, header: resp.Header, body: string(body), url: resp.Request.URL}
}

func (b *browser) get(t *testing.T, u string) *page {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b.do(t, req)
}

func (b *browser) post(t *testing.T, u string, form url.Values) *page {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(t, req)
}

var (
	inputRE  = regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	scopeRE  = regexp.MustCompile(`<li><span class="name">[^<]*</span><code>([^<]+)</code></li>`)
	actionRE = regexp.MustCompile(`<form method="post"(?: action="([^"]*)")?>`)
	styleRE  = regexp.MustCompile(`(?s)<style>(.*)</style>`)
)

// hidden returns the hidden inputs of the page's form.
func (p *page) hidden() url.Values {
	v := url.Values{}
	for _, m := range inputRE.FindAllStringSubmatch(p.body, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	return v
}

// formURL returns the absolute URL the page's form posts to (the page's
// own URL when the form has no action).
func (p *page) formURL(t *testing.T) string {
	t.Helper()
	m := actionRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on the page (status %d):\n%s", p.status, p.body)
	}
	if m[1] == "" {
		return p.url.String()
	}
	u, err := p.url.Parse(html.UnescapeString(m[1]))
	if err != nil {
		t.Fatal(err)
	}
	return u.String()
}

// isLogin and isConsent tell the two pages apart.
func (p *page) isLogin() bool { return strings.Contains(p.body, `name="password"`) }
func (p *page) isConsent() bool {
	return strings.Contains(p.body, `name="csrf_token"`) && strings.Contains(p.body, `value="approve"`)
}

// scopes returns the scopes listed on a consent page.
func (p *page) scopes() []string {
	var out []string
	for _, m := range scopeRE.FindAllStringSubmatch(p.body, -1) {
		out = append(out, html.UnescapeString(m[1]))
	}
	return out
}

// checkPageHeaders asserts the anti-framing and CSP headers of a login or
// consent page, and that the CSP allows exactly the embedded style sheet.
func checkPageHeaders(t *testing.T, p *page) {
	t.Helper()
	csp := p.header.Get("Content-Security-Policy")
	if !strings.Contains(csp, "frame-ancestors 'none'") || p.header.Get("X-Frame-Options") != "DENY" {
		t.Errorf("page headers: CSP %q, X-Frame-Options %q", csp, p.header.Get("X-Frame-Options"))
	}
	if p.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control = %q", p.header.Get("Cache-Control"))
	}
	m := styleRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no <style> in the page")
	}
	sum := sha256.Sum256([]byte(m[1]))
	if want := "style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"; !strings.Contains(csp, want) {
		t.Errorf("CSP %q does not allow the page's style sheet (%s)", csp, want)
	}
}

// registerClient registers a public client with the test redirect URI.
func registerClient(t *testing.T, s *testServer, scope string) string {
	t.Helper()
	body := map[string]any{
		"client_name":                "test client",
		"redirect_uris":              []string{testRedirect},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "native",
	}
	if scope != "" {
		body["scope"] = scope
	}
	b, _ := json.Marshal(body)
	resp, err := http.Post(s.publicURL+"/register", "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.ClientID == "" {
		t.Fatalf("registration: status %d, %v, %+v", resp.StatusCode, err, out)
	}
	return out.ClientID
}

// authorizeURL builds an authorization request with PKCE and resource.
func authorizeURL(s *testServer, clientID, scope, state string) string {
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {testRedirect},
		"scope":                 {scope},
		"state":                 {state},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(testVerifier)},
		"code_challenge_method": {"S256"},
		"resource":              {s.mcpURL},
	}
	return s.publicURL + "/authorize?" + q.Encode()
}

// syncBuffer is a goroutine-safe bytes.Buffer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
