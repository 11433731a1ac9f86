package authz

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/internal/mtlstest"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// pki is the certificate world of the mutual-TLS tests: a trusted client
// CA, an untrusted one, and the certificates clients present.
type pki struct {
	ca, otherCA *mtlstest.CA
	// good is the certificate of the PKI clients below: subject
	// CN=pki-client,O=Example,C=US with one SAN of every kind.
	good tls.Certificate
	// sameSubjectUntrusted has good's subject and SANs, from otherCA.
	sameSubjectUntrusted tls.Certificate
	// sameSubjectSelfSigned has good's subject and SANs, self-signed.
	sameSubjectSelfSigned tls.Certificate
	// expired and future have good's subject, from ca, outside their
	// validity.
	expired, future tls.Certificate
	// serverOnly has good's subject but only the serverAuth usage.
	serverOnly tls.Certificate
	// someoneElse is another client's certificate from ca.
	someoneElse tls.Certificate
	// self and self2 are self-signed certificates; selfExpired too, past
	// its validity.
	self, self2, selfExpired tls.Certificate
}

var (
	pkiOnce sync.Once
	pkiVal  *pki
)

const (
	goodDN   = "CN=pki-client,O=Example,C=US"
	goodDNS  = "pki.client.example"
	goodURI  = "spiffe://client.example/pki"
	goodIP   = "192.0.2.10"
	goodMail = "pki@client.example"
)

// testPKI makes the certificates once per test binary.
func testPKI(t *testing.T) *pki {
	pkiOnce.Do(func() {
		u, _ := url.Parse(goodURI)
		subject := x509.Certificate{
			Subject:        pkix.Name{CommonName: "pki-client", Organization: []string{"Example"}, Country: []string{"US"}},
			DNSNames:       []string{goodDNS},
			URIs:           []*url.URL{u},
			IPAddresses:    []net.IP{net.ParseIP(goodIP)},
			EmailAddresses: []string{goodMail},
		}
		with := func(f func(c *x509.Certificate)) x509.Certificate {
			c := subject
			f(&c)
			return c
		}
		p := &pki{ca: mtlstest.NewCA(t, "Test Client CA"), otherCA: mtlstest.NewCA(t, "Untrusted CA")}
		p.good = p.ca.Issue(t, subject)
		p.sameSubjectUntrusted = p.otherCA.Issue(t, subject)
		p.sameSubjectSelfSigned = mtlstest.SelfSigned(t, subject)
		p.expired = p.ca.Issue(t, with(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(-72*time.Hour), time.Now().Add(-48*time.Hour)
		}))
		p.future = p.ca.Issue(t, with(func(c *x509.Certificate) {
			c.NotBefore, c.NotAfter = time.Now().Add(6*time.Hour), time.Now().Add(12*time.Hour)
		}))
		p.serverOnly = p.ca.Issue(t, with(func(c *x509.Certificate) { c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth} }))
		p.someoneElse = p.ca.Issue(t, x509.Certificate{Subject: pkix.Name{CommonName: "someone-else", Organization: []string{"Example"}, Country: []string{"US"}},
			DNSNames: []string{"else.client.example"}})
		p.self = mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self-client"}})
		p.self2 = mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self-client"}})
		p.selfExpired = mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self-client"},
			NotBefore: time.Now().Add(-72 * time.Hour), NotAfter: time.Now().Add(-48 * time.Hour)})
		pkiVal = p
	})
	return pkiVal
}

// mtlsClients are pre-registered clients of every mutual-TLS flavour.
func mtlsClients(t *testing.T, p *pki, jwksURI string) []StaticClient {
	cc := []string{"client_credentials"}
	tlsClient := func(id string, f func(m *metadata.Client)) StaticClient {
		m := metadata.Client{ClientID: id, TokenEndpointAuthMethod: AuthMethodTLSClientAuth, GrantTypes: cc}
		f(&m)
		return StaticClient{Metadata: m}
	}
	return []StaticClient{
		tlsClient("mtls-dn", func(m *metadata.Client) { m.TLSClientAuthSubjectDN = "cn=PKI-Client, o=example, c=us" }),
		tlsClient("mtls-dns", func(m *metadata.Client) { m.TLSClientAuthSANDNS = strings.ToUpper(goodDNS) }),
		tlsClient("mtls-uri", func(m *metadata.Client) { m.TLSClientAuthSANURI = goodURI }),
		tlsClient("mtls-ip", func(m *metadata.Client) { m.TLSClientAuthSANIP = goodIP }),
		tlsClient("mtls-email", func(m *metadata.Client) { m.TLSClientAuthSANEmail = goodMail }),
		tlsClient("mtls-dn-other", func(m *metadata.Client) { m.TLSClientAuthSubjectDN = "CN=pki-client,O=Other,C=US" }),
		tlsClient("mtls-dns-other", func(m *metadata.Client) { m.TLSClientAuthSANDNS = "other.client.example" }),
		{Metadata: metadata.Client{ClientID: "self-inline", TokenEndpointAuthMethod: AuthMethodSelfSignedTLSClientAuth, GrantTypes: cc,
			JWKS: mtlstest.JWKS(t, p.self)}},
		{Metadata: metadata.Client{ClientID: "self-remote", TokenEndpointAuthMethod: AuthMethodSelfSignedTLSClientAuth, GrantTypes: cc,
			JWKSURI: jwksURI}},
		{Metadata: metadata.Client{ClientID: "self-expired", TokenEndpointAuthMethod: AuthMethodSelfSignedTLSClientAuth, GrantTypes: cc,
			JWKS: mtlstest.JWKS(t, p.selfExpired)}},
	}
}

