package policy

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestExplainSeed(t *testing.T) {
	var log []string
	e, err := Load(registryWithFakeCIMD(t, &log), []byte(seedConfig))
	if err != nil {
		t.Fatal(err)
	}
	x := e.Explain(context.Background(), authzReq("https://vscode.dev/oauth/client-metadata.json"))
	got, err := json.MarshalIndent(x, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := `{
  "event": "authorization-request",
  "policies": [
    {
      "name": "cimd-policy",
      "outcome": "not-applied",
      "conditions": [
        {
          "condition": "client-id-uri",
          "outcome": "no-match",
          "reason": "host \"vscode.dev\" matches no trusted domain"
        }
      ],
      "profiles": [
        {
          "name": "cimd-profile",
          "executors": [
            {
              "executor": "client-id-metadata-document",
              "outcome": "not-run"
            }
          ]
        }
      ]
    },
    {
      "name": "vscode-cimd-policy",
      "outcome": "applied",
      "conditions": [
        {
          "condition": "client-id-uri",
          "outcome": "match",
          "reason": "scheme \"https\" and host \"vscode.dev\" (trusted domain \"vscode.dev\") match"
        }
      ],
      "profiles": [
        {
          "name": "vscode-cimd-profile",
          "executors": [
            {
              "executor": "client-id-metadata-document",
              "outcome": "passed"
            }
          ]
        }
      ]
    }
  ]
}`
	if string(got) != want {
		t.Errorf("explanation:\n%s\nwant:\n%s", got, want)
	}
	if len(log) != 1 {
		t.Errorf("Explain must run executors like Evaluate; ran %v", log)
	}
}

func TestExplainRefusalAndStop(t *testing.T) {
	var log []string
	refusal := &Error{Code: "invalid_client", Reason: "not today"}
	profiles := []Profile{
		{Name: "p1", Executors: []ExecutorSpec{
			{ID: "ok", Executor: &recorder{name: "ok", log: &log}},
			{ID: "no", Executor: &recorder{name: "no", log: &log, err: refusal}},
			{ID: "after", Executor: &recorder{name: "after", log: &log}},
		}},
		{Name: "p2", Executors: []ExecutorSpec{{ID: "never", Executor: &recorder{name: "never", log: &log}}}},
	}
	policies := []Policy{
		{Name: "skipped", Conditions: []ConditionSpec{{ID: "grant", Condition: mustGrant(t, "client_credentials")}, {ID: "any", Condition: NewAnyClient()}}, Profiles: []string{"p2"}},
		{Name: "negated", Conditions: []ConditionSpec{{ID: ConditionAnyClient, Negative: true, Condition: NewAnyClient()}}, Profiles: []string{"p2"}},
		{Name: "off", Disabled: true, Conditions: []ConditionSpec{{ID: "any", Condition: NewAnyClient()}}, Profiles: []string{"p2"}},
		{Name: "empty", Profiles: []string{"p2"}},
		{Name: "refuser", Conditions: []ConditionSpec{{ID: "any", Condition: NewAnyClient()}}, Profiles: []string{"p1", "p2"}},
		{Name: "later", Conditions: []ConditionSpec{{ID: "any", Condition: NewAnyClient()}}, Profiles: []string{"p2"}},
	}
	e, err := New(nil, profiles, policies)
	if err != nil {
		t.Fatal(err)
	}
	x := e.Explain(context.Background(), authzReq("c"))
	evalErr := e.Evaluate(context.Background(), authzReq("c"))
	var pe *Error
	if !errors.As(evalErr, &pe) || x.Error == nil || *x.Error != *pe {
		t.Fatalf("Explain error %+v differs from Evaluate's %+v", x.Error, evalErr)
	}
	byName := map[string]PolicyExplanation{}
	for _, p := range x.Policies {
		byName[p.Name] = p
	}
	checks := []struct {
		policy  string
		outcome Outcome
	}{
		{"skipped", OutcomeNotApplied},
		{"negated", OutcomeNotApplied},
		{"off", OutcomeDisabled},
		{"empty", OutcomeNotApplied},
		{"refuser", OutcomeRefused},
		{"later", OutcomeNotEvaluated},
	}
	for _, c := range checks {
		if got := byName[c.policy].Outcome; got != c.outcome {
			t.Errorf("%s: outcome %q, want %q", c.policy, got, c.outcome)
		}
	}
	if c := byName["skipped"].Conditions; c[0].Outcome != OutcomeNoMatch || c[1].Outcome != OutcomeNotEvaluated || !strings.Contains(c[0].Reason, "client_credentials") && !strings.Contains(c[0].Reason, "authorization_code") {
		t.Errorf("skipped conditions = %+v", c)
	}
	if c := byName["negated"].Conditions[0]; !c.Negative || c.Outcome != OutcomeNoMatch || c.Reason != "matches every client" {
		t.Errorf("negated condition = %+v", c)
	}
	if r := byName["empty"].Reason; r != "the policy has no conditions" {
		t.Errorf("empty reason = %q", r)
	}
	ex := byName["refuser"].Profiles
	if ex[0].Executors[0].Outcome != OutcomePassed || ex[0].Executors[1].Outcome != OutcomeRefused ||
		ex[0].Executors[1].Code != "invalid_client" || ex[0].Executors[1].Reason != "not today" ||
		ex[0].Executors[2].Outcome != OutcomeNotRun || ex[1].Executors[0].Outcome != OutcomeNotRun {
		t.Errorf("refuser executors = %+v", ex)
	}
	if _, err := json.Marshal(x); err != nil {
		t.Errorf("explanation is not JSON-serialisable: %v", err)
	}

	// At the registration event, grant-type does not react: the policy is
	// not considered and the explanation says why.
	x = e.Explain(context.Background(), &Request{Event: EventRegistration})
	if p := x.Policies[0]; p.Outcome != OutcomeNotApplied || !strings.Contains(p.Reason, "registration") ||
		p.Conditions[0].Outcome != OutcomeNoMatch || p.Conditions[1].Outcome != OutcomeNotEvaluated {
		t.Errorf("registration explanation = %+v", p)
	}
}

func TestExplainErrors(t *testing.T) {
	boom := errors.New("boom")
	e, err := New(nil,
		[]Profile{{Name: "p", Executors: []ExecutorSpec{{ID: "x", Executor: ExecutorFunc(func(context.Context, *Request) error { return boom })}}}},
		[]Policy{{Name: "a", Conditions: []ConditionSpec{{ID: "any", Condition: NewAnyClient()}}, Profiles: []string{"p"}}})
	if err != nil {
		t.Fatal(err)
	}
	x := e.Explain(context.Background(), authzReq("c"))
	if x.Policies[0].Outcome != OutcomeError || x.Policies[0].Profiles[0].Executors[0].Outcome != OutcomeError || x.Error.Code != "server_error" {
		t.Errorf("executor failure explanation = %+v", x)
	}
	b, _ := json.Marshal(x)
	if strings.Contains(string(b), "boom") {
		t.Errorf("explanation leaks the internal error: %s", b)
	}

	e, err = New(nil, nil, []Policy{{Name: "a", Conditions: []ConditionSpec{{ID: "c", Condition: ConditionFunc(func(context.Context, *Request) (bool, error) { return false, boom })}}}})
	if err != nil {
		t.Fatal(err)
	}
	x = e.Explain(context.Background(), authzReq("c"))
	if x.Policies[0].Outcome != OutcomeError || x.Policies[0].Conditions[0].Outcome != OutcomeError || !errors.Is(x.Error, boom) {
		t.Errorf("condition failure explanation = %+v", x)
	}

	if x := e.Explain(context.Background(), nil); x.Error == nil || x.Error.Code != "server_error" {
		t.Errorf("nil request: %+v", x)
	}
	var nilEngine *Engine
	if x := nilEngine.Explain(context.Background(), authzReq("c")); x.Error != nil || len(x.Policies) != 0 || x.Event != "authorization-request" {
		t.Errorf("nil engine: %+v", x)
	}
}

func mustGrant(t *testing.T, g string) Condition {
	t.Helper()
	c, err := NewGrantType(GrantTypeConfig{GrantTypes: []string{g}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestEventText(t *testing.T) {
	for e := EventRegistration; e <= EventRefresh; e++ {
		b, err := e.MarshalText()
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := back.UnmarshalText(b); err != nil || back != e {
			t.Errorf("%v: round trip %q -> %v, %v", e, b, back, err)
		}
	}
	if _, err := Event(0).MarshalText(); err == nil {
		t.Error("zero event marshalled")
	}
	if _, err := ParseEvent("authorization"); err == nil {
		t.Error("unknown event name parsed")
	}
}
