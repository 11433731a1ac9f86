package guides_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
)

// This file is the stage the guides play on: local servers, a client that
// runs the authorization code flow without a browser, and a TLS server
// that answers for public host names. None of it is part of a guide.

// testServer is an authorization server on a loopback httptest server.
type testServer struct {
	*httptest.Server
	AS *authz.Server
}

// startAS starts an authorization server for cfg, whose Issuer is
// completed by issuerPath (appended to the test server's URL). The
// interaction step approves every request as "alice" (authz.AutoApprove):
// the guides are about configuration, not about login pages.
func startAS(cfg authz.Config, issuerPath string) *testServer {
	ts := httptest.NewUnstartedServer(nil)
	cfg.Issuer = "http://" + ts.Listener.Addr().String() + issuerPath
	cfg.InteractionURL = issuerPath + "/interaction"
	as, err := authz.New(cfg)
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(issuerPath+"/interaction", authz.AutoApprove(as, "alice"))
	mux.Handle("/", as.Handler())
	ts.Config.Handler = mux
	ts.Start()
	return &testServer{Server: ts, AS: as}
}

// redirectURI is where the guides' clients want their authorization
// responses: a loopback listener, as native MCP clients use.
const redirectURI = "http://127.0.0.1:33418/"

// stopAtRedirect is an http.Client that follows the redirect from the
// authorization endpoint to the interaction step and stops at the one to
// the client (nothing listens there; the authorization response is read
// from the Location header).
var stopAtRedirect = &http.Client{CheckRedirect: func(req *http.Request, _ []*http.Request) error {
	if strings.HasSuffix(req.URL.Path, "/interaction") {
		return nil
	}
	return http.ErrUseLastResponse
}}

// authorize runs the authorization code flow with PKCE for cfg, adding
// opts (such as the resource parameter) to the authorization request and
// the token request, and returns the token response. A refusal before the
// redirect is returned as an error carrying the HTTP status; one after it
// as an error carrying the OAuth error code.
func authorize(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) (*oauth2.Token, error) {
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state", append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, opts...)...)
	resp, err := stopAtRedirect.Get(authURL)
	if err != nil {
		return nil, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	loc, err := resp.Location()
	if err != nil {
		return nil, fmt.Errorf("authorization refused with status %d", resp.StatusCode)
	}
	q := loc.Query()
	if e := q.Get("error"); e != "" {
		return nil, errors.New(e)
	}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, stopAtRedirect)
	return cfg.Exchange(ctx, q.Get("code"), append([]oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, opts...)...)
}

// verify checks an access token as the MCP server at resource does and
// returns what it carries.
func verify(as *authz.Server, resource, token string) *bearer.TokenInfo {
	v, err := bearer.NewVerifier(bearer.Config{Issuer: as.Issuer(), Resource: resource, Keys: as})
	if err != nil {
		log.Fatal(err)
	}
	info, err := v.Verify(context.Background(), token)
	if err != nil {
		log.Fatal(err)
	}
	return info
}

// tlsServer is a TLS server with a certificate for chosen host names,
// trusted by Client. Client connects to it whatever host a URL names, as
// if DNS pointed those names here.
type tlsServer struct {
	*httptest.Server
	Client *http.Client
}

// startTLS starts h on a TLS server with a self-signed certificate for
// names.
func startTLS(h http.Handler, names ...string) *tlsServer {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: names[0]},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              names,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		log.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		log.Fatal(err)
	}
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}}}
	ts.StartTLS()
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	addr := ts.Listener.Addr().String()
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool},
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				var d net.Dialer
				return d.DialContext(ctx, network, addr)
			},
		},
	}
	return &tlsServer{Server: ts, Client: client}
}
