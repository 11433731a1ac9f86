package consent

import (
	"bytes"
	"context"
	"html/template"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/internal/safehttp/safehttptest"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

const (
	testResource = "https://mcp.example.com/mcp"
	loopbackID   = "loopback-app"
	webID        = "web-app"
	registeredID = "dyn-0123456789"
	webCallback  = "https://app.example.com/cb"
	xssName      = "<script>alert(1)</script>"
	logoHost     = "logos.example"
)

// harness is an authorization server with the consent handler and a tiny
// login, on a loopback httptest server.
type harness struct {
	t      testing.TB
	srv    *authz.Server
	store  *memory.Store
	ts     *httptest.Server
	issuer string
	h      *Handler
	logos  *logoServer

	mu sync.Mutex
	// loginAt is when each user last logged in; a session cookie
	// "session=<user>" stands for the host's real session.
	loginAt map[string]time.Time
}

type options struct {
	authz   func(*authz.Config)
	consent func(*Config)
	// loopbackRedirect overrides the loopback client's redirect URI.
	loopbackRedirect string
}

func newHarness(t testing.TB, o options) *harness {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	hs := &harness{t: t, ts: ts, loginAt: map[string]time.Time{}}
	hs.issuer = "http://" + ts.Listener.Addr().String()
	hs.store = memory.New(memory.Options{})
	hs.logos = newLogoServer(t)
	loopRedirect := "http://127.0.0.1/callback"
	if o.loopbackRedirect != "" {
		loopRedirect = o.loopbackRedirect
	}
	cfg := authz.Config{
		Issuer: hs.issuer,
		Store:  hs.store,
		Clients: []authz.StaticClient{
			{Metadata: metadata.Client{ClientID: loopbackID, ClientName: "Loopback Tool", RedirectURIs: []string{loopRedirect},
				LogoURI: "https://" + logoHost + "/app.png"}},
			{Metadata: metadata.Client{ClientID: webID, ClientName: "Web App", RedirectURIs: []string{webCallback}}},
		},
		Scopes: []authz.Scope{
			{Name: "mcp:tools", Description: "Use the tools of your MCP servers", Default: true},
			{Name: "mcp:prompts", Description: "Read your prompts"},
			{Name: "mcp:raw"},
		},
		Resources: []authz.Resource{
			{Identifier: testResource, Name: "Example MCP server"},
		},
		DefaultResource: testResource,
		InteractionURL:  "/consent",
	}
	cfg.Policies = metadataDocumentPolicy(t)
	if o.authz != nil {
		o.authz(&cfg)
	}
	srv, err := authz.New(cfg)
	if err != nil {
		t.Fatalf("authz.New: %v", err)
	}
	hs.srv = srv
	sc, err := safehttp.New(hs.logos.srv.Options(map[string][]string{logoHost: {"127.0.0.1"}}))
	if err != nil {
		t.Fatal(err)
	}
	ccfg := Config{
		Server:       srv,
		Authenticate: hs.authenticate,
		LoginURL:     "/login",
		Store:        hs.store,
		LogoClient:   sc.HTTPClient(),
	}
	if o.consent != nil {
		o.consent(&ccfg)
	}
	h, err := New(ccfg)
	if err != nil {
		t.Fatalf("consent.New: %v", err)
	}
	hs.h = h
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle("/consent", h)
	mux.HandleFunc("/login", hs.login)
	mux.HandleFunc("/favicon.ico", func(w http.ResponseWriter, r *http.Request) { serveFavicon(w, r) })
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	// A registered client whose self-asserted name is hostile.
	err = hs.store.CreateClient(context.Background(), &storage.Client{
		ID:   registeredID,
		Kind: storage.ClientRegistered,
		Metadata: metadata.Client{ClientID: registeredID, ClientName: xssName,
			RedirectURIs: []string{"https://evil.example/cb"}, TokenEndpointAuthMethod: "none"},
		CreatedAt: time.Now(),
	}, 0)
	if err != nil {
		t.Fatal(err)
	}
	return hs
}

// cimdClientID is a URL-shaped client_id that metadataDocumentPolicy
// resolves, as package cimd would after fetching its document.
const cimdClientID = "https://tools.example.org/oauth/client.json"

// metadataDocumentPolicy stands in for package cimd: it resolves
// cimdClientID to a metadata-document client without any network.
func metadataDocumentPolicy(t testing.TB) *policy.Engine {
	resolve := policy.ExecutorFunc(func(_ context.Context, r *policy.Request) error {
		if r.Event != policy.EventAuthorizationRequest || r.ClientID != cimdClientID {
			return nil
		}
		r.Client = &storage.Client{ID: cimdClientID, Kind: storage.ClientMetadataDocument, Metadata: metadata.Client{
			ClientID: cimdClientID, ClientName: "Tools", RedirectURIs: []string{"https://tools.example.org/cb"}, TokenEndpointAuthMethod: "none",
		}}
		return nil
	})
	isURL := policy.ConditionFunc(func(_ context.Context, r *policy.Request) (bool, error) {
		return strings.HasPrefix(r.ClientID, "https://"), nil
	})
	e, err := policy.New(nil,
		[]policy.Profile{{Name: "cimd", Executors: []policy.ExecutorSpec{{ID: "resolve", Executor: resolve}}}},
		[]policy.Policy{{Name: "cimd", Conditions: []policy.ConditionSpec{{ID: "url", Condition: isURL}}, Profiles: []string{"cimd"}}})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func (hs *harness) authenticate(r *http.Request) (string, time.Time, bool) {
	c, err := r.Cookie("session")
	if err != nil || c.Value == "" {
		return "", time.Time{}, false
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	at, ok := hs.loginAt[c.Value]
	return c.Value, at, ok
}

// loginPage is the test host's login form, built on the consent layout.
var loginPage = template.Must(Layout().Parse(`
{{define "title"}}Sign in{{end}}
{{define "content"}}
<h1>Sign in</h1>
<p class="muted">Use any name; this is a test.</p>
<form method="post">
<input type="hidden" name="request_id" value="{{.RequestID}}">
<div class="field"><label for="user">User name</label>
<input id="user" name="user" autocomplete="username" required></div>
<div class="actions"><button type="submit" class="primary">Continue</button></div>
</form>
{{end}}`))

// login is the host's login page: any user name is accepted.
func (hs *harness) login(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		SetPageHeaders(w.Header())
		_ = loginPage.ExecuteTemplate(w, "layout", struct{ RequestID string }{r.URL.Query().Get("request_id")})
	case http.MethodPost:
		user := r.PostFormValue("user")
		if user == "" {
			http.Error(w, "no user", http.StatusBadRequest)
			return
		}
		hs.signIn(user, time.Now())
		http.SetCookie(w, &http.Cookie{Name: "session", Value: user, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/consent?request_id="+url.QueryEscape(r.PostFormValue("request_id")), http.StatusSeeOther)
	}
}

func (hs *harness) signIn(user string, at time.Time) {
	hs.mu.Lock()
	hs.loginAt[user] = at
	hs.mu.Unlock()
}

// client is a browser stand-in: a cookie jar, no redirect following.
type client struct {
	t  testing.TB
	hs *harness
	c  *http.Client
}

func (hs *harness) client(user string) *client {
	jar, _ := cookiejar.New(nil)
	if user != "" {
		hs.signIn(user, time.Now())
		u, _ := url.Parse(hs.issuer)
		jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: user, Path: "/"}})
	}
	return &client{t: hs.t, hs: hs, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type flow struct {
	id       string
	verifier string
	oauth    *oauth2.Config
	state    string
}

// park starts an authorization request and returns the parked request ID.
func (c *client) park(clientID, redirect string, extra ...string) *flow {
	c.t.Helper()
	f := &flow{verifier: oauth2.GenerateVerifier(), state: "st-" + clientID}
	f.oauth = &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: redirect,
		Scopes:      []string{"mcp:tools", "mcp:prompts"},
		Endpoint:    oauth2.Endpoint{AuthURL: c.hs.issuer + "/authorize", TokenURL: c.hs.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), oauth2.SetAuthURLParam("resource", testResource)}
	for i := 0; i+1 < len(extra); i += 2 {
		opts = append(opts, oauth2.SetAuthURLParam(extra[i], extra[i+1]))
	}
	resp := c.get(f.oauth.AuthCodeURL(f.state, opts...))
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.Contains(loc, "/consent?request_id=") {
		c.t.Fatalf("authorize: %d %s", resp.StatusCode, loc)
	}
	u, _ := url.Parse(loc)
	f.id = u.Query().Get("request_id")
	return f
}

type response struct {
	*http.Response
	body string
}

func (c *client) do(req *http.Request) *response {
	c.t.Helper()
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return &response{Response: resp, body: string(b)}
}

func (c *client) get(u string) *response {
	c.t.Helper()
	if strings.HasPrefix(u, "/") {
		u = c.hs.issuer + u
	}
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return c.do(req)
}

// page loads the consent page of a parked request.
func (c *client) page(id string) *response {
	c.t.Helper()
	return c.get("/consent?request_id=" + url.QueryEscape(id))
}

var tokenRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

func csrfFrom(t testing.TB, body string) string {
	t.Helper()
	m := tokenRE.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no csrf_token in page:\n%s", body)
	}
	return m[1]
}

// post submits the consent form as a same-origin browser would.
func (c *client) post(form url.Values, hdr ...string) *response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.hs.issuer+"/consent", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	req.Header.Set("Origin", c.hs.issuer)
	ownCookies := false
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		ownCookies = ownCookies || hdr[i] == "Cookie"
	}
	if ownCookies {
		// Send exactly the given cookies, not the jar's.
		raw := &client{t: c.t, hs: c.hs, c: &http.Client{CheckRedirect: c.c.CheckRedirect}}
		return raw.do(req)
	}
	return c.do(req)
}

