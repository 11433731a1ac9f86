package authz

import (
	"context"
	"encoding/json"
	"slices"
	"testing"

	"github.com/nqrust/identity/policy"
)

// TestClientIDMetadataDocumentAdvertisement: the metadata says
// client_id_metadata_document_supported, with "none" among the token
// endpoint authentication methods, exactly when a policy can run the
// client-id-metadata-document executor (or the host forces it).
func TestClientIDMetadataDocumentAdvertisement(t *testing.T) {
	nop := policy.ExecutorFunc(func(context.Context, *policy.Request) error { return nil })
	always := []policy.ConditionSpec{{ID: "always", Condition: policy.ConditionFunc(func(context.Context, *policy.Request) (bool, error) { return true, nil })}}
	engine := func(t *testing.T, execID string, disabled bool) *policy.Engine {
		t.Helper()
		eng, err := policy.New(nil,
			[]policy.Profile{{Name: "prof", Executors: []policy.ExecutorSpec{{ID: execID, Executor: nop}}}},
			[]policy.Policy{{Name: "pol", Disabled: disabled, Conditions: always, Profiles: []string{"prof"}}})
		if err != nil {
			t.Fatal(err)
		}
		return eng
	}
	tests := []struct {
		name  string
		setup func(t *testing.T, c *Config)
		want  bool
	}{
		{"no policies", func(*testing.T, *Config) {}, false},
		{"policies without the executor", func(t *testing.T, c *Config) { c.Policies = engine(t, policy.ExecutorPKCEEnforcer, false) }, false},
		{"CIMD executor", func(t *testing.T, c *Config) { c.Policies = engine(t, policy.ExecutorClientIDMetadataDocument, false) }, true},
		{"CIMD policy disabled", func(t *testing.T, c *Config) { c.Policies = engine(t, policy.ExecutorClientIDMetadataDocument, true) }, false},
		{"forced for a custom executor", func(t *testing.T, c *Config) {
			c.Policies = engine(t, "my-url-resolver", false)
			c.ClientIDMetadataDocuments = true
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { tt.setup(t, c) })
			if got := e.srv.Metadata().ClientIDMetadataDocumentSupported; got != tt.want {
				t.Fatalf("Metadata().ClientIDMetadataDocumentSupported = %v, want %v", got, tt.want)
			}
			for _, path := range []string{"/.well-known/oauth-authorization-server", "/.well-known/openid-configuration"} {
				resp := e.get(path)
				var md struct {
					CIMD        *bool    `json:"client_id_metadata_document_supported"`
					AuthMethods []string `json:"token_endpoint_auth_methods_supported"`
				}
				err := json.NewDecoder(resp.Body).Decode(&md)
				resp.Body.Close()
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				if got := md.CIMD != nil && *md.CIMD; got != tt.want {
					t.Fatalf("%s: client_id_metadata_document_supported = %v, want %v", path, got, tt.want)
				}
				if tt.want && !slices.Contains(md.AuthMethods, AuthMethodNone) {
					t.Fatalf("%s: CIMD advertised without %q among %v", path, AuthMethodNone, md.AuthMethods)
				}
			}
		})
	}
}
