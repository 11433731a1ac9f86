package cimd_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/internal/safehttp/safehttptest"
)

const (
	vscodeID = "https://vscode.dev/oauth/client-metadata.json"
	// publicAddr is what test host names resolve to: a public address, so
	// the real address policy applies. Nothing ever connects to it: the
	// test connector sends every checked connection to the local server.
	publicAddr = "13.107.246.40"
)

// certNames are the host names the test server's certificate covers.
var certNames = []string{
	"vscode.dev", "insiders.vscode.dev", "code.visualstudio.com", "chatgpt.com", "claude.ai",
	"lovable.dev", "example.com", "app.example.com", "login.example.com", "cdn.example.net",
	"loop.vscode.dev", "internal.vscode.dev", "meta.vscode.dev", "mapped.vscode.dev",
	"rebind.vscode.dev", "vscode.dev.evil.com", "evilvscode.dev", "evil.com",
}

// testClock is an injectable clock.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *testClock {
	return &testClock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// site is a TLS server playing every host in certNames. Routes are keyed by
// URL ("https://vscode.dev/oauth/client-metadata.json").
type site struct {
	srv     *safehttptest.Server
	resolve map[string][]string

	mu     sync.Mutex
	routes map[string]http.HandlerFunc
	hits   map[string]int
	last   map[string]http.Header
}

func newSite(t testing.TB) *site {
	s := &site{
		routes: map[string]http.HandlerFunc{},
		hits:   map[string]int{},
		last:   map[string]http.Header{},
		resolve: map[string][]string{
			"loop.vscode.dev":     {"127.0.0.1"},
			"internal.vscode.dev": {"10.0.0.5"},
			"meta.vscode.dev":     {"169.254.169.254"},
			"mapped.vscode.dev":   {"::ffff:127.0.0.1"},
		},
	}
	for _, n := range certNames {
		if _, ok := s.resolve[n]; !ok {
			s.resolve[n] = []string{publicAddr}
		}
	}
	s.srv = safehttptest.NewTLSServer(t, http.HandlerFunc(s.serve), certNames...)
	return s
}

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	key := "https://" + r.Host + r.URL.EscapedPath()
	s.mu.Lock()
	h := s.routes[key]
	s.hits[key]++
	s.last[key] = r.Header.Clone()
	s.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

func (s *site) handle(url string, h http.HandlerFunc) {
	s.mu.Lock()
	s.routes[url] = h
	s.mu.Unlock()
}

// json serves body as application/json with extra header pairs.
func (s *site) json(url, body string, header ...string) {
	s.handle(url, func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.Write([]byte(body))
	})
}

func (s *site) hitsFor(url string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[url]
}

func (s *site) lastHeader(url string) http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last[url]
}

// options returns safehttp options with the production address policy
// (nothing allowed beyond public addresses) and this site's resolver.
func (s *site) options() safehttp.Options {
	o := s.srv.Options(s.resolve)
	o.AllowedPrefixes = nil
	return o
}

func (s *site) httpClient(t testing.TB, tweak func(*safehttp.Options)) *http.Client {
	t.Helper()
	o := s.options()
	if tweak != nil {
		tweak(&o)
	}
	c, err := safehttp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c.HTTPClient()
}

// resolver returns a resolver on this site with the given clock.
func (s *site) resolver(t testing.TB, clk *testClock, o cimd.Options) *cimd.Resolver {
	t.Helper()
	if o.HTTPClient == nil {
		o.HTTPClient = s.httpClient(t, nil)
	}
	if clk != nil && o.Clock == nil {
		o.Clock = clk.Now
	}
	r, err := cimd.NewResolver(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// vscodeDoc is the shape of VS Code's published document
// (keycloak-semantics.md §7), without the optional logo_uri.
func vscodeDoc() map[string]any {
	return map[string]any{
		"client_id":                  vscodeID,
		"client_name":                "Visual Studio Code",
		"client_uri":                 "https://vscode.dev/product",
		"application_type":           "native",
		"token_endpoint_auth_method": "none",
		"grant_types":                []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"},
		"response_types":             []string{"code"},
		"redirect_uris":              []string{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"},
	}
}

// docFor returns a minimal valid public-client document for id.
func docFor(id string) map[string]any {
	host := strings.SplitN(strings.TrimPrefix(id, "https://"), "/", 2)[0]
	return map[string]any{
		"client_id":     id,
		"client_name":   "Test client",
		"redirect_uris": []string{"https://" + host + "/callback", "http://127.0.0.1/callback"},
	}
}

func encode(t testing.TB, m map[string]any) string {
	t.Helper()
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func with(m map[string]any, kv ...any) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i].(string)
		if kv[i+1] == nil {
			delete(m, k)
			continue
		}
		m[k] = kv[i+1]
	}
	return m
}

var bg = context.Background()
