package authz

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/internal/certmatch"
)

// Mutual-TLS client authentication methods (RFC 8705 §2).
const (
	AuthMethodTLSClientAuth           = "tls_client_auth"
	AuthMethodSelfSignedTLSClientAuth = "self_signed_tls_client_auth"
)

// maxClientChain bounds the certificates of a presented chain that are
// looked at (the leaf and its intermediates), so that a client cannot make
// path building expensive.
const maxClientChain = 10

// MTLSConfig turns on mutual-TLS client authentication (RFC 8705 §2) at
// the token, revocation and introspection endpoints. It covers client
// authentication only: access tokens are not bound to the certificate
// (no "cnf" claim, RFC 8705 §3).
//
// The TLS listener must ask for client certificates without verifying
// them (tls.Config.ClientAuth = tls.RequestClientCert, or
// VerifyClientCertIfGiven if every client certificate chains to the
// listener's own ClientCAs, which rules out self-signed ones): the server
// verifies the certificate itself, against the method the client
// registered. The endpoints are published at their usual URLs
// (mtls_endpoint_aliases is not used), so the listener serving the token
// endpoint is the one that must ask. Browsers may offer the user a
// certificate prompt on a listener that asks; serve the authorization
// endpoint and consent pages from one that does not, if that matters.
type MTLSConfig struct {
	// ClientCAs are the trust anchors of tls_client_auth (PKI mutual TLS,
	// RFC 8705 §2.1): the presented certificate, with the intermediates
	// the client sent, must chain to one of them, be valid now and allow
	// client authentication (extended key usage clientAuth, or none).
	// Nil leaves tls_client_auth off.
	ClientCAs *x509.CertPool
	// DisableSelfSigned turns self_signed_tls_client_auth (RFC 8705 §2.2)
	// off. When on, a client registered with it authenticates with a
	// certificate, within its validity period, that is byte for byte the
	// first x5c certificate of one of the keys in its jwks or jwks_uri.
	DisableSelfSigned bool
	// ClientCertificates returns the certificate chain the client of a
	// request presented, leaf first, or none. Nil means
	// r.TLS.PeerCertificates, for a server that terminates TLS itself.
	//
	// Behind a proxy that terminates TLS, give a function that reads the
	// certificate from the header your proxy sets. It must trust only a
	// header that your proxy always sets or removes: a header a client can
	// send through the proxy unchanged lets anyone claim any certificate.
	// An error answers 401 invalid_client, as a missing certificate does.
	ClientCertificates func(r *http.Request) ([]*x509.Certificate, error)
}

// mtlsSettings are the mutual-TLS settings of a server.
type mtlsSettings struct {
	pki        bool
	selfSigned bool
	roots      *x509.CertPool
	chain      func(*http.Request) ([]*x509.Certificate, error)
}

// setMTLS applies Config.MTLS.
func (s *Server) setMTLS(c *MTLSConfig) error {
	if c == nil {
		return nil
	}
	s.mtls = mtlsSettings{
		pki:        c.ClientCAs != nil,
		selfSigned: !c.DisableSelfSigned,
		roots:      c.ClientCAs,
		chain:      c.ClientCertificates,
	}
	if !s.mtls.pki && !s.mtls.selfSigned {
		return errors.New("authz: Config.MTLS turns nothing on: set ClientCAs, or leave self_signed_tls_client_auth enabled")
	}
	if s.mtls.chain == nil {
		s.mtls.chain = peerCertificates
	}
	return nil
}

// peerCertificates is the default MTLSConfig.ClientCertificates.
func peerCertificates(r *http.Request) ([]*x509.Certificate, error) {
	if r.TLS == nil {
		return nil, nil
	}
	return r.TLS.PeerCertificates, nil
}

// isMTLSMethod reports whether m is one of the RFC 8705 methods.
func isMTLSMethod(m string) bool {
	return m == AuthMethodTLSClientAuth || m == AuthMethodSelfSignedTLSClientAuth
}

// authMethodEnabled reports whether the server can authenticate a client
// registered with method m. Only the mutual-TLS methods can be off.
func (s *Server) authMethodEnabled(m string) bool {
	switch m {
	case AuthMethodTLSClientAuth:
		return s.mtls.pki
	case AuthMethodSelfSignedTLSClientAuth:
		return s.mtls.selfSigned
	}
	return true
}

// mtlsMethods returns the enabled mutual-TLS methods, for the metadata
// and for registration.
func (s *Server) mtlsMethods() []string {
	var out []string
	if s.mtls.pki {
		out = append(out, AuthMethodTLSClientAuth)
	}
	if s.mtls.selfSigned {
		out = append(out, AuthMethodSelfSignedTLSClientAuth)
	}
	return out
}

