package attack

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
	"github.com/nqrust/identity/authz/consent"
	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/internal/safehttp"
	"github.com/nqrust/identity/internal/safehttp/safehttptest"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// Static clients of every world.
const (
	confID     = "web-conf" // confidential, client_secret_basic
	confSecret = "web-conf-secret-0123456789abcdef"
	pubID      = "native-pub"    // public, loopback redirect
	webPubID   = "web-pub"       // public, two https redirects
	rsID       = "rs-introspect" // resource server, may introspect
	rsSecret   = "rs-secret-0123456789abcdef"
	pkjwtID    = "pkjwt-inline"                          // private_key_jwt, inline jwks
	urlStatic  = "https://static.vscode.dev/client.json" // a static client with a URL-shaped id
	user       = "alice"

	webCB    = "https://app.example.com/cb"
	webCB2   = "https://app.example.com/cb2"
	loopCB   = "http://127.0.0.1/callback"
	publicIP = "13.107.246.40" // what public test names resolve to; never dialled for real
)

// jwksClients are private_key_jwt clients whose jwks_uri points somewhere a
// server must never fetch from, keyed by client_id.
var jwksClients = map[string]string{
	"pkjwt-loopback":  "https://loop.vscode.dev/jwks.json",
	"pkjwt-private":   "https://ten.vscode.dev/jwks.json",
	"pkjwt-metadata":  "https://meta.vscode.dev/jwks.json",
	"pkjwt-ipliteral": "https://127.0.0.1/jwks.json",
	"pkjwt-mapped":    "https://mapped.vscode.dev/jwks.json",
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
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

// clock is the settable clock every component of a world shares.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

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

// spyStore is the memory store with every successful write counted, so a
// case can assert that a refused request stored nothing.
type spyStore struct {
	*memory.Store
	mu     sync.Mutex
	writes map[string]int
}

func (s *spyStore) note(op string, err error) {
	if err != nil {
		return
	}
	s.mu.Lock()
	s.writes[op]++
	s.mu.Unlock()
}

func (s *spyStore) snapshot() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := make(map[string]int, len(s.writes))
	for k, v := range s.writes {
		m[k] = v
	}
	return m
}

func (s *spyStore) CreateClient(ctx context.Context, c *storage.Client, limit int) error {
	err := s.Store.CreateClient(ctx, c, limit)
	s.note("CreateClient", err)
	return err
}

func (s *spyStore) UpdateClient(ctx context.Context, c *storage.Client) error {
	err := s.Store.UpdateClient(ctx, c)
	s.note("UpdateClient", err)
	return err
}

func (s *spyStore) SaveAuthorizationRequest(ctx context.Context, r *storage.AuthorizationRequest) error {
	err := s.Store.SaveAuthorizationRequest(ctx, r)
	s.note("SaveAuthorizationRequest", err)
	return err
}

func (s *spyStore) ConsumeAuthorizationRequest(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	r, err := s.Store.ConsumeAuthorizationRequest(ctx, id)
	s.note("ConsumeAuthorizationRequest", err)
	return r, err
}

func (s *spyStore) CreateGrant(ctx context.Context, g *storage.Grant) error {
	err := s.Store.CreateGrant(ctx, g)
	s.note("CreateGrant", err)
	return err
}

func (s *spyStore) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	err := s.Store.RevokeGrant(ctx, id, at)
	s.note("RevokeGrant", err)
	return err
}

func (s *spyStore) SaveCode(ctx context.Context, c *storage.AuthorizationCode) error {
	err := s.Store.SaveCode(ctx, c)
	s.note("SaveCode", err)
	return err
}

func (s *spyStore) SaveRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	err := s.Store.SaveRefreshToken(ctx, t)
	s.note("SaveRefreshToken", err)
	return err
}

func (s *spyStore) RotateRefreshToken(ctx context.Context, old storage.Hash, next *storage.RefreshToken, now time.Time, grace time.Duration) (*storage.RefreshToken, error) {
	t, err := s.Store.RotateRefreshToken(ctx, old, next, now, grace)
	s.note("RotateRefreshToken", err)
	return t, err
}

func (s *spyStore) RevokeRefreshFamily(ctx context.Context, family string, at time.Time) error {
	err := s.Store.RevokeRefreshFamily(ctx, family, at)
	s.note("RevokeRefreshFamily", err)
	return err
}

