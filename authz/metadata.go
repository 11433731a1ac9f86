package authz

import (
	"fmt"
	"net/http"
	"slices"

	"github.com/nqrust/identity/metadata"
)

// buildMetadata derives the metadata documents from the configuration,
// listing only what the server really does: explicit grant types and
// client authentication methods (including "none"), S256 only, "iss" in
// every authorization response, a registration endpoint only when
// registration is configured, and client_id_metadata_document_supported
// only when a Client ID Metadata Document policy is configured.
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
	allMethods := []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT}
	// The mutual-TLS methods only when Config.MTLS turns them on.
	allMethods = append(allMethods, s.mtlsMethods()...)
	md := metadata.AuthorizationServer{
		Issuer:                            s.issuer,
		AuthorizationEndpoint:             s.authorizationEndpoint,
		TokenEndpoint:                     s.tokenEndpoint,
		JWKSURI:                           s.jwksURI,
		RegistrationEndpoint:              s.registrationEndpoint,
		ScopesSupported:                   slices.Clone(s.scopeOrder),
		ResponseTypesSupported:            []string{"code"},
		ResponseModesSupported:            []string{"query"},
		GrantTypesSupported:               grants,
		TokenEndpointAuthMethodsSupported: allMethods,
		TokenEndpointAuthSigningAlgValuesSupported:         algs,
		RevocationEndpoint:                                 s.revocationEndpoint,
		RevocationEndpointAuthMethodsSupported:             allMethods,
		RevocationEndpointAuthSigningAlgValuesSupported:    algs,
		IntrospectionEndpoint:                              s.introspectionEndpoint,
		IntrospectionEndpointAuthMethodsSupported:          allMethods[1:],
		IntrospectionEndpointAuthSigningAlgValuesSupported: algs,
		CodeChallengeMethodsSupported:                      []string{"S256"},
		AuthorizationResponseISSParameterSupported:         true,
		ClientIDMetadataDocumentSupported:                  s.cimdSupported,
	}
	for _, r := range s.resources {
		md.ProtectedResources = append(md.ProtectedResources, r.Identifier)
	}
	wk, err := metadata.AuthorizationServerWellKnownPaths(s.issuer)
	if err != nil {
		return fmt.Errorf("authz: metadata paths: %w", err)
	}
	s.wellKnown = wk
	h, err := metadata.AuthorizationServerHandler(&md)
	if err != nil {
		return fmt.Errorf("authz: metadata: %w", err)
	}
	s.metadataDoc = md
	s.metadataHandler = h
	if s.openIDConfig {
		// OpenID Connect Discovery requires these members (and RS256 among
		// the ID token algorithms). This server issues no ID tokens; the
		// document is published because MCP 2025-11-25 clients probe the
		// openid-configuration URLs and some look nowhere else.
		oidc := md
		oidc.SubjectTypesSupported = []string{"public"}
		oidc.IDTokenSigningAlgValuesSupported = []string{"RS256"}
		for _, a := range s.keys.Load().algs {
			if !slices.Contains(oidc.IDTokenSigningAlgValuesSupported, a) {
				oidc.IDTokenSigningAlgValuesSupported = append(oidc.IDTokenSigningAlgValuesSupported, a)
			}
		}
		oh, err := metadata.OpenIDConfigurationHandler(&oidc)
		if err != nil {
			return fmt.Errorf("authz: OpenID configuration: %w", err)
		}
		s.openIDHandler = oh
	}
	return nil
}

// Metadata returns a copy of the RFC 8414 authorization server metadata
// the server publishes.
func (s *Server) Metadata() metadata.AuthorizationServer {
	md := s.metadataDoc
	md.ScopesSupported = slices.Clone(md.ScopesSupported)
	md.ProtectedResources = slices.Clone(md.ProtectedResources)
	return md
}

// MetadataHandler serves the RFC 8414 authorization server metadata
// document: cacheable, with an ETag, readable cross-origin.
func (s *Server) MetadataHandler() http.Handler { return s.recoverer(s.metadataHandler) }

// OpenIDConfigurationHandler serves the same metadata as an OpenID Connect
// discovery document (with subject_types_supported and
// id_token_signing_alg_values_supported added), or 404 when
// Config.DisableOpenIDConfiguration is set.
func (s *Server) OpenIDConfigurationHandler() http.Handler {
	if s.openIDHandler == nil {
		return http.NotFoundHandler()
	}
	return s.openIDHandler
}
