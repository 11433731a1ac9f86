package integration_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/internal/pgtest"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/sqlstore"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// Every node of a test answers for the same issuer; the test's HTTP
// clients route its URLs to one node or the other.
const (
	issuer     = "https://as.example.test"
	issuerHost = "as.example.test"
	resource   = "https://mcp.example.test/mcp"
	callback   = "http://127.0.0.1:4711/callback"
	subject    = "alice"

	publicID        = "mcp-client"            // public, authorization_code + refresh_token
	noRefreshID     = "mcp-client-no-refresh" // public, authorization_code only
	resourceID      = "resource-server"       // confidential, may introspect every token
	resourceSecret  = "resource-server-secret-0123456789"
	serviceID       = "service"
	serviceSecret   = "service-secret-0123456789abcdef"
	interactionPath = "/interact"
)

// keySecret is the key-encryption secret every node of a test shares.
var keySecret = []byte(strings.Repeat("s", sqlstore.MinKeyEncryptionSecret))

// clock is a goroutine-safe settable clock shared by the nodes and stores
// of a test, so that grace periods and key activation are deterministic.
type clock struct {
	ns   atomic.Int64
	real bool // follow time.Now instead
}

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Now().Truncate(time.Second).UnixNano())
	return c
}

func (c *clock) Now() time.Time {
	if c.real {
		return time.Now()
	}
	return time.Unix(0, c.ns.Load())
}
func (c *clock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// baseConfig is the authorization server configuration every node of a
// test shares. No keys are configured: the nodes use the store's.
func baseConfig(st storage.Store, now func() time.Time) authz.Config {
	return authz.Config{
		Issuer: issuer,
		Store:  st,
		Clock:  now,
		Clients: []authz.StaticClient{
			{Metadata: metadata.Client{ClientID: publicID, RedirectURIs: []string{callback},
				GrantTypes: []string{"authorization_code", "refresh_token"}, TokenEndpointAuthMethod: "none"}},
			{Metadata: metadata.Client{ClientID: noRefreshID, RedirectURIs: []string{callback},
				GrantTypes: []string{"authorization_code"}, TokenEndpointAuthMethod: "none"}},
			{Metadata: metadata.Client{ClientID: resourceID, GrantTypes: []string{"client_credentials"}},
				Secret: resourceSecret, MayIntrospect: true},
			{Metadata: metadata.Client{ClientID: serviceID, GrantTypes: []string{"client_credentials"}},
				Secret: serviceSecret},
		},
		Scopes: []authz.Scope{
			{Name: "mcp:tools", Description: "Use tools", Default: true},
			{Name: "mcp:admin", Description: "Administer"},
		},
		Resources:       []authz.Resource{{Identifier: resource, Name: "Test MCP server"}},
		DefaultResource: resource,
		InteractionURL:  interactionPath,
		// Codes for benchmarks are made ahead of the timed loop.
		CodeLifetime: 10 * time.Minute,
	}
}

// node is one authorization server process: its own store (connection
// pool) on the shared database, its own listener.
type node struct {
	name   string
	srv    *authz.Server
	store  *sqlstore.Store
	ts     *httptest.Server
	tr     *http.Transport
	client *http.Client // sends issuer URLs to this node; never follows redirects
	// serverLog collects the HTTP server's error log and authz's errors.
	serverLog syncBuffer
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

// newNode opens a store on dsn and starts an authorization server on it.
func newNode(t testing.TB, name, dsn string, clk *clock, edit func(*authz.Config)) *node {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := sqlstore.Open(ctx, dsn, sqlstore.Options{KeyEncryptionSecret: keySecret, Clock: clk.Now})
	if err != nil {
		t.Fatalf("node %s: sqlstore.Open: %v", name, err)
	}
	t.Cleanup(func() { st.Close() })
	n := &node{name: name, store: st}
	cfg := baseConfig(st, clk.Now)
	// authz recovers handler panics itself and logs them as errors.
	cfg.Logger = slog.New(slog.NewTextHandler(&n.serverLog, &slog.HandlerOptions{Level: slog.LevelError}))
	if edit != nil {
		edit(&cfg)
	}
	srv, err := authz.New(cfg)
	if err != nil {
		t.Fatalf("node %s: authz.New: %v", name, err)
	}
	n.srv = srv
	mux := http.NewServeMux()
	mux.Handle(interactionPath, authz.AutoApprove(srv, subject))
	mux.Handle("/", srv.Handler())
	n.ts = httptest.NewUnstartedServer(mux)
	// A handler panic is recovered by net/http and logged here; no test
	// may cause one.
	n.ts.Config.ErrorLog = log.New(&n.serverLog, "", 0)
	n.ts.Start()
	t.Cleanup(func() {
		n.ts.Close()
		if s := n.serverLog.String(); strings.Contains(s, "panic") {
			t.Errorf("node %s: a handler panicked:\n%s", name, s)
		}
	})
	n.tr = &http.Transport{MaxIdleConnsPerHost: 128, IdleConnTimeout: 30 * time.Second}
	t.Cleanup(n.tr.CloseIdleConnections)
	n.client = &http.Client{
		Transport:     &router{to: n.ts.Listener.Addr().String(), base: n.tr},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}
	return n
}

// twoNodes starts two nodes on one new PostgreSQL database, one after the
// other (the first generates the signing key, the second reads it).
func twoNodes(t testing.TB, clk *clock, edit func(*authz.Config)) (a, b *node) {
	t.Helper()
	dsn := pgtest.Shared(t).NewDatabase(t)
	return newNode(t, "A", dsn, clk, edit), newNode(t, "B", dsn, clk, edit)
}

// router sends requests for the issuer's host to one node's listener,
// keeping the URL (and so the Host header) the issuer's.
type router struct {
	to   string
	base http.RoundTripper
}

func (r *router) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host != issuerHost {
		// Nothing else is reachable in these tests (say, the callback).
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: io.ErrUnexpectedEOF}
	}
	out := req.Clone(req.Context())
	out.Host = req.URL.Host
	out.URL.Scheme = "http"
	out.URL.Host = r.to
	return r.base.RoundTrip(out)
}