func (s *spyStore) MarkClientUsed(ctx context.Context, id string, at time.Time) error {
	err := s.Store.MarkClientUsed(ctx, id, at)
	s.note("MarkClientUsed", err)
	return err
}

func (s *spyStore) SaveConsent(ctx context.Context, c *storage.Consent) error {
	err := s.Store.SaveConsent(ctx, c)
	s.note("SaveConsent", err)
	return err
}

func (s *spyStore) ReserveJTI(ctx context.Context, key string, exp time.Time) error {
	err := s.Store.ReserveJTI(ctx, key, exp)
	s.note("ReserveJTI", err)
	return err
}

// site is one TLS server playing every outside host a world talks to
// (vscode.dev and friends for metadata documents and jwks_uri). Host names
// resolve through an injected resolver, so the real address policy of
// package safehttp applies: names that resolve to loopback, private or
// link-local addresses are refused before any connection, and only the
// names resolving to publicIP reach this server.
type site struct {
	srv *safehttptest.Server

	mu      sync.Mutex
	resolve map[string][]string
	routes  map[string]http.HandlerFunc
	hits    map[string]int
	lookups map[string]int
}

// siteNames maps the test host names to their DNS answers.
func siteNames() map[string][]string {
	return map[string][]string{
		"vscode.dev":           {publicIP},
		"docs.vscode.dev":      {publicIP},
		"static.vscode.dev":    {publicIP},
		"keys.vscode.dev":      {publicIP},
		"slow.vscode.dev":      {publicIP},
		"big.vscode.dev":       {publicIP},
		"evil.example":         {publicIP},
		"app.example.com":      {publicIP},
		"loop.vscode.dev":      {"127.0.0.1"},
		"loop2.vscode.dev":     {"127.0.0.2"},
		"ten.vscode.dev":       {"10.0.0.5"},
		"rfc1918b.vscode.dev":  {"172.16.3.4"},
		"rfc1918c.vscode.dev":  {"192.168.1.10"},
		"meta.vscode.dev":      {"169.254.169.254"},
		"cgnat.vscode.dev":     {"100.64.0.7"},
		"zero.vscode.dev":      {"0.0.0.0"},
		"bcast.vscode.dev":     {"255.255.255.255"},
		"mcast.vscode.dev":     {"224.0.0.1"},
		"v6loop.vscode.dev":    {"::1"},
		"ula.vscode.dev":       {"fd00::5"},
		"linklocal.vscode.dev": {"fe80::1"},
		"mapped.vscode.dev":    {"::ffff:127.0.0.1"},
		"mapped10.vscode.dev":  {"::ffff:10.0.0.5"},
		"nat64.vscode.dev":     {"64:ff9b::a00:5"},
		"sixtofour.vscode.dev": {"2002:7f00:1::1"},
		"mixed.vscode.dev":     {publicIP, "127.0.0.1"},
		"rebind.vscode.dev":    {publicIP}, // see lookup: alternates
	}
}

func newSite(t testing.TB) *site {
	s := &site{
		resolve: siteNames(),
		routes:  map[string]http.HandlerFunc{},
		hits:    map[string]int{},
		lookups: map[string]int{},
	}
	names := make([]string, 0, len(s.resolve))
	for n := range s.resolve {
		names = append(names, n)
	}
	slices.Sort(names)
	s.srv = safehttptest.NewTLSServer(t, http.HandlerFunc(s.serve), names...)
	return s
}

func (s *site) serve(w http.ResponseWriter, r *http.Request) {
	key := "https://" + r.Host + r.URL.EscapedPath()
	s.mu.Lock()
	h := s.routes[key]
	s.hits[key]++
	s.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// lookup answers DNS from the table. rebind.vscode.dev answers a public
// address on odd lookups and loopback on even ones, like a rebinding
// attacker's name server.
func (s *site) lookup(_ context.Context, _, host string) ([]netip.Addr, error) {
	s.mu.Lock()
	s.lookups[host]++
	n := s.lookups[host]
	vs, ok := s.resolve[host]
	s.mu.Unlock()
	if !ok {
		return nil, &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}
	}
	if host == "rebind.vscode.dev" && n%2 == 0 {
		vs = []string{"127.0.0.1"}
	}
	out := make([]netip.Addr, 0, len(vs))
	for _, v := range vs {
		out = append(out, netip.MustParseAddr(v))
	}
	return out, nil
}

func (s *site) handle(u string, h http.HandlerFunc) {
	s.mu.Lock()
	s.routes[u] = h
	s.mu.Unlock()
}

