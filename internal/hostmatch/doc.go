// Package hostmatch matches host names against trusted-domain patterns, with
// the semantics shared by the CIMD trusted domains, the client-id-uri
// condition and the dynamic-registration trusted hosts:
//
//   - "example.org" matches exactly that host;
//   - "*.example.org" matches example.org itself and any subdomain at any depth;
//   - "*" alone matches any host;
//   - any other "*" matches within one DNS label ("api-*.example.org");
//   - "[2001:db8::1]" (an IPv6 literal in brackets) matches that literal,
//     written the same way, with or without the brackets.
//
// "*" is the only wildcard, and "**" is refused: every other glob
// metacharacter, and the glob library's "**" (which crosses dots), would
// let a pattern mean more than it says.
//
// Matching is case-insensitive. Hosts that are not plain ASCII, that are
// empty, that end in a dot or have an empty label ("a..example.org") never
// match: look-alike and alternate spellings of a trusted name are refused
// rather than normalised.
//
// Patterns come from configuration and are compiled once. Matching costs
// time linear in the host's length for each glob pattern and at most one
// map lookup per label otherwise; hosts come from URLs whose length the
// callers bound (metadata.MaxURILength).
package hostmatch
