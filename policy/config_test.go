package policy

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

// seedConfig holds both setups of the seed guide: the generic CIMD policy
// and the VS Code one.
const seedConfig = `{
  "profiles": [
    {
      "name": "cimd-profile",
      "description": "Resolve client_id URLs as Client ID Metadata Documents",
      "executors": [
        {
          "executor": "client-id-metadata-document",
          "configuration": {
            "cimd-allow-http-scheme": false,
            "cimd-allow-permitted-domains": ["*.example.org"],
            "cimd-restrict-same-domain": true,
            "cimd-required-properties": ["client_name"],
            "only-allow-confidential-client": false
          }
        }
      ]
    },
    {
      "name": "vscode-cimd-profile",
      "description": "VS Code desktop",
      "executors": [
        {
          "executor": "client-id-metadata-document",
          "configuration": {
            "cimd-allow-http-scheme": false,
            "cimd-allow-permitted-domains": ["vscode.dev", "127.0.0.1"],
            "cimd-restrict-same-domain": false,
            "only-allow-confidential-client": false
          }
        }
      ]
    }
  ],
  "policies": [
    {
      "name": "cimd-policy",
      "description": "client_id URLs under example.org",
      "enabled": true,
      "conditions": [
        {
          "condition": "client-id-uri",
          "negative": false,
          "configuration": {
            "client-id-uri-scheme": ["https"],
            "client-id-uri-allow-permitted-domains": ["*.example.org"]
          }
        }
      ],
      "profiles": ["cimd-profile"]
    },
    {
      "name": "vscode-cimd-policy",
      "description": "VS Code desktop",
      "enabled": true,
      "conditions": [
        {
          "condition": "client-id-uri",
          "configuration": {
            "client-id-uri-scheme": ["https"],
            "client-id-uri-allow-permitted-domains": ["vscode.dev"]
          }
        }
      ],
      "profiles": ["vscode-cimd-profile"]
    }
  ]
}`

// fakeCIMDConfig mirrors the configuration keys of the real executor,
// strictly, so that the seed configuration is checked end to end.
type fakeCIMDConfig struct {
	AllowHTTP          bool     `json:"cimd-allow-http-scheme"`
	Domains            []string `json:"cimd-allow-permitted-domains"`
	RestrictSameDomain bool     `json:"cimd-restrict-same-domain"`
	Required           []string `json:"cimd-required-properties"`
	OnlyConfidential   bool     `json:"only-allow-confidential-client"`
}

// fakeCIMD records which profile's executor resolved which client_id.
type fakeCIMD struct {
	cfg fakeCIMDConfig
	log *[]string
}

func (f *fakeCIMD) Events() []Event { return []Event{EventAuthorizationRequest} }

func (f *fakeCIMD) Execute(_ context.Context, r *Request) error {
	*f.log = append(*f.log, strings.Join(f.cfg.Domains, ",")+" "+r.ClientID)
	return nil
}