// json serves body as application/json at u.
func (s *site) json(u, body string) {
	s.handle(u, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, body)
	})
}

// hitsFor is how often u was requested.
func (s *site) hitsFor(u string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[u]
}

// lookupsFor is how often host was resolved: a fetch was attempted.
func (s *site) lookupsFor(host string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookups[host]
}

// totalHits is how many requests reached the site at all.
func (s *site) totalHits() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, v := range s.hits {
		n += v
	}
	return n
}

// dialedNonPublic lists connections opened to anything but publicIP.
func (s *site) dialedNonPublic() []netip.AddrPort {
	var out []netip.AddrPort
	for _, ap := range s.srv.Dialed() {
		if ap.Addr() != netip.MustParseAddr(publicIP) {
			out = append(out, ap)
		}
	}
	return out
}

// httpClient is a production safe client (public addresses only) whose
// DNS is the site's table and whose connections land on the site.
func (s *site) httpClient(t testing.TB, timeout time.Duration) *http.Client {
	t.Helper()
	o := s.srv.Options(nil)
	o.AllowedPrefixes = nil // the production address policy
	o.LookupNetIP = s.lookup
	o.Timeout = timeout
	c, err := safehttp.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return c.HTTPClient()
}

// cimdDoc is a valid public-client metadata document for id.
func cimdDoc(id string, redirects ...string) string {
	if len(redirects) == 0 {
		redirects = []string{"http://127.0.0.1/callback", "https://vscode.dev/redirect"}
	}
	b, _ := json.Marshal(map[string]any{
		"client_id":                  id,
		"client_name":                "Metadata client",
		"redirect_uris":              redirects,
		"grant_types":                []string{"authorization_code", "refresh_token"},
		"response_types":             []string{"code"},
		"token_endpoint_auth_method": "none",
	})
	return string(b)
}

// options adjusts a world.
type options struct {
	// cimdDomains are the trusted domains of the metadata-document policy
	// (condition and executor). Default: vscode.dev and its subdomains.
	cimdDomains []string
	// fetchTimeout bounds metadata-document and jwks_uri fetches.
	fetchTimeout time.Duration
	// registration replaces the default dynamic registration settings.
	registration func(*dcr.Config)
	// authz adjusts the server configuration last.
	authz func(*authz.Config)
	// logos lets the consent page fetch client logos through the site's
	// production safe client.
	logos bool
	// logs, if set, receives every component's debug log.
	logs *syncBuffer
	// stepUp makes /mcp-a require "a:tool:<Mcp-Name header>" as well, a
	// step-up rule that reflects request input into the challenge.
	stepUp bool
}

// world is one deployment: an authorization server with two MCP resources
// on its own origin, the default consent page behind a tiny login, dynamic
// registration, Client ID Metadata Documents through the real cimd
// executor, and every outbound fetch through the production safe client.
type world struct {
	t       testing.TB
	ts      *httptest.Server
	issuer  string
	az      *authz.Server
	store   *spyStore
	clock   *clock
	key     *ecdsa.PrivateKey
	kid     string
	resA    string
	resB    string
	prmA    string
	prmB    string
	site    *site
	cimd    *cimd.Resolver
	vA, vB  *bearer.Verifier
	jwksGet atomic.Int64
	// pkKey is the private key of the pkjwt-inline client.
	pkKey *ecdsa.PrivateKey
	// subject is who the login signs in; tests may change it.
	subject atomic.Value
}

// Keys are generated once per test binary.
var (
	keyOnce sync.Once
	asKey   *ecdsa.PrivateKey
	pkKey   *ecdsa.PrivateKey
	evilKey *ecdsa.PrivateKey
)

func keys() {
	keyOnce.Do(func() {
		var err error
		for _, k := range []**ecdsa.PrivateKey{&asKey, &pkKey, &evilKey} {
			if *k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
				panic(err)
			}
		}
	})
}

func thumbprint(k crypto.PublicKey) string {
	tp, err := (&jose.JSONWebKey{Key: k}).Thumbprint(crypto.SHA256)
	if err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(tp)
}

