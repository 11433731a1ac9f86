package dcr_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
)

// policyEngine builds an engine with one always-matching policy whose
// profile runs the given executors.
func policyEngine(t *testing.T, execs ...policy.ExecutorSpec) *policy.Engine {
	t.Helper()
	eng, err := policy.New(policy.NewRegistry(),
		[]policy.Profile{{Name: "registration-profile", Executors: execs}},
		[]policy.Policy{{Name: "registration-policy", Conditions: []policy.ConditionSpec{{ID: policy.ConditionAnyClient}}, Profiles: []string{"registration-profile"}}})
	if err != nil {
		t.Fatal(err)
	}
	return eng
}

var secureRedirects = policy.ExecutorSpec{ID: policy.ExecutorSecureRedirectURIs}

// TestRegistrationPolicies: Config.Policies run at registration and at
// RFC 7592 updates, after validation and before anything is stored or an
// initial access token spent; secure-redirect-uris refuses an http
// redirect URI on a public host that the registrar's own rules
// (AllowInsecureRedirectURIs) would let through.
func TestRegistrationPolicies(t *testing.T) {
	const insecure = `{"redirect_uris":["http://app.example.com/cb"],"token_endpoint_auth_method":"none"}`
	const secure = `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"none"}`

	t.Run("without policies the registrar alone decides", func(t *testing.T) {
		f := newFixture(t, func(c *dcr.Config) { c.AllowInsecureRedirectURIs = true })
		f.mustRegister(t, insecure, nil)
	})

	f := newFixture(t, func(c *dcr.Config) {
		c.AllowInsecureRedirectURIs = true
		c.Policies = policyEngine(t, secureRedirects)
	})
	rec := f.do(t, req{body: insecure})
	assertError(t, rec, http.StatusBadRequest, "invalid_redirect_uri", "client policy 'registration-policy': redirect_uris[0]")
	if n := f.count(t); n != 0 {
		t.Fatalf("%d clients stored after a refusal", n)
	}
	m := f.mustRegister(t, secure, nil)

	// An update cannot bring the insecure URI in either, and leaves the
	// client as it was.
	upd := `{"client_id":"` + m.str("client_id") + `","redirect_uris":["http://app.example.com/cb"],"token_endpoint_auth_method":"none"}`
	rec = f.do(t, req{method: http.MethodPut, path: itemPath(m), body: upd, headers: bearer(m.str("registration_access_token"))})
	assertError(t, rec, http.StatusBadRequest, "invalid_redirect_uri", "redirect_uris[0]")
	c, err := f.store.GetClient(context.Background(), m.str("client_id"))
	if err != nil || len(c.Metadata.RedirectURIs) != 1 || c.Metadata.RedirectURIs[0] != "https://app.example.com/cb" {
		t.Fatalf("client after a refused update: %+v %v", c, err)
	}
}

// TestRegistrationPolicyErrors: codes other than the two RFC 7591 ones
// become invalid_client_metadata, an internal failure is 503, a refusal
// spends no initial access token, and executors see the metadata as it
// would be registered, with the client at an update.
func TestRegistrationPolicyErrors(t *testing.T) {
	var seen atomic.Pointer[policy.Request]
	var mode atomic.Int32
	exec := policy.ExecutorFunc(func(ctx context.Context, r *policy.Request) error {
		cp := *r
		reg := *r.Registration
		cp.Registration = &reg
		seen.Store(&cp)
		switch mode.Load() {
		case 1:
			return &policy.Error{Code: "invalid_request", Reason: "refused for the test"}
		case 2:
			return &policy.Error{Code: "invalid_client_metadata", Reason: "metadata refused"}
		case 3:
			return errors.New("database down")
		}
		return nil
	})
	f := newFixture(t, func(c *dcr.Config) {
		c.Anonymous = nil
		c.Authenticated = anonymousPolicy()
		c.Policies = policyEngine(t, policy.ExecutorSpec{ID: "test", Executor: exec})
	})
	tok, err := f.reg.MintInitialAccessToken(context.Background(), "anonymous", 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	body := `{"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","scope":"mcp:tools"}`
	for _, tc := range []struct {
		mode   int32
		status int
		code   string
		desc   string
	}{
		{1, http.StatusBadRequest, "invalid_client_metadata", "refused for the test"},
		{2, http.StatusBadRequest, "invalid_client_metadata", "metadata refused"},
		{3, http.StatusServiceUnavailable, "temporarily_unavailable", "temporarily unavailable"},
	} {
		mode.Store(tc.mode)
		rec := f.do(t, req{body: body, headers: bearer(tok)})
		assertError(t, rec, tc.status, tc.code, tc.desc)
		if rec.Body.String() == "" || strings.Contains(rec.Body.String(), "database") {
			t.Errorf("internal cause leaked: %s", rec.Body)
		}
	}
	if n := f.count(t); n != 0 {
		t.Fatalf("%d clients stored", n)
	}
	// The token's only use is still there.
	mode.Store(0)
	m := f.mustRegister(t, body, bearer(tok))
	r := seen.Load()
	if r.Event != policy.EventRegistration || r.ClientID != "" || r.Client != nil || r.HTTP == nil ||
		r.Registration.TokenEndpointAuthMethod != metadata.AuthMethodNone || len(r.Registration.GrantTypes) != 1 ||
		r.Registration.ApplicationType != metadata.ApplicationTypeNative || len(r.Scopes) != 1 || r.Scopes[0] != "mcp:tools" {
		t.Fatalf("policy request at registration: %+v, registration %+v", r, r.Registration)
	}
	upd := `{"client_id":"` + m.str("client_id") + `","redirect_uris":["http://127.0.0.1/other"],"token_endpoint_auth_method":"none"}`
	rec := f.do(t, req{method: http.MethodPut, path: itemPath(m), body: upd, headers: bearer(m.str("registration_access_token"))})
	if rec.Code != http.StatusOK {
		t.Fatalf("update: %d %s", rec.Code, rec.Body)
	}
	if r := seen.Load(); r.ClientID != m.str("client_id") || r.Client == nil || r.Client.ID != r.ClientID || r.Registration.RedirectURIs[0] != "http://127.0.0.1/other" {
		t.Fatalf("policy request at update: %+v", r)
	}
}
