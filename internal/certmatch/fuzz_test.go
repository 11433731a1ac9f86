package certmatch

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// FuzzParseDN feeds registered subject DNs, which come from the network
// (dynamic registration, metadata documents), to the parser: it must never
// panic, and a name it accepts must match itself.
func FuzzParseDN(f *testing.F) {
	for _, s := range []string{
		"CN=client,O=Example Corp,C=US", `CN=a\,b\+c\;d\<e\>f\"g\\h,O=x`, `CN=\E2\82\AC`, "1.2.3.4=#0403616263",
		"CN=a+O=b,C=US", " CN = x ", "CN=", "=x", "CN=\\", "CN=#zz", "2.5.4.3=#", "CN=a,,O=b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := parseDN(s)
		if err != nil {
			return
		}
		if !d.match(d) {
			t.Fatalf("%q parses but does not match itself", s)
		}
	})
}

// FuzzSubjectOfCertificate checks the round trip a deployment relies on:
// the subject of a real certificate, written out in RFC 4514 form by
// crypto/x509 (what an administrator copies into tls_client_auth_subject_dn),
// parses, and matches that certificate.
func FuzzSubjectOfCertificate(f *testing.F) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("client", "Example Corp", "Unit, with comma", "US")
	f.Add(" lead+trail ", "a\\b\"c", "#hash", "")
	f.Add("€uro", "x=y;z", "<>", "DE")
	f.Fuzz(func(t *testing.T, cn, o, ou, c string) {
		// Control characters are left out: RFC 4514 requires NUL to be
		// escaped, which crypto/x509's String does not do, and nobody
		// types the others into a configuration.
		for _, v := range []string{cn, o, ou, c} {
			if !utf8.ValidString(v) || len(v) > 64 || strings.IndexFunc(v, unicode.IsControl) >= 0 {
				return
			}
		}
		name := pkix.Name{CommonName: cn}
		if o != "" {
			name.Organization = []string{o}
		}
		if ou != "" {
			name.OrganizationalUnit = []string{ou}
		}
		if c != "" {
			name.Country = []string{c}
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: name,
			NotBefore: time.Unix(0, 0), NotAfter: time.Unix(1<<31, 0),
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
		if err != nil {
			return
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return
		}
		str := cert.Subject.String()
		if str == "" {
			return
		}
		sub, err := ParseSubject(str, "", "", "", "")
		if err != nil {
			t.Fatalf("the subject %q of a certificate does not parse: %v", str, err)
		}
		if !sub.Match(cert) {
			t.Fatalf("the subject %q does not match its own certificate", str)
		}
	})
}
