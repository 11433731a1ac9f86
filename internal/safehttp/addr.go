package safehttp

import (
	"net/netip"
	"strings"
)

// Category names the special-purpose class an address belongs to. The empty
// Category means a globally routable unicast address.
type Category string

// Categories of special-purpose addresses, after the IANA IPv4 and IPv6
// Special-Purpose Address Registries (RFC 6890 and its updates).
const (
	CatPublic        Category = ""
	CatLoopback      Category = "loopback"
	CatPrivate       Category = "private"          // RFC 1918, IPv6 ULA fc00::/7
	CatSharedCGNAT   Category = "shared"           // 100.64.0.0/10, RFC 6598
	CatLinkLocal     Category = "link-local"       // 169.254.0.0/16 (cloud metadata), fe80::/10
	CatUnspecified   Category = "unspecified"      // 0.0.0.0/8, ::
	CatMulticast     Category = "multicast"        // 224.0.0.0/4, ff00::/8
	CatBroadcast     Category = "broadcast"        // 255.255.255.255
	CatDocumentation Category = "documentation"    // TEST-NET-1..3, 2001:db8::/32, 3fff::/20
	CatBenchmarking  Category = "benchmarking"     // 198.18.0.0/15, 2001:2::/48
	CatReserved      Category = "reserved"         // every other special-purpose block
	CatZoned         Category = "scoped"           // an IPv6 address with a zone
	CatEmbedded      Category = "embedded-private" // NAT64/6to4/Teredo wrapping a blocked IPv4 address
)

type specialRange struct {
	prefix netip.Prefix
	cat    Category
}

// special lists the special-purpose blocks that are never fetched from by
// default. Deliberately broad: a block that is "globally reachable" in the
// registry (AS112, anycast relays, AMT) still has no business serving client
// metadata. Embedding prefixes (IPv4-mapped, NAT64, 6to4) are handled in
// classify, not here.
var special = func() []specialRange {
	p := netip.MustParsePrefix
	return []specialRange{
		// IPv4 (IANA IPv4 Special-Purpose Address Registry).
		{p("0.0.0.0/8"), CatUnspecified},
		{p("10.0.0.0/8"), CatPrivate},
		{p("100.64.0.0/10"), CatSharedCGNAT},
		{p("127.0.0.0/8"), CatLoopback},
		{p("169.254.0.0/16"), CatLinkLocal},
		{p("172.16.0.0/12"), CatPrivate},
		{p("192.0.0.0/24"), CatReserved}, // IETF protocol assignments, DS-Lite, NAT64 discovery
		{p("192.0.2.0/24"), CatDocumentation},
		{p("192.31.196.0/24"), CatReserved}, // AS112-v4
		{p("192.52.193.0/24"), CatReserved}, // AMT
		{p("192.88.99.0/24"), CatReserved},  // deprecated 6to4 relay anycast
		{p("192.168.0.0/16"), CatPrivate},
		{p("192.175.48.0/24"), CatReserved}, // AS112 direct delegation
		{p("198.18.0.0/15"), CatBenchmarking},
		{p("198.51.100.0/24"), CatDocumentation},
		{p("203.0.113.0/24"), CatDocumentation},
		{p("224.0.0.0/4"), CatMulticast},
		{p("255.255.255.255/32"), CatBroadcast},
		{p("240.0.0.0/4"), CatReserved},

		// IPv6 (IANA IPv6 Special-Purpose Address Registry).
		{p("::1/128"), CatLoopback},
		{p("::/128"), CatUnspecified},
		{p("::/96"), CatReserved},          // deprecated IPv4-compatible addresses
		{p("64:ff9b:1::/48"), CatReserved}, // local-use NAT64
		{p("100::/64"), CatReserved},       // discard-only
		{p("2001:2::/48"), CatBenchmarking},
		{p("2001:db8::/32"), CatDocumentation},
		{p("2001::/23"), CatReserved}, // IETF protocol assignments incl. Teredo, ORCHID
		{p("2620:4f:8000::/48"), CatReserved},
		{p("3fff::/20"), CatDocumentation},
		{p("5f00::/16"), CatReserved}, // SRv6 SIDs
		{p("fc00::/7"), CatPrivate},
		{p("fe80::/10"), CatLinkLocal},
		{p("fec0::/10"), CatReserved}, // deprecated site-local
		{p("ff00::/8"), CatMulticast},
	}
}()

