package metadata

import (
	"fmt"
	"net/url"
	"slices"
	"strings"
)

// AuthorizationServer is OAuth 2.0 Authorization Server Metadata (RFC 8414
// §2), with the OpenID Connect Discovery 1.0 §3 members this library can
// fill. Every member is omitted when empty, as RFC 8414 §3.2 requires for
// empty arrays.
//
// Unsupported: signed_metadata (RFC 8414 §2.1) and the OpenID Connect
// members for request objects, encryption, display and claims locales.
type AuthorizationServer struct {
	// Issuer is "issuer" (RFC 8414, REQUIRED): an https URL without query or
	// fragment, byte-identical to the value clients built the metadata URL
	// from and to every "iss" the server emits.
	Issuer string `json:"issuer,omitempty"`
	// AuthorizationEndpoint is "authorization_endpoint" (RFC 8414, REQUIRED
	// for the authorization code grant).
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	// TokenEndpoint is "token_endpoint" (RFC 8414, REQUIRED unless only the
	// implicit grant is supported).
	TokenEndpoint string `json:"token_endpoint,omitempty"`
	// JWKSURI is "jwks_uri" (RFC 8414, OPTIONAL; REQUIRED by OpenID Connect
	// Discovery).
	JWKSURI string `json:"jwks_uri,omitempty"`
	// RegistrationEndpoint is "registration_endpoint" (RFC 8414, OPTIONAL):
	// the RFC 7591 endpoint. MCP clients treat its presence as "dynamic
	// registration is open to me", so set it only then.
	RegistrationEndpoint string `json:"registration_endpoint,omitempty"`
	// ScopesSupported is "scopes_supported" (RFC 8414, RECOMMENDED).
	ScopesSupported []string `json:"scopes_supported,omitempty"`
	// ResponseTypesSupported is "response_types_supported" (RFC 8414,
	// REQUIRED): ["code"] for OAuth 2.1.
	ResponseTypesSupported []string `json:"response_types_supported,omitempty"`
	// ResponseModesSupported is "response_modes_supported" (RFC 8414,
	// OPTIONAL).
	ResponseModesSupported []string `json:"response_modes_supported,omitempty"`
	// GrantTypesSupported is "grant_types_supported" (RFC 8414, OPTIONAL).
	// List it: the default includes "implicit", which OAuth 2.1 removed.
	GrantTypesSupported []string `json:"grant_types_supported,omitempty"`
	// TokenEndpointAuthMethodsSupported is
	// "token_endpoint_auth_methods_supported" (RFC 8414, OPTIONAL). List it
	// with "none": the default is client_secret_basic only, and MCP clients
	// then believe public clients are not accepted.
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported,omitempty"`
	// TokenEndpointAuthSigningAlgValuesSupported is
	// "token_endpoint_auth_signing_alg_values_supported" (RFC 8414,
	// OPTIONAL); never "none".
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported,omitempty"`
	// ServiceDocumentation is "service_documentation" (RFC 8414, OPTIONAL).
	ServiceDocumentation string `json:"service_documentation,omitempty"`
	// UILocalesSupported is "ui_locales_supported" (RFC 8414, OPTIONAL).
	UILocalesSupported []string `json:"ui_locales_supported,omitempty"`
	// OPPolicyURI is "op_policy_uri" (RFC 8414, OPTIONAL).
	OPPolicyURI string `json:"op_policy_uri,omitempty"`
	// OPTOSURI is "op_tos_uri" (RFC 8414, OPTIONAL).
	OPTOSURI string `json:"op_tos_uri,omitempty"`
	// RevocationEndpoint is "revocation_endpoint" (RFC 8414, OPTIONAL): the
	// RFC 7009 endpoint.
	RevocationEndpoint string `json:"revocation_endpoint,omitempty"`
	// RevocationEndpointAuthMethodsSupported is
	// "revocation_endpoint_auth_methods_supported" (RFC 8414, OPTIONAL).
	RevocationEndpointAuthMethodsSupported []string `json:"revocation_endpoint_auth_methods_supported,omitempty"`
	// RevocationEndpointAuthSigningAlgValuesSupported is
	// "revocation_endpoint_auth_signing_alg_values_supported" (RFC 8414,
	// OPTIONAL); never "none".
	RevocationEndpointAuthSigningAlgValuesSupported []string `json:"revocation_endpoint_auth_signing_alg_values_supported,omitempty"`
	// IntrospectionEndpoint is "introspection_endpoint" (RFC 8414,
	// OPTIONAL): the RFC 7662 endpoint.
	IntrospectionEndpoint string `json:"introspection_endpoint,omitempty"`
	// IntrospectionEndpointAuthMethodsSupported is
	// "introspection_endpoint_auth_methods_supported" (RFC 8414, OPTIONAL).
	IntrospectionEndpointAuthMethodsSupported []string `json:"introspection_endpoint_auth_methods_supported,omitempty"`
	// IntrospectionEndpointAuthSigningAlgValuesSupported is
	// "introspection_endpoint_auth_signing_alg_values_supported" (RFC 8414,
	// OPTIONAL); never "none".
	IntrospectionEndpointAuthSigningAlgValuesSupported []string `json:"introspection_endpoint_auth_signing_alg_values_supported,omitempty"`
	// CodeChallengeMethodsSupported is "code_challenge_methods_supported"
	// (RFC 8414, OPTIONAL; MCP requires it with "S256", and clients abort
	// when it is absent).
	CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported,omitempty"`
	// AuthorizationResponseISSParameterSupported is
	// "authorization_response_iss_parameter_supported" (RFC 9207 §3). Set it
	// only when every authorization response carries "iss": strict clients
	// reject callbacks without it once it is advertised.
	AuthorizationResponseISSParameterSupported bool `json:"authorization_response_iss_parameter_supported,omitempty"`
	// ClientIDMetadataDocumentSupported is
	// "client_id_metadata_document_supported" (CIMD §6): true when https
	// URLs are accepted as client_id.
	ClientIDMetadataDocumentSupported bool `json:"client_id_metadata_document_supported,omitempty"`
	// ProtectedResources is "protected_resources" (RFC 9728 §4, OPTIONAL):
	// resource identifiers this server issues tokens for.
	ProtectedResources []string `json:"protected_resources,omitempty"`

	// UserinfoEndpoint is "userinfo_endpoint" (OpenID Connect Discovery,
	// RECOMMENDED).
	UserinfoEndpoint string `json:"userinfo_endpoint,omitempty"`
	// SubjectTypesSupported is "subject_types_supported" (OpenID Connect
	// Discovery, REQUIRED): "public" and/or "pairwise".
	SubjectTypesSupported []string `json:"subject_types_supported,omitempty"`
	// IDTokenSigningAlgValuesSupported is
	// "id_token_signing_alg_values_supported" (OpenID Connect Discovery,
	// REQUIRED, must include RS256); never "none" here.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported,omitempty"`
	// ClaimsSupported is "claims_supported" (OpenID Connect Discovery,
	// RECOMMENDED).
	ClaimsSupported []string `json:"claims_supported,omitempty"`
}

