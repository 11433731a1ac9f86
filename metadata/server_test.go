package metadata

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func goodAS() *AuthorizationServer {
	return &AuthorizationServer{
		Issuer:                            "https://auth.example.com",
		AuthorizationEndpoint:             "https://auth.example.com/authorize",
		TokenEndpoint:                     "https://auth.example.com/token",
		JWKSURI:                           "https://auth.example.com/jwks",
		RegistrationEndpoint:              "https://auth.example.com/register",
		ScopesSupported:                   []string{"mcp:tools", "offline_access"},
		ResponseTypesSupported:            []string{"code"},
		GrantTypesSupported:               []string{"authorization_code", "refresh_token"},
		TokenEndpointAuthMethodsSupported: []string{"none", "client_secret_basic", "private_key_jwt"},
		TokenEndpointAuthSigningAlgValuesSupported: []string{"RS256", "ES256"},
		CodeChallengeMethodsSupported:              []string{"S256"},
		AuthorizationResponseISSParameterSupported: true,
		ClientIDMetadataDocumentSupported:          true,
		ProtectedResources:                         []string{"https://mcp.example.com/mcp"},
	}
}

func TestAuthorizationServerValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*AuthorizationServer)
		field  string // "" = valid
	}{
		{"good", func(m *AuthorizationServer) {}, ""},
		{"issuer with path", func(m *AuthorizationServer) { m.Issuer = "https://auth.example.com/tenant1" }, ""},
		{"loopback http issuer", func(m *AuthorizationServer) {
			m.Issuer, m.AuthorizationEndpoint, m.TokenEndpoint = "http://127.0.0.1:8080", "http://127.0.0.1:8080/authorize", "http://localhost:8080/token"
		}, ""},
		{"http issuer", func(m *AuthorizationServer) { m.Issuer = "http://auth.example.com" }, "issuer"},
		{"issuer query", func(m *AuthorizationServer) { m.Issuer = "https://auth.example.com?x=1" }, "issuer"},
		{"issuer fragment", func(m *AuthorizationServer) { m.Issuer = "https://auth.example.com#x" }, "issuer"},
		{"issuer missing", func(m *AuthorizationServer) { m.Issuer = "" }, "issuer"},
		{"issuer relative", func(m *AuthorizationServer) { m.Issuer = "/auth" }, "issuer"},
		{"no authorization endpoint", func(m *AuthorizationServer) { m.AuthorizationEndpoint = "" }, "authorization_endpoint"},
		{"no token endpoint", func(m *AuthorizationServer) { m.TokenEndpoint = "" }, "token_endpoint"},
		{"http token endpoint", func(m *AuthorizationServer) { m.TokenEndpoint = "http://auth.example.com/token" }, "token_endpoint"},
		{"bad jwks_uri", func(m *AuthorizationServer) { m.JWKSURI = "ftp://auth.example.com/jwks" }, "jwks_uri"},
		{"no response types", func(m *AuthorizationServer) { m.ResponseTypesSupported = nil }, "response_types_supported"},
		{"token response type", func(m *AuthorizationServer) { m.ResponseTypesSupported = []string{"code", "code token"} }, "response_types_supported"},
		{"implicit grant", func(m *AuthorizationServer) { m.GrantTypesSupported = []string{"authorization_code", "implicit"} }, "grant_types_supported"},
		{"no pkce", func(m *AuthorizationServer) { m.CodeChallengeMethodsSupported = nil }, "code_challenge_methods_supported"},
		{"plain only", func(m *AuthorizationServer) { m.CodeChallengeMethodsSupported = []string{"plain"} }, "code_challenge_methods_supported"},
		{"none alg", func(m *AuthorizationServer) { m.TokenEndpointAuthSigningAlgValuesSupported = []string{"RS256", "none"} }, "token_endpoint_auth_signing_alg_values_supported"},
		{"None alg in id token", func(m *AuthorizationServer) { m.IDTokenSigningAlgValuesSupported = []string{"None"} }, "id_token_signing_alg_values_supported"},
		{"bad protected resource", func(m *AuthorizationServer) { m.ProtectedResources = []string{"https://mcp.example.com/#x"} }, "protected_resources"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := goodAS()
			tt.mutate(m)
			err := m.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var me *MetadataError
			if !errors.As(err, &me) || me.Field != tt.field {
				t.Fatalf("Validate = %v; want MetadataError on %s", err, tt.field)
			}
		})
	}
}

