package certmatch

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"net/netip"
	"net/url"
	"strings"
)

// The client metadata members of RFC 8705 §2.1.2.
const (
	MemberSubjectDN = "tls_client_auth_subject_dn"
	MemberSANDNS    = "tls_client_auth_san_dns"
	MemberSANURI    = "tls_client_auth_san_uri"
	MemberSANIP     = "tls_client_auth_san_ip"
	MemberSANEmail  = "tls_client_auth_san_email"
)

// Length bounds of the registered values.
const (
	maxDNLength    = 2000
	maxURILength   = 2000
	maxDNSLength   = 253
	maxEmailLength = 320
)

// FieldError is a registered subject value that is missing, repeated or
// malformed. Reason is a phrase about the member, safe to show the client
// (it never quotes the value).
type FieldError struct {
	// Field is the member at fault, or "" when the count of members is.
	Field string
	// Reason completes "<Field> ...", or is a sentence when Field is "".
	Reason string
}

func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Reason
	}
	return e.Field + " " + e.Reason
}

// kind says which of the five members a Subject holds.
type kind int

const (
	kindDN kind = iota + 1
	kindDNS
	kindURI
	kindIP
	kindEmail
)

// Subject is the one certificate subject value a tls_client_auth client
// registered. The zero value matches nothing.
type Subject struct {
	kind  kind
	value string
	dn    dn
	ip    netip.Addr
}

// ParseSubject checks that exactly one of the five registered values is
// set and well formed: dn a distinguished name in RFC 4514 string form,
// dns a DNS name (a leading "*." label is allowed and compared
// literally), uri an absolute URI, ip an IPv4 or IPv6 address without
// zone, email an addr-spec with an ASCII domain. Errors are *FieldError.
func ParseSubject(dn, dns, uri, ip, email string) (*Subject, error) {
	n := 0
	for _, v := range [...]string{dn, dns, uri, ip, email} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		return nil, &FieldError{Reason: "token_endpoint_auth_method tls_client_auth requires exactly one of " +
			MemberSubjectDN + ", " + MemberSANDNS + ", " + MemberSANURI + ", " + MemberSANIP + " and " + MemberSANEmail}
	}
	switch {
	case dn != "":
		if len(dn) > maxDNLength {
			return nil, &FieldError{Field: MemberSubjectDN, Reason: "is too long"}
		}
		d, err := parseDN(dn)
		if err != nil {
			return nil, &FieldError{Field: MemberSubjectDN, Reason: "is not an RFC 4514 distinguished name: it " + err.Error()}
		}
		return &Subject{kind: kindDN, value: dn, dn: d}, nil
	case dns != "":
		if !validDNSName(dns, true) {
			return nil, &FieldError{Field: MemberSANDNS, Reason: "is not a DNS name"}
		}
		return &Subject{kind: kindDNS, value: dns}, nil
	case uri != "":
		if !validURI(uri) {
			return nil, &FieldError{Field: MemberSANURI, Reason: "is not an absolute URI of printable ASCII characters"}
		}
		return &Subject{kind: kindURI, value: uri}, nil
	case ip != "":
		a, err := netip.ParseAddr(ip)
		if err != nil || a.Zone() != "" {
			return nil, &FieldError{Field: MemberSANIP, Reason: "is not an IPv4 or IPv6 address"}
		}
		return &Subject{kind: kindIP, value: ip, ip: a}, nil
	default:
		if !validEmail(email) {
			return nil, &FieldError{Field: MemberSANEmail, Reason: "is not an email address (local@domain, ASCII)"}
		}
		return &Subject{kind: kindEmail, value: email}, nil
	}
}

