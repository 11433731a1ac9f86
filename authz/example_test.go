package authz_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"html/template"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage/memory"
)

// consentPage is a minimal consent page. Client-supplied strings are
// escaped by html/template; a real page also authenticates the user and
// protects the form against CSRF.
var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<title>Authorize {{.ClientName}}</title>
<p>{{.ClientName}} (redirecting to {{.RedirectHost}}) asks for:</p>
<ul>{{range .Scopes}}<li>{{.Name}}: {{.Description}}</li>{{end}}</ul>
<form method="post"><input type="hidden" name="request_id" value="{{.ID}}">
<button name="decision" value="allow">Allow</button> <button name="decision" value="deny">Deny</button></form>`))

// Example mounts the authorization server on a mux together with the
// host's login and consent handler at Config.InteractionURL.
func Example() {
	var srv *authz.Server
	mux := http.NewServeMux()
	mux.HandleFunc("/consent", func(w http.ResponseWriter, r *http.Request) {
		// Authenticate the user here (session cookie, login form, ...).
		user := "alice"
		switch r.Method {
		case http.MethodGet:
			p, err := srv.PendingRequest(r.Context(), r.URL.Query().Get("request_id"))
			if err != nil {
				http.Error(w, "This sign-in link has expired.", http.StatusBadRequest)
				return
			}
			w.Header().Set("Content-Security-Policy", "frame-ancestors 'none'")
			_ = consentPage.Execute(w, p)
		case http.MethodPost:
			id := r.PostFormValue("request_id")
			if r.PostFormValue("decision") != "allow" {
				_ = srv.Deny(w, r, id)
				return
			}
			p, err := srv.PendingRequest(r.Context(), id)
			if err != nil {
				http.Error(w, "This sign-in link has expired.", http.StatusBadRequest)
				return
			}
			var scopes []string
			for _, s := range p.Scopes {
				scopes = append(scopes, s.Name)
			}
			_ = srv.Approve(w, r, id, authz.Approval{Subject: user, Scopes: scopes})
		}
	})

	ts := httptest.NewUnstartedServer(mux)
	issuer := "http://" + ts.Listener.Addr().String()
	var err error
	srv, err = authz.New(authz.Config{
		Issuer: issuer,
		Store:  memory.New(memory.Options{}),
		Clients: []authz.StaticClient{{Metadata: metadata.Client{
			ClientID:     "my-mcp-client",
			ClientName:   "My MCP Client",
			RedirectURIs: []string{"http://127.0.0.1/callback"},
		}}},
		Scopes:         []authz.Scope{{Name: "mcp:tools", Description: "Use the tools", Default: true}},
		Resources:      []authz.Resource{{Identifier: "https://mcp.example.com/mcp", Name: "Example MCP server"}},
		InteractionURL: "/consent",
	})
	if err != nil {
		log.Fatal(err)
	}
	mux.Handle("/", srv.Handler())
	ts.Start()
	defer ts.Close()

	// An MCP client starts the flow; the server sends the browser to the
	// consent page.
	q := url.Values{
		"client_id":             {"my-mcp-client"},
		"redirect_uri":          {"http://127.0.0.1:53682/callback"},
		"response_type":         {"code"},
		"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
		"code_challenge_method": {"S256"},
		"resource":              {"https://mcp.example.com/mcp"},
		"state":                 {"xyz"},
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noFollow.Get(issuer + "/authorize?" + q.Encode())
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	fmt.Println(resp.StatusCode, strings.HasPrefix(loc, "/consent?request_id="))

	// The user allows; the browser goes back to the client with a code.
	id := strings.TrimPrefix(loc, "/consent?request_id=")
	resp, err = noFollow.PostForm(issuer+"/consent", url.Values{"request_id": {id}, "decision": {"allow"}})
	if err != nil {
		log.Fatal(err)
	}
	resp.Body.Close()
	back, _ := url.Parse(resp.Header.Get("Location"))
	fmt.Println(resp.StatusCode, back.Host, back.Query().Get("state"), back.Query().Get("iss") == issuer, back.Query().Get("code") != "")
	// Output:
	// 303 true
	// 303 127.0.0.1:53682 xyz true true
}

// ExampleMTLSConfig turns on mutual-TLS client authentication (RFC 8705
// §2) for a service that authenticates with a certificate from the
// organisation's client CA. The listener asks for client certificates
// and leaves their verification to the authorization server.
func ExampleMTLSConfig() {
	caPEM, err := os.ReadFile("client-ca.pem")
	if err != nil {
		log.Fatal(err)
	}
	clientCAs := x509.NewCertPool()
	clientCAs.AppendCertsFromPEM(caPEM)

	srv, err := authz.New(authz.Config{
		Issuer: "https://auth.example.com",
		Store:  memory.New(memory.Options{}),
		MTLS:   &authz.MTLSConfig{ClientCAs: clientCAs},
		Clients: []authz.StaticClient{{Metadata: metadata.Client{
			ClientID:                "billing-agent",
			TokenEndpointAuthMethod: authz.AuthMethodTLSClientAuth,
			TLSClientAuthSubjectDN:  "CN=billing-agent,OU=Agents,O=Example,C=US",
			GrantTypes:              []string{"client_credentials"},
		}}},
		Resources:       []authz.Resource{{Identifier: "https://mcp.example.com/mcp"}},
		DefaultResource: "https://mcp.example.com/mcp",
		InteractionURL:  "/consent",
	})
	if err != nil {
		log.Fatal(err)
	}
	hs := &http.Server{
		Addr:      ":443",
		Handler:   srv.Handler(),
		TLSConfig: &tls.Config{ClientAuth: tls.RequestClientCert},
	}
	log.Fatal(hs.ListenAndServeTLS("server.pem", "server-key.pem"))
}
