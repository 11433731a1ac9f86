package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nqrust/identity/metadata"
)

// quietCIMD stands in for package cimd's executor: it checks its
// configuration strictly, like the real one, and refuses client_ids
// outside its domains so that evaluations differ by configuration.
type quietCIMD struct{ cfg fakeCIMDConfig }

func (q *quietCIMD) Events() []Event { return []Event{EventAuthorizationRequest} }

func (q *quietCIMD) Execute(_ context.Context, r *Request) error {
	for _, d := range q.cfg.Domains {
		if strings.Contains(r.ClientID, strings.TrimPrefix(d, "*.")) {
			return nil
		}
	}
	return refuse("invalid_request", "domain not allowed")
}

func fuzzRegistry() *Registry {
	reg := NewRegistry()
	err := reg.RegisterExecutor(ExecutorClientIDMetadataDocument, func(cfg json.RawMessage) (Executor, error) {
		q := &quietCIMD{}
		if err := DecodeConfig(cfg, &q.cfg); err != nil {
			return nil, err
		}
		return q, nil
	})
	if err != nil {
		panic(err)
	}
	return reg
}

// fuzzRequests are the requests each configuration that loads is evaluated
// against: VS Code's and Claude's metadata-document clients at
// authorization, a dynamic registration, a token request and a refresh.
func fuzzRequests() []*Request {
	const challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
	vscode, _ := metadata.ParseClient([]byte(`{"redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],"token_endpoint_auth_method":"none"}`))
	return []*Request{
		{Event: EventAuthorizationRequest, ClientID: "https://vscode.dev/oauth/client-metadata.json", RedirectURI: "http://127.0.0.1:33418/",
			Scopes: []string{"mcp:tools"}, Resources: []string{"https://h.example/mcp"}, ResponseType: "code", CodeChallenge: challenge, CodeChallengeMethod: "S256"},
		{Event: EventAuthorizationRequest, ClientID: "https://claude.ai/oauth/mcp-oauth-client-metadata", RedirectURI: "javascript:alert(1)",
			Resources: []string{"https://other.example/"}, ResponseType: "code", CodeChallenge: "short", CodeChallengeMethod: "plain"},
		{Event: EventRegistration, Registration: vscode},
		{Event: EventTokenRequest, ClientID: "https://app.example.org/client", GrantType: "authorization_code", Resources: []string{"https://h.example/mcp"}},
		{Event: EventRefresh, ClientID: "opaque-client-id", GrantType: "refresh_token"},
	}
}

// FuzzParseConfig loads arbitrary JSON policy configurations. Properties:
// no panic; Load fails exactly when ParseConfig or FromConfig does; a
// configuration that parses re-serialises to JSON that parses back to the
// same configuration (a fixed point after one round); and the re-serialised
// configuration builds an engine exactly when the original does, which
// decides every sample request the same way.
func FuzzParseConfig(f *testing.F) {
	for _, s := range []string{
		seedConfig, `{}`, `{"profiles":[],"policies":[]}`, `null`, `[]`, `{} {}`,
		`{"profiles":[{"name":"p","executors":[{"executor":"pkce-enforcer","configuration":{"allow-plain":false}},{"executor":"secure-redirect-uris"},{"executor":"resource-allow-list","configuration":{"resources":["https://h.example/mcp"]}}]}],` +
			`"policies":[{"name":"all","enabled":true,"conditions":[{"condition":"any-client"}],"profiles":["p"]}]}`,
		`{"policies":[{"name":"a","enabled":false,"conditions":[{"condition":"client-kind","configuration":{"is-negative-logic":"true"}}]}]}`,
		`{"policies":[{"name":"g","enabled":true,"conditions":[{"condition":"grant-type","negative":true,"configuration":{"grant-types":["refresh_token"]}}],"profiles":[]}]}`,
		`{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"any-client","negative":true,"configuration":{"is-negative-logic":false}}]}]}`,
	} {
		f.Add([]byte(s))
	}
	reg := fuzzRegistry()
	f.Fuzz(func(t *testing.T, data []byte) {
		c, perr := ParseConfig(data)
		_, lerr := Load(reg, data)
		if perr != nil {
			if lerr == nil {
				t.Fatal("Load accepted what ParseConfig refused")
			}
			return
		}
		e1, ferr := FromConfig(reg, c)
		if (ferr == nil) != (lerr == nil) {
			t.Fatalf("Load error %v, FromConfig error %v", lerr, ferr)
		}
		out, err := json.Marshal(c)
		if err != nil {
			t.Fatalf("a parsed configuration does not marshal: %v", err)
		}
		c2, err := ParseConfig(out)
		if err != nil {
			t.Fatalf("re-serialised configuration %s does not parse: %v", out, err)
		}
		out2, err := json.Marshal(c2)
		if err != nil || !bytes.Equal(out, out2) {
			t.Fatalf("re-serialisation is not a fixed point:\n%s\n%s", out, out2)
		}
		e2, ferr2 := FromConfig(reg, c2)
		if (ferr == nil) != (ferr2 == nil) {
			t.Fatalf("original builds: %v; re-serialised builds: %v", ferr, ferr2)
		}
		if ferr != nil {
			return
		}
		for i, r1 := range fuzzRequests() {
			r2 := fuzzRequests()[i]
			err1, err2 := e1.Evaluate(context.Background(), r1), e2.Evaluate(context.Background(), r2)
			var pe1, pe2 *Error
			if (err1 == nil) != (err2 == nil) || err1 != nil && (!errors.As(err1, &pe1) || !errors.As(err2, &pe2) ||
				pe1.Code != pe2.Code || pe1.Policy != pe2.Policy || pe1.Executor != pe2.Executor || pe1.Reason != pe2.Reason) {
				t.Fatalf("request %d decided differently after re-serialisation: %v vs %v", i, err1, err2)
			}
		}
	})
}