func registryWithFakeCIMD(t *testing.T, log *[]string) *Registry {
	t.Helper()
	reg := NewRegistry()
	err := reg.RegisterExecutor(ExecutorClientIDMetadataDocument, func(cfg json.RawMessage) (Executor, error) {
		f := &fakeCIMD{log: log}
		if err := DecodeConfig(cfg, &f.cfg); err != nil {
			return nil, err
		}
		return f, nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// seedGo builds the same setup as seedConfig in Go.
func seedGo(t *testing.T, log *[]string) *Engine {
	t.Helper()
	generic, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"*.example.org"}})
	if err != nil {
		t.Fatal(err)
	}
	vscode, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"vscode.dev"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(nil,
		[]Profile{
			{Name: "cimd-profile", Executors: []ExecutorSpec{{ID: ExecutorClientIDMetadataDocument, Executor: &fakeCIMD{
				cfg: fakeCIMDConfig{Domains: []string{"*.example.org"}, RestrictSameDomain: true, Required: []string{"client_name"}}, log: log}}}},
			{Name: "vscode-cimd-profile", Executors: []ExecutorSpec{{ID: ExecutorClientIDMetadataDocument, Executor: &fakeCIMD{
				cfg: fakeCIMDConfig{Domains: []string{"vscode.dev", "127.0.0.1"}}, log: log}}}},
		},
		[]Policy{
			{Name: "cimd-policy", Conditions: []ConditionSpec{{ID: ConditionClientIDURI, Condition: generic}}, Profiles: []string{"cimd-profile"}},
			{Name: "vscode-cimd-policy", Conditions: []ConditionSpec{{ID: ConditionClientIDURI, Condition: vscode}}, Profiles: []string{"vscode-cimd-profile"}},
		})
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestSeedSetupsJSONAndGo(t *testing.T) {
	var jsonLog, goLog []string
	fromJSON, err := Load(registryWithFakeCIMD(t, &jsonLog), []byte(seedConfig))
	if err != nil {
		t.Fatal(err)
	}
	fromGo := seedGo(t, &goLog)

	cases := []struct {
		clientID string
		want     []string // executions, as "<trusted domains> <client_id>"
	}{
		{"https://vscode.dev/oauth/client-metadata.json", []string{"vscode.dev,127.0.0.1 https://vscode.dev/oauth/client-metadata.json"}},
		{"https://app.example.org/client", []string{"*.example.org https://app.example.org/client"}},
		{"https://example.org/client", []string{"*.example.org https://example.org/client"}},
		{"https://vscode.dev.evil.com/x", nil},
		{"http://vscode.dev/x", nil},
		{"static-client", nil},
	}
	for _, c := range cases {
		for _, e := range []struct {
			name string
			eng  *Engine
			log  *[]string
		}{{"json", fromJSON, &jsonLog}, {"go", fromGo, &goLog}} {
			*e.log = nil
			if err := e.eng.Evaluate(context.Background(), authzReq(c.clientID)); err != nil {
				t.Fatalf("%s %s: %v", e.name, c.clientID, err)
			}
			if !reflect.DeepEqual(*e.log, c.want) {
				t.Errorf("%s %s: ran %q, want %q", e.name, c.clientID, *e.log, c.want)
			}
		}
		xj, _ := json.Marshal(fromJSON.Explain(context.Background(), authzReq(c.clientID)))
		xg, _ := json.Marshal(fromGo.Explain(context.Background(), authzReq(c.clientID)))
		if string(xj) != string(xg) {
			t.Errorf("%s: explanations differ\njson: %s\ngo:   %s", c.clientID, xj, xg)
		}
	}
	// The token endpoint also sees the CIMD policy (client-id-uri reacts
	// there), but the executor itself only acts at authorization.
	jsonLog = nil
	x := fromJSON.Explain(context.Background(), &Request{Event: EventTokenRequest, ClientID: "https://vscode.dev/oauth/client-metadata.json"})
	if x.Error != nil || len(jsonLog) != 0 {
		t.Fatalf("token request: %+v, ran %v", x.Error, jsonLog)
	}
	if got := x.Policies[1]; got.Outcome != OutcomeApplied || got.Profiles[0].Executors[0].Outcome != OutcomeSkipped {
		t.Errorf("token request explanation = %+v", got)
	}
}

func TestLoadErrors(t *testing.T) {
	var log []string
	reg := registryWithFakeCIMD(t, &log)
	cases := []struct {
		name, json, want string
	}{
		{"unknown top-level member", `{"profiles":[],"policys":[]}`, `unknown field "policys"`},
		{"unknown policy member", `{"policies":[{"name":"a","enabled":true,"condtions":[]}]}`, `unknown field "condtions"`},
		{"unknown condition member", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"any-client","negate":true}]}]}`, `unknown field "negate"`},
		{"enabled missing", `{"policies":[{"name":"a","conditions":[]}]}`, `policies[0] "a": "enabled" is required`},
		{"trailing data", `{} {}`, "unexpected data"},
		{"not an object", `[]`, "cannot unmarshal"},
		{"unknown condition", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"client-id-url"}]}]}`,
			`policies[0] "a": conditions[0] "client-id-url": unknown condition "client-id-url"`},
		{"unknown executor", `{"profiles":[{"name":"p","executors":[{"executor":"pkce"}]}]}`,
			`profiles[0] "p": executors[0] "pkce": unknown executor "pkce"`},
		{"misspelt condition option", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"client-id-uri","configuration":{"client-id-uri-schemes":["https"]}}]}]}`,
			`policies[0] "a": conditions[0] "client-id-uri": configuration: json: unknown field "client-id-uri-schemes"`},
		{"bad condition option type", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"client-id-uri","configuration":{"client-id-uri-scheme":"https"}}]}]}`,
			`conditions[0] "client-id-uri": configuration: json: cannot unmarshal string`},
		{"bad domain pattern", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"client-id-uri","configuration":{"client-id-uri-allow-permitted-domains":["https://vscode.dev"]}}]}]}`,
			`client-id-uri-allow-permitted-domains: hostmatch: invalid pattern`},
		{"misspelt executor option", `{"profiles":[{"name":"p","executors":[{"executor":"client-id-metadata-document","configuration":{"cimd-allow-http":true}}]}]}`,
			`profiles[0] "p": executors[0] "client-id-metadata-document": json: unknown field "cimd-allow-http"`},
		{"unknown profile", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"any-client"}],"profiles":["nope"]}]}`,
			`unknown profile "nope"`},
		{"negation conflict", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"any-client","negative":true,"configuration":{"is-negative-logic":false}}]}]}`,
			`"negative" and "is-negative-logic" disagree`},
		{"negation not bool", `{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"any-client","configuration":{"is-negative-logic":1}}]}]}`,
			`"is-negative-logic" must be true or false`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Load(reg, []byte(c.json))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}

func TestLoadKeycloakNegativeLogic(t *testing.T) {
	var log []string
	reg := registryWithFakeCIMD(t, &log)
	for _, neg := range []string{`true`, `"true"`} {
		e, err := Load(reg, []byte(`{"profiles":[{"name":"p","executors":[{"executor":"client-id-metadata-document"}]}],
		  "policies":[{"name":"a","enabled":true,"profiles":["p"],"conditions":[{"condition":"client-id-uri","configuration":{
		    "is-negative-logic":`+neg+`,"client-id-uri-scheme":["https"],"client-id-uri-allow-permitted-domains":["vscode.dev"]}}]}]}`))
		if err != nil {
			t.Fatal(err)
		}
		log = nil
		if err := e.Evaluate(context.Background(), authzReq("https://vscode.dev/x")); err != nil || len(log) != 0 {
			t.Errorf("negated condition applied to a matching client_id: %v %v", err, log)
		}
		if err := e.Evaluate(context.Background(), authzReq("https://other.dev/x")); err != nil || len(log) != 1 {
			t.Errorf("negated condition did not apply to a non-matching client_id: %v %v", err, log)
		}
	}
}

func TestLoadDisabledPolicy(t *testing.T) {
	var log []string
	cfg := strings.Replace(seedConfig, `"enabled": true`, `"enabled": false`, 1)
	e, err := Load(registryWithFakeCIMD(t, &log), []byte(cfg))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Evaluate(context.Background(), authzReq("https://app.example.org/client")); err != nil || len(log) != 0 {
		t.Errorf("disabled policy ran: %v %v", err, log)
	}
	x := e.Explain(context.Background(), authzReq("https://app.example.org/client"))
	if x.Policies[0].Outcome != OutcomeDisabled {
		t.Errorf("outcome = %q", x.Policies[0].Outcome)
	}
}

func TestParseConfigRoundTrip(t *testing.T) {
	c, err := ParseConfig([]byte(seedConfig))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Profiles) != 2 || len(c.Policies) != 2 || !c.Policies[1].Enabled || c.Policies[1].Profiles[0] != "vscode-cimd-profile" {
		t.Fatalf("parsed %+v", c)
	}
	out, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ParseConfig(out); err != nil {
		t.Errorf("marshalled config does not parse back: %v", err)
	}
}