// Match reports whether the certificate carries the registered value:
// as its subject name, or among its subject alternative names of that
// type. It does not look at the certificate's validity or issuer.
func (s *Subject) Match(cert *x509.Certificate) bool {
	if s == nil || cert == nil {
		return false
	}
	if s.kind == kindDN {
		c, err := parseCertDN(cert.RawSubject)
		return err == nil && s.dn.match(c)
	}
	names, ok := parseSANs(cert)
	if !ok {
		return false
	}
	switch s.kind {
	case kindDNS:
		for _, n := range names.dns {
			if asciiEqualFold(n, s.value) {
				return true
			}
		}
	case kindURI:
		for _, u := range names.uri {
			if u == s.value {
				return true
			}
		}
	case kindIP:
		want := s.ip.AsSlice()
		for _, ip := range names.ip {
			if bytes.Equal(ip, want) {
				return true
			}
		}
	case kindEmail:
		at := strings.LastIndexByte(s.value, '@')
		for _, e := range names.email {
			i := strings.LastIndexByte(e, '@')
			if i == at && e[:i] == s.value[:at] && asciiEqualFold(e[i:], s.value[at:]) {
				return true
			}
		}
	}
	return false
}

// sans are the subject alternative names of a certificate.
type sans struct {
	dns, uri, email []string
	ip              [][]byte
}

var oidSubjectAltName = asn1.ObjectIdentifier{2, 5, 29, 17}

// parseSANs returns the names a certificate may be matched by: exactly
// those crypto/x509 parsed, because those are the ones Verify checked
// against the name constraints of the chain. A name that only a more
// lenient reading finds (a constructed [2] that x509 skips, say) was never
// constrained, and matching it would let a CA limited to its own domains
// claim anyone's. DNS names, emails and IP addresses come from the parsed
// fields; URIs come from the extension's primitive [6] entries, because
// x509's URIs are re-serialised url.URL values rather than the bytes the
// certificate holds, and there is one for each of them.
func parseSANs(cert *x509.Certificate) (sans, bool) {
	out := sans{dns: cert.DNSNames, email: cert.EmailAddresses}
	for _, ip := range cert.IPAddresses {
		out.ip = append(out.ip, ip)
	}
	for _, ext := range cert.Extensions {
		if !ext.Id.Equal(oidSubjectAltName) {
			continue
		}
		var seq asn1.RawValue
		rest, err := asn1.Unmarshal(ext.Value, &seq)
		if err != nil || len(rest) != 0 || seq.Class != asn1.ClassUniversal || seq.Tag != asn1.TagSequence || !seq.IsCompound {
			return sans{}, false
		}
		for b := seq.Bytes; len(b) > 0; {
			var v asn1.RawValue
			if b, err = asn1.Unmarshal(b, &v); err != nil {
				return sans{}, false
			}
			if v.Class == asn1.ClassContextSpecific && v.Tag == 6 && !v.IsCompound {
				out.uri = append(out.uri, string(v.Bytes))
			}
		}
	}
	if len(out.uri) != len(cert.URIs) {
		// x509 read the URIs differently; trust neither reading.
		out.uri = nil
	}
	return out, true
}

// validDNSName checks LDH labels of 1 to 63 characters, at most 253 in
// all, with optionally a leading "*" label.
func validDNSName(s string, wildcard bool) bool {
	if s == "" || len(s) > maxDNSLength {
		return false
	}
	if wildcard && strings.HasPrefix(s, "*.") {
		s = s[2:]
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			if c := label[i]; !isAlpha(c) && !isDigit(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

// validURI checks an absolute URI (with a scheme) of printable ASCII,
// which is all an IA5String SAN can hold.
func validURI(s string) bool {
	if len(s) > maxURILength {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= 0x20 || s[i] >= 0x7f {
			return false
		}
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme != ""
}

// validEmail checks local@domain in printable ASCII with a DNS domain.
func validEmail(s string) bool {
	if len(s) > maxEmailLength {
		return false
	}
	at := strings.LastIndexByte(s, '@')
	if at <= 0 {
		return false
	}
	for i := 0; i < at; i++ {
		if c := s[i]; c <= 0x20 || c >= 0x7f || c == '@' {
			return false
		}
	}
	return validDNSName(s[at+1:], false)
}

// asciiEqualFold compares ignoring ASCII case only: unlike
// strings.EqualFold it never equates a non-ASCII character (such as the
// Kelvin sign) with an ASCII letter.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