// authenticateCertificate authenticates a client registered with a
// mutual-TLS method by the certificate of the connection (RFC 8705 §2).
// Every failure is invalid_client; the certificate is described in the
// cause (logged at debug level) by its subject and SHA-256 fingerprint
// only.
func (s *Server) authenticateCertificate(ctx context.Context, r *http.Request, e *clientEntry) error {
	m := authMethod(&e.client)
	if !s.authMethodEnabled(m) {
		return errInvalidClient("This server does not accept " + m + ".")
	}
	chain, err := s.mtls.chain(r)
	if err != nil {
		return &Error{Code: ErrCodeInvalidClient, Description: "The client certificate could not be read.", Status: http.StatusUnauthorized, cause: err}
	}
	if len(chain) == 0 || chain[0] == nil {
		return errInvalidClient("A client certificate is required (mutual TLS, " + m + ").")
	}
	if len(chain) > maxClientChain {
		return errInvalidClient("The client certificate chain is too long.")
	}
	leaf := chain[0]
	refuse := func(desc string, cause error) error {
		return &Error{Code: ErrCodeInvalidClient, Description: desc, Status: http.StatusUnauthorized, cause: certCause(leaf, cause)}
	}
	if m == AuthMethodTLSClientAuth {
		subject := e.subject
		if subject == nil {
			md := &e.client.Metadata
			subject, err = certmatch.ParseSubject(md.TLSClientAuthSubjectDN, md.TLSClientAuthSANDNS, md.TLSClientAuthSANURI,
				md.TLSClientAuthSANIP, md.TLSClientAuthSANEmail)
			if err != nil {
				return refuse("The client's registered certificate subject is invalid.", err)
			}
		}
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			if c != nil {
				inter.AddCert(c)
			}
		}
		_, err := leaf.Verify(x509.VerifyOptions{
			Roots:         s.mtls.roots,
			Intermediates: inter,
			CurrentTime:   s.now(),
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return refuse("The client certificate is not trusted.", err)
		}
		if !subject.Match(leaf) {
			return refuse("The client certificate does not match the registered subject.", errors.New("subject mismatch"))
		}
		return nil
	}

	// self_signed_tls_client_auth: the certificate itself is the
	// credential, registered in the client's key set.
	if now := s.now(); now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
		return refuse("The client certificate is expired or not yet valid.", errors.New("outside the validity period"))
	}
	registered := func(ks *jose.JSONWebKeySet) bool {
		for i := range ks.Keys {
			if certs := ks.Keys[i].Certificates; len(certs) > 0 && bytes.Equal(certs[0].Raw, leaf.Raw) {
				return true
			}
		}
		return false
	}
	ok, err := s.matchClientKeys(ctx, e, registered)
	if err != nil {
		return err
	}
	if !ok {
		return refuse("The client certificate is not registered for this client.", errors.New("not in the client's jwks"))
	}
	return nil
}

// certCause describes a refused certificate for the log: subject and
// SHA-256 fingerprint, nothing else of it.
func certCause(leaf *x509.Certificate, err error) error {
	fp := sha256.Sum256(leaf.Raw)
	return fmt.Errorf("client certificate subject %q sha256 %s: %w", leaf.Subject.String(), hex.EncodeToString(fp[:]), err)
}

// staticMTLS checks and prepares the mutual-TLS part of a pre-registered
// client: the method must be enabled, tls_client_auth needs exactly one
// subject value, self_signed_tls_client_auth keys with x5c certificates.
// The subject members belong to tls_client_auth only.
func (s *Server) staticMTLS(sc *StaticClient, e *clientEntry) error {
	md := &sc.Metadata
	m := md.TokenEndpointAuthMethod
	hasSubject := md.TLSClientAuthSubjectDN != "" || md.TLSClientAuthSANDNS != "" || md.TLSClientAuthSANURI != "" ||
		md.TLSClientAuthSANIP != "" || md.TLSClientAuthSANEmail != ""
	if !isMTLSMethod(m) {
		if hasSubject {
			return errors.New("tls_client_auth_* members need token_endpoint_auth_method tls_client_auth")
		}
		return nil
	}
	if sc.Secret != "" {
		return fmt.Errorf("%s clients have no Secret", m)
	}
	if !s.authMethodEnabled(m) {
		if m == AuthMethodTLSClientAuth {
			return errors.New("tls_client_auth needs Config.MTLS with ClientCAs")
		}
		return errors.New("self_signed_tls_client_auth needs Config.MTLS (without DisableSelfSigned)")
	}
	if m == AuthMethodTLSClientAuth {
		subject, err := certmatch.ParseSubject(md.TLSClientAuthSubjectDN, md.TLSClientAuthSANDNS, md.TLSClientAuthSANURI,
			md.TLSClientAuthSANIP, md.TLSClientAuthSANEmail)
		if err != nil {
			return err
		}
		e.subject = subject
		return nil
	}
	if hasSubject {
		return errors.New("tls_client_auth_* members need token_endpoint_auth_method tls_client_auth")
	}
	if err := s.staticKeys(md, e); err != nil {
		return err
	}
	if e.jwks != nil {
		for i, k := range e.jwks.Keys {
			if len(k.Certificates) == 0 {
				return fmt.Errorf("jwks key %d has no x5c certificate, which self_signed_tls_client_auth needs", i)
			}
		}
	}
	return nil
}