// MetadataError reports an invalid [AuthorizationServer] or
// [ProtectedResource]: a configuration mistake, found before the document
// is served.
type MetadataError struct {
	// Field is the JSON member at fault.
	Field string
	// Reason says what is wrong.
	Reason string
}

// Error returns "metadata: <field>: <reason>".
func (e *MetadataError) Error() string { return "metadata: " + e.Field + ": " + e.Reason }

func docErr(field, format string, args ...any) error {
	return &MetadataError{Field: field, Reason: fmt.Sprintf(format, args...)}
}

// checkServerURL checks an issuer, endpoint or resource URL: absolute https,
// or http on a loopback host (for local development and tests, as OAuth 2.1
// §1.5 allows only loopback as an exception), with a host, no userinfo, no
// fragment, and no query unless allowQuery.
func checkServerURL(field, s string, allowQuery bool) error {
	if s == "" {
		return docErr(field, "is required")
	}
	_, _, _, err := splitBase(s, field, allowQuery)
	if ue, ok := err.(*urlErr); ok {
		return docErr(field, "%s", ue.msg)
	} else if err != nil {
		return docErr(field, "is not a valid URL")
	}
	if strings.HasPrefix(s, "http://") {
		if u, err := url.Parse(s); err != nil || !IsLoopbackHost(u.Hostname()) {
			return docErr(field, "must use https (http only on a loopback host)")
		}
	}
	return nil
}

func checkOptionalURL(field, s string) error {
	if s == "" {
		return nil
	}
	return checkServerURL(field, s, true)
}

func checkNoNone(field string, algs []string) error {
	for _, a := range algs {
		if strings.EqualFold(a, "none") {
			return docErr(field, `must not contain "none"`)
		}
		if a == "" {
			return docErr(field, "must not contain empty strings")
		}
	}
	return nil
}

