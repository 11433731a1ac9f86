package dcr_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

const (
	endpoint       = "https://as.example.com/register"
	inspectorOrig  = "http://localhost:6274"
	localCaller    = "127.0.0.1:50123"
	strangerCaller = "203.0.113.9:40000"
)

// Bodies real MCP clients send.
const (
	// MCP Inspector (client/src/lib/auth.ts): a public client, redirecting
	// to its own UI origin on localhost, registering every advertised scope.
	inspectorBody = `{
		"redirect_uris": ["http://localhost:6274/oauth/callback", "http://localhost:6274/oauth/callback/debug"],
		"token_endpoint_auth_method": "none",
		"grant_types": ["authorization_code", "refresh_token"],
		"response_types": ["code"],
		"client_name": "MCP Inspector",
		"client_uri": "https://github.com/modelcontextprotocol/inspector",
		"scope": "mcp:tools mcp:prompts mcp:resources"
	}`
	// VS Code's DCR fallback (src/vs/base/common/oauth.ts) when the server
	// advertises no grant_types_supported: all three of its grants, no scope.
	vscodeBody = `{
		"client_name": "Visual Studio Code",
		"client_uri": "https://code.visualstudio.com",
		"grant_types": ["authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:device_code"],
		"response_types": ["code"],
		"redirect_uris": ["https://insiders.vscode.dev/redirect", "https://vscode.dev/redirect", "http://127.0.0.1/", "http://127.0.0.1:33418/"],
		"token_endpoint_auth_method": "none",
		"application_type": "native"
	}`
)

// clock is a settable clock shared by the registrar and the store.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// syncBuffer is a log sink safe for concurrent handlers.
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

type fixture struct {
	reg   *dcr.Registrar
	h     http.Handler
	store *memory.Store
	clock *clock
	logs  *syncBuffer
}

// anonymousPolicy is what the seed guide's MCP Inspector section asks for:
// scopes of the MCP server allowed, the Inspector's origin allowed, the
// browser's machine (localhost) and the clients' own hosts trusted.
func anonymousPolicy() *dcr.Policy {
	return &dcr.Policy{
		Name: "anonymous",
		TrustedHosts: []string{
			"localhost", "127.0.0.1", "github.com",
			"*.vscode.dev", "code.visualstudio.com", "*.example.com",
		},
		AllowedClientScopes: []string{"mcp:tools", "mcp:prompts", "mcp:resources", "offline_access"},
		AllowedWebOrigins:   []string{inspectorOrig},
		RateLimit:           rate.Inf,
	}
}

func baseConfig(st *memory.Store, clk *clock, logs *syncBuffer) dcr.Config {
	return dcr.Config{
		Store:           st,
		Endpoint:        endpoint,
		Anonymous:       anonymousPolicy(),
		DefaultScopes:   []string{"mcp:tools", "mcp:resources"},
		SupportedScopes: []string{"mcp:tools", "mcp:prompts", "mcp:resources", "offline_access", "openid", "admin"},
		Clock:           clk.Now,
		Logger:          slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

func newFixture(t testing.TB, mutate func(*dcr.Config)) *fixture {
	t.Helper()
	clk := newClock()
	st := memory.New(memory.Options{Clock: clk.Now})
	logs := &syncBuffer{}
	cfg := baseConfig(st, clk, logs)
	if mutate != nil {
		mutate(&cfg)
	}
	reg, err := dcr.New(cfg)
	if err != nil {
		t.Fatalf("dcr.New: %v", err)
	}
	return &fixture{reg: reg, h: reg.Handler(), store: st, clock: clk, logs: logs}
}

// req describes one request to the handler.
type req struct {
	method  string
	path    string
	body    string
	ctype   string // "" means application/json when body is set; "-" means none
	remote  string // "" means localCaller
	headers map[string]string
}

func (f *fixture) do(t testing.TB, r req) *httptest.ResponseRecorder {
	t.Helper()
	if r.method == "" {
		r.method = http.MethodPost
	}
	if r.path == "" {
		r.path = "/register"
	}
	hr := httptest.NewRequest(r.method, "https://as.example.com"+r.path, strings.NewReader(r.body))
	switch {
	case r.ctype == "-":
	case r.ctype != "":
		hr.Header.Set("Content-Type", r.ctype)
	case r.body != "":
		hr.Header.Set("Content-Type", "application/json")
	}
	hr.RemoteAddr = r.remote
	if hr.RemoteAddr == "" {
		hr.RemoteAddr = localCaller
	}
	for k, v := range r.headers {
		hr.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, hr)
	return rec
}

// registration is the decoded JSON answer of a registration.
type registration map[string]any

func decode(t testing.TB, rec *httptest.ResponseRecorder) registration {
	t.Helper()
	var m registration
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("answer is not JSON (%d): %v: %s", rec.Code, err, rec.Body)
	}
	return m
}

func (m registration) str(k string) string {
	s, _ := m[k].(string)
	return s
}

func (m registration) strs(k string) []string {
	raw, _ := m[k].([]any)
	out := make([]string, 0, len(raw))
	for _, v := range raw {
		s, _ := v.(string)
		out = append(out, s)
	}
	return out
}

// mustRegister posts body and fails the test unless the answer is 201.
func (f *fixture) mustRegister(t testing.TB, body string, headers map[string]string) registration {
	t.Helper()
	rec := f.do(t, req{body: body, headers: headers})
	if rec.Code != http.StatusCreated {
		t.Fatalf("registration: status %d, want 201: %s", rec.Code, rec.Body)
	}
	return decode(t, rec)
}

func (f *fixture) count(t testing.TB) int {
	t.Helper()
	n, err := f.store.CountClients(context.Background(), storage.ClientRegistered)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

// itemPath is the path of a client's configuration URI.
func itemPath(m registration) string {
	return strings.TrimPrefix(m.str("registration_client_uri"), "https://as.example.com")
}

func assertNoStore(t testing.TB, rec *httptest.ResponseRecorder) {
	t.Helper()
	if got := rec.Header().Get("Cache-Control"); got != "no-store" {
		t.Errorf("Cache-Control = %q, want no-store", got)
	}
}

func assertError(t testing.TB, rec *httptest.ResponseRecorder, status int, code, descPart string) {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status %d, want %d: %s", rec.Code, status, rec.Body)
	}
	m := decode(t, rec)
	if m.str("error") != code {
		t.Errorf("error = %q, want %q (%s)", m.str("error"), code, m.str("error_description"))
	}
	t.Logf("DESC %d %s: %s", rec.Code, m.str("error"), m.str("error_description"))
	if !strings.Contains(m.str("error_description"), descPart) {
		t.Errorf("error_description = %q, want it to contain %q", m.str("error_description"), descPart)
	}
	assertNoStore(t, rec)
}
