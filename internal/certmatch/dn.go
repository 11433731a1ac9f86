package certmatch

import (
	"bytes"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// ava is one attribute of a distinguished name: its type as a dotted OID
// and its value, as a string when the value is one of the ASN.1 string
// types, and as DER otherwise (or when it was given in #hex form).
type ava struct {
	oid   string
	str   string
	isStr bool
	der   []byte
}

// rdn is a relative distinguished name: a set of attributes, usually one.
type rdn []ava

// dn is a distinguished name in certificate order: the first RDN is the
// most general one (C or DC), the reverse of the RFC 4514 string order.
type dn []rdn

// attributeOIDs maps the lower-cased descriptors this package knows to
// their OIDs: those RFC 4514 §3 requires (CN, L, ST, O, OU, C, STREET, DC,
// UID), the other X.520 names certificates commonly carry, and PKCS #9
// emailAddress.
var attributeOIDs = map[string]string{
	"cn":                     "2.5.4.3",
	"commonname":             "2.5.4.3",
	"sn":                     "2.5.4.4",
	"surname":                "2.5.4.4",
	"serialnumber":           "2.5.4.5",
	"c":                      "2.5.4.6",
	"countryname":            "2.5.4.6",
	"l":                      "2.5.4.7",
	"localityname":           "2.5.4.7",
	"st":                     "2.5.4.8",
	"stateorprovincename":    "2.5.4.8",
	"street":                 "2.5.4.9",
	"streetaddress":          "2.5.4.9",
	"o":                      "2.5.4.10",
	"organizationname":       "2.5.4.10",
	"ou":                     "2.5.4.11",
	"organizationalunitname": "2.5.4.11",
	"title":                  "2.5.4.12",
	"businesscategory":       "2.5.4.15",
	"postalcode":             "2.5.4.17",
	"gn":                     "2.5.4.42",
	"givenname":              "2.5.4.42",
	"initials":               "2.5.4.43",
	"generationqualifier":    "2.5.4.44",
	"dnqualifier":            "2.5.4.46",
	"pseudonym":              "2.5.4.65",
	"organizationidentifier": "2.5.4.97",
	"dc":                     "0.9.2342.19200300.100.1.25",
	"domaincomponent":        "0.9.2342.19200300.100.1.25",
	"uid":                    "0.9.2342.19200300.100.1.1",
	"userid":                 "0.9.2342.19200300.100.1.1",
	"emailaddress":           "1.2.840.113549.1.9.1",
	"email":                  "1.2.840.113549.1.9.1",
	"e":                      "1.2.840.113549.1.9.1",
}

// caseIgnore holds the OIDs whose equality rule is caseIgnoreMatch or
// caseIgnoreIA5Match (RFC 4519, RFC 2985): every attribute type in
// attributeOIDs. Values of other types are compared exactly.
var caseIgnore = func() map[string]bool {
	m := make(map[string]bool, len(attributeOIDs))
	for _, oid := range attributeOIDs {
		m[oid] = true
	}
	return m
}()

// parseDN parses the RFC 4514 string form of a distinguished name.
// Beyond the RFC's grammar it allows spaces around the separators ",",
// "+" and "=", as OpenSSL and other tools print them; unescaped spaces at
// the end of a value are not part of it.
func parseDN(s string) (dn, error) {
	if s == "" {
		return nil, errors.New("is empty")
	}
	if !utf8.ValidString(s) {
		return nil, errors.New("is not valid UTF-8")
	}
	p := &dnParser{s: s}
	var out dn
	for {
		r, err := p.rdn()
		if err != nil {
			return nil, err
		}
		out = append(out, r)
		if p.i == len(p.s) {
			break
		}
		p.i++ // the ',' that ended the RDN
	}
	// The string form lists the most specific RDN first.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}

type dnParser struct {
	s string
	i int
}

func (p *dnParser) spaces() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

// rdn parses attributes joined by '+', stopping at ',' or the end.
func (p *dnParser) rdn() (rdn, error) {
	var r rdn
	for {
		a, err := p.ava()
		if err != nil {
			return nil, err
		}
		r = append(r, a)
		if p.i == len(p.s) || p.s[p.i] == ',' {
			return r, nil
		}
		p.i++ // '+'
	}
}

func (p *dnParser) ava() (ava, error) {
	p.spaces()
	oid, err := p.attrType()
	if err != nil {
		return ava{}, err
	}
	p.spaces()
	if p.i == len(p.s) || p.s[p.i] != '=' {
		return ava{}, errors.New("has an attribute type without '=' after it")
	}
	p.i++
	p.spaces()
	a := ava{oid: oid}
	if p.i < len(p.s) && p.s[p.i] == '#' {
		err = p.hexValue(&a)
	} else {
		err = p.stringValue(&a)
	}
	if err != nil {
		return ava{}, err
	}
	p.spaces()
	if p.i < len(p.s) && p.s[p.i] != ',' && p.s[p.i] != '+' {
		return ava{}, errors.New("has an unexpected character after a value")
	}
	return a, nil
}

// attrType parses a descriptor (returned as its OID) or a numeric OID.
func (p *dnParser) attrType() (string, error) {
	start := p.i
	if p.i < len(p.s) && isAlpha(p.s[p.i]) {
		for p.i < len(p.s) && (isAlpha(p.s[p.i]) || isDigit(p.s[p.i]) || p.s[p.i] == '-') {
			p.i++
		}
		name := p.s[start:p.i]
		oid, ok := attributeOIDs[strings.ToLower(name)]
		if !ok {
			return "", errors.New("has an attribute type name this server does not know (write it as a numeric OID)")
		}
		return oid, nil
	}
	for p.i < len(p.s) && (isDigit(p.s[p.i]) || p.s[p.i] == '.') {
		p.i++
	}
	oid := p.s[start:p.i]
	if !validOID(oid) {
		return "", errors.New("has an attribute type that is neither a name nor a numeric OID")
	}
	return oid, nil
}

// validOID checks numericoid = number 1*( "." number ), where a number has
// no leading zero.
func validOID(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	for _, n := range parts {
		if n == "" || len(n) > 1 && n[0] == '0' {
			return false
		}
	}
	return true
}

// hexValue parses "#" followed by the hex digits of a BER value.
func (p *dnParser) hexValue(a *ava) error {
	p.i++ // '#'
	start := p.i
	for p.i < len(p.s) && isHex(p.s[p.i]) {
		p.i++
	}
	raw, err := hex.DecodeString(p.s[start:p.i])
	if err != nil || len(raw) == 0 {
		return errors.New("has a '#' value that is not an even number of hex digits")
	}
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(raw, &v)
	if err != nil || len(rest) != 0 {
		return errors.New("has a '#' value that is not one ASN.1 value")
	}
	a.der = v.FullBytes
	a.str, a.isStr = derString(v)
	return nil
}

// stringValue parses a string value up to an unescaped ',' or '+',
// dropping unescaped trailing spaces.
func (p *dnParser) stringValue(a *ava) error {
	var b []byte
	keep := 0 // length of b without unescaped trailing spaces
scan:
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch c {
		case ',', '+':
			break scan
		case '"', ';', '<', '>', 0:
			return errors.New("has an unescaped double quote, semicolon, angle bracket or NUL in a value")
		case '\\':
			if p.i+1 >= len(p.s) {
				return errors.New("ends with a lone backslash")
			}
			n := p.s[p.i+1]
			switch {
			case p.i+2 < len(p.s) && isHex(n) && isHex(p.s[p.i+2]):
				b = append(b, unhex(n)<<4|unhex(p.s[p.i+2]))
				p.i += 3
			case strings.IndexByte("\"+,;<>\\ #=", n) >= 0:
				b = append(b, n)
				p.i += 2
			default:
				return errors.New("has a backslash not followed by a special character or two hex digits")
			}
			keep = len(b)
			continue
		}
		b = append(b, c)
		if c != ' ' {
			keep = len(b)
		}
		p.i++
	}
	b = b[:keep]
	if !utf8.Valid(b) {
		return errors.New("has escaped bytes that are not UTF-8")
	}
	a.str, a.isStr = string(b), true
	return nil
}

// parseCertDN decodes the DER subject of a certificate.
func parseCertDN(raw []byte) (dn, error) {
	type attr struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	// encoding/asn1 decodes a slice type whose name ends in SET as SET OF.
	type attrSET []attr
	var seq []attrSET
	rest, err := asn1.Unmarshal(raw, &seq)
	if err != nil {
		return nil, err
	}
	if len(rest) != 0 {
		return nil, errors.New("trailing data after the subject")
	}
	out := make(dn, len(seq))
	for i, set := range seq {
		r := make(rdn, len(set))
		for j, at := range set {
			r[j] = ava{oid: at.Type.String(), der: at.Value.FullBytes}
			r[j].str, r[j].isStr = derString(at.Value)
		}
		out[i] = r
	}
	return out, nil
}

// derString returns the value of the ASN.1 string types names use.
func derString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	b := v.Bytes
	switch v.Tag {
	case asn1.TagUTF8String:
		return string(b), utf8.Valid(b)
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString, 26: // 26: VisibleString
		for _, c := range b {
			if c >= 0x80 {
				return "", false
			}
		}
		return string(b), true
	case asn1.TagT61String:
		// Read as Latin-1, as most software that still writes it means.
		r := make([]rune, len(b))
		for i, c := range b {
			r[i] = rune(c)
		}
		return string(r), true
	case asn1.TagBMPString:
		if len(b)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		}
		// utf16.Decode turns an unpaired surrogate into U+FFFD, which would
		// make distinct names equal; such a value is compared as DER.
		for i := 0; i < len(u); i++ {
			switch {
			case utf16.IsSurrogate(rune(u[i])) && i+1 < len(u) && utf16.DecodeRune(rune(u[i]), rune(u[i+1])) != utf8.RuneError:
				i++
			case utf16.IsSurrogate(rune(u[i])):
				return "", false
			}
		}
		return string(utf16.Decode(u)), true
	case 28: // UniversalString, UTF-32BE
		if len(b)%4 != 0 {
			return "", false
		}
		r := make([]rune, len(b)/4)
		for i := range r {
			r[i] = rune(b[4*i])<<24 | rune(b[4*i+1])<<16 | rune(b[4*i+2])<<8 | rune(b[4*i+3])
			if !utf8.ValidRune(r[i]) {
				return "", false
			}
		}
		return string(r), true
	}
	return "", false
}

