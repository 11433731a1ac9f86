// Package mtlstest makes the certificates that tests of mutual-TLS client
// authentication (RFC 8705 §2) need: a certificate authority that issues
// client certificates, self-signed client certificates, and the JWK Set
// that registers a self-signed certificate (x5c). For tests only.
package mtlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// CA is a test certificate authority.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA returns a CA with a self-signed root certificate named cn, valid
// from an hour ago for a day.
func NewCA(t testing.TB, cn string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          serial(t),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &CA{Cert: cert, Key: key}
}

// Pool returns a pool of the CAs' certificates.
func Pool(cas ...*CA) *x509.CertPool {
	p := x509.NewCertPool()
	for _, ca := range cas {
		p.AddCert(ca.Cert)
	}
	return p
}

// Issue signs a client certificate from tmpl (its subject, SANs and
// validity; zero NotBefore and NotAfter mean an hour ago and a day
// ahead; no ExtKeyUsage means clientAuth) with a fresh key.
func (ca *CA) Issue(t testing.TB, tmpl x509.Certificate) tls.Certificate {
	t.Helper()
	return create(t, &tmpl, ca.Cert, ca.Key)
}

// SelfSigned returns a self-signed client certificate from tmpl, filled
// as by [CA.Issue].
func SelfSigned(t testing.TB, tmpl x509.Certificate) tls.Certificate {
	t.Helper()
	return create(t, &tmpl, nil, nil)
}

func create(t testing.TB, tmpl *x509.Certificate, parent *x509.Certificate, parentKey crypto.Signer) tls.Certificate {
	t.Helper()
	key := newKey(t)
	tmpl.SerialNumber = serial(t)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore = time.Now().Add(-time.Hour)
	}
	if tmpl.NotAfter.IsZero() {
		tmpl.NotAfter = time.Now().Add(24 * time.Hour)
	}
	if tmpl.ExtKeyUsage == nil {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl.KeyUsage |= x509.KeyUsageDigitalSignature
	if parent == nil {
		parent, parentKey = tmpl, key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
}

// JWKS returns a JWK Set holding, for each certificate, its public key
// with the certificate as x5c: how a self_signed_tls_client_auth client
// registers its certificates.
func JWKS(t testing.TB, certs ...tls.Certificate) json.RawMessage {
	t.Helper()
	var set jose.JSONWebKeySet
	for _, c := range certs {
		set.Keys = append(set.Keys, jose.JSONWebKey{Key: c.Leaf.PublicKey, Certificates: []*x509.Certificate{c.Leaf}, Use: "sig"})
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TLSConfig returns a client TLS configuration that trusts roots (for the
// server's certificate) and presents cert, if given, when asked.
func TLSConfig(roots *x509.CertPool, cert *tls.Certificate) *tls.Config {
	c := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		c.Certificates = []tls.Certificate{*cert}
	}
	return c
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}