func TestAuthorizationServerValidateOpenID(t *testing.T) {
	m := goodAS()
	if err := m.ValidateOpenID(); err == nil {
		t.Fatal("OpenID validation passed without subject_types_supported")
	}
	m.SubjectTypesSupported = []string{"public"}
	m.IDTokenSigningAlgValuesSupported = []string{"RS256"}
	if err := m.ValidateOpenID(); err != nil {
		t.Fatalf("ValidateOpenID = %v", err)
	}
	for name, mutate := range map[string]func(*AuthorizationServer){
		"jwks_uri":                              func(m *AuthorizationServer) { m.JWKSURI = "" },
		"subject_types_supported":               func(m *AuthorizationServer) { m.SubjectTypesSupported = []string{"anonymous"} },
		"id_token_signing_alg_values_supported": func(m *AuthorizationServer) { m.IDTokenSigningAlgValuesSupported = []string{"ES256"} },
		"code_challenge_methods_supported":      func(m *AuthorizationServer) { m.CodeChallengeMethodsSupported = nil },
	} {
		c := *m
		mutate(&c)
		var me *MetadataError
		if err := c.ValidateOpenID(); !errors.As(err, &me) || me.Field != name {
			t.Errorf("%s: ValidateOpenID = %v", name, err)
		}
	}
}

func TestAuthorizationServerJSON(t *testing.T) {
	b, err := json.Marshal(&AuthorizationServer{Issuer: "https://a", CodeChallengeMethodsSupported: []string{"S256"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(b) != `{"issuer":"https://a","code_challenge_methods_supported":["S256"]}` {
		t.Fatalf("empty members not omitted: %s", b)
	}
	b, _ = json.Marshal(goodAS())
	for _, member := range []string{`"authorization_response_iss_parameter_supported":true`, `"client_id_metadata_document_supported":true`,
		`"protected_resources":["https://mcp.example.com/mcp"]`, `"token_endpoint_auth_methods_supported":["none",`} {
		if !strings.Contains(string(b), member) {
			t.Errorf("marshalled metadata lacks %s: %s", member, b)
		}
	}
}

func goodPRM() *ProtectedResource {
	return &ProtectedResource{
		Resource:               "https://mcp.example.com/mcp",
		AuthorizationServers:   []string{"https://auth.example.com"},
		ScopesSupported:        []string{"mcp:tools"},
		BearerMethodsSupported: []string{"header"},
		ResourceName:           "Example MCP server",
	}
}

func TestProtectedResourceValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*ProtectedResource)
		field  string
	}{
		{"good", func(m *ProtectedResource) {}, ""},
		{"loopback http", func(m *ProtectedResource) { m.Resource = "http://localhost:3000/mcp" }, ""},
		{"query allowed", func(m *ProtectedResource) { m.Resource = "https://mcp.example.com/mcp?tenant=a" }, ""},
		{"missing resource", func(m *ProtectedResource) { m.Resource = "" }, "resource"},
		{"http resource", func(m *ProtectedResource) { m.Resource = "http://mcp.example.com/mcp" }, "resource"},
		{"fragment", func(m *ProtectedResource) { m.Resource = "https://mcp.example.com/mcp#x" }, "resource"},
		{"userinfo", func(m *ProtectedResource) { m.Resource = "https://u@mcp.example.com/mcp" }, "resource"},
		{"no authorization servers", func(m *ProtectedResource) { m.AuthorizationServers = nil }, "authorization_servers"},
		{"bad authorization server", func(m *ProtectedResource) { m.AuthorizationServers = []string{"https://a?x"} }, "authorization_servers"},
		{"offline_access", func(m *ProtectedResource) { m.ScopesSupported = []string{"mcp:tools", "offline_access"} }, "scopes_supported"},
		{"bad bearer method", func(m *ProtectedResource) { m.BearerMethodsSupported = []string{"cookie"} }, "bearer_methods_supported"},
		{"none alg", func(m *ProtectedResource) { m.ResourceSigningAlgValuesSupported = []string{"none"} }, "resource_signing_alg_values_supported"},
		{"none dpop alg", func(m *ProtectedResource) { m.DPoPSigningAlgValuesSupported = []string{"ES256", "none"} }, "dpop_signing_alg_values_supported"},
		{"http jwks_uri", func(m *ProtectedResource) { m.JWKSURI = "http://mcp.example.com/jwks" }, "jwks_uri"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := goodPRM()
			tt.mutate(m)
			err := m.Validate()
			if tt.field == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			var me *MetadataError
			if !errors.As(err, &me) || me.Field != tt.field || !strings.HasPrefix(me.Error(), "metadata: "+tt.field+": ") {
				t.Fatalf("Validate = %v; want MetadataError on %s", err, tt.field)
			}
		})
	}
}