// match reports whether the registered name d matches the certificate's
// name c (distinguishedNameMatch).
func (d dn) match(c dn) bool {
	if len(d) != len(c) {
		return false
	}
	for i := range d {
		if !d[i].match(c[i]) {
			return false
		}
	}
	return true
}

// match pairs each registered attribute with a distinct one of c. Taking
// the first unused match is enough: attribute matching is an equivalence.
func (r rdn) match(c rdn) bool {
	if len(r) != len(c) {
		return false
	}
	used := make([]bool, len(c))
	for _, a := range r {
		found := false
		for j := range c {
			if !used[j] && a.match(c[j]) {
				used[j], found = true, true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func (a ava) match(b ava) bool {
	if a.oid != b.oid {
		return false
	}
	if !a.isStr || !b.isStr {
		return !a.isStr && !b.isStr && bytes.Equal(a.der, b.der)
	}
	if caseIgnore[a.oid] {
		return strings.EqualFold(insignificantSpace(a.str), insignificantSpace(b.str))
	}
	return a.str == b.str
}

// insignificantSpace drops leading and trailing white space and folds
// inner runs to one space (the space handling of RFC 4518 §2.6.1).
func insignificantSpace(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func isAlpha(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isHex(c byte) bool   { return isDigit(c) || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case isDigit(c):
		return c - '0'
	case c >= 'a':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}
