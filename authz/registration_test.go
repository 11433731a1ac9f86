package authz

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
)

// openRegistration enables anonymous registration from anywhere.
func openRegistration(c *Config) {
	c.Registration = &dcr.Config{Anonymous: &dcr.Policy{Name: "open", TrustedHosts: []string{"*"}}}
}

// machineRegistration is openRegistration for clients that may use
// client_credentials (a policy for trusted registrants only).
func machineRegistration(c *Config) {
	c.Registration = &dcr.Config{Anonymous: &dcr.Policy{Name: "open", TrustedHosts: []string{"*"}, AllowClientCredentials: true}}
}

// register posts a registration body and returns the status and the
// decoded answer (a client or an error).
func (e *env) register(body string) (int, metadata.Client, map[string]any) {
	e.t.Helper()
	resp, err := e.client().Post(e.issuer+"/register", "application/json", strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	var raw json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil {
		e.t.Fatal(err)
	}
	var c metadata.Client
	var m map[string]any
	_ = json.Unmarshal(raw, &c)
	_ = json.Unmarshal(raw, &m)
	return resp.StatusCode, c, m
}

// TestClientCredentialsClientIsMarkedUsed: a registered client that only
// uses client_credentials is marked used by its first token, so it does
// not lapse after dcr's UnusedClientTTL as one that never did anything.
func TestClientCredentialsClientIsMarkedUsed(t *testing.T) {
	e := newEnv(t, machineRegistration)
	status, reg, m := e.register(`{"client_name":"Service","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic","scope":"mcp:tools"}`)
	if status != http.StatusCreated || reg.ClientSecret == "" {
		t.Fatalf("register: %d %v", status, m)
	}
	ctx := context.Background()
	c, err := e.store.GetClient(ctx, reg.ClientID)
	if err != nil || c.ExpiresAt.IsZero() || !c.FirstUsedAt.IsZero() {
		t.Fatalf("fresh registration: %+v %v", c, err)
	}
	form := url.Values{"grant_type": {"client_credentials"}, "resource": {testResource}}
	if status, tj := decodeToken(t, e.post("/token", form, reg.ClientID, reg.ClientSecret)); status != 200 || tj.AccessToken == "" {
		t.Fatalf("first token: %d %+v", status, tj)
	}
	c, err = e.store.GetClient(ctx, reg.ClientID)
	if err != nil || c.FirstUsedAt.IsZero() || !c.ExpiresAt.IsZero() {
		t.Fatalf("client after its first token: FirstUsedAt %v ExpiresAt %v %v", c.FirstUsedAt, c.ExpiresAt, err)
	}
	e.clock.Advance(dcr.DefaultUnusedClientTTL + time.Hour)
	if status, tj := decodeToken(t, e.post("/token", form, reg.ClientID, reg.ClientSecret)); status != 200 || tj.AccessToken == "" {
		t.Fatalf("token a day later: %d %+v", status, tj)
	}
	if c2, err := e.store.GetClient(ctx, reg.ClientID); err != nil || !c2.FirstUsedAt.Equal(c.FirstUsedAt) {
		t.Fatalf("FirstUsedAt moved or client gone: %v %v", c2, err)
	}

	// A failed token request does not mark the client.
	status, reg2, m := e.register(`{"client_name":"Service 2","grant_types":["client_credentials"],"token_endpoint_auth_method":"client_secret_basic"}`)
	if status != http.StatusCreated {
		t.Fatalf("register: %d %v", status, m)
	}
	if status, _ := decodeToken(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}, "resource": {"https://unknown.example.com/"}},
		reg2.ClientID, reg2.ClientSecret)); status != 400 {
		t.Fatalf("unknown resource: %d", status)
	}
	if c, err := e.store.GetClient(ctx, reg2.ClientID); err != nil || !c.FirstUsedAt.IsZero() {
		t.Fatalf("client marked by a refused request: %+v %v", c, err)
	}
}

// TestRegistrationRunsServerPolicies: Config.Policies reach dynamic
// registration when Config.Registration has none of its own, so
// secure-redirect-uris refuses an http redirect URI on a public host at
// registration (here allowed by the registrar itself, for development).
func TestRegistrationRunsServerPolicies(t *testing.T) {
	eng, err := policy.New(policy.NewRegistry(),
		[]policy.Profile{{Name: "redirects", Executors: []policy.ExecutorSpec{{ID: policy.ExecutorSecureRedirectURIs}}}},
		[]policy.Policy{{Name: "secure-redirects", Conditions: []policy.ConditionSpec{{ID: policy.ConditionAnyClient}}, Profiles: []string{"redirects"}}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, openRegistration, func(c *Config) {
		c.Registration.AllowInsecureRedirectURIs = true
		c.Policies = eng
	})
	status, _, m := e.register(`{"redirect_uris":["http://app.example.com/cb"],"token_endpoint_auth_method":"none"}`)
	if status != http.StatusBadRequest || m["error"] != "invalid_redirect_uri" || !strings.Contains(m["error_description"].(string), "secure-redirects") {
		t.Fatalf("insecure redirect URI: %d %v", status, m)
	}
	if status, _, m := e.register(`{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none"}`); status != http.StatusCreated {
		t.Fatalf("https redirect URI: %d %v", status, m)
	}
}
