package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

func TestRequiredScopes(t *testing.T) {
	admin := []string{scopeTools, scopeAdmin}
	for _, tc := range []struct {
		name    string
		body    string
		headers map[string]string
		want    []string
	}{
		{"initialize", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{}}`, nil, nil},
		{"discover", `{"jsonrpc":"2.0","id":1,"method":"server/discover"}`, nil, nil},
		{"notification", `{"jsonrpc":"2.0","method":"notifications/initialized"}`, nil, nil},
		{"tools/list", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, nil, []string{scopeTools}},
		{"echo", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"text":"secret"}}}`, nil, []string{scopeTools}},
		{"secret", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret"}}`, nil, admin},
		{"secret, params first", `{"params":{"arguments":{"name":"x"},"name":"secret"},"method":"tools/call","id":1,"jsonrpc":"2.0"}`, nil, admin},
		{"secret, escaped name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"n\u0061me":"s\u0065cret"}}`, nil, admin},
		{"duplicate name, secret first", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret","name":"echo"}}`, nil, admin},
		{"duplicate name, secret last", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","name":"secret"}}`, nil, admin},
		{"upper-case member is not the name", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","NAME":"secret"}}`, nil, []string{scopeTools}},
		{"nested name is not the tool", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo","arguments":{"name":"secret"}}}`, nil, []string{scopeTools}},
		{"prompts", `{"jsonrpc":"2.0","id":1,"method":"prompts/get","params":{"name":"greet"}}`, nil, []string{scopePrompts}},
		{"resources", `{"jsonrpc":"2.0","id":1,"method":"resources/read","params":{"uri":"nqrust://demo/about"}}`, nil, []string{scopeResources}},
		{"batch", `[{"jsonrpc":"2.0","id":1,"method":"prompts/list"},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"secret"}}]`, nil, []string{scopePrompts, scopeTools, scopeAdmin}},
		{"headers only", ``, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "secret"}, admin},
		{"header and body agree", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret"}}`, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "secret"}, admin},
		{"header says echo, body secret", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret"}}`, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "echo"}, admin},
		{"header says secret, body echo", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`, map[string]string{"Mcp-Method": "tools/call", "Mcp-Name": "secret"}, admin},
		{"not JSON", `hello`, nil, nil},
		{"truncated", `{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret"`, nil, admin},
		{"method not a string", `{"jsonrpc":"2.0","id":1,"method":{"x":["tools/call"]},"params":{"name":"secret"}}`, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			var seen []byte
			h := peekRPC(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got = requiredScopes(r)
				seen, _ = io.ReadAll(r.Body)
			}))
			req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(tc.body))
			req.Header.Set("Authorization", "Bearer x")
			for k, v := range tc.headers {
				req.Header.Set(k, v)
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if !sameSet(got, tc.want) || len(got) != len(tc.want) {
				t.Errorf("scopes %v, want %v", got, tc.want)
			}
			if string(seen) != tc.body {
				t.Errorf("the next handler read %q, want the original body", seen)
			}
		})
	}
}

// A request without credentials is told to get the basic scopes too.
func TestRequiredScopesWithoutToken(t *testing.T) {
	var got []string
	h := peekRPC(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = requiredScopes(r) }))
	req := httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"secret"}}`))
	h.ServeHTTP(httptest.NewRecorder(), req)
	if want := []string{scopeTools, scopeAdmin, scopePrompts, scopeResources}; !slices.Equal(got, want) {
		t.Errorf("scopes %v, want %v", got, want)
	}
}

func TestPeekRPCLimits(t *testing.T) {
	called := false
	h := peekRPC(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true }))
	big := `{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{"x":"` + strings.Repeat("a", maxMCPBody) + `"}}`
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(big)))
	if w.Code != http.StatusRequestEntityTooLarge || called {
		t.Errorf("oversized body: %d, next called %v", w.Code, called)
	}
	// Exactly at the limit is fine.
	at := strings.Repeat(" ", maxMCPBody-2) + "{}"
	w = httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/mcp", strings.NewReader(at)))
	if !called {
		t.Errorf("body at the limit refused: %d", w.Code)
	}
	// GET passes untouched.
	called = false
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/mcp", nil))
	if !called {
		t.Errorf("GET not passed on")
	}
}

// TestMCPEndpointChallenges drives the protected endpoint over HTTP with
// tokens minted by the authorization server.
func TestMCPEndpointChallenges(t *testing.T) {
	s := startServer(t)
	mint := func(scopes ...string) string {
		tok, err := s.az.IssueAccessToken(t.Context(), authzTokenRequest(s, scopes...))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	for _, tc := range []struct {
		name       string
		token      string
		tool       string
		wantStatus int
		wantError  string
		wantScope  string
	}{
		{"no token", "", "echo", 401, "", "mcp:tools mcp:prompts mcp:resources"},
		{"no token, secret", "", "secret", 401, "", "mcp:tools mcp:admin mcp:prompts mcp:resources"},
		{"bad token", "abc.def.ghi", "echo", 401, "invalid_token", "mcp:tools"},
		{"prompts only", mint(scopePrompts), "echo", 403, "insufficient_scope", "mcp:tools"},
		{"tools, secret", mint(scopeTools), "secret", 403, "insufficient_scope", "mcp:tools mcp:admin"},
		{"admin only, secret", mint(scopeAdmin), "secret", 403, "insufficient_scope", "mcp:tools mcp:admin"},
		{"tools, echo", mint(scopeTools), "echo", 200, "", ""},
		{"tools+admin, secret", mint(scopeTools, scopeAdmin), "secret", 200, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, challenge := rawToolCall(t, s.mcpURL, tc.token, tc.tool)
			if status != tc.wantStatus {
				t.Fatalf("status %d, want %d (%s)", status, tc.wantStatus, challenge)
			}
			if status == 200 {
				return
			}
			ch := parseChallenge(t, challenge)
			if ch["error"] != tc.wantError || ch["scope"] != tc.wantScope || ch["resource_metadata"] != s.prmURL {
				t.Errorf("challenge %q", challenge)
			}
		})
	}
	// A token for another resource is refused.
	other, err := s.az.IssueAccessToken(t.Context(), authzTokenRequestFor(s, "https://elsewhere.example/mcp", scopeTools))
	if err != nil {
		t.Fatal(err)
	}
	if status, _ := rawToolCall(t, s.mcpURL, other, "echo"); status != http.StatusUnauthorized {
		t.Errorf("token for another resource: status %d", status)
	}
}
