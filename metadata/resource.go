package metadata

// ProtectedResource is OAuth 2.0 Protected Resource Metadata (RFC 9728 §2),
// the document an MCP server publishes so that clients find its
// authorization servers. Every member is omitted when empty (RFC 9728 §3.2).
//
// Unsupported: signed_metadata (RFC 9728 §2.2).
type ProtectedResource struct {
	// Resource is "resource" (RFC 9728, REQUIRED): the resource identifier,
	// byte-identical to the URL clients use for the MCP endpoint (RFC 9728
	// §3.3); an https URL without fragment.
	Resource string `json:"resource,omitempty"`
	// AuthorizationServers is "authorization_servers" (RFC 9728, OPTIONAL;
	// MCP requires at least one): issuer identifiers, each byte-identical
	// to the issuer in that server's metadata.
	AuthorizationServers []string `json:"authorization_servers,omitempty"`
	// JWKSURI is "jwks_uri" (RFC 9728, OPTIONAL): the resource's own signing
	// keys; https.
	JWKSURI string `json:"jwks_uri,omitempty"`
	// ScopesSupported is "scopes_supported" (RFC 9728, RECOMMENDED). MCP
	// clients request these scopes when the challenge names none, so list
	// the minimal set for basic use, and not "offline_access".
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// BearerMethodsSupported is "bearer_methods_supported" (RFC 9728,
	// OPTIONAL): "header", "body" or "query". MCP allows only "header".
	BearerMethodsSupported []string `json:"bearer_methods_supported,omitempty"`
	// ResourceSigningAlgValuesSupported is
	// "resource_signing_alg_values_supported" (RFC 9728, OPTIONAL); never
	// "none".
	ResourceSigningAlgValuesSupported []string `json:"resource_signing_alg_values_supported,omitempty"`
	// ResourceName is "resource_name" (RFC 9728, RECOMMENDED): a
	// human-readable name for display.
	ResourceName string `json:"resource_name,omitempty"`
	// ResourceDocumentation is "resource_documentation" (RFC 9728,
	// OPTIONAL).
	ResourceDocumentation string `json:"resource_documentation,omitempty"`
	// ResourcePolicyURI is "resource_policy_uri" (RFC 9728, OPTIONAL).
	ResourcePolicyURI string `json:"resource_policy_uri,omitempty"`
	// ResourceTOSURI is "resource_tos_uri" (RFC 9728, OPTIONAL).
	ResourceTOSURI string `json:"resource_tos_uri,omitempty"`
	// TLSClientCertificateBoundAccessTokens is
	// "tls_client_certificate_bound_access_tokens" (RFC 9728, OPTIONAL;
	// RFC 8705).
	TLSClientCertificateBoundAccessTokens bool `json:"tls_client_certificate_bound_access_tokens,omitempty"`
	// AuthorizationDetailsTypesSupported is
	// "authorization_details_types_supported" (RFC 9728, OPTIONAL; RFC 9396).
	AuthorizationDetailsTypesSupported []string `json:"authorization_details_types_supported,omitempty"`
	// DPoPSigningAlgValuesSupported is "dpop_signing_alg_values_supported"
	// (RFC 9728, OPTIONAL; RFC 9449); never "none".
	DPoPSigningAlgValuesSupported []string `json:"dpop_signing_alg_values_supported,omitempty"`
	// DPoPBoundAccessTokensRequired is "dpop_bound_access_tokens_required"
	// (RFC 9728, OPTIONAL; RFC 9449).
	DPoPBoundAccessTokensRequired bool `json:"dpop_bound_access_tokens_required,omitempty"`
}

// Validate checks the document before it is served: resource present, an
// https URL (http only on a loopback host) without fragment or userinfo (a
// query is allowed but discouraged by RFC 9728 §1.2); at least one
// authorization server, each a valid issuer; jwks_uri and the
// documentation URLs https; no "none" in signing algorithm lists;
// bearer_methods_supported limited to "header", "body" and "query"; and no
// "offline_access" in scopes_supported (MCP 2026-07-28: resource servers
// SHOULD NOT advertise it, since refresh tokens are the authorization
// server's business). Errors are *MetadataError.
func (m *ProtectedResource) Validate() error {
	if err := checkServerURL("resource", m.Resource, true); err != nil {
		return err
	}
	if len(m.AuthorizationServers) == 0 {
		return docErr("authorization_servers", "must list at least one authorization server")
	}
	for _, as := range m.AuthorizationServers {
		if err := checkServerURL("authorization_servers", as, false); err != nil {
			return err
		}
	}
	for _, u := range []struct{ field, value string }{
		{"jwks_uri", m.JWKSURI},
		{"resource_documentation", m.ResourceDocumentation},
		{"resource_policy_uri", m.ResourcePolicyURI},
		{"resource_tos_uri", m.ResourceTOSURI},
	} {
		if err := checkOptionalURL(u.field, u.value); err != nil {
			return err
		}
	}
	for _, s := range m.ScopesSupported {
		if s == "offline_access" {
			return docErr("scopes_supported", `must not contain "offline_access" (MCP 2026-07-28: resource servers should not advertise it)`)
		}
		if s == "" {
			return docErr("scopes_supported", "must not contain empty strings")
		}
	}
	for _, b := range m.BearerMethodsSupported {
		if b != "header" && b != "body" && b != "query" {
			return docErr("bearer_methods_supported", `must contain only "header", "body" or "query", not %s`, quote(b))
		}
	}
	if err := checkNoNone("resource_signing_alg_values_supported", m.ResourceSigningAlgValuesSupported); err != nil {
		return err
	}
	return checkNoNone("dpop_signing_alg_values_supported", m.DPoPSigningAlgValuesSupported)
}