func newWorld(t testing.TB, o options) *world {
	t.Helper()
	keys()
	ts := httptest.NewUnstartedServer(nil)
	w := &world{
		t:      t,
		ts:     ts,
		issuer: "http://" + ts.Listener.Addr().String(),
		clock:  &clock{t: time.Now().UTC().Truncate(time.Second)},
		key:    asKey,
		kid:    thumbprint(asKey.Public()),
		pkKey:  pkKey,
		site:   newSite(t),
	}
	w.subject.Store(user)
	w.resA = w.issuer + "/mcp-a"
	w.resB = w.issuer + "/mcp-b"
	w.store = &spyStore{Store: memory.New(memory.Options{Clock: w.clock.Now}), writes: map[string]int{}}
	timeout := o.fetchTimeout
	if timeout == 0 {
		timeout = 2 * time.Second
	}
	fetch := w.site.httpClient(t, timeout)
	logger := slog.New(slog.DiscardHandler)
	if o.logs != nil {
		logger = slog.New(slog.NewTextHandler(o.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}

	// Metadata documents through the real resolver and executor.
	res, err := cimd.NewResolver(cimd.Options{HTTPClient: fetch, Timeout: timeout, Clock: w.clock.Now, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	w.cimd = res
	domains := o.cimdDomains
	if domains == nil {
		domains = []string{"vscode.dev", "*.vscode.dev", "127.0.0.1"}
	}
	dj, _ := json.Marshal(domains)
	reg := policy.NewRegistry()
	if err := cimd.Register(reg, res); err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(reg,
		[]policy.Profile{{Name: "cimd", Executors: []policy.ExecutorSpec{{ID: policy.ExecutorClientIDMetadataDocument,
			Configuration: json.RawMessage(`{"cimd-allow-permitted-domains":` + string(dj) + `}`)}}}},
		[]policy.Policy{{Name: "cimd", Conditions: []policy.ConditionSpec{{ID: policy.ConditionClientIDURI,
			Configuration: json.RawMessage(`{"client-id-uri-scheme":["https"],"client-id-uri-allow-permitted-domains":` + string(dj) + `}`)}},
			Profiles: []string{"cimd"}}})
	if err != nil {
		t.Fatal(err)
	}

	pkJWKS, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: pkKey.Public(), KeyID: "pk1", Algorithm: "ES256", Use: "sig"}}})
	clients := []authz.StaticClient{
		{Metadata: metadata.Client{ClientID: confID, ClientName: "Web Conf", RedirectURIs: []string{webCB},
			GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}}, Secret: confSecret},
		{Metadata: metadata.Client{ClientID: pubID, ClientName: "Native Pub", RedirectURIs: []string{loopCB}}},
		{Metadata: metadata.Client{ClientID: webPubID, ClientName: "Web Pub", RedirectURIs: []string{webCB, webCB2}}},
		{Metadata: metadata.Client{ClientID: rsID, GrantTypes: []string{"client_credentials"}}, Secret: rsSecret, MayIntrospect: true},
		{Metadata: metadata.Client{ClientID: pkjwtID, JWKS: pkJWKS, GrantTypes: []string{"client_credentials"}}},
		{Metadata: metadata.Client{ClientID: urlStatic, ClientName: "URL-shaped static", RedirectURIs: []string{webCB}}},
	}
	for id, u := range jwksClients {
		clients = append(clients, authz.StaticClient{Metadata: metadata.Client{ClientID: id, JWKSURI: u, GrantTypes: []string{"client_credentials"}}})
	}
	slices.SortFunc(clients, func(a, b authz.StaticClient) int { return strings.Compare(a.Metadata.ClientID, b.Metadata.ClientID) })

	cfg := authz.Config{
		Issuer:  w.issuer,
		Keys:    []crypto.Signer{asKey},
		Store:   w.store,
		Clients: clients,
		Scopes: []authz.Scope{
			{Name: "a:read", Description: "Read A", Default: true, Audiences: []string{w.resA}},
			{Name: "a:write", Description: "Write A", Audiences: []string{w.resA}},
			{Name: "b:read", Description: "Read B", Audiences: []string{w.resB}},
		},
		Resources: []authz.Resource{
			{Identifier: w.resA, Name: "MCP A", Scopes: []string{"a:read", "a:write"}},
			{Identifier: w.resB, Name: "MCP B", Scopes: []string{"b:read"}},
		},
		InteractionURL:            "/consent",
		Policies:                  eng,
		ClientIDMetadataDocuments: true,
		HTTPClient:                fetch,
		Registration: &dcr.Config{
			Anonymous: &dcr.Policy{
				Name:              "anonymous",
				TrustedHosts:      []string{"127.0.0.0/8", "::1", "localhost", "app.example.com", "*.vscode.dev"},
				AllowedWebOrigins: []string{"https://inspector.example"},
				RateLimit:         rate.Inf,
			},
		},
		Clock:  w.clock.Now,
		Logger: logger,
	}
	if o.registration != nil {
		o.registration(cfg.Registration)
	}
	if o.authz != nil {
		o.authz(&cfg)
	}
	w.az, err = authz.New(cfg)
	if err != nil {
		t.Fatalf("authz.New: %v", err)
	}

	cc := consent.Config{
		Server:       w.az,
		Authenticate: w.authenticate,
		LoginURL:     "/login",
		DisableLogos: !o.logos,
		Clock:        w.clock.Now,
		Logger:       logger,
	}
	if o.logos {
		cc.LogoClient = fetch
	}
	ch, err := consent.New(cc)
	if err != nil {
		t.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/", w.az.Handler())
	mux.Handle("/jwks", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.jwksGet.Add(1)
		w.az.JWKSHandler().ServeHTTP(rw, r)
	}))
	mux.Handle("/consent", ch)
	mux.HandleFunc("/login", w.login)
	mcp := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		info, _ := bearer.TokenInfoFromContext(r.Context())
		_, _ = fmt.Fprintf(rw, "ok sub=%s client=%s", info.Subject, info.ClientID)
	})
	for _, r := range []struct {
		res    string
		scope  string
		prm    *string
		ver    **bearer.Verifier
		stepUp bool
	}{{w.resA, "a:read", &w.prmA, &w.vA, o.stepUp}, {w.resB, "b:read", &w.prmB, &w.vB, false}} {
		v, err := bearer.NewVerifier(bearer.Config{Issuer: w.issuer, Resource: r.res, Keys: w.az, Clock: w.clock.Now, Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		*r.ver = v
		prm := bearer.ProtectedResourceMetadata(r.res, []string{w.issuer}, []string{r.scope})
		if *r.prm, err = bearer.MountProtectedResourceMetadata(mux, prm); err != nil {
			t.Fatal(err)
		}
		bo := bearer.Options{ResourceMetadataURL: *r.prm, Scopes: []string{r.scope}, Logger: logger}
		if r.stepUp {
			bo.ScopesFunc = func(req *http.Request) []string {
				if n := req.Header.Get("Mcp-Name"); n != "" {
					return []string{"a:tool:" + n}
				}
				return nil
			}
		}
		u, _ := url.Parse(r.res)
		mux.Handle(u.Path, bearer.Middleware(v, bo)(mcp))
	}
	ts.Config.Handler = mux
	ts.Start()
	t.Cleanup(ts.Close)
	return w
}

// authenticate is the host's session check: a "session" cookie names the
// user.
func (w *world) authenticate(r *http.Request) (string, time.Time, bool) {
	c, err := r.Cookie("session")
	if err != nil || c.Value == "" {
		return "", time.Time{}, false
	}
	return c.Value, w.clock.Now(), true
}

var loginPage = template.Must(consent.Layout().Parse(`
{{define "title"}}Sign in{{end}}
{{define "content"}}<h1>Sign in</h1>
<form method="post"><input type="hidden" name="request_id" value="{{.}}">
<label for="u">User</label><input id="u" name="user">
<button type="submit">Continue</button></form>{{end}}`))

// login is the host's login page, built the way the consent package tells
// hosts to: its layout and its security headers.
func (w *world) login(rw http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		consent.SetPageHeaders(rw.Header())
		_ = loginPage.ExecuteTemplate(rw, "layout", r.URL.Query().Get("request_id"))
	case http.MethodPost:
		http.SetCookie(rw, &http.Cookie{Name: "session", Value: r.PostFormValue("user"), Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(rw, r, "/consent?request_id="+url.QueryEscape(r.PostFormValue("request_id")), http.StatusSeeOther)
	default:
		rw.WriteHeader(http.StatusMethodNotAllowed)
	}
}

// resp is a fully read response.
type resp struct {
	status int
	header http.Header
	body   string
}

func (r *resp) loc() string { return r.header.Get("Location") }

// jsonErr decodes the "error" member of a JSON body ("" if none).
func (r *resp) jsonErr() string {
	var m struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal([]byte(r.body), &m)
	return m.Error
}

// browser is a user agent with a cookie jar that never follows redirects.
type browser struct {
	w *world
	c *http.Client
}

func (w *world) browser(subject string) *browser {
	jar, _ := cookiejar.New(nil)
	if subject != "" {
		u, _ := url.Parse(w.issuer)
		jar.SetCookies(u, []*http.Cookie{{Name: "session", Value: subject, Path: "/"}})
	}
	return &browser{w: w, c: &http.Client{Jar: jar, Timeout: 20 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (b *browser) do(req *http.Request) *resp {
	b.w.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.w.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return &resp{status: res.StatusCode, header: res.Header, body: string(body)}
}

func (w *world) abs(u string) string {
	if strings.HasPrefix(u, "/") {
		return w.issuer + u
	}
	return u
}

// get sends a GET with optional header pairs.
func (b *browser) get(u string, hdr ...string) *resp {
	b.w.t.Helper()
	req, err := http.NewRequest(http.MethodGet, b.w.abs(u), nil)
	if err != nil {
		b.w.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Set(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// send sends a request with a raw body and header pairs.
func (b *browser) send(method, u, body string, hdr ...string) *resp {
	b.w.t.Helper()
	req, err := http.NewRequest(method, b.w.abs(u), strings.NewReader(body))
	if err != nil {
		b.w.t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return b.do(req)
}

// postForm posts a form with header pairs.
func (b *browser) postForm(u string, form url.Values, hdr ...string) *resp {
	b.w.t.Helper()
	return b.send(http.MethodPost, u, form.Encode(), append([]string{"Content-Type", "application/x-www-form-urlencoded"}, hdr...)...)
}

var csrfRE = regexp.MustCompile(`name="csrf_token" value="([^"]*)"`)

// consentPage loads the consent page of a parked request and returns it
// with its CSRF token.
func (b *browser) consentPage(loc string) (*resp, string) {
	b.w.t.Helper()
	p := b.get(loc)
	m := csrfRE.FindStringSubmatch(p.body)
	if p.status != http.StatusOK || m == nil {
		return p, ""
	}
	return p, m[1]
}

// decide posts the consent form as the same-origin page would.
func (b *browser) decide(id, csrf, action string) *resp {
	b.w.t.Helper()
	return b.postForm("/consent", url.Values{"request_id": {id}, "csrf_token": {csrf}, "action": {action}},
		"Origin", b.w.issuer, "Sec-Fetch-Site", "same-origin")
}

// requestID extracts the request_id of a consent URL.
func requestID(loc string) string {
	u, err := url.Parse(loc)
	if err != nil {
		return ""
	}
	return u.Query().Get("request_id")
}

// authorize runs an authorization request in the browser up to the
// client: through the consent page, approving. It returns the first
// response that is not a step of the happy path.
func (b *browser) authorize(q url.Values) *resp {
	b.w.t.Helper()
	r := b.get("/authorize?" + q.Encode())
	if r.status != http.StatusSeeOther || !strings.HasPrefix(r.loc(), "/consent?") {
		return r
	}
	page, csrf := b.consentPage(r.loc())
	if csrf == "" {
		return page
	}
	return b.decide(requestID(r.loc()), csrf, "approve")
}

// pkce is a verifier with its S256 challenge.
type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	v := rand.Text() + rand.Text() // 52 base32 characters
	sum := sha256.Sum256([]byte(v))
	return pkce{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

// authzParams is a valid authorization request.
func authzParams(client, redirect string, p pkce, resource string, scope string) url.Values {
	v := url.Values{
		"client_id":             {client},
		"redirect_uri":          {redirect},
		"response_type":         {"code"},
		"state":                 {"st-" + rand.Text()[:8]},
		"code_challenge":        {p.challenge},
		"code_challenge_method": {"S256"},
	}
	if resource != "" {
		v.Set("resource", resource)
	}
	if scope != "" {
		v.Set("scope", scope)
	}
	return v
}

// code runs a successful authorization and returns the code.
func (w *world) code(q url.Values) string {
	w.t.Helper()
	r := w.browser(w.subject.Load().(string)).authorize(q)
	if r.status != http.StatusSeeOther {
		w.t.Fatalf("authorize: %d %s\n%s", r.status, r.loc(), r.body)
	}
	u, err := url.Parse(r.loc())
	if err != nil || u.Query().Get("code") == "" {
		w.t.Fatalf("authorize: no code in %q", r.loc())
	}
	return u.Query().Get("code")
}

// tokenResp is a decoded token endpoint answer.
type tokenResp struct {
	*resp
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Scope        string `json:"scope"`
	Error        string `json:"error"`
}

// token posts to the token endpoint, with Basic credentials if basic has
// two elements.
func (w *world) token(form url.Values, basic ...string) *tokenResp {
	w.t.Helper()
	hdr := []string{}
	if len(basic) == 2 {
		hdr = append(hdr, "Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(basic[0])+":"+url.QueryEscape(basic[1]))))
	}
	r := w.browser("").postForm("/token", form, hdr...)
	tr := &tokenResp{resp: r}
	_ = json.Unmarshal([]byte(r.body), tr)
	return tr
}

// exchange redeems a code for a public client.
func (w *world) exchange(client, code, verifier, redirect string) *tokenResp {
	w.t.Helper()
	return w.token(url.Values{"grant_type": {"authorization_code"}, "client_id": {client}, "code": {code},
		"code_verifier": {verifier}, "redirect_uri": {redirect}})
}

// tokens runs a whole authorization for a public client and returns the
// token response (which must succeed).
func (w *world) tokens(client, redirect, resource, scope string) *tokenResp {
	w.t.Helper()
	p := newPKCE()
	c := w.code(authzParams(client, redirect, p, resource, scope))
	tr := w.exchange(client, c, p.verifier, redirect)
	if tr.status != http.StatusOK || tr.AccessToken == "" {
		w.t.Fatalf("exchange: %d %s", tr.status, tr.body)
	}
	return tr
}

// callMCP calls a resource with an Authorization header value ("" for
// none) and header pairs.
func (w *world) callMCP(res, auth string, hdr ...string) *resp {
	w.t.Helper()
	if auth != "" {
		hdr = append(hdr, "Authorization", auth)
	}
	return w.browser("").send(http.MethodPost, res, `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`, append(hdr, "Content-Type", "application/json")...)
}

// introspect asks as the resource server.
func (w *world) introspect(tok string) map[string]any {
	w.t.Helper()
	r := w.browser("").postForm("/introspect", url.Values{"token": {tok}}, "Authorization",
		"Basic "+base64.StdEncoding.EncodeToString([]byte(rsID+":"+rsSecret)))
	var m map[string]any
	if r.status != http.StatusOK || json.Unmarshal([]byte(r.body), &m) != nil {
		w.t.Fatalf("introspect: %d %s", r.status, r.body)
	}
	return m
}

// ---- assertions ----

// stored returns the writes that happened while fn ran.
func (w *world) stored(fn func()) map[string]int {
	before := w.store.snapshot()
	fn()
	after := w.store.snapshot()
	diff := map[string]int{}
	for k, v := range after {
		if d := v - before[k]; d != 0 {
			diff[k] = d
		}
	}
	return diff
}

// nothingStored runs fn and fails if it wrote anything to the store.
func (w *world) nothingStored(t testing.TB, fn func()) {
	t.Helper()
	if d := w.stored(fn); len(d) != 0 {
		t.Errorf("refused request wrote to the store: %v", d)
	}
}

// noCORS fails if a response lets another origin read it.
func noCORS(t testing.TB, r *resp) {
	t.Helper()
	for k := range r.header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("CORS header %s: %q", k, r.header.Get(k))
		}
	}
}

// unframeable fails unless an HTML page forbids framing.
func unframeable(t testing.TB, r *resp) {
	t.Helper()
	if xfo := r.header.Get("X-Frame-Options"); !strings.EqualFold(xfo, "DENY") {
		t.Errorf("X-Frame-Options = %q, want DENY", xfo)
	}
	if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("Content-Security-Policy = %q, want frame-ancestors 'none'", csp)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type = %q, want an HTML page", ct)
	}
	if r.header.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", r.header.Get("X-Content-Type-Options"))
	}
}

// errorPage asserts the authorization endpoint's HTML error page: 400,
// no redirect, not frameable, no CORS, showing code (and want, if set).
func errorPage(t testing.TB, r *resp, code, want string) {
	t.Helper()
	if r.status != http.StatusBadRequest {
		t.Errorf("status %d, want 400 (error page)\n%s", r.status, r.body)
	}
	if l := r.loc(); l != "" {
		t.Errorf("redirected to %q; an untrusted request must never redirect", l)
	}
	unframeable(t, r)
	noCORS(t, r)
	if !strings.Contains(r.body, "<code>"+code+"</code>") {
		t.Errorf("error page does not show %s:\n%s", code, r.body)
	}
	if want != "" && !strings.Contains(r.body, template.HTMLEscapeString(want)) {
		t.Errorf("error page does not say %q:\n%s", want, r.body)
	}
}

// redirectErr asserts an error redirect to exactly prefix carrying code,
// the state sent (if any) and iss equal to the issuer.
func (w *world) redirectErr(t testing.TB, r *resp, prefix, code, state string) url.Values {
	t.Helper()
	if r.status != http.StatusSeeOther {
		t.Fatalf("status %d, want 303 error redirect\n%s", r.status, r.body)
	}
	loc := r.loc()
	if !strings.HasPrefix(loc, prefix+"?") {
		t.Fatalf("redirect to %q, want the registered %q", loc, prefix)
	}
	u, err := url.Parse(loc)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if q.Get("error") != code {
		t.Errorf("error = %q, want %q (%s)", q.Get("error"), code, loc)
	}
	if q.Get("code") != "" {
		t.Errorf("error redirect carries a code: %s", loc)
	}
	if q.Get("iss") != w.issuer || len(q["iss"]) != 1 {
		t.Errorf("iss = %q, want exactly %q", q["iss"], w.issuer)
	}
	if q.Get("state") != state {
		t.Errorf("state = %q, want %q", q.Get("state"), state)
	}
	noCORS(t, r)
	return q
}

// jsonError asserts an OAuth JSON error: status, code, no-store, and no
// token in the body.
func jsonError(t testing.TB, r *resp, status int, code string) {
	t.Helper()
	if r.status != status || r.jsonErr() != code {
		t.Errorf("got %d %q, want %d %q\n%s", r.status, r.jsonErr(), status, code, r.body)
	}
	if strings.Contains(r.body, "access_token") || strings.Contains(r.body, "refresh_token") {
		t.Errorf("error response carries a token: %s", r.body)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control = %q, want no-store", cc)
	}
}

// challenge asserts a bearer refusal: status and error code in both the
// WWW-Authenticate challenge and the body, and resource_metadata pointing
// at prm.
func challenge(t testing.TB, r *resp, status int, code, prm string) {
	t.Helper()
	if r.status != status {
		t.Errorf("status %d, want %d\n%s", r.status, status, r.body)
	}
	wa := r.header.Get("WWW-Authenticate")
	if !strings.HasPrefix(wa, "Bearer ") || !strings.Contains(wa, `resource_metadata="`+prm+`"`) {
		t.Errorf("WWW-Authenticate = %q, want a Bearer challenge with resource_metadata %q", wa, prm)
	}
	if code == "" {
		if strings.Contains(wa, "error=") {
			t.Errorf("challenge without credentials carries an error: %q", wa)
		}
	} else if !strings.Contains(wa, `error="`+code+`"`) || r.jsonErr() != code {
		t.Errorf("want error %q in challenge and body, got %q / %q", code, wa, r.body)
	}
	if strings.Contains(r.body, "ok sub=") {
		t.Errorf("the protected handler ran: %s", r.body)
	}
}

// ---- forging ----

// claims are well-formed access token claims for aud, as the server
// would issue them.
func (w *world) claims(aud any) map[string]any {
	now := w.clock.Now()
	return map[string]any{
		"iss": w.issuer, "sub": user, "aud": aud, "client_id": pubID, "scope": "a:read b:read",
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(), "jti": rand.Text(),
	}
}

// sign signs claims as a compact JWS with the given key, kid (none if
// empty) and typ (none if empty).
func sign(t testing.TB, key any, alg jose.SignatureAlgorithm, kid, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	return signWith(t, key, alg, kid, opts, claims)
}

// signWith signs claims with explicit signer options.
func signWith(t testing.TB, key any, alg jose.SignatureAlgorithm, kid string, opts *jose.SignerOptions, claims map[string]any) string {
	t.Helper()
	var sk any = key
	if kid != "" {
		sk = jose.JSONWebKey{Key: key, KeyID: kid}
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: sk}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// forge signs claims with the authorization server's own key: only what a
// case changes makes the token wrong.
func (w *world) forge(typ string, claims map[string]any) string {
	return sign(w.t, w.key, jose.ES256, w.kid, typ, claims)
}

// unsigned builds a JWS from raw header and claims with the given
// signature bytes, for algorithms no library will produce.
func unsigned(header, claims map[string]any, sig []byte) string {
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}
