package authz

import (
	"net/http"
)

// serverMetadata is the RFC 8414 document, with the members OpenID Connect
// Discovery 1.0 additionally requires so that the same document can be
// served at the openid-configuration URLs.
//
// TODO(metadata): switch to metadata.AuthorizationServer once it lands.
type serverMetadata struct {
	Issuer                                     string   `json:"issuer"`
	AuthorizationEndpoint                      string   `json:"authorization_endpoint"`
	TokenEndpoint                              string   `json:"token_endpoint"`
	JWKSURI                                    string   `json:"jwks_uri"`
	RegistrationEndpoint                       string   `json:"registration_endpoint,omitempty"`
	ScopesSupported                            []string `json:"scopes_supported,omitempty"`
	ResponseTypesSupported                     []string `json:"response_types_supported"`
	ResponseModesSupported                     []string `json:"response_modes_supported"`
	GrantTypesSupported                        []string `json:"grant_types_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	RevocationEndpoint                         string   `json:"revocation_endpoint"`
	RevocationEndpointAuthMethodsSupported     []string `json:"revocation_endpoint_auth_methods_supported"`
	IntrospectionEndpoint                      string   `json:"introspection_endpoint"`
	IntrospectionEndpointAuthMethodsSupported  []string `json:"introspection_endpoint_auth_methods_supported"`
	CodeChallengeMethodsSupported              []string `json:"code_challenge_methods_supported"`
	AuthorizationResponseIssParameterSupported bool     `json:"authorization_response_iss_parameter_supported"`
	ClientIDMetadataDocumentSupported          bool     `json:"client_id_metadata_document_supported,omitempty"`
	ProtectedResources                         []string `json:"protected_resources,omitempty"`
	SubjectTypesSupported                      []string `json:"subject_types_supported,omitempty"`
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported,omitempty"`
}

// buildMetadata renders the metadata document once; it only changes with
// the configuration.
func (s *Server) buildMetadata() error {
	algs := make([]string, 0, len(assertionAlgorithms))
	for _, a := range assertionAlgorithms {
		algs = append(algs, string(a))
	}
	grants := []string{GrantTypeAuthorizationCode}
	if s.refreshPolicy != RefreshNever {
		grants = append(grants, GrantTypeRefreshToken)
	}
	grants = append(grants, GrantTypeClientCredentials)
	md := serverMetadata{
		Issuer:                            s.issuer,
		AuthorizationEndpoint:             s.authorizationEndpoint,
		TokenEndpoint:                     s.tokenEndpoint,
		JWKSURI:                           s.jwksURI,
		ScopesSupported:                   s.scopeOrder,
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               grants,
		TokenEndpointAuthMethodsSupported: []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT},
		TokenEndpointAuthSigningAlgValuesSupported: algs,
		RevocationEndpoint:                         s.revocationEndpoint,
		RevocationEndpointAuthMethodsSupported:     []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT},
		IntrospectionEndpoint:                      s.introspectionEndpoint,
		IntrospectionEndpointAuthMethodsSupported:  []string{AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseIssParameterSupported: true,
	}
	for _, r := range s.resources {
		md.ProtectedResources = append(md.ProtectedResources, r.Identifier)
	}
	if s.openIDConfig {
		// OpenID Connect Discovery requires these members. This server
		// issues no ID tokens; the algorithms listed are those its keys
		// sign with (MCP 2025-11-25 clients probe openid-configuration).
		md.SubjectTypesSupported = []string{"public"}
		md.IDTokenSigningAlgValuesSupported = s.keys.Load().algs
	}
	b, err := marshalJSON(md)
	if err != nil {
		return err
	}
	s.metadataJSON = b
	return nil
}

// MetadataHandler serves the authorization server metadata document (RFC
// 8414; also valid as an OpenID Connect discovery document unless
// Config.DisableOpenIDConfiguration is set). It is cacheable for five
// minutes and readable cross-origin.
func (s *Server) MetadataHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			corsPreflight(w, "GET, HEAD, OPTIONS")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD, OPTIONS")
			return
		}
		h := w.Header()
		corsHeaders(h)
		h["Content-Type"] = jsonValue
		h.Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(s.metadataJSON)
		}
	})
}
