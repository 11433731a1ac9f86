package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// startRun runs the program in process on a free loopback port and waits
// for its listening line. It returns the output so far and a function
// that stops the program and returns run's error.
func startRun(t *testing.T, args ...string) (out *syncBuffer, elapsed time.Duration, stop func() error) {
	t.Helper()
	out = &syncBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), out) }()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(out.String(), "Listening on ") {
		select {
		case err := <-done:
			cancel()
			t.Fatalf("run returned early: %v\n%s", err, out)
		case <-deadline:
			cancel()
			t.Fatalf("no listening line after 10 s:\n%s", out)
		case <-time.After(5 * time.Millisecond):
		}
	}
	elapsed = time.Since(start)
	var stopped bool
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("run did not return 10 s after cancellation")
			return nil
		}
	}
	t.Cleanup(func() { _ = stop() })
	return out, elapsed, stop
}

var (
	mcpLineRE      = regexp.MustCompile(`(?m)^  MCP endpoint:   (\S+)$`)
	userLineRE     = regexp.MustCompile(`(?m)^  Demo user:      (\S+)$`)
	passwordLineRE = regexp.MustCompile(`(?m)^  Demo password:  (\S+)   \(`)
)

func TestRunStartupOutput(t *testing.T) {
	t.Setenv("NQ_DEMO_USER", "")
	t.Setenv("NQ_DEMO_PASSWORD", "")
	out, elapsed, stop := startRun(t)
	if elapsed > 5*time.Second {
		t.Errorf("start-up took %v, want under 5 s", elapsed)
	}
	text := out.String()
	m := mcpLineRE.FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no MCP URL line:\n%s", text)
	}
	mcpURL := m[1]
	if !regexp.MustCompile(`^http://127\.0\.0\.1:[1-9][0-9]*/mcp$`).MatchString(mcpURL) {
		t.Fatalf("MCP URL %q", mcpURL)
	}
	publicURL := strings.TrimSuffix(mcpURL, "/mcp")
	for _, want := range []string{
		"  Issuer:         " + publicURL + "\n",
		"\n  " + `{"servers":{"nqrust":{"type":"http","url":"` + mcpURL + `"}}}` + "\n",
		"\n  npx @modelcontextprotocol/inspector\n",
		`Transport Type "Streamable HTTP", enter the URL ` + mcpURL,
		"registration origin http://localhost:6274 is allowed by default",
		"random for this run",
		"Listening on 127.0.0.1:" + strings.TrimPrefix(publicURL, "http://127.0.0.1:"),
	} {
		if !strings.Contains(text, want) {
			t.Errorf("start-up output lacks %q:\n%s", want, text)
		}
	}
	if u := userLineRE.FindStringSubmatch(text); u == nil || u[1] != "demo" {
		t.Errorf("demo user line: %v", u)
	}
	pw := passwordLineRE.FindStringSubmatch(text)
	if pw == nil || len(pw[1]) != 16 {
		t.Fatalf("demo password line: %v", pw)
	}

	// The server is live, and the printed credentials are the real ones.
	resp, err := http.Get(publicURL + "/.well-known/oauth-protected-resource/mcp")
	if err != nil {
		t.Fatal(err)
	}
	var prm struct {
		Resource string   `json:"resource"`
		AS       []string `json:"authorization_servers"`
	}
	err = json.NewDecoder(resp.Body).Decode(&prm)
	resp.Body.Close()
	if err != nil || prm.Resource != mcpURL || !slices.Equal(prm.AS, []string{publicURL}) {
		t.Fatalf("protected resource metadata %+v, %v", prm, err)
	}
	s := &testServer{server: &server{publicURL: publicURL, mcpURL: mcpURL}}
	b := newBrowser(t)
	login := b.get(t, authorizeURL(s, registerClient(t, s, ""), "mcp:tools", "st"))
	f := loginForm(login, "demo", pw[1])
	if got := b.post(t, login.formURL(t), f); got.status != http.StatusOK || !got.isConsent() {
		t.Fatalf("login with the printed credentials: status %d", got.status)
	}

	if err := stop(); err != nil {
		t.Fatalf("run: %v", err)
	}
	if !strings.Contains(out.String(), "Shutting down") {
		t.Errorf("no shutdown message")
	}
	if _, err := net.DialTimeout("tcp", strings.TrimPrefix(publicURL, "http://"), time.Second); err == nil {
		t.Errorf("still listening after shutdown")
	}
}

func TestRunFlagsAndEnv(t *testing.T) {
	t.Setenv("NQ_DEMO_USER", "bob")
	t.Setenv("NQ_DEMO_PASSWORD", "from-env")
	out, _, _ := startRun(t, "-dcr=false", "-cimd-domains", "", "-resource", "https://rs.example.com/mcp", "-resource", "http://127.0.0.1:9090/mcp")
	text := out.String()
	for _, want := range []string{
		"  Demo user:      bob\n",
		"  Resources:      https://rs.example.com/mcp, http://127.0.0.1:9090/mcp too (-resource)\n",
		"  Demo password:  from-env   (set with -demo-password or NQ_DEMO_PASSWORD)\n",
		"  Registration:   off (-dcr=false)\n",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("output lacks %q:\n%s", want, text)
		}
	}
}

func TestRunErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-nope"}, "flag provided but not defined"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-addr", ln.Addr().String()}, "address already in use"},
		{[]string{"-addr", "127.0.0.1:0", "-public-url", "http://127.0.0.1:1/"}, "must not end with a slash"},
		{[]string{"-addr", "127.0.0.1:0", "-public-url", "http://example.com"}, "must use https"},
		{[]string{"-addr", "127.0.0.1:0", "-public-url", "ftp://example.com"}, "absolute http or https URL"},
		{[]string{"-addr", "127.0.0.1:0", "-public-url", "https://example.com/a?b"}, "query"},
		{[]string{"-addr", "127.0.0.1:0", "-store", "redis:x"}, `-store must be "memory"`},
		{[]string{"-addr", "127.0.0.1:0", "-store", "postgres:host=/tmp"}, "needs -key-secret or NQ_KEY_SECRET"},
		{[]string{"-addr", "127.0.0.1:0", "-store", "sqlite:x.db", "-key-secret", "short"}, "at least 32 random bytes"},
		{[]string{"-demo-user", ""}, "-demo-user must not be empty"},
		{[]string{"-demo-password", ""}, "-demo-password must not be empty"},
	} {
		err := run(context.Background(), tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("run %q: error %v, want %q", tc.args, err, tc.want)
		}
	}
	if err := run(context.Background(), []string{"-h"}, io.Discard); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	c, err := parseConfig(nil, env(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.addr != "127.0.0.1:8080" || c.publicURL != "" || c.demoUser != "demo" || !c.passwordGenerated || len(c.demoPassword) != 16 ||
		c.store != "memory" || !c.dcr || !slices.Equal(c.dcrOrigins, []string{"http://localhost:6274"}) ||
		!slices.Equal(c.cimdDomains, []string{"*"}) || c.cimdAllowHTTP || c.allowPrivateFetch || c.keySecret != "" {
		t.Errorf("defaults: %+v", c)
	}
	c2, _ := parseConfig(nil, env(nil), io.Discard)
	if c2.demoPassword == c.demoPassword {
		t.Errorf("the random password repeats")
	}

	e := env(map[string]string{"NQ_DEMO_USER": "eve", "NQ_DEMO_PASSWORD": "envpw", "NQ_KEY_SECRET": "envsecret"})
	c, err = parseConfig(nil, e, io.Discard)
	if err != nil || c.demoUser != "eve" || c.demoPassword != "envpw" || c.passwordGenerated || c.keySecret != "envsecret" {
		t.Errorf("env: %+v %v", c, err)
	}
	c, err = parseConfig([]string{
		"-demo-user", "flag", "-demo-password", "flagpw", "-key-secret", "k",
		"-addr", ":9", "-public-url", "https://mcp.example.com",
		"-dcr=false", "-dcr-origins", " http://a:1 , ,http://b:2", "-cimd-domains", "vscode.dev,*.example.org",
		"-cimd-allow-http", "-allow-private-fetch", "-store", "sqlite:x.db",
	}, e, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.demoUser != "flag" || c.demoPassword != "flagpw" || c.keySecret != "k" || c.addr != ":9" || c.publicURL != "https://mcp.example.com" ||
		c.dcr || !slices.Equal(c.dcrOrigins, []string{"http://a:1", "http://b:2"}) ||
		!slices.Equal(c.cimdDomains, []string{"vscode.dev", "*.example.org"}) || !c.cimdAllowHTTP || !c.allowPrivateFetch || c.store != "sqlite:x.db" {
		t.Errorf("flags: %+v", c)
	}
	c, _ = parseConfig([]string{"-cimd-domains", "", "-dcr-origins", ""}, e, io.Discard)
	if c.cimdDomains != nil || c.dcrOrigins != nil {
		t.Errorf("empty lists: %+v", c)
	}
}

func TestDefaultPublicURL(t *testing.T) {
	for _, tc := range []struct{ addr, bound, want string }{
		{"127.0.0.1:8080", "127.0.0.1:8080", "http://127.0.0.1:8080"},
		{"127.0.0.1:0", "127.0.0.1:43210", "http://127.0.0.1:43210"},
		{"localhost:8080", "127.0.0.1:8080", "http://localhost:8080"},
		{":8080", "[::]:8080", "http://127.0.0.1:8080"},
		{"0.0.0.0:8080", "0.0.0.0:8080", "http://127.0.0.1:8080"},
		{"[::]:8080", "[::]:8080", "http://127.0.0.1:8080"},
		{"[::1]:8080", "[::1]:8080", "http://[::1]:8080"},
	} {
		bound, err := net.ResolveTCPAddr("tcp", tc.bound)
		if err != nil {
			t.Fatal(err)
		}
		if got := defaultPublicURL(tc.addr, bound); got != tc.want {
			t.Errorf("defaultPublicURL(%q, %s) = %q, want %q", tc.addr, tc.bound, got, tc.want)
		}
	}
}
