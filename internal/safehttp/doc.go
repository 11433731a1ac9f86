// Package safehttp is the one outbound HTTP client for every URL a client
// gives the authorization server: Client ID Metadata Documents, jwks_uri,
// logo checks.
//
// Every URL is hostile input, so the client
//
//   - refuses hosts that are neither DNS names nor canonical IP literals
//     before any lookup ("2130706433", "0177.0.0.1", "0x7f.1" never resolve);
//   - resolves the host itself, checks every answer against the IANA
//     special-purpose registries (loopback, RFC 1918, link-local including
//     169.254.169.254, CGNAT, multicast, documentation, reserved, IPv6 ULA,
//     and IPv4 addresses embedded in IPv4-mapped, NAT64 and 6to4 addresses),
//     and dials exactly the checked address, so a DNS answer that changes
//     between check and connect (rebinding) has no window; the dialer's
//     Control hook checks the connected address once more;
//   - never follows redirects, never sends cookies, ignores proxy
//     environment variables, and bounds the whole exchange by a timeout;
//   - caps the body while reading it, after gzip decompression, so a
//     compression bomb fails after cap+1 decompressed bytes.
//
// Failures are *[Error] values with a [Kind]; their messages never include a
// response body.
package safehttp
