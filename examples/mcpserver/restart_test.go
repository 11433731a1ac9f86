package main

// This file drives the built binary as a separate process over HTTP. It
// deliberately uses none of the package's other test helpers (they belong
// to another file set and may change), and every top-level name in it
// starts with "restart" so that it cannot collide with them.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"
)

// TestRestartKeepsState runs the demo on a SQLite file, registers a
// client (RFC 7591) and signs in through the login and consent pages,
// then kills the process with SIGKILL and starts it again on the same
// port and file. Afterwards the client is still registered (RFC 7592 read
// and a new authorization request), access tokens issued before the crash
// still verify (tools/list at /mcp, same JWKS), the refresh token still
// works, and the key secret file beside the database (mode 0600) was
// created by the first start and reused by the second.
func TestRestartKeepsState(t *testing.T) {
	bin := restartBuild(t)
	dir := t.TempDir()
	db := filepath.Join(dir, "db.sqlite")
	const password = "restart-test-password"
	args := []string{"-store", "sqlite:" + db, "-demo-user", "alice", "-demo-password", password}

	p := restartStart(t, bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	base := p.base
	secretFile := db + ".key-secret"
	secret := restartSecretFile(t, secretFile)

	redirect := "http://127.0.0.1:7777/callback"
	reg := restartRegister(t, base, redirect)
	verifier := oauth2.GenerateVerifier()
	code := restartLogin(t, base, reg.ClientID, redirect, "alice", password, verifier)
	tok := restartPostToken(t, base, url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {reg.ClientID},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {redirect},
		"resource":      {base + "/mcp"},
	})
	if tok.RefreshToken == "" {
		t.Fatalf("no refresh token for a client registered with refresh_token")
	}
	if status, body := restartToolsList(t, base, tok.AccessToken); status != http.StatusOK || !strings.Contains(body, `"tools"`) {
		t.Fatalf("tools/list before the restart: %d %s", status, body)
	}
	jwksBefore := restartGet(t, base+"/jwks")

	p.kill(t)
	p = restartStart(t, bin, append([]string{"-addr", strings.TrimPrefix(base, "http://")}, args...)...)
	if p.base != base {
		t.Fatalf("restarted at %s, want %s", p.base, base)
	}

	if got := restartSecretFile(t, secretFile); got != secret {
		t.Fatal("the key secret file changed across the restart")
	}
	if jwksAfter := restartGet(t, base+"/jwks"); jwksAfter != jwksBefore {
		t.Fatalf("JWKS changed across the restart:\nbefore %s\nafter  %s", jwksBefore, jwksAfter)
	}
	// The access token from before the crash still verifies.
	if status, body := restartToolsList(t, base, tok.AccessToken); status != http.StatusOK || !strings.Contains(body, `"tools"`) {
		t.Fatalf("tools/list with the access token from before the restart: %d %s", status, body)
	}
	// The client is still registered: its registration reads back ...
	req, _ := http.NewRequest(http.MethodGet, reg.RegistrationClientURI, nil)
	req.Header.Set("Authorization", "Bearer "+reg.RegistrationAccessToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var read restartRegistration
	err = json.NewDecoder(resp.Body).Decode(&read)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || read.ClientID != reg.ClientID {
		t.Fatalf("RFC 7592 read after the restart: %d %v %+v", resp.StatusCode, err, read)
	}
	// ... its refresh token works ...
	refreshed := restartPostToken(t, base, url.Values{
		"grant_type":    {"refresh_token"},
		"client_id":     {reg.ClientID},
		"refresh_token": {tok.RefreshToken},
	})
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh after the restart did not rotate: %+v", refreshed)
	}
	if status, body := restartToolsList(t, base, refreshed.AccessToken); status != http.StatusOK {
		t.Fatalf("tools/list with the refreshed access token: %d %s", status, body)
	}
	// ... and it can sign in again.
	verifier = oauth2.GenerateVerifier()
	code = restartLogin(t, base, reg.ClientID, redirect, "alice", password, verifier)
	if code == "" {
		t.Fatal("no code after the restart")
	}
}

// restartBuild builds the command into a temporary directory.
func restartBuild(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mcpserver")
	// go test puts $GOROOT/bin first on PATH.
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is not on PATH: %v", err)
	}
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// restartProc is a running server process.
type restartProc struct {
	cmd  *exec.Cmd
	base string // http://127.0.0.1:port
	done chan struct{}
}