// decide loads the page and posts the decision with its token.
func (c *client) decide(id, action string, extra ...string) *response {
	c.t.Helper()
	p := c.page(id)
	if p.StatusCode != http.StatusOK {
		c.t.Fatalf("consent page: %d\n%s", p.StatusCode, p.body)
	}
	form := url.Values{"request_id": {id}, "csrf_token": {csrfFrom(c.t, p.body)}, "action": {action}}
	for i := 0; i+1 < len(extra); i += 2 {
		form.Set(extra[i], extra[i+1])
	}
	return c.post(form)
}

// callback checks a 303 to the client and returns its query.
func callback(t testing.TB, r *response, prefix string) url.Values {
	t.Helper()
	loc := r.Header.Get("Location")
	if r.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, prefix) {
		t.Fatalf("want 303 to %s, got %d %q\n%s", prefix, r.StatusCode, loc, r.body)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

// stillPending asserts that the request was not consumed.
func (hs *harness) stillPending(id string) {
	hs.t.Helper()
	if _, err := hs.srv.PendingRequest(context.Background(), id); err != nil {
		hs.t.Fatalf("request %s no longer pending: %v", id, err)
	}
}

// logoServer serves logos over TLS as "logos.example".
type logoServer struct {
	srv  *safehttptest.Server
	hits atomic.Int64
}

func testPNG(size int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, size, size))
	// A white ring on blue, so a screenshot shows a real picture.
	c := float64(size-1) / 2
	for y := range size {
		for x := range size {
			dx, dy := float64(x)-c, float64(y)-c
			d := dx*dx + dy*dy
			col := color.RGBA{R: 11, G: 87, B: 208, A: 255}
			if d < c*c*0.5 && d > c*c*0.18 {
				col = color.RGBA{R: 255, G: 255, B: 255, A: 255}
			}
			img.Set(x, y, col)
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	return b.Bytes()
}

func newLogoServer(t testing.TB) *logoServer {
	ls := &logoServer{}
	pngData := testPNG(48)
	ls.srv = safehttptest.NewTLSServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.hits.Add(1)
		switch r.URL.Path {
		case "/app.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(pngData)
		case "/mislabelled.png":
			// HTML sent as an image: sniffing must refuse it.
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write([]byte("<!doctype html><script>alert(1)</script>"))
		case "/logo.svg":
			w.Header().Set("Content-Type", "image/svg+xml")
			_, _ = w.Write([]byte(`<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`))
		case "/big.png":
			w.Header().Set("Content-Type", "image/png")
			_, _ = w.Write(append(append([]byte(nil), pngData...), make([]byte, DefaultMaxLogoBytes)...))
		case "/moved.png":
			http.Redirect(w, r, "/app.png", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}), logoHost)
	return ls
}

var favicon = testPNG(16)

// serveFavicon answers the browser's favicon request, as any real host
// does, so that a 404 for it does not count as a console error.
func serveFavicon(w http.ResponseWriter, r *http.Request) bool {
	if r.URL.Path != "/favicon.ico" {
		return false
	}
	w.Header().Set("Content-Type", "image/png")
	_, _ = w.Write(favicon)
	return true
}
