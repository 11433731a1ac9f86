package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

// redirectURI is the loopback redirect URI of the test clients. Nothing
// listens there: the scripted browser stops at the redirect and hands its
// query to the client, as a native client's loopback listener would.
const redirectURI = "http://127.0.0.1:47012/callback"

// newBrowser returns a scripted browser that stops at redirectURI.
func newBrowser() *interoptest.Browser {
	return interoptest.NewBrowser(interoptest.StopAtPrefix(redirectURI))
}

// sdkFetcher is an auth.AuthorizationCodeFetcher that lets the scripted
// browser sign in and consent, and returns the authorization response.
func sdkFetcher(b *interoptest.Browser) auth.AuthorizationCodeFetcher {
	return func(ctx context.Context, args *auth.AuthorizationArgs) (*auth.AuthorizationResult, error) {
		loc, err := b.Authorize(ctx, args.URL)
		if err != nil {
			return nil, err
		}
		q := loc.Query()
		return &auth.AuthorizationResult{Code: q.Get("code"), State: q.Get("state"), Iss: q.Get("iss")}, nil
	}
}

// whoami connects the MCP Go SDK client to mcpURL with the given
// transport settings and calls the demo's whoami tool, which reports the
// access token the server accepted.
func whoami(ctx context.Context, t *testing.T, tr *mcp.StreamableClientTransport, protocolVersion string) map[string]any {
	t.Helper()
	tr.MaxRetries = -1
	cs, err := mcp.NewClient(&mcp.Implementation{Name: "interop", Version: "1"}, nil).
		Connect(ctx, tr, &mcp.ClientSessionOptions{ProtocolVersion: protocolVersion})
	if err != nil {
		t.Fatalf("Connect: %v", err)
	}
	defer cs.Close()
	if protocolVersion != "" {
		if got := cs.InitializeResult().ProtocolVersion; got != protocolVersion {
			t.Errorf("negotiated protocol version %q, want %q", got, protocolVersion)
		}
	}
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "whoami"})
	if err != nil {
		t.Fatalf("tools/call whoami: %v", err)
	}
	if res.IsError {
		b, _ := json.Marshal(res.Content)
		t.Fatalf("tools/call whoami: tool error %s", b)
	}
	b, err := json.Marshal(res.StructuredContent)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("whoami result %s: %v", b, err)
	}
	return out
}

// getJSON fetches a JSON document with c.
func getJSON(ctx context.Context, t *testing.T, c *http.Client, u string, v any) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d", u, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
}

// register registers a public client at endpoint (RFC 7591) and returns
// its client_id.
func register(ctx context.Context, t *testing.T, c *http.Client, endpoint string, extra map[string]any) string {
	t.Helper()
	body := map[string]any{
		"client_name":                "interop test client",
		"redirect_uris":              []string{redirectURI},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	}
	for k, v := range extra {
		body[k] = v
	}
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		ClientID string `json:"client_id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusCreated || out.ClientID == "" {
		t.Fatalf("registration at %s: status %d, %v, %+v", endpoint, resp.StatusCode, err, out)
	}
	return out.ClientID
}

// origin returns the scheme and host of u.
func origin(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Scheme + "://" + p.Host
}

func toStrings(v any) []string {
	l, _ := v.([]any)
	out := make([]string, 0, len(l))
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}