var restartListening = regexp.MustCompile(`Listening on (127\.0\.0\.1:\d+)`)

// restartStart starts the binary and waits for its listening line. The
// process is killed at the end of the test if it still runs.
func restartStart(t *testing.T, bin string, args ...string) *restartProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	// No key secret from the environment: the SQLite store must use (and
	// on first start create) the file beside the database.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "NQ_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &restartProc{cmd: cmd, done: make(chan struct{})}
	addr := make(chan string, 1)
	var outMu sync.Mutex
	var out strings.Builder
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			outMu.Lock()
			out.WriteString(sc.Text() + "\n")
			outMu.Unlock()
			if m := restartListening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	select {
	case a := <-addr:
		p.base = "http://" + a
		return p
	case <-p.done:
	case <-time.After(30 * time.Second):
	}
	outMu.Lock()
	defer outMu.Unlock()
	t.Fatalf("the server did not start:\nstdout:\n%s\nstderr:\n%s", out.String(), stderr.String())
	return nil
}

// kill ends the process with SIGKILL: no shutdown code runs.
func (p *restartProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the killed server did not exit")
	}
}

// restartSecretFile checks the key secret file (mode 0600) and returns
// its content.
func restartSecretFile(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("key secret file: %v", err)
	}
	if mode := fi.Mode().Perm(); mode != 0o600 {
		t.Fatalf("key secret file %s has mode %o, want 600", path, mode)
	}
	b, err := os.ReadFile(path)
	if err != nil || len(strings.TrimSpace(string(b))) < 64 {
		t.Fatalf("key secret file: %v, %d bytes", err, len(b))
	}
	return string(b)
}

// restartRegistration is the part of an RFC 7591 response the test uses.
type restartRegistration struct {
	ClientID                string `json:"client_id"`
	RegistrationAccessToken string `json:"registration_access_token"`
	RegistrationClientURI   string `json:"registration_client_uri"`
}

