package consent_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/consent"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage/memory"
)

// Example wires an authorization server and the consent page on one mux,
// with a stand-in for the host's own login, then walks a browser through
// it: the consent page asks for login, shows the request once signed in,
// and the user's "Allow" sends a code to the client.
func Example() {
	ts := httptest.NewUnstartedServer(nil) // to know the issuer URL first
	issuer := "http://" + ts.Listener.Addr().String()
	store := memory.New(memory.Options{})

	srv, err := authz.New(authz.Config{
		Issuer: issuer,
		Store:  store,
		Clients: []authz.StaticClient{{Metadata: metadata.Client{
			ClientID: "demo-client", ClientName: "Demo Client",
			RedirectURIs: []string{"http://127.0.0.1/callback"},
		}}},
		Scopes:          []authz.Scope{{Name: "mcp:tools", Description: "Use your MCP tools", Default: true}},
		Resources:       []authz.Resource{{Identifier: "https://mcp.example.com/mcp", Name: "Example MCP"}},
		DefaultResource: "https://mcp.example.com/mcp",
		InteractionURL:  "/consent",
	})
	if err != nil {
		log.Fatal(err)
	}

	// The host's session: here a cookie holding the user name.
	session := func(r *http.Request) (string, time.Time, bool) {
		c, err := r.Cookie("demo_session")
		if err != nil {
			return "", time.Time{}, false
		}
		return c.Value, time.Now(), true
	}
	page, err := consent.New(consent.Config{
		Server:       srv,
		Authenticate: session,
		LoginURL:     "/login",
		Store:        store, // remembers consent when the user asks
	})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle("/consent", page)
	mux.HandleFunc("/login", func(w http.ResponseWriter, r *http.Request) {
		// A real login checks credentials; this one signs in "alice" and
		// returns to the consent page with the same request_id.
		http.SetCookie(w, &http.Cookie{Name: "demo_session", Value: "alice", Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, "/consent?request_id="+url.QueryEscape(r.URL.Query().Get("request_id")), http.StatusSeeOther)
	})
	ts.Config.Handler = mux
	ts.Start()
	defer ts.Close()

	// A browser: keeps cookies, follows redirects on this server only.
	jar, _ := cookiejar.New(nil)
	var arrived *url.URL
	browser := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host != ts.Listener.Addr().String() {
			arrived = req.URL // the client's redirect URI
			return http.ErrUseLastResponse
		}
		return nil
	}}
	client := &oauth2.Config{ClientID: "demo-client", RedirectURL: "http://127.0.0.1:9999/callback",
		Endpoint: oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/token"}}
	verifier := oauth2.GenerateVerifier()

	resp, err := browser.Get(client.AuthCodeURL("xyz", oauth2.S256ChallengeOption(verifier)))
	if err != nil {
		log.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h1 := regexp.MustCompile(`(?s)<h1>(.*?)</h1>`).FindStringSubmatch(string(body))[1]
	fmt.Println(resp.Request.URL.Path, resp.StatusCode, strings.NewReplacer("<strong>", "", "</strong>", "").Replace(h1))

	// The user presses "Allow": the form carries the request ID and the
	// CSRF token bound to this user and browser.
	field := func(name string) string {
		return regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(string(body))[1]
	}
	form := url.Values{"request_id": {field("request_id")}, "csrf_token": {field("csrf_token")}, "action": {"approve"}}
	req, _ := http.NewRequest(http.MethodPost, issuer+"/consent", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err = browser.Do(req)
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, arrived.Path, arrived.Query().Get("state"), arrived.Query().Get("code") != "")
	// Output:
	// /consent 200 Demo Client wants to access your account
	// 303 /callback xyz true
}
