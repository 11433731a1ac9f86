// Package certmatch checks the certificate subject a tls_client_auth
// client registered (RFC 8705 §2.1.2) and matches it against the leaf
// certificate the client presents.
//
// A client registers exactly one of five values: a subject distinguished
// name (the RFC 4514 string form), or a dNSName, uniformResourceIdentifier,
// iPAddress or rfc822Name subject alternative name. [ParseSubject] checks
// that exactly one is present and well formed; [Subject.Match] compares it
// with a certificate:
//
//   - A distinguished name is compared as a name, not as a string (RFC
//     4517 distinguishedNameMatch, as far as is practical without a
//     directory schema): the same number of RDNs in the same order, each
//     with the same set of attributes; attribute types by OID (the
//     descriptors RFC 4514 §3 lists, and a few more, are known; other types
//     must be written as numeric OIDs); values of the known string
//     attributes case-insensitively (Unicode simple folding) with leading,
//     trailing and repeated inner spaces ignored, other values exactly.
//     Unicode normalisation (RFC 4518's NFKC step) is not applied.
//   - dNSName ignores ASCII case; uniformResourceIdentifier is compared
//     byte for byte with the certificate's raw value; iPAddress as octets
//     (an IPv4 address does not match its IPv4-mapped IPv6 form);
//     rfc822Name exactly in its local part and case-insensitively in its
//     domain (RFC 5280 §7.5).
//
// Wildcards mean nothing here: "*.example.com" registered matches only a
// certificate carrying that same literal dNSName.
package certmatch