// newTLSEnv is newEnv on a TLS listener that asks for (and does not
// verify) client certificates, with a clock at the real time (the test
// certificates are valid now). Requests go without a client certificate;
// use withCert for one.
func newTLSEnv(t *testing.T, mutate ...func(*Config)) *env {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	ts.TLS = &tls.Config{ClientAuth: tls.RequestClientCert}
	e := &env{t: t, ts: ts, clock: &fakeClock{t: time.Now()}, subject: "alice"}
	e.issuer = "https://" + ts.Listener.Addr().String()
	e.store = memory.New(memory.Options{Clock: e.clock.Now})
	cfg := testConfig()
	cfg.Issuer = e.issuer
	cfg.Store = e.store
	cfg.Clock = e.clock.Now
	cfg.DefaultResource = testResource
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	e.srv = srv
	mux := http.NewServeMux()
	mux.Handle("/", srv.Handler())
	mux.Handle("/login", AutoApprove(srv, "alice"))
	ts.Config.Handler = mux
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return e.withCert(nil)
}

// withCert returns the environment with requests that present cert (none
// for nil) over a fresh connection.
func (e *env) withCert(cert *tls.Certificate) *env {
	roots := x509.NewCertPool()
	roots.AddCert(e.ts.Certificate())
	tr := &http.Transport{TLSClientConfig: mtlstest.TLSConfig(roots, cert)}
	e.t.Cleanup(tr.CloseIdleConnections)
	c := *e
	c.hc = &http.Client{Transport: tr, CheckRedirect: noFollow.CheckRedirect}
	return &c
}

// jwksSite serves the JWK Set of a self_signed_tls_client_auth client over
// TLS, counting fetches; the set can be replaced (the client rotating its
// certificate).
type jwksSite struct {
	ts      *httptest.Server
	set     atomic.Pointer[json.RawMessage]
	fetches atomic.Int32
}

func newJWKSSite(t *testing.T, set json.RawMessage) *jwksSite {
	s := &jwksSite{}
	s.set.Store(&set)
	s.ts = httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.set.Load())
	}))
	t.Cleanup(s.ts.Close)
	return s
}

// mtlsEnv is newTLSEnv with every mutual-TLS client and both methods on.
func mtlsEnv(t *testing.T, mutate ...func(*Config)) (*env, *pki, *jwksSite) {
	p := testPKI(t)
	site := newJWKSSite(t, mtlstest.JWKS(t, p.self2))
	e := newTLSEnv(t, append([]func(*Config){func(c *Config) {
		c.MTLS = &MTLSConfig{ClientCAs: mtlstest.Pool(p.ca)}
		c.HTTPClient = site.ts.Client()
		c.Clients = append(c.Clients, mtlsClients(t, p, site.ts.URL+"/jwks.json")...)
	}}, mutate...)...)
	return e, p, site
}

