package certmatch

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/nqrust/identity/internal/mtlstest"
)

// render shows a parsed name in certificate order, attributes as
// oid=value, RDNs joined by "/".
func render(d dn) string {
	var b strings.Builder
	for i, r := range d {
		if i > 0 {
			b.WriteByte('/')
		}
		for j, a := range r {
			if j > 0 {
				b.WriteByte('+')
			}
			b.WriteString(a.oid + "=" + a.str)
		}
	}
	return b.String()
}

func TestParseDN(t *testing.T) {
	valid := []struct{ in, want string }{
		{"CN=client,O=Example Corp,C=US", "2.5.4.6=US/2.5.4.10=Example Corp/2.5.4.3=client"},
		{"cn = client , o = Example Corp ,c=US", "2.5.4.6=US/2.5.4.10=Example Corp/2.5.4.3=client"},
		{`CN=a\,b\+c\;d\<e\>f\"g\\h,O=x`, `2.5.4.10=x/2.5.4.3=a,b+c;d<e>f"g\h`},
		{`CN=\23hash\ `, "2.5.4.3=#hash "},
		{`CN=\E2\82\AC`, "2.5.4.3=€"},
		{"CN=#0c06636c69656e74", "2.5.4.3=client"},
		{"2.5.4.3=client", "2.5.4.3=client"},
		{"CN=a+UID=b,DC=example,DC=com", "0.9.2342.19200300.100.1.25=com/0.9.2342.19200300.100.1.25=example/2.5.4.3=a+0.9.2342.19200300.100.1.1=b"},
		{"CN=", "2.5.4.3="},
	}
	for _, c := range valid {
		d, err := parseDN(c.in)
		if err != nil {
			t.Errorf("parseDN(%q): %v", c.in, err)
			continue
		}
		if got := render(d); got != c.want {
			t.Errorf("parseDN(%q) = %q, want %q", c.in, got, c.want)
		}
	}
	invalid := []string{
		"", "CN", "CN=a,", ",CN=a", "FOO=bar", "CN=a;O=b", `CN=a\`, `CN=\zz`, "CN=#abc", "CN=#", "CN=#0c0161ff",
		"01.2=x", "1=x", "CN=a\"b", `CN=\FF`, "CN=a<b", "CN=a\x00", "CN=a,,O=b",
	}
	for _, in := range invalid {
		if _, err := parseDN(in); err == nil {
			t.Errorf("parseDN(%q) accepted", in)
		}
	}
}

// subjectCert returns a certificate whose subject is the DER of rdns.
func subjectCert(t *testing.T, rdns pkix.RDNSequence) *x509.Certificate {
	t.Helper()
	raw, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	return mtlstest.SelfSigned(t, x509.Certificate{RawSubject: raw}).Leaf
}

var (
	oidCN  = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidO   = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidC   = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidUID = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidX   = asn1.ObjectIdentifier{1, 2, 3, 4}
)

func TestMatchDN(t *testing.T) {
	plain := mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{
		CommonName: "client", Organization: []string{"Example  Corp"}, Country: []string{"US"}}}).Leaf
	multi := subjectCert(t, pkix.RDNSequence{
		{{Type: oidC, Value: "US"}},
		{{Type: oidCN, Value: "a"}, {Type: oidUID, Value: "b"}},
	})
	other := subjectCert(t, pkix.RDNSequence{
		{{Type: oidX, Value: "Abc"}},
		{{Type: oidCN, Value: "Ünïcode"}},
		// BMPString "Bmp", as old software writes names.
		{{Type: oidO, Value: asn1.RawValue{Tag: asn1.TagBMPString, Bytes: []byte{0, 'B', 0, 'm', 0, 'p'}}}},
	})
	cases := []struct {
		cert *x509.Certificate
		dn   string
		want bool
	}{
		{plain, "CN=client,O=Example  Corp,C=US", true},
		{plain, "cn=CLIENT, o=example corp, c=us", true},
		{plain, "CN=  client ,O=Example Corp,C=US", true},
		{plain, "2.5.4.3=client,2.5.4.10=Example Corp,2.5.4.6=US", true},
		{plain, "CN=#1306636c69656e74,O=Example Corp,C=US", true},
		{plain, "CN=client,O=Example Corp", false},
		{plain, "O=Example Corp,CN=client,C=US", false},
		{plain, "CN=client2,O=Example Corp,C=US", false},
		{plain, "CN=client,O=ExampleCorp,C=US", false},
		{plain, "CN=client,OU=Example Corp,C=US", false},
		{plain, "CN=client,O=Example Corp,C=US,DC=com", false},
		{multi, "UID=b+CN=a,C=US", true},
		{multi, "CN=a+UID=b,C=US", true},
		{multi, "CN=a,UID=b,C=US", false},
		{multi, "CN=a+UID=b+UID=b,C=US", false},
		{multi, "CN=a+CN=a,C=US", false},
		{other, "O=bmp,CN=ünïcode,1.2.3.4=Abc", true},
		{other, "O=#0c03626d70,CN=ÜNÏCODE,1.2.3.4=Abc", true},
		{other, "O=bmp,CN=unicode,1.2.3.4=Abc", false},
		{other, "O=bmp,CN=ünïcode,1.2.3.4=abc", false},
		{other, "O=bmp,CN=ünïcode,1.2.3.4=#020105", false},
	}
	for _, c := range cases {
		s, err := ParseSubject(c.dn, "", "", "", "")
		if err != nil {
			t.Fatalf("ParseSubject(%q): %v", c.dn, err)
		}
		if got := s.Match(c.cert); got != c.want {
			t.Errorf("%q against %q: %v, want %v", c.dn, c.cert.Subject, got, c.want)
		}
	}
}

func TestMatchSAN(t *testing.T) {
	u, _ := url.Parse("spiffe://example.org/ns/client")
	cert := mtlstest.SelfSigned(t, x509.Certificate{
		Subject:        pkix.Name{CommonName: "san"},
		DNSNames:       []string{"Client.Example.com", "*.wild.example"},
		URIs:           []*url.URL{u},
		IPAddresses:    []net.IP{net.ParseIP("192.0.2.7"), net.ParseIP("2001:db8::1")},
		EmailAddresses: []string{"Client@Example.COM"},
	}).Leaf
	cases := []struct {
		dns, uri, ip, email string
		want                bool
	}{
		{dns: "client.example.com", want: true},
		{dns: "CLIENT.EXAMPLE.COM", want: true},
		{dns: "*.wild.example", want: true},
		{dns: "a.wild.example", want: false},
		{dns: "example.com", want: false},
		{uri: "spiffe://example.org/ns/client", want: true},
		{uri: "spiffe://example.org/ns/Client", want: false},
		{uri: "spiffe://example.org/ns/client/", want: false},
		{ip: "192.0.2.7", want: true},
		{ip: "2001:DB8:0::1", want: true},
		{ip: "::ffff:192.0.2.7", want: false},
		{ip: "192.0.2.8", want: false},
		{email: "Client@example.com", want: true},
		{email: "client@Example.COM", want: false},
		{email: "Client@example.org", want: false},
	}
	for _, c := range cases {
		s, err := ParseSubject("", c.dns, c.uri, c.ip, c.email)
		if err != nil {
			t.Fatalf("ParseSubject(%+v): %v", c, err)
		}
		if got := s.Match(cert); got != c.want {
			t.Errorf("%+v: %v, want %v", c, got, c.want)
		}
		// A certificate without SANs matches no SAN value.
		if s.Match(mtlstest.SelfSigned(t, x509.Certificate{Subject: pkix.Name{CommonName: "client.example.com"}}).Leaf) {
			t.Errorf("%+v matched a certificate without SANs", c)
		}
	}
	var zero *Subject
	if zero.Match(cert) {
		t.Fatal("nil subject matched")
	}
}

func TestParseSubjectErrors(t *testing.T) {
	cases := []struct {
		vals  [5]string
		field string
	}{
		{[5]string{}, ""},
		{[5]string{"CN=a", "a.example"}, ""},
		{[5]string{"", "", "", "192.0.2.1", "a@b.example"}, ""},
		{[5]string{"CN"}, MemberSubjectDN},
		{[5]string{strings.Repeat("CN=a,", 500) + "CN=a"}, MemberSubjectDN},
		{[5]string{"", "exa mple.com"}, MemberSANDNS},
		{[5]string{"", "-a.example"}, MemberSANDNS},
		{[5]string{"", "a..example"}, MemberSANDNS},
		{[5]string{"", "a.*.example"}, MemberSANDNS},
		{[5]string{"", "ünï.example"}, MemberSANDNS},
		{[5]string{"", strings.Repeat("a.", 127) + "a"}, MemberSANDNS},
		{[5]string{"", "", "relative/path"}, MemberSANURI},
		{[5]string{"", "", "https://a.example/x y"}, MemberSANURI},
		{[5]string{"", "", "", "1.2.3"}, MemberSANIP},
		{[5]string{"", "", "", "fe80::1%eth0"}, MemberSANIP},
		{[5]string{"", "", "", "", "no-at.example"}, MemberSANEmail},
		{[5]string{"", "", "", "", "@a.example"}, MemberSANEmail},
		{[5]string{"", "", "", "", "a b@a.example"}, MemberSANEmail},
		{[5]string{"", "", "", "", "a@a_b.example"}, MemberSANEmail},
	}
	for _, c := range cases {
		_, err := ParseSubject(c.vals[0], c.vals[1], c.vals[2], c.vals[3], c.vals[4])
		var fe *FieldError
		if !errors.As(err, &fe) {
			t.Errorf("%q: got %v, want a *FieldError", c.vals, err)
			continue
		}
		if fe.Field != c.field {
			t.Errorf("%q: field %q, want %q", c.vals, fe.Field, c.field)
		}
		// The reason goes to clients as error_description: printable
		// ASCII without '"' or '\' (RFC 6749 §5.2), and never the value.
		for _, r := range fe.Error() {
			if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
				t.Errorf("%q: reason %q has %q", c.vals, fe.Error(), r)
			}
		}
	}
}

func TestASCIIEqualFold(t *testing.T) {
	if !asciiEqualFold("Key.Example", "kEY.eXAMPLE") {
		t.Fatal("ASCII case not ignored")
	}
	// U+212A KELVIN SIGN folds to 'k' under Unicode rules, not here.
	if asciiEqualFold("\u212aey.example", "key.example") || !strings.EqualFold("\u212aey.example", "key.example") {
		t.Fatal("non-ASCII folded")
	}
}

// TestMatchNonString covers values given as #hex that are not strings:
// they match only the same DER.
func TestMatchNonString(t *testing.T) {
	five := ava{oid: "1.2.3.4", der: []byte{2, 1, 5}}
	cases := []struct {
		b    ava
		want bool
	}{
		{ava{oid: "1.2.3.4", der: []byte{2, 1, 5}}, true},
		{ava{oid: "1.2.3.4", der: []byte{2, 1, 6}}, false},
		{ava{oid: "1.2.3.5", der: []byte{2, 1, 5}}, false},
		{ava{oid: "1.2.3.4", str: "5", isStr: true, der: []byte{0x13, 1, '5'}}, false},
	}
	for _, c := range cases {
		if got := five.match(c.b); got != c.want {
			t.Errorf("match(%+v) = %v, want %v", c.b, got, c.want)
		}
	}
}

// TestBMPStringUnpairedSurrogates: a BMPString value with an unpaired
// surrogate must not decode to U+FFFD, or the distinct names D800, DC00
// and DBFF would all match a registered "CN=\uFFFD" (and each other). A
// proper pair still decodes.
func TestBMPStringUnpairedSurrogates(t *testing.T) {
	name := func(bmp []byte) []byte {
		type atv struct {
			Type  asn1.ObjectIdentifier
			Value asn1.RawValue
		}
		type rdnSET []atv // encoding/asn1 writes a SET for a type named *SET
		raw, err := asn1.Marshal([]rdnSET{{{asn1.ObjectIdentifier{2, 5, 4, 3},
			asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagBMPString, Bytes: bmp}}}})
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	replacement, err := ParseSubject("CN=\uFFFD", "", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, bmp := range [][]byte{{0xd8, 0x00}, {0xdc, 0x00}, {0xdb, 0xff}, {0x00, 0x41, 0xd8, 0x3d}} {
		if replacement.Match(&x509.Certificate{RawSubject: name(bmp)}) {
			t.Errorf("BMPString %x matches CN=\\uFFFD", bmp)
		}
	}
	pair, err := ParseSubject("CN=\U0001F600", "", "", "", "")
	if err != nil {
		t.Fatal(err)
	}
	if !pair.Match(&x509.Certificate{RawSubject: name([]byte{0xd8, 0x3d, 0xde, 0x00})}) {
		t.Error("a BMPString surrogate pair does not match the character it encodes")
	}
}