// restartRegister registers a public native client.
func restartRegister(t *testing.T, base, redirect string) *restartRegistration {
	t.Helper()
	body, _ := json.Marshal(map[string]any{
		"client_name":                "restart test client",
		"redirect_uris":              []string{redirect},
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
		"application_type":           "native",
	})
	resp, err := http.Post(base+"/register", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var reg restartRegistration
	if err := json.NewDecoder(resp.Body).Decode(&reg); err != nil || resp.StatusCode != http.StatusCreated ||
		reg.ClientID == "" || reg.RegistrationAccessToken == "" || reg.RegistrationClientURI == "" {
		t.Fatalf("registration: %d %v %+v", resp.StatusCode, err, reg)
	}
	return &reg
}

// restartLogin runs an authorization request in a browser-like client
// (cookie jar, redirects followed within the server) through the login
// and consent pages, and returns the code delivered to redirect.
func restartLogin(t *testing.T, base, clientID, redirect, user, password, verifier string) string {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	server, _ := url.Parse(base)
	var final *url.URL
	browser := &http.Client{Jar: jar, Timeout: 10 * time.Second, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != server.Host {
			final = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	q := url.Values{
		"response_type":         {"code"},
		"client_id":             {clientID},
		"redirect_uri":          {redirect},
		"scope":                 {"mcp:tools"},
		"state":                 {"restart-state"},
		"code_challenge":        {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
		"resource":              {base + "/mcp"},
	}
	page := restartFetch(t, browser, http.MethodGet, base+"/authorize?"+q.Encode(), nil, base)
	for step := 0; final == nil; step++ {
		if step == 4 {
			t.Fatalf("no redirect to the client after %d pages; last at %s:\n%s", step, page.url, page.body)
		}
		f := restartFindForm(t, page)
		switch {
		case f.password != "":
			f.values.Set(f.userField(), user)
			f.values.Set(f.password, password)
			f.submit("login", "sign in", "signin")
		default:
			f.submit("approve", "allow")
		}
		page = restartFetch(t, browser, http.MethodPost, f.action, f.values, base)
	}
	fq := final.Query()
	if got := final.Scheme + "://" + final.Host + final.Path; got != redirect || fq.Get("state") != "restart-state" || fq.Get("code") == "" {
		t.Fatalf("authorization response %s", final)
	}
	return fq.Get("code")
}

// restartPage is a fetched HTML page.
type restartPage struct {
	url    *url.URL
	status int
	body   string
}

func restartFetch(t *testing.T, c *http.Client, method, target string, form url.Values, origin string) *restartPage {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		// What a browser sends with a same-origin form post.
		req.Header.Set("Origin", origin)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		t.Fatalf("%s %s: status %d:\n%s", method, resp.Request.URL, resp.StatusCode, b)
	}
	return &restartPage{url: resp.Request.URL, status: resp.StatusCode, body: string(b)}
}

// restartForm is the first form of a page, with the values a browser
// would send without user input.
type restartForm struct {
	t        *testing.T
	action   string
	values   url.Values
	buttons  [][2]string // name, value
	fields   []string    // names of visible text inputs
	password string      // name of the password input, if any
}

var (
	restartFormRE   = regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`)
	restartInputRE  = regexp.MustCompile(`(?is)<input\b([^>]*)>`)
	restartButtonRE = regexp.MustCompile(`(?is)<button\b([^>]*)>`)
	restartAttrRE   = regexp.MustCompile(`(?is)([a-z-]+)\s*=\s*("([^"]*)"|'([^']*)')`)
)

func restartAttrs(s string) map[string]string {
	m := map[string]string{}
	for _, a := range restartAttrRE.FindAllStringSubmatch(s, -1) {
		v := a[3]
		if strings.HasPrefix(a[2], "'") {
			v = a[4]
		}
		m[strings.ToLower(a[1])] = html.UnescapeString(v)
	}
	return m
}

func restartFindForm(t *testing.T, p *restartPage) *restartForm {
	t.Helper()
	m := restartFormRE.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no form on %s (status %d):\n%s", p.url, p.status, p.body)
	}
	attrs := restartAttrs(m[1])
	action, err := p.url.Parse(attrs["action"])
	if err != nil || strings.ToLower(attrs["method"]) != "post" {
		t.Fatalf("form on %s: action %q method %q", p.url, attrs["action"], attrs["method"])
	}
	f := &restartForm{t: t, action: action.String(), values: url.Values{}}
	for _, in := range restartInputRE.FindAllStringSubmatch(m[2], -1) {
		a := restartAttrs(in[1])
		switch strings.ToLower(a["type"]) {
		case "hidden":
			f.values.Set(a["name"], a["value"])
		case "", "text":
			f.fields = append(f.fields, a["name"])
		case "password":
			f.password = a["name"]
		}
	}
	for _, b := range restartButtonRE.FindAllStringSubmatch(m[2], -1) {
		a := restartAttrs(b[1])
		f.buttons = append(f.buttons, [2]string{a["name"], a["value"]})
	}
	return f
}

// userField is the visible text input of a login form.
func (f *restartForm) userField() string {
	if len(f.fields) == 0 {
		f.t.Fatal("login form without a user name field")
	}
	return f.fields[0]
}

// submit presses the button whose value is one of want.
func (f *restartForm) submit(want ...string) {
	for _, b := range f.buttons {
		for _, w := range want {
			if strings.EqualFold(b[1], w) {
				if b[0] != "" {
					f.values.Set(b[0], b[1])
				}
				return
			}
		}
	}
	f.t.Fatalf("no %v button in the form (buttons %v)", want, f.buttons)
}

// restartTokens is a successful token response.
type restartTokens struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func restartPostToken(t *testing.T, base string, form url.Values) *restartTokens {
	t.Helper()
	resp, err := http.PostForm(base+"/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var tok restartTokens
	if err := json.Unmarshal(raw, &tok); err != nil || resp.StatusCode != http.StatusOK || tok.AccessToken == "" {
		t.Fatalf("token (%s): %d %v %s", form.Get("grant_type"), resp.StatusCode, err, raw)
	}
	return &tok
}

// restartToolsList calls tools/list like a stateless Streamable HTTP
// client and returns the status and body.
func restartToolsList(t *testing.T, base, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, base+"/mcp", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("MCP-Protocol-Version", "2025-06-18")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func restartGet(t *testing.T, u string) string {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d", u, resp.StatusCode)
	}
	return string(b)
}