// Validate checks the document as an RFC 8414 document for MCP clients:
// issuer an https URL (http only on a loopback host) without query,
// fragment or userinfo; authorization_endpoint, token_endpoint and
// response_types_supported present; response_types_supported containing
// "code" and no "token" response; grant_types_supported free of implicit
// and password; code_challenge_methods_supported containing "S256"; every
// endpoint URL absolute https (or loopback http); no "none" in any signing
// algorithm list; protected_resources valid resource indicators. Errors are
// *MetadataError.
func (m *AuthorizationServer) Validate() error {
	if err := checkServerURL("issuer", m.Issuer, false); err != nil {
		return err
	}
	if err := checkServerURL("authorization_endpoint", m.AuthorizationEndpoint, true); err != nil {
		return err
	}
	if err := checkServerURL("token_endpoint", m.TokenEndpoint, true); err != nil {
		return err
	}
	for _, u := range []struct{ field, value string }{
		{"jwks_uri", m.JWKSURI},
		{"registration_endpoint", m.RegistrationEndpoint},
		{"revocation_endpoint", m.RevocationEndpoint},
		{"introspection_endpoint", m.IntrospectionEndpoint},
		{"userinfo_endpoint", m.UserinfoEndpoint},
		{"service_documentation", m.ServiceDocumentation},
		{"op_policy_uri", m.OPPolicyURI},
		{"op_tos_uri", m.OPTOSURI},
	} {
		if err := checkOptionalURL(u.field, u.value); err != nil {
			return err
		}
	}
	if len(m.ResponseTypesSupported) == 0 {
		return docErr("response_types_supported", "is required")
	}
	if !slices.Contains(m.ResponseTypesSupported, ResponseTypeCode) {
		return docErr("response_types_supported", `must contain "code"`)
	}
	for _, rt := range m.ResponseTypesSupported {
		if slices.Contains(strings.Fields(rt), "token") {
			return docErr("response_types_supported", "must not contain %q: OAuth 2.1 removed the implicit grant", rt)
		}
	}
	for _, g := range m.GrantTypesSupported {
		if g == GrantImplicit || g == GrantPassword {
			return docErr("grant_types_supported", "must not contain %q: OAuth 2.1 removed it", g)
		}
	}
	if !slices.Contains(m.CodeChallengeMethodsSupported, "S256") {
		return docErr("code_challenge_methods_supported", `must contain "S256"; MCP clients refuse servers that do not advertise PKCE`)
	}
	for _, l := range []struct {
		field string
		algs  []string
	}{
		{"token_endpoint_auth_signing_alg_values_supported", m.TokenEndpointAuthSigningAlgValuesSupported},
		{"revocation_endpoint_auth_signing_alg_values_supported", m.RevocationEndpointAuthSigningAlgValuesSupported},
		{"introspection_endpoint_auth_signing_alg_values_supported", m.IntrospectionEndpointAuthSigningAlgValuesSupported},
		{"id_token_signing_alg_values_supported", m.IDTokenSigningAlgValuesSupported},
	} {
		if err := checkNoNone(l.field, l.algs); err != nil {
			return err
		}
	}
	for _, r := range m.ProtectedResources {
		if _, err := CanonicalResource(r); err != nil {
			return docErr("protected_resources", "%s is not a valid resource indicator", quote(r))
		}
	}
	return nil
}

// ValidateOpenID checks the document for publication as an OpenID Connect
// discovery document (at openid-configuration): everything [Validate]
// checks, plus the members OpenID Connect Discovery 1.0 §3 requires:
// jwks_uri, subject_types_supported (values "public" or "pairwise"), and
// id_token_signing_alg_values_supported including "RS256". MCP 2025-11-25
// adds code_challenge_methods_supported, which Validate already requires.
func (m *AuthorizationServer) ValidateOpenID() error {
	if err := m.Validate(); err != nil {
		return err
	}
	if m.JWKSURI == "" {
		return docErr("jwks_uri", "is required by OpenID Connect Discovery")
	}
	if len(m.SubjectTypesSupported) == 0 {
		return docErr("subject_types_supported", "is required by OpenID Connect Discovery")
	}
	for _, s := range m.SubjectTypesSupported {
		if s != "public" && s != "pairwise" {
			return docErr("subject_types_supported", `must contain only "public" or "pairwise", not %s`, quote(s))
		}
	}
	if !slices.Contains(m.IDTokenSigningAlgValuesSupported, "RS256") {
		return docErr("id_token_signing_alg_values_supported", `is required by OpenID Connect Discovery and must contain "RS256"`)
	}
	return nil
}