var (
	nat64WKP  = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
)

// Classify returns the special-purpose category of a, or CatPublic.
//
// IPv4-mapped addresses (::ffff:a.b.c.d) are classified as the IPv4 address
// they carry. Addresses of the NAT64 well-known prefix (64:ff9b::/96) and of
// 6to4 (2002::/16) are classified by their embedded IPv4 address, so a
// translator cannot be used to reach an internal IPv4 host; with a public
// embedded address they are public. A translated address is never
// treated as loopback or private: AllowLoopback and AllowPrivate do not
// open a path through a translator.
func Classify(a netip.Addr) Category {
	if !a.IsValid() {
		return CatReserved
	}
	if a.Zone() != "" {
		return CatZoned
	}
	a = a.Unmap()
	if a.Is6() {
		b := a.As16()
		switch {
		case nat64WKP.Contains(a):
			if Classify(netip.AddrFrom4([4]byte(b[12:16]))) != CatPublic {
				return CatEmbedded
			}
			return CatPublic
		case sixToFour.Contains(a):
			if Classify(netip.AddrFrom4([4]byte(b[2:6]))) != CatPublic {
				return CatEmbedded
			}
			return CatPublic
		}
	}
	for _, r := range special {
		if r.prefix.Contains(a) {
			return r.cat
		}
	}
	return CatPublic
}

// addrPolicy decides whether an address may be dialled.
type addrPolicy struct {
	allowLoopback bool
	allowPrivate  bool
	allowed       []netip.Prefix
}

// check returns the category that blocks a, or CatPublic when a may be
// dialled.
func (p *addrPolicy) check(a netip.Addr) Category {
	for _, pf := range p.allowed {
		if pf.Contains(a) || pf.Contains(a.Unmap()) {
			return CatPublic
		}
	}
	c := Classify(a)
	switch {
	case c == CatLoopback && p.allowLoopback, c == CatPrivate && p.allowPrivate:
		return CatPublic
	}
	return c
}

// ValidHost reports whether host (without port or brackets) is either a
// syntactically valid DNS host name or an IP address literal in canonical
// form. Everything else is refused before any lookup happens: resolvers
// differ in how they read "2130706433", "0177.0.0.1", "0x7f.1" or "127.1"
// (some treat them as 127.0.0.1), so such spellings are never resolved.
//
// A DNS name is 1 to 253 ASCII characters in dot-separated labels of 1 to 63
// letters, digits and hyphens, not starting or ending with a hyphen, no
// trailing dot, and a last label that is not numeric (so it can never be
// mistaken for an IPv4 address).
func ValidHost(host string) bool {
	if host == "" {
		return false
	}
	if a, err := netip.ParseAddr(host); err == nil {
		// netip refuses leading zeros, short forms and hex; require the
		// canonical spelling and no zone.
		return a.Zone() == "" && a.String() == host
	}
	return validDNSName(host)
}

func validDNSName(host string) bool {
	if len(host) > 253 {
		return false
	}
	last := ""
	for label := range strings.SplitSeq(host, ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return false
			}
		}
		last = label
	}
	return !numericLabel(last)
}

// numericLabel reports whether a label would be read as a number by an
// IPv4 parser that accepts decimal, octal or hexadecimal parts.
func numericLabel(l string) bool {
	if len(l) >= 2 && (l[:2] == "0x" || l[:2] == "0X") {
		l = l[2:]
		for i := 0; i < len(l); i++ {
			c := l[i]
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(l); i++ {
		if l[i] < '0' || l[i] > '9' {
			return false
		}
	}
	return true
}