// tokenClientID returns the client_id claim of an access token (not
// verified: the tests only check who the server issued it to).
func tokenClientID(t *testing.T, token string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ClientID string `json:"client_id"`
		Subject  string `json:"sub"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	if c.Subject != c.ClientID {
		t.Fatalf("client_credentials token: sub %q, client_id %q", c.Subject, c.ClientID)
	}
	return c.ClientID
}

// TestMTLSClientCredentials: each kind of registered subject, and both
// self-signed variants, obtain tokens with golang.org/x/oauth2's
// clientcredentials over a real mutual-TLS connection, with client_id in
// the body or (AuthStyleAutoDetect's first try) as Basic "client_id:".
func TestMTLSClientCredentials(t *testing.T) {
	e, p, site := mtlsEnv(t)
	cases := []struct {
		id    string
		cert  tls.Certificate
		style oauth2.AuthStyle
	}{
		{"mtls-dn", p.good, oauth2.AuthStyleInParams},
		{"mtls-dns", p.good, oauth2.AuthStyleAutoDetect},
		{"mtls-uri", p.good, oauth2.AuthStyleInParams},
		{"mtls-ip", p.good, oauth2.AuthStyleInHeader},
		{"mtls-email", p.good, oauth2.AuthStyleInParams},
		{"self-inline", p.self, oauth2.AuthStyleInParams},
		{"self-remote", p.self2, oauth2.AuthStyleAutoDetect},
	}
	for _, c := range cases {
		t.Run(c.id, func(t *testing.T) {
			ce := e.withCert(&c.cert)
			ctx := context.WithValue(context.Background(), oauth2.HTTPClient, ce.hc)
			cfg := clientcredentials.Config{ClientID: c.id, TokenURL: e.issuer + "/token", Scopes: []string{"mcp:tools"}, AuthStyle: c.style}
			tok, err := cfg.Token(ctx)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if got := tokenClientID(t, tok.AccessToken); got != c.id {
				t.Fatalf("token issued to %q", got)
			}
		})
	}
	if n := site.fetches.Load(); n != 1 {
		t.Fatalf("jwks_uri fetched %d times, want 1", n)
	}
	// The client rotates its certificate: the cached set does not hold
	// the new one, so the server fetches the set again (at most every 30
	// s) and accepts it.
	site.set.Store(ptr(mtlstest.JWKS(t, p.self)))
	e.clock.Advance(time.Minute)
	status, tj := decodeToken(t, e.withCert(&p.self).post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"self-remote"}}, "", ""))
	if status != 200 || site.fetches.Load() != 2 {
		t.Fatalf("after rotation: %d %+v, %d fetches", status, tj, site.fetches.Load())
	}
}

func ptr[T any](v T) *T { return &v }

// TestMTLSRefusals: every way a mutual-TLS authentication can be wrong is
// 401 invalid_client with no token, like any other failed client
// authentication.
func TestMTLSRefusals(t *testing.T) {
	e, p, _ := mtlsEnv(t)
	cases := []struct {
		name string
		id   string
		cert *tls.Certificate
		// basic, if set, sends the client_id as HTTP Basic with this
		// password instead of in the body.
		basic  *string
		secret string
		desc   string
	}{
		{"no certificate", "mtls-dn", nil, nil, "", "A client certificate is required"},
		{"self-signed, no certificate", "self-inline", nil, nil, "", "A client certificate is required"},
		{"another client's certificate", "mtls-dn", &p.someoneElse, nil, "", "does not match"},
		{"untrusted CA", "mtls-dn", &p.sameSubjectUntrusted, nil, "", "not trusted"},
		{"self-signed certificate with the subject", "mtls-dn", &p.sameSubjectSelfSigned, nil, "", "not trusted"},
		{"expired", "mtls-dn", &p.expired, nil, "", "not trusted"},
		{"not yet valid", "mtls-dn", &p.future, nil, "", "not trusted"},
		{"server-auth certificate", "mtls-dn", &p.serverOnly, nil, "", "not trusted"},
		{"DN mismatch", "mtls-dn-other", &p.good, nil, "", "does not match the registered subject"},
		{"SAN mismatch", "mtls-dns-other", &p.good, nil, "", "does not match the registered subject"},
		{"SAN of another client", "mtls-dns", &p.someoneElse, nil, "", "does not match"},
		{"self-signed, other certificate", "self-inline", &p.self2, nil, "", "not registered"},
		{"self-signed, CA-issued certificate", "self-inline", &p.good, nil, "", "not registered"},
		{"self-signed, expired", "self-expired", &p.selfExpired, nil, "", "expired"},
		{"self-signed, remote set without it", "self-remote", &p.self, nil, "", "not registered"},
		{"certificate for a secret client", confID, &p.good, nil, "", "must authenticate with client_secret_basic"},
		{"certificate without client_id", "", &p.good, nil, "", "Client authentication is required"},
		{"Basic with a password", "mtls-dn", &p.good, ptr("guess-the-secret"), "", "must authenticate with tls_client_auth"},
		{"client_secret_post", "mtls-dn", &p.good, nil, "guess-the-secret", "must authenticate with tls_client_auth"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}}
			basicID, basicSecret := "", ""
			if c.basic != nil {
				basicID, basicSecret = c.id, *c.basic
			} else if c.id != "" {
				form.Set("client_id", c.id)
			}
			if c.secret != "" {
				form.Set("client_secret", c.secret)
			}
			resp := e.withCert(c.cert).post("/token", form, basicID, basicSecret)
			status, tj := decodeToken(t, resp)
			if status != http.StatusUnauthorized || tj.Error != "invalid_client" || tj.AccessToken != "" {
				t.Fatalf("got %d %+v, want 401 invalid_client", status, tj)
			}
			if !strings.Contains(tj.ErrorDescription, c.desc) {
				t.Fatalf("description %q, want it to say %q", tj.ErrorDescription, c.desc)
			}
			if resp.Header.Get("WWW-Authenticate") == "" {
				t.Fatal("401 without a challenge")
			}
		})
	}
}

// TestMTLSAuthFailureLimit: wrong certificates count against
// AuthFailureLimit like wrong secrets; past the limit even the right
// certificate waits.
func TestMTLSAuthFailureLimit(t *testing.T) {
	e, p, _ := mtlsEnv(t, func(c *Config) { c.AuthFailureLimit = AuthFailureLimit{Burst: 2, Every: time.Hour} })
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls-dn"}}
	for i, want := range []int{401, 401, 429} {
		if status, tj := decodeToken(t, e.withCert(&p.someoneElse).post("/token", form, "", "")); status != want {
			t.Fatalf("attempt %d: %d %+v, want %d", i+1, status, tj, want)
		}
	}
	if status, tj := decodeToken(t, e.withCert(&p.good).post("/token", form, "", "")); status != 429 || tj.Error != "invalid_client" {
		t.Fatalf("right certificate past the limit: %d %+v, want 429", status, tj)
	}
}

// TestMTLSIntrospectionAndRevocation: the other endpoints that
// authenticate clients accept the certificate too.
func TestMTLSIntrospectionAndRevocation(t *testing.T) {
	e, p, _ := mtlsEnv(t)
	good := e.withCert(&p.good)
	status, tj := decodeToken(t, good.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls-dn"}}, "", ""))
	if status != 200 {
		t.Fatalf("token: %d %+v", status, tj)
	}
	resp := good.post("/introspect", url.Values{"token": {tj.AccessToken}, "client_id": {"mtls-dn"}}, "", "")
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	resp.Body.Close()
	if resp.StatusCode != 200 || m["active"] != true || m["client_id"] != "mtls-dn" {
		t.Fatalf("introspect: %d %v", resp.StatusCode, m)
	}
	resp = good.post("/revoke", url.Values{"token": {"no-such-token"}, "client_id": {"mtls-dn"}}, "", "")
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	for _, path := range []string{"/introspect", "/revoke"} {
		status, tj := decodeToken(t, e.withCert(&p.someoneElse).post(path, url.Values{"token": {tj.AccessToken}, "client_id": {"mtls-dn"}}, "", ""))
		if status != 401 || tj.Error != "invalid_client" {
			t.Fatalf("%s with the wrong certificate: %d %+v", path, status, tj)
		}
	}
}

// TestMTLSAdvertisement: the metadata lists the mutual-TLS methods only
// as far as Config.MTLS turns them on.
func TestMTLSAdvertisement(t *testing.T) {
	p := testPKI(t)
	cases := []struct {
		name string
		cfg  *MTLSConfig
		want []string
	}{
		{"off", nil, nil},
		{"self-signed only", &MTLSConfig{}, []string{AuthMethodSelfSignedTLSClientAuth}},
		{"PKI only", &MTLSConfig{ClientCAs: mtlstest.Pool(p.ca), DisableSelfSigned: true}, []string{AuthMethodTLSClientAuth}},
		{"both", &MTLSConfig{ClientCAs: mtlstest.Pool(p.ca)}, []string{AuthMethodTLSClientAuth, AuthMethodSelfSignedTLSClientAuth}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, func(cfg *Config) { cfg.MTLS = c.cfg })
			resp := e.get("/.well-known/oauth-authorization-server")
			var md map[string]any
			_ = json.NewDecoder(resp.Body).Decode(&md)
			resp.Body.Close()
			for _, member := range []string{"token_endpoint_auth_methods_supported", "revocation_endpoint_auth_methods_supported",
				"introspection_endpoint_auth_methods_supported"} {
				var got []string
				for _, v := range md[member].([]any) {
					if m := v.(string); isMTLSMethod(m) {
						got = append(got, m)
					}
				}
				if !slices.Equal(got, c.want) {
					t.Fatalf("%s lists %v, want %v", member, got, c.want)
				}
			}
		})
	}
}

// TestMTLSConfigErrors: New refuses what could never authenticate.
func TestMTLSConfigErrors(t *testing.T) {
	p := testPKI(t)
	pool := mtlstest.Pool(p.ca)
	tlsClient := StaticClient{Metadata: metadata.Client{ClientID: "c", TokenEndpointAuthMethod: AuthMethodTLSClientAuth,
		GrantTypes: []string{"client_credentials"}, TLSClientAuthSANDNS: "c.example"}}
	cases := []struct {
		name   string
		mutate func(c *Config)
		want   string
	}{
		{"nothing enabled", func(c *Config) { c.MTLS = &MTLSConfig{DisableSelfSigned: true} }, "turns nothing on"},
		{"tls_client_auth without MTLS", func(c *Config) { c.Clients = append(c.Clients, tlsClient) }, "tls_client_auth needs Config.MTLS"},
		{"tls_client_auth without CAs", func(c *Config) {
			c.MTLS = &MTLSConfig{}
			c.Clients = append(c.Clients, tlsClient)
		}, "tls_client_auth needs Config.MTLS"},
		{"tls_client_auth without subject", func(c *Config) {
			c.MTLS = &MTLSConfig{ClientCAs: pool}
			cl := tlsClient
			cl.Metadata.TLSClientAuthSANDNS = ""
			c.Clients = append(c.Clients, cl)
		}, "exactly one"},
		{"tls_client_auth with a bad DN", func(c *Config) {
			c.MTLS = &MTLSConfig{ClientCAs: pool}
			cl := tlsClient
			cl.Metadata.TLSClientAuthSANDNS, cl.Metadata.TLSClientAuthSubjectDN = "", "CN=a;O=b"
			c.Clients = append(c.Clients, cl)
		}, "tls_client_auth_subject_dn"},
		{"tls_client_auth with a secret", func(c *Config) {
			c.MTLS = &MTLSConfig{ClientCAs: pool}
			cl := tlsClient
			cl.Secret = "0123456789abcdef0123"
			c.Clients = append(c.Clients, cl)
		}, "no Secret"},
		{"subject on a secret client", func(c *Config) {
			c.MTLS = &MTLSConfig{ClientCAs: pool}
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "s", GrantTypes: []string{"client_credentials"},
				TLSClientAuthSANDNS: "s.example"}, Secret: "0123456789abcdef0123"})
		}, "need token_endpoint_auth_method tls_client_auth"},
		{"self-signed disabled", func(c *Config) {
			c.MTLS = &MTLSConfig{ClientCAs: pool, DisableSelfSigned: true}
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "s", TokenEndpointAuthMethod: AuthMethodSelfSignedTLSClientAuth,
				GrantTypes: []string{"client_credentials"}, JWKS: mtlstest.JWKS(t, p.self)}})
		}, "self_signed_tls_client_auth needs Config.MTLS"},
		{"self-signed key without x5c", func(c *Config) {
			c.MTLS = &MTLSConfig{}
			set, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: p.self.Leaf.PublicKey}}})
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "s", TokenEndpointAuthMethod: AuthMethodSelfSignedTLSClientAuth,
				GrantTypes: []string{"client_credentials"}, JWKS: set}})
		}, "no x5c"},
		{"self-signed without keys", func(c *Config) {
			c.MTLS = &MTLSConfig{}
			c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "s", TokenEndpointAuthMethod: AuthMethodSelfSignedTLSClientAuth,
				GrantTypes: []string{"client_credentials"}}})
		}, "jwks"},
		{"registration offers a disabled method", func(c *Config) {
			machineRegistration(c)
			c.Registration.TokenEndpointAuthMethodsSupported = []string{"none", AuthMethodTLSClientAuth}
		}, "tls_client_auth needs Config.MTLS"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Issuer = "https://as.example.com"
			c.mutate(&cfg)
			_, err := New(cfg)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("New: %v, want an error saying %q", err, c.want)
			}
		})
	}
}

// TestMTLSProxyHeader: behind a proxy that terminates TLS, the hook reads
// the certificate from the proxy's header. Without the hook the same
// header is ignored, so a client cannot claim a certificate by sending
// it.
func TestMTLSProxyHeader(t *testing.T) {
	p := testPKI(t)
	const header = "X-Proxy-Client-Cert"
	fromHeader := func(r *http.Request) ([]*x509.Certificate, error) {
		v := r.Header.Get(header)
		if v == "" {
			return nil, nil
		}
		der, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			return nil, err
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{c}, nil
	}
	send := func(e *env, value string) (int, tokenJSON) {
		req, _ := http.NewRequest(http.MethodPost, e.ts.URL+"/token",
			strings.NewReader(url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls-dn"}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set(header, value)
		resp, err := e.client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return decodeToken(t, resp)
	}
	good := base64.StdEncoding.EncodeToString(p.good.Leaf.Raw)
	clients := func(c *Config) { c.Clients = append(c.Clients, mtlsClients(t, p, "https://keys.example/jwks.json")...) }

	proxied := newEnv(t, clients, func(c *Config) {
		c.MTLS = &MTLSConfig{ClientCAs: mtlstest.Pool(p.ca), ClientCertificates: fromHeader}
		c.DefaultResource = testResource
		c.Clock = time.Now
	})
	if status, tj := send(proxied, good); status != 200 {
		t.Fatalf("certificate from the proxy header: %d %+v", status, tj)
	}
	if status, tj := send(proxied, "not base64!"); status != 401 || tj.Error != "invalid_client" || !strings.Contains(tj.ErrorDescription, "could not be read") {
		t.Fatalf("unreadable header: %d %+v", status, tj)
	}

	direct := newEnv(t, clients, func(c *Config) {
		c.MTLS = &MTLSConfig{ClientCAs: mtlstest.Pool(p.ca)}
		c.DefaultResource = testResource
		c.Clock = time.Now
	})
	if status, tj := send(direct, good); status != 401 || tj.Error != "invalid_client" {
		t.Fatalf("header without the hook: %d %+v, want 401", status, tj)
	}
}

// TestMTLSMethodDisabled: a stored client registered with a mutual-TLS
// method (earlier, or by a host writing to the store) gets invalid_client
// at the token endpoint and an error page at the authorization endpoint
// when the server does not enable the method.
func TestMTLSMethodDisabled(t *testing.T) {
	p := testPKI(t)
	e := newTLSEnv(t)
	ctx := context.Background()
	c := &storage.Client{ID: "stored-mtls", Kind: storage.ClientRegistered, CreatedAt: e.clock.Now(), Metadata: metadata.Client{
		ClientID: "stored-mtls", TokenEndpointAuthMethod: AuthMethodTLSClientAuth, TLSClientAuthSubjectDN: goodDN,
		RedirectURIs: []string{callback}, GrantTypes: []string{"authorization_code", "client_credentials"}}}
	if err := e.store.CreateClient(ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	status, tj := decodeToken(t, e.withCert(&p.good).post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"stored-mtls"}}, "", ""))
	if status != 401 || tj.Error != "invalid_client" || !strings.Contains(tj.ErrorDescription, "does not accept tls_client_auth") {
		t.Fatalf("token: %d %+v", status, tj)
	}
	v := authorizeParams()
	v.Set("client_id", "stored-mtls")
	resp := e.get("/authorize?" + v.Encode())
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("authorize: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestMTLSRegistration: dynamic registration accepts the mutual-TLS
// methods exactly when the server enables them, and a registered client
// then authenticates with its certificate.
func TestMTLSRegistration(t *testing.T) {
	p := testPKI(t)
	e, _, _ := mtlsEnv(t, machineRegistration)
	md := e.srv.Metadata()
	if !slices.Contains(md.TokenEndpointAuthMethodsSupported, AuthMethodTLSClientAuth) {
		t.Fatalf("metadata: %v", md.TokenEndpointAuthMethodsSupported)
	}
	status, c, m := e.register(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"tls_client_auth",
		"tls_client_auth_san_dns":"` + goodDNS + `"}`)
	if status != 201 || c.TLSClientAuthSANDNS != goodDNS || m["client_secret"] != nil {
		t.Fatalf("register tls_client_auth: %d %v", status, m)
	}
	jwks, _ := json.Marshal(json.RawMessage(mtlstest.JWKS(t, p.self)))
	status, self, m := e.register(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"self_signed_tls_client_auth","jwks":` + string(jwks) + `}`)
	if status != 201 {
		t.Fatalf("register self_signed_tls_client_auth: %d %v", status, m)
	}
	for _, r := range []struct {
		id   string
		cert *tls.Certificate
	}{{c.ClientID, &p.good}, {self.ClientID, &p.self}} {
		status, tj := decodeToken(t, e.withCert(r.cert).post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {r.id}}, "", ""))
		if status != 200 {
			t.Fatalf("token for registered %s: %d %+v", r.id, status, tj)
		}
		status, tj = decodeToken(t, e.withCert(&p.someoneElse).post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {r.id}}, "", ""))
		if status != 401 {
			t.Fatalf("token for registered %s with another certificate: %d %+v", r.id, status, tj)
		}
	}
	for _, body := range []string{
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"tls_client_auth"}`,
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_dns":"a.example","tls_client_auth_san_ip":"192.0.2.1"}`,
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","tls_client_auth_san_dns":"a.example"}`,
		`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"self_signed_tls_client_auth","jwks":{"keys":[{"kty":"EC","crv":"P-256",
			"x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}}`,
	} {
		if status, _, m := e.register(body); status != 400 || m["error"] != "invalid_client_metadata" {
			t.Fatalf("register %s: %d %v", body, status, m)
		}
	}

	// Without Config.MTLS the methods are neither advertised nor
	// registered.
	off := newEnv(t, machineRegistration)
	status, _, m = off.register(`{"grant_types":["client_credentials"],"token_endpoint_auth_method":"tls_client_auth","tls_client_auth_san_dns":"a.example"}`)
	if status != 400 || m["error"] != "invalid_client_metadata" || !strings.Contains(fmt.Sprint(m["error_description"]), "not supported") {
		t.Fatalf("register without MTLS: %d %v", status, m)
	}
}

