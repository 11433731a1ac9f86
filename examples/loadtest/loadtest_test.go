package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// TestLoad runs every scenario for about a second and checks that each
// did work without a single error, and that the report has its rows and
// ratios.
func TestLoad(t *testing.T) {
	cfg, err := parseFlags([]string{"-duration", "1s", "-concurrency", "4", "-slice", "250ms", "-warmup", "0"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	results, err := measure(context.Background(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != len(allScenarios) {
		t.Fatalf("%d results for %d scenarios", len(results), len(allScenarios))
	}
	for _, r := range results {
		if r.errors > 0 {
			t.Errorf("%s: %d errors, first: %v", r.name, r.errors, r.firstErr)
		}
		if r.requests == 0 || r.rps <= 0 {
			t.Errorf("%s: %d requests, %.1f req/s", r.name, r.requests, r.rps)
		}
		if r.p50 <= 0 || r.p99 < r.p50 {
			t.Errorf("%s: p50 %v, p99 %v", r.name, r.p50, r.p99)
		}
	}
	var out bytes.Buffer
	report(&out, cfg, results)
	for _, want := range append(slices.Clone(allScenarios),
		"client_credentials / bare-sign:", "mcp-tools-call / mcp-no-auth:", "req/s", "p99") {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report without %q:\n%s", want, out.String())
		}
	}
}

// TestBareSignerMatchesTokenEndpoint checks that the floor signs what the
// token endpoint signs: the same header and the same claim names, both
// accepted by the MCP server's verifier.
func TestBareSignerMatchesTokenEndpoint(t *testing.T) {
	s, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newClient(1)
	defer c.CloseIdleConnections()
	ctx := context.Background()
	issued, err := s.fetchToken(ctx, c)
	if err != nil {
		t.Fatal(err)
	}
	bare := bareToken(t, s, c)

	type shape struct {
		header map[string]any
		claims []string
	}
	shapeOf := func(tok string) shape {
		t.Helper()
		parts := strings.Split(tok, ".")
		if len(parts) != 3 {
			t.Fatalf("not a JWS: %q", tok)
		}
		var sh shape
		for i, v := range []any{&sh.header, new(map[string]any)} {
			raw, err := base64.RawURLEncoding.DecodeString(parts[i])
			if err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, v); err != nil {
				t.Fatal(err)
			}
			if i == 1 {
				sh.claims = slices.Sorted(maps.Keys(*v.(*map[string]any)))
			}
		}
		return sh
	}
	rs, bs := shapeOf(issued), shapeOf(bare)
	if !maps.Equal(rs.header, bs.header) {
		t.Errorf("headers differ: token endpoint %v, bare %v", rs.header, bs.header)
	}
	if rs.header["alg"] != string(jose.ES256) || rs.header["typ"] != "at+jwt" {
		t.Errorf("token endpoint header %v, want ES256 at+jwt", rs.header)
	}
	if !slices.Equal(rs.claims, bs.claims) {
		t.Errorf("claims differ: token endpoint %v, bare %v", rs.claims, bs.claims)
	}
	for name, tok := range map[string]string{"token endpoint": issued, "bare": bare} {
		info, err := s.verifier.Verify(ctx, tok)
		if err != nil {
			t.Errorf("%s token refused: %v", name, err)
			continue
		}
		if info.Subject != serviceClientID || info.ClientID != serviceClientID || !slices.Equal(info.Scopes, []string{scopeTools}) {
			t.Errorf("%s token: %+v", name, info)
		}
	}
}

func bareToken(t *testing.T, s *stack, c *http.Client) string {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.issuer+bareTokenPath, strings.NewReader("grant_type=client_credentials"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := send(c, req)
	if err != nil {
		t.Fatal(err)
	}
	var resp struct {
		AccessToken string `json:"access_token"`
		TokenType   string `json:"token_type"`
		ExpiresIn   int64  `json:"expires_in"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatal(err)
	}
	if resp.TokenType != "Bearer" || resp.ExpiresIn != int64(tokenLifetime/time.Second) {
		t.Errorf("bare answer %s", body)
	}
	return resp.AccessToken
}

// TestScenariosRefuseFailures checks that a scenario reports a failure:
// a token the MCP server refuses, and introspection by a client that may
// not, are errors rather than counted requests.
func TestScenariosRefuseFailures(t *testing.T) {
	s, err := newStack()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := newClient(1)
	defer c.CloseIdleConnections()
	scs := s.scenarios("not-a-token")
	ctx := context.Background()
	if err := scs[scMCPToolsCall].do(ctx, c); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("tools/call with a bad token: %v, want a 401 error", err)
	}
	if err := scs[scIntrospect].do(ctx, c); err == nil || !strings.Contains(err.Error(), "active") {
		t.Errorf("introspection of a bad token: %v, want an inactive answer refused", err)
	}
	var tl tally
	tl.run(ctx, scs[scMCPToolsCall], c, 2, 100*time.Millisecond)
	if r := tl.result(scs[scMCPToolsCall]); r.errors == 0 || r.requests != 0 || r.firstErr == nil {
		t.Errorf("a failing scenario tallied %d requests, %d errors (%v)", r.requests, r.errors, r.firstErr)
	}
}

func TestParseFlags(t *testing.T) {
	c, err := parseFlags(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.duration != 10*time.Second || c.concurrency != 16 || !slices.Equal(c.scenarios, allScenarios) {
		t.Errorf("defaults %+v", c)
	}
	c, err = parseFlags([]string{"-scenarios", "bare-sign, client_credentials,bare-sign"}, nil)
	if err != nil || !slices.Equal(c.scenarios, []string{scBareSign, scClientCredentials}) {
		t.Errorf("scenarios %v (%v)", c.scenarios, err)
	}
	for _, args := range [][]string{
		{"-duration", "10ms"},
		{"-duration", "2h"},
		{"-concurrency", "0"},
		{"-concurrency", "5000"},
		{"-slice", "1ms"},
		{"-warmup", "-1s"},
		{"-scenarios", "nope"},
		{"-scenarios", ","},
		{"extra"},
	} {
		var out bytes.Buffer
		if _, err := parseFlags(args, &out); err == nil {
			t.Errorf("%q accepted", args)
		}
	}
}
