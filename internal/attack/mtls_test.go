package attack

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/internal/mtlstest"
	"github.com/nqrust/identity/metadata"
)

// Mutual-TLS clients of TestMutualTLSImpersonation.
const (
	mtlsPKIID  = "mtls-pki"  // tls_client_auth, subject DN
	mtlsSelfID = "mtls-self" // self_signed_tls_client_auth, inline x5c
)

// TestMutualTLSImpersonation attacks clients that authenticate with a
// certificate (RFC 8705 §2) on a deployment that enables mutual TLS but
// terminates TLS itself (the default MTLSConfig.ClientCertificates): the
// world's listener is plain HTTP, so no request carries a certificate the
// server saw in a handshake. Whatever the attacker sends instead, a
// certificate in the headers proxies use, the client_id alone, a secret
// or an assertion, is 401 invalid_client with nothing stored.
func TestMutualTLSImpersonation(t *testing.T) {
	ca := mtlstest.NewCA(t, "Attack Client CA")
	pkiCert := ca.Issue(t, x509.Certificate{Subject: pkix.Name{CommonName: "agent", Organization: []string{"Example"}}})
	selfCert := mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "self-agent"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour)})
	w := newWorld(t, options{authz: func(c *authz.Config) {
		c.MTLS = &authz.MTLSConfig{ClientCAs: mtlstest.Pool(ca)}
		c.Clients = append(c.Clients,
			authz.StaticClient{Metadata: metadata.Client{ClientID: mtlsPKIID, TokenEndpointAuthMethod: authz.AuthMethodTLSClientAuth,
				GrantTypes: []string{"client_credentials"}, TLSClientAuthSubjectDN: "CN=agent,O=Example"}},
			authz.StaticClient{Metadata: metadata.Client{ClientID: mtlsSelfID, TokenEndpointAuthMethod: authz.AuthMethodSelfSignedTLSClientAuth,
				GrantTypes: []string{"client_credentials"}, JWKS: mtlstest.JWKS(t, selfCert)}})
	}})
	form := func(id string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "client_id": {id}, "resource": {w.resA}}
	}
	// Every case starts with a full allowance of failed authentications
	// (AuthFailureLimit counts by address, and all come from loopback).
	fresh := func() { w.clock.Advance(2 * time.Minute) }
	refused := func(t *testing.T, tr *tokenResp) {
		t.Helper()
		jsonError(t, tr.resp, http.StatusUnauthorized, "invalid_client")
		if tr.AccessToken != "" {
			t.Fatalf("a token was issued: %s", tr.body)
		}
	}

	for _, c := range []struct {
		id   string
		cert tls.Certificate
	}{{mtlsPKIID, pkiCert}, {mtlsSelfID, selfCert}} {
		pemCert := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Leaf.Raw}))
		b64 := base64.StdEncoding.EncodeToString(c.cert.Leaf.Raw)
		// The spellings of the common TLS-terminating proxies (nginx,
		// Envoy, AWS ALB, Traefik, Caddy), with the right certificate.
		headers := [][2]string{
			{"X-SSL-Client-Cert", url.QueryEscape(pemCert)},
			{"Ssl-Client-Cert", strings.ReplaceAll(strings.TrimSpace(pemCert), "\n", " ")},
			{"X-Forwarded-Client-Cert", `Hash=00;Cert="` + url.QueryEscape(pemCert) + `";Subject="CN=agent,O=Example"`},
			{"X-Amzn-Mtls-Clientcert", url.QueryEscape(pemCert)},
			{"X-Forwarded-Tls-Client-Cert", b64},
			{"X-Client-Cert", ":" + b64 + ":"},
			{"X-Client-Verify", "SUCCESS"},
		}
		t.Run("impersonation/mtls-certificate-in-proxy-headers/"+c.id, func(t *testing.T) {
			fresh()
			w.nothingStored(t, func() {
				for _, h := range headers {
					r := w.browser("").postForm("/token", form(c.id), h[0], h[1])
					tr := &tokenResp{resp: r}
					_ = json.Unmarshal([]byte(r.body), tr)
					refused(t, tr)
				}
			})
		})
		t.Run("impersonation/mtls-client-id-alone/"+c.id, func(t *testing.T) {
			fresh()
			w.nothingStored(t, func() { refused(t, w.token(form(c.id))) })
		})
		t.Run("impersonation/mtls-basic-empty-password/"+c.id, func(t *testing.T) {
			fresh()
			f := form(c.id)
			f.Del("client_id")
			w.nothingStored(t, func() { refused(t, w.token(f, c.id, "")) })
		})
		t.Run("impersonation/mtls-secret-instead-of-certificate/"+c.id, func(t *testing.T) {
			fresh()
			w.nothingStored(t, func() {
				f := form(c.id)
				f.Set("client_secret", confSecret)
				refused(t, w.token(f))
				f.Del("client_secret")
				f.Del("client_id")
				refused(t, w.token(f, c.id, confSecret))
			})
		})
		t.Run("impersonation/mtls-assertion-instead-of-certificate/"+c.id, func(t *testing.T) {
			fresh()
			// An assertion signed with the certificate's own key proves
			// possession, but the client registered mutual TLS, not
			// private_key_jwt: methods are never substituted.
			now := w.clock.Now()
			assertion := sign(t, c.cert.PrivateKey, "ES256", "", "", map[string]any{"iss": c.id, "sub": c.id, "aud": w.issuer + "/token",
				"jti": "mtls-" + c.id, "exp": now.Add(time.Minute).Unix(), "iat": now.Unix()})
			f := form(c.id)
			f.Set("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
			f.Set("client_assertion", assertion)
			w.nothingStored(t, func() { refused(t, w.token(f)) })
		})
	}
	t.Run("abuse/mtls-certificate-guessing-rate-limited", func(t *testing.T) {
		// Failed certificate authentications count like wrong secrets:
		// past the allowance the server answers 429 without looking.
		fresh()
		var last *tokenResp
		w.nothingStored(t, func() {
			for range authz.DefaultAuthFailureBurst + 1 {
				last = w.token(form(mtlsPKIID))
			}
		})
		jsonError(t, last.resp, http.StatusTooManyRequests, "invalid_client")
		if last.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
	t.Run("impersonation/mtls-metadata-document-not-allowed-by-profile", func(t *testing.T) {
		// The server has mutual TLS on, but the world's profile does not
		// set cimd-allow-tls-client-auth: a document declaring it is
		// refused before consent, and nothing about it is kept.
		id := "https://docs.vscode.dev/mtls-agent.json"
		b, _ := json.Marshal(map[string]any{"client_id": id, "redirect_uris": []string{"http://127.0.0.1/callback"},
			"token_endpoint_auth_method": "tls_client_auth", "tls_client_auth_subject_dn": "CN=agent,O=Example"})
		w.site.json(id, string(b))
		q := authzParams(id, "http://127.0.0.1/callback", newPKCE(), w.resA, "a:read")
		w.nothingStored(t, func() {
			errorPage(t, w.browser(user).get("/authorize?"+q.Encode()), "invalid_request", cimd.ReasonTLSClientAuth)
		})
	})
}