// TestMTLSMetadataDocument: a Client ID Metadata Document declaring
// tls_client_auth, accepted by a profile with cimd-allow-tls-client-auth,
// runs the authorization code flow and exchanges its code with its
// certificate; the same document is refused before consent when the
// server has mutual TLS off.
func TestMTLSMetadataDocument(t *testing.T) {
	p := testPKI(t)
	site := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := "https://" + r.Host + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"Agent","redirect_uris":[%q],
			"grant_types":["authorization_code"],"token_endpoint_auth_method":"tls_client_auth",
			"tls_client_auth_subject_dn":%q}`, id, callback, goodDN)
	}))
	defer site.Close()
	engine := func(t *testing.T) *policy.Engine {
		resolver, err := cimd.NewResolver(cimd.Options{HTTPClient: site.Client()})
		if err != nil {
			t.Fatal(err)
		}
		reg := policy.NewRegistry()
		if err := cimd.Register(reg, resolver); err != nil {
			t.Fatal(err)
		}
		eng, err := policy.New(reg,
			[]policy.Profile{{Name: "cimd", Executors: []policy.ExecutorSpec{{ID: policy.ExecutorClientIDMetadataDocument,
				Configuration: json.RawMessage(`{"cimd-allow-permitted-domains":["127.0.0.1"],"cimd-allow-tls-client-auth":true,
					"only-allow-confidential-client":false}`)}}}},
			[]policy.Policy{{Name: "cimd", Conditions: []policy.ConditionSpec{{ID: policy.ConditionClientIDURI,
				Configuration: json.RawMessage(`{"client-id-uri-scheme":["https"],"client-id-uri-allow-permitted-domains":["127.0.0.1"]}`)}},
				Profiles: []string{"cimd"}}})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	clientID := site.URL + "/agent.json"
	v := authorizeParams()
	v.Set("client_id", clientID)

	e := newTLSEnv(t, func(c *Config) {
		c.Policies = engine(t)
		c.MTLS = &MTLSConfig{ClientCAs: mtlstest.Pool(p.ca)}
	})
	code := e.code(v)
	exchange := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "code_verifier": {testVerifier},
		"client_id": {clientID}, "redirect_uri": {callback}}
	if status, tj := decodeToken(t, e.withCert(&p.someoneElse).post("/token", exchange, "", "")); status != 401 || tj.Error != "invalid_client" {
		t.Fatalf("exchange with another certificate: %d %+v", status, tj)
	}
	status, tj := decodeToken(t, e.withCert(&p.good).post("/token", exchange, "", ""))
	if status != 200 || tokenClientIDLoose(t, tj.AccessToken) != clientID {
		t.Fatalf("exchange with the certificate: %d %+v", status, tj)
	}

	off := newTLSEnv(t, func(c *Config) { c.Policies = engine(t) })
	resp := off.get("/authorize?" + v.Encode())
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("authorize without MTLS: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, err := off.store.GetClient(context.Background(), clientID); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("refused metadata-document client stored: %v", err)
	}
}

// tokenClientIDLoose is tokenClientID for user tokens (sub is the user).
func tokenClientIDLoose(t *testing.T, token string) string {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		ClientID string `json:"client_id"`
	}
	if err := tok.UnsafeClaimsWithoutVerification(&c); err != nil {
		t.Fatal(err)
	}
	return c.ClientID
}

// TestMTLSLogs: a refused certificate is logged by its subject and
// fingerprint, never by its encoding.
func TestMTLSLogs(t *testing.T) {
	var buf syncWriter
	e, p, _ := mtlsEnv(t, func(c *Config) {
		c.Logger = slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	status, _ := decodeToken(t, e.withCert(&p.someoneElse).post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"mtls-dn"}}, "", ""))
	if status != 401 {
		t.Fatalf("status %d", status)
	}
	logs := buf.String()
	leaf := p.someoneElse.Leaf
	fp := sha256Hex(leaf.Raw)
	if !strings.Contains(logs, fp) || !strings.Contains(logs, "someone-else") {
		t.Fatalf("log does not name the certificate by subject and fingerprint:\n%s", logs)
	}
	for _, enc := range []string{base64.StdEncoding.EncodeToString(leaf.Raw)[:40], hex.EncodeToString(leaf.Raw)[:40],
		base64.StdEncoding.EncodeToString(leaf.RawSubjectPublicKeyInfo)[:40]} {
		if strings.Contains(logs, enc) {
			t.Fatal("log holds the certificate's encoding")
		}
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// TestMTLSConstrainedSubCACannotClaimOtherNames: a subordinate CA that
// the trust anchor limits to customer-a.example issues leaves whose SAN
// list holds a permitted name and, as a constructed entry that
// crypto/x509 neither parses nor checks against the constraints, another
// client's registered DNS name, IP address, URI or email. The leaf chains fine; it must still not
// authenticate as that client.
func TestMTLSConstrainedSubCACannotClaimOtherNames(t *testing.T) {
	e, p, _ := mtlsEnv(t)
	now := time.Now()
	subKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	subDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: big.NewInt(77), Subject: pkix.Name{CommonName: "Customer A CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, PermittedDNSDomainsCritical: true, PermittedDNSDomains: []string{"customer-a.example"},
	}, p.ca.Cert, subKey.Public(), p.ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	sub, err := x509.ParseCertificate(subDER)
	if err != nil {
		t.Fatal(err)
	}
	for i, tc := range []struct {
		client string
		extra  asn1.RawValue
	}{
		{"mtls-dns", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 2, IsCompound: true, Bytes: []byte(goodDNS)}},
		{"mtls-ip", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 7, IsCompound: true, Bytes: net.ParseIP(goodIP).To4()}},
		{"mtls-uri", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 6, IsCompound: true, Bytes: []byte(goodURI)}},
		{"mtls-email", asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 1, IsCompound: true, Bytes: []byte(goodMail)}},
	} {
		extra := tc.extra
		san, err := asn1.Marshal([]asn1.RawValue{
			{Class: asn1.ClassContextSpecific, Tag: 2, Bytes: []byte("svc.customer-a.example")}, extra,
		})
		if err != nil {
			t.Fatal(err)
		}
		leafDER, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
			SerialNumber: big.NewInt(int64(78 + i)), Subject: pkix.Name{CommonName: "customer-a"},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
			ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
			ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 17}, Value: san}},
		}, sub, leafKey.Public(), subKey)
		if err != nil {
			t.Fatal(err)
		}
		cert := tls.Certificate{Certificate: [][]byte{leafDER, subDER}, PrivateKey: leafKey}
		status, tj := decodeToken(t, e.withCert(&cert).post("/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {tc.client}}, "", ""))
		if status != http.StatusUnauthorized || tj.Error != "invalid_client" {
			t.Errorf("a leaf of a sub-CA constrained to customer-a.example authenticated as %s: %d %+v", tc.client, status, tj)
		}
	}
}

// TestMTLSConcurrentFailuresFetchJWKSOnce: failed self-signed attempts
// force a refetch of the client's jwks_uri (a rotated key set may hold the
// new certificate), but concurrent ones share one fetch and the cached
// set then holds for 30 s.
func TestMTLSConcurrentFailuresFetchJWKSOnce(t *testing.T) {
	e, p, site := mtlsEnv(t)
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {"self-remote"}}
	if status, tj := decodeToken(t, e.withCert(&p.self2).post("/token", form, "", "")); status != 200 {
		t.Fatalf("registered certificate: %d %+v", status, tj)
	}
	e.clock.Advance(time.Minute) // past the refetch interval, within the cache lifetime
	before := site.fetches.Load()
	wrong := e.withCert(&p.self) // not registered for self-remote
	var wg sync.WaitGroup
	for range 30 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := wrong.post("/token", form, "", "")
			resp.Body.Close()
		}()
	}
	wg.Wait()
	if n := site.fetches.Load() - before; n != 1 {
		t.Errorf("30 concurrent failed attempts fetched the jwks_uri %d times, want 1", n)
	}
}