// oauthConfig is the x/oauth2 configuration of the public client.
func oauthConfig(clientID string) *oauth2.Config {
	return &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: callback,
		Scopes:      []string{"mcp:tools"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   issuer + "/authorize",
			TokenURL:  issuer + "/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
}

// withClient is a context that makes x/oauth2 talk to node n.
func withClient(ctx context.Context, n *node) context.Context {
	return context.WithValue(ctx, oauth2.HTTPClient, n.client)
}

// follow sends GET u to n and returns the absolute Location of its 303.
func follow(t testing.TB, n *node, u string) *url.URL {
	t.Helper()
	resp, err := n.client.Get(u)
	if err != nil {
		t.Fatalf("node %s: GET %s: %v", n.name, u, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		body, _ := io.ReadAll(resp.Body)
		t.Fatalf("node %s: GET %s: status %d, want 303:\n%s", n.name, u, resp.StatusCode, body)
	}
	base, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	loc, err := base.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("node %s: Location: %v", n.name, err)
	}
	return loc
}

// authorize runs an authorization request on node at (parked there) and
// completes the interaction on node approve, returning the code. The two
// may be the same node.
func authorize(t testing.TB, at, approve *node, cfg *oauth2.Config, verifier string) string {
	t.Helper()
	authURL := cfg.AuthCodeURL("state-1", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	interact := follow(t, at, authURL)
	if interact.Path != interactionPath || interact.Query().Get("request_id") == "" {
		t.Fatalf("authorization request went to %s, want the interaction URL", interact)
	}
	back := follow(t, approve, interact.String())
	q := back.Query()
	if got := back.Scheme + "://" + back.Host + back.Path; got != callback || q.Get("state") != "state-1" || q.Get("iss") != issuer || q.Get("code") == "" {
		t.Fatalf("authorization response %s, want a code at %s", back, callback)
	}
	return q.Get("code")
}

// tokenReply is a token endpoint answer, success or error.
type tokenReply struct {
	status       int
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	Error        string `json:"error"`
	Description  string `json:"error_description"`
}

// postToken sends a token request to n. Transport failures are returned
// as status 0 with the error in Description, for use in goroutines.
func postToken(ctx context.Context, n *node, form url.Values, user, pass string) tokenReply {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer+"/token", strings.NewReader(form.Encode()))
	if err != nil {
		return tokenReply{Description: err.Error()}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return tokenReply{Description: err.Error()}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	r := tokenReply{status: resp.StatusCode}
	if err != nil {
		r.Description = err.Error()
		return r
	}
	if err := json.Unmarshal(body, &r); err != nil {
		r.Description = "undecodable body: " + string(body)
	}
	return r
}

// introspect asks n about a token as the resource server.
func introspect(t testing.TB, n *node, token string) map[string]any {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(resourceID, resourceSecret)
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("node %s: introspection: status %d, %v", n.name, resp.StatusCode, err)
	}
	return m
}

// jwks fetches n's JWK Set, raw and parsed.
func jwks(t testing.TB, n *node) ([]byte, *jose.JSONWebKeySet) {
	t.Helper()
	resp, err := n.client.Get(issuer + "/jwks")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("node %s: JWKS: status %d, %v", n.name, resp.StatusCode, err)
	}
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &ks); err != nil {
		t.Fatalf("node %s: JWKS: %v", n.name, err)
	}
	return raw, &ks
}

// kids lists the key IDs of a JWK Set.
func kids(ks *jose.JSONWebKeySet) []string {
	var out []string
	for _, k := range ks.Keys {
		out = append(out, k.KeyID)
	}
	return out
}

// accessClaims are the RFC 9068 claims the tests look at.
type accessClaims struct {
	jwt.Claims
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
}

// verifyJWT checks an access token's signature against a JWK Set and its
// issuer and audience, and returns its key ID and claims. Time claims are
// checked against the test clock.
func verifyJWT(ks *jose.JSONWebKeySet, token string, now time.Time) (string, *accessClaims, error) {
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", nil, err
	}
	kid := tok.Headers[0].KeyID
	keys := ks.Key(kid)
	if len(keys) != 1 {
		return kid, nil, &keyError{kid: kid}
	}
	var c accessClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		return kid, nil, err
	}
	if err := c.ValidateWithLeeway(jwt.Expected{Issuer: issuer, AnyAudience: jwt.Audience{resource}, Time: now}, 0); err != nil {
		return kid, nil, err
	}
	return kid, &c, nil
}

type keyError struct{ kid string }

func (e *keyError) Error() string { return "kid " + e.kid + " is not in the JWK Set" }

// mustVerifyEverywhere checks that token verifies against the JWKS of
// every node given, and returns its kid.
func mustVerifyEverywhere(t testing.TB, token string, now time.Time, nodes ...*node) string {
	t.Helper()
	var kid string
	for _, n := range nodes {
		_, ks := jwks(t, n)
		k, c, err := verifyJWT(ks, token, now)
		if err != nil {
			t.Fatalf("token does not verify against node %s's JWKS: %v", n.name, err)
		}
		if c.Subject == "" || c.ClientID == "" {
			t.Fatalf("claims %+v", c)
		}
		kid = k
	}
	return kid
}

// jsonEqual reports whether two JSON documents are byte-identical after
// compacting.
func jsonEqual(a, b []byte) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return false
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}
