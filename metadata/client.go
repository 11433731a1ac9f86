package metadata

import "encoding/json"

// Client is OAuth 2.0 client metadata as defined by RFC 7591 §2, plus the
// server-assigned members of a registration response (RFC 7591 §3.2.1 and
// RFC 7592 §3). The same type describes a dynamic registration body, a
// fetched Client ID Metadata Document and a statically configured client.
//
// Members this library does not understand are dropped when a document is
// decoded: RFC 7591 §2 requires unknown metadata to be ignored, not refused.
type Client struct {
	// ClientID is "client_id". For a Client ID Metadata Document it must equal
	// the URL the document was fetched from.
	ClientID string `json:"client_id,omitempty"`
	// ClientSecret is "client_secret"; only ever present in a registration
	// response, never stored in clear text.
	ClientSecret string `json:"client_secret,omitempty"`
	// ClientIDIssuedAt is "client_id_issued_at", seconds since the epoch.
	ClientIDIssuedAt int64 `json:"client_id_issued_at,omitempty"`
	// ClientSecretExpiresAt is "client_secret_expires_at"; 0 means never.
	// It is a pointer so that a document that carries it (forbidden in
	// metadata documents) can be told apart from one that does not.
	ClientSecretExpiresAt *int64 `json:"client_secret_expires_at,omitempty"`
	// RegistrationAccessToken is RFC 7592's "registration_access_token".
	RegistrationAccessToken string `json:"registration_access_token,omitempty"`
	// RegistrationClientURI is RFC 7592's "registration_client_uri".
	RegistrationClientURI string `json:"registration_client_uri,omitempty"`

	// RedirectURIs is "redirect_uris".
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// TokenEndpointAuthMethod is "token_endpoint_auth_method".
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method,omitempty"`
	// GrantTypes is "grant_types".
	GrantTypes []string `json:"grant_types,omitempty"`
	// ResponseTypes is "response_types".
	ResponseTypes []string `json:"response_types,omitempty"`
	// ClientName is "client_name" (self-asserted; escape before display).
	ClientName string `json:"client_name,omitempty"`
	// ClientURI is "client_uri".
	ClientURI string `json:"client_uri,omitempty"`
	// LogoURI is "logo_uri".
	LogoURI string `json:"logo_uri,omitempty"`
	// Scope is "scope", a space-separated list.
	Scope string `json:"scope,omitempty"`
	// Contacts is "contacts".
	Contacts []string `json:"contacts,omitempty"`
	// TOSURI is "tos_uri".
	TOSURI string `json:"tos_uri,omitempty"`
	// PolicyURI is "policy_uri".
	PolicyURI string `json:"policy_uri,omitempty"`
	// JWKSURI is "jwks_uri".
	JWKSURI string `json:"jwks_uri,omitempty"`
	// JWKS is "jwks", kept as raw JSON so that it round-trips unchanged.
	JWKS json.RawMessage `json:"jwks,omitempty"`
	// SoftwareID is "software_id".
	SoftwareID string `json:"software_id,omitempty"`
	// SoftwareVersion is "software_version".
	SoftwareVersion string `json:"software_version,omitempty"`
	// SoftwareStatement is "software_statement" (accepted, not trusted).
	SoftwareStatement string `json:"software_statement,omitempty"`
	// ApplicationType is OpenID Connect Registration's "application_type":
	// "native" or "web". MCP 2026-07-28 clients always send it.
	ApplicationType string `json:"application_type,omitempty"`
	// PostLogoutRedirectURIs is "post_logout_redirect_uris".
	PostLogoutRedirectURIs []string `json:"post_logout_redirect_uris,omitempty"`

	// The RFC 8705 §2.1.2 members name the certificate a tls_client_auth
	// client authenticates with. Such a client registers exactly one of
	// them; other clients none.

	// TLSClientAuthSubjectDN is "tls_client_auth_subject_dn": the
	// certificate's subject distinguished name, in RFC 4514 string form.
	TLSClientAuthSubjectDN string `json:"tls_client_auth_subject_dn,omitempty"`
	// TLSClientAuthSANDNS is "tls_client_auth_san_dns": a dNSName subject
	// alternative name of the certificate.
	TLSClientAuthSANDNS string `json:"tls_client_auth_san_dns,omitempty"`
	// TLSClientAuthSANURI is "tls_client_auth_san_uri": a
	// uniformResourceIdentifier subject alternative name.
	TLSClientAuthSANURI string `json:"tls_client_auth_san_uri,omitempty"`
	// TLSClientAuthSANIP is "tls_client_auth_san_ip": an iPAddress subject
	// alternative name, in dotted-decimal (IPv4) or RFC 5952 (IPv6) text.
	TLSClientAuthSANIP string `json:"tls_client_auth_san_ip,omitempty"`
	// TLSClientAuthSANEmail is "tls_client_auth_san_email": an rfc822Name
	// subject alternative name.
	TLSClientAuthSANEmail string `json:"tls_client_auth_san_email,omitempty"`
}
