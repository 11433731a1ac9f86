package policy

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

// recorder is a test executor that appends its name to a shared log and
// returns err.
type recorder struct {
	name   string
	log    *[]string
	err    error
	events []Event
}

func (x *recorder) Execute(_ context.Context, r *Request) error {
	*x.log = append(*x.log, x.name)
	return x.err
}

type filteredRecorder struct{ *recorder }

func (x filteredRecorder) Events() []Event { return x.events }

func matchIf(b bool) Condition {
	return ConditionFunc(func(context.Context, *Request) (bool, error) { return b, nil })
}

func authzReq(clientID string) *Request {
	return &Request{Event: EventAuthorizationRequest, ClientID: clientID, ResponseType: "code"}
}

func TestEngineOrderAndFirstErrorStops(t *testing.T) {
	var log []string
	refuse := &Error{Code: "invalid_request", Reason: "nope"}
	profiles := []Profile{
		{Name: "p1", Executors: []ExecutorSpec{
			{ID: "a", Executor: &recorder{name: "a", log: &log}},
			{ID: "b", Executor: &recorder{name: "b", log: &log}},
		}},
		{Name: "p2", Executors: []ExecutorSpec{
			{ID: "c", Executor: &recorder{name: "c", log: &log, err: refuse}},
			{ID: "d", Executor: &recorder{name: "d", log: &log}},
		}},
		{Name: "p3", Executors: []ExecutorSpec{
			{ID: "e", Executor: &recorder{name: "e", log: &log}},
		}},
	}
	policies := []Policy{
		{Name: "first", Conditions: []ConditionSpec{{ID: "yes", Condition: matchIf(true)}}, Profiles: []string{"p1", "p2"}},
		{Name: "second", Conditions: []ConditionSpec{{ID: "yes", Condition: matchIf(true)}}, Profiles: []string{"p3"}},
	}
	e, err := New(nil, profiles, policies)
	if err != nil {
		t.Fatal(err)
	}
	err = e.Evaluate(context.Background(), authzReq("x"))
	var pe *Error
	if !errors.As(err, &pe) {
		t.Fatalf("err = %v, want *Error", err)
	}
	if pe.Code != "invalid_request" || pe.Reason != "nope" || pe.Policy != "first" || pe.Profile != "p2" || pe.Executor != "c" {
		t.Errorf("error = %+v", pe)
	}
	if refuse.Policy != "" {
		t.Error("the executor's own *Error was modified")
	}
	if want := []string{"a", "b", "c"}; !reflect.DeepEqual(log, want) {
		t.Errorf("ran %v, want %v", log, want)
	}
}

func TestEngineNegationDisabledAndEmpty(t *testing.T) {
	var log []string
	profiles := []Profile{{Name: "p", Executors: []ExecutorSpec{{ID: "x", Executor: &recorder{name: "x", log: &log}}}}}
	cases := []struct {
		name   string
		policy Policy
		runs   bool
	}{
		{"match", Policy{Name: "n", Conditions: []ConditionSpec{{ID: "c", Condition: matchIf(true)}}, Profiles: []string{"p"}}, true},
		{"no match", Policy{Name: "n", Conditions: []ConditionSpec{{ID: "c", Condition: matchIf(false)}}, Profiles: []string{"p"}}, false},
		{"negated match", Policy{Name: "n", Conditions: []ConditionSpec{{ID: "c", Negative: true, Condition: matchIf(true)}}, Profiles: []string{"p"}}, false},
		{"negated no match", Policy{Name: "n", Conditions: []ConditionSpec{{ID: "c", Negative: true, Condition: matchIf(false)}}, Profiles: []string{"p"}}, true},
		{"all must match", Policy{Name: "n", Conditions: []ConditionSpec{{ID: "c", Condition: matchIf(true)}, {ID: "d", Condition: matchIf(false)}}, Profiles: []string{"p"}}, false},
		{"disabled", Policy{Name: "n", Disabled: true, Conditions: []ConditionSpec{{ID: "c", Condition: matchIf(true)}}, Profiles: []string{"p"}}, false},
		{"no conditions", Policy{Name: "n", Profiles: []string{"p"}}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			log = nil
			e, err := New(nil, profiles, []Policy{c.policy})
			if err != nil {
				t.Fatal(err)
			}
			if err := e.Evaluate(context.Background(), authzReq("x")); err != nil {
				t.Fatal(err)
			}
			if got := len(log) == 1; got != c.runs {
				t.Errorf("executor ran = %v, want %v", got, c.runs)
			}
		})
	}
}

func TestEngineWrapsInternalErrors(t *testing.T) {
	boom := errors.New("database password is hunter2")
	var log []string
	profiles := []Profile{{Name: "p", Executors: []ExecutorSpec{{ID: "x", Executor: &recorder{name: "x", log: &log, err: boom}}}}}
	e, err := New(nil, profiles, []Policy{{Name: "n", Conditions: []ConditionSpec{{ID: "c", Condition: matchIf(true)}}, Profiles: []string{"p"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Evaluate(context.Background(), authzReq("x"))
	var pe *Error
	if !errors.As(err, &pe) || pe.Code != "server_error" || pe.Executor != "x" || pe.Profile != "p" || pe.Policy != "n" {
		t.Fatalf("err = %#v", err)
	}
	if !errors.Is(err, boom) {
		t.Error("cause not kept in Err")
	}
	if strings.Contains(pe.Error(), "hunter2") {
		t.Error("internal error text leaked into the message")
	}

	condErr := context.Canceled
	e, err = New(nil, profiles, []Policy{{Name: "n", Conditions: []ConditionSpec{{ID: "c", Condition: ConditionFunc(func(context.Context, *Request) (bool, error) { return false, condErr })}}, Profiles: []string{"p"}}})
	if err != nil {
		t.Fatal(err)
	}
	err = e.Evaluate(context.Background(), authzReq("x"))
	if !errors.As(err, &pe) || pe.Code != "server_error" || pe.Policy != "n" || !errors.Is(err, context.Canceled) {
		t.Fatalf("condition error = %#v", err)
	}
}

func TestEngineEventFiltering(t *testing.T) {
	var log []string
	authzOnly := filteredRecorder{&recorder{name: "authz-only", log: &log, events: []Event{EventAuthorizationRequest}}}
	always := &recorder{name: "always", log: &log}
	profiles := []Profile{{Name: "p", Executors: []ExecutorSpec{{ID: "a", Executor: authzOnly}, {ID: "b", Executor: always}}}}
	e, err := New(nil, profiles, []Policy{{Name: "n", Conditions: []ConditionSpec{{ID: "any", Condition: NewAnyClient()}}, Profiles: []string{"p"}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ev   Event
		want []string
	}{
		{EventAuthorizationRequest, []string{"authz-only", "always"}},
		{EventTokenRequest, []string{"always"}},
		{EventRegistration, []string{"always"}},
	} {
		log = nil
		if err := e.Evaluate(context.Background(), &Request{Event: c.ev}); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(log, c.want) {
			t.Errorf("%v: ran %v, want %v", c.ev, log, c.want)
		}
	}

	// client-id-uri does not react to registration: its policy is not
	// considered there, even negated.
	cu, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"example.com"}})
	if err != nil {
		t.Fatal(err)
	}
	e, err = New(nil, profiles, []Policy{{Name: "n", Conditions: []ConditionSpec{{ID: ConditionClientIDURI, Negative: true, Condition: cu}}, Profiles: []string{"p"}}})
	if err != nil {
		t.Fatal(err)
	}
	log = nil
	if err := e.Evaluate(context.Background(), &Request{Event: EventRegistration}); err != nil || len(log) != 0 {
		t.Errorf("registration: err %v, ran %v", err, log)
	}
	if err := e.Evaluate(context.Background(), &Request{Event: EventTokenRequest, ClientID: "static"}); err != nil || len(log) != 1 {
		t.Errorf("token: err %v, ran %v", err, log)
	}
}

func TestEngineBadRequests(t *testing.T) {
	var nilEngine *Engine
	if err := nilEngine.Evaluate(context.Background(), authzReq("x")); err != nil {
		t.Errorf("nil engine: %v", err)
	}
	e, err := New(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	var pe *Error
	if err := e.Evaluate(context.Background(), nil); !errors.As(err, &pe) || pe.Code != "server_error" {
		t.Errorf("nil request: %v", err)
	}
	if err := e.Evaluate(context.Background(), &Request{}); !errors.As(err, &pe) || pe.Code != "server_error" {
		t.Errorf("zero event: %v", err)
	}
}

func TestNewValidation(t *testing.T) {
	yes := ConditionSpec{ID: "c", Condition: matchIf(true)}
	nop := ExecutorSpec{ID: "x", Executor: ExecutorFunc(func(context.Context, *Request) error { return nil })}
	cu, _ := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: []string{"a.test"}})
	regOnly := struct {
		Condition
		EventFilter
	}{matchIf(true), eventList{EventRegistration}}
	cases := []struct {
		name     string
		profiles []Profile
		policies []Policy
		want     string
	}{
		{"profile name", []Profile{{}}, nil, "profiles[0]: name is required"},
		{"duplicate profile", []Profile{{Name: "p"}, {Name: "p"}}, nil, `profiles[1] "p": duplicate profile name`},
		{"executor id", []Profile{{Name: "p", Executors: []ExecutorSpec{{Executor: nop.Executor}}}}, nil, "executors[0]: executor id is required"},
		{"policy name", nil, []Policy{{}}, "policies[0]: name is required"},
		{"duplicate policy", nil, []Policy{{Name: "a"}, {Name: "a"}}, `policies[1] "a": duplicate policy name`},
		{"unknown profile", []Profile{{Name: "p"}}, []Policy{{Name: "a", Profiles: []string{"q"}}}, `policies[0] "a": profiles[0]: unknown profile "q"`},
		{"profile twice", []Profile{{Name: "p"}}, []Policy{{Name: "a", Profiles: []string{"p", "p"}}}, `profile "p" listed twice`},
		{"condition id", nil, []Policy{{Name: "a", Conditions: []ConditionSpec{{Condition: yes.Condition}}}}, "conditions[0]: condition id is required"},
		{"unknown condition", nil, []Policy{{Name: "a", Conditions: []ConditionSpec{{ID: "nope"}}}}, `policies[0] "a": conditions[0] "nope": unknown condition "nope"`},
		{"unknown executor", []Profile{{Name: "p", Executors: []ExecutorSpec{{ID: "nope"}}}}, nil, `profiles[0] "p": executors[0] "nope": unknown executor "nope"`},
		{"disjoint events", nil, []Policy{{Name: "a", Conditions: []ConditionSpec{{ID: "u", Condition: cu}, {ID: "r", Condition: regOnly}}}}, "react to no common event"},
		{"both condition and config", nil, []Policy{{Name: "a", Conditions: []ConditionSpec{{ID: "c", Condition: yes.Condition, Configuration: json.RawMessage(`{"x":1}`)}}}}, "both Condition and Configuration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := New(NewRegistry(), c.profiles, c.policies)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := New(nil, []Profile{{Name: "p", Executors: []ExecutorSpec{nop}}}, []Policy{{Name: "a", Conditions: []ConditionSpec{yes}, Profiles: []string{"p"}}}); err != nil {
		t.Errorf("valid: %v", err)
	}
}

type eventList []Event

func (l eventList) Events() []Event { return l }

func TestRegistry(t *testing.T) {
	reg := NewRegistry()
	f := func(json.RawMessage) (Executor, error) {
		return ExecutorFunc(func(context.Context, *Request) error { return nil }), nil
	}
	if err := reg.RegisterExecutor(ExecutorClientIDMetadataDocument, f); err != nil {
		t.Fatal(err)
	}
	if err := reg.RegisterExecutor(ExecutorClientIDMetadataDocument, f); err == nil {
		t.Error("duplicate executor registration accepted")
	}
	if err := reg.RegisterCondition(ConditionClientIDURI, func(json.RawMessage) (Condition, error) { return NewAnyClient(), nil }); err == nil {
		t.Error("re-registering a built-in condition accepted")
	}
	if err := reg.RegisterCondition("", nil); err == nil {
		t.Error("empty id accepted")
	}
	if err := reg.RegisterCondition("x", nil); err == nil {
		t.Error("nil factory accepted")
	}
	for _, id := range []string{ConditionAnyClient, ConditionClientIDURI, ConditionClientKind, ConditionGrantType} {
		if !contains(reg.ConditionIDs(), id) {
			t.Errorf("built-in condition %q missing", id)
		}
	}
	if !contains(reg.ExecutorIDs(), ExecutorClientIDMetadataDocument) {
		t.Error("registered executor not listed")
	}
	// Registries are independent values.
	if contains(NewRegistry().ExecutorIDs(), ExecutorClientIDMetadataDocument) {
		t.Error("registration leaked into a new registry")
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestZeroRegistry(t *testing.T) {
	var reg Registry
	if len(reg.ConditionIDs()) != 0 || len(reg.ExecutorIDs()) != 0 {
		t.Fatal("zero registry is not empty")
	}
	if err := reg.RegisterCondition("always", func(json.RawMessage) (Condition, error) { return matchIf(true), nil }); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(&reg, []byte(`{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"always"}]}]}`)); err != nil {
		t.Errorf("load with the zero registry: %v", err)
	}
	if _, err := Load(&reg, []byte(`{"policies":[{"name":"a","enabled":true,"conditions":[{"condition":"any-client"}]}]}`)); err == nil {
		t.Error("zero registry knows the built-ins")
	}
}

// TestEvaluateConcurrent shares one engine between goroutines; run with
// -race.
func TestEvaluateConcurrent(t *testing.T) {
	pkce, err := Load(NewRegistry(), []byte(`{"profiles":[{"name":"p","executors":[{"executor":"pkce-enforcer"}]}],
	  "policies":[{"name":"a","enabled":true,"conditions":[{"condition":"client-id-uri","configuration":{"client-id-uri-scheme":["https"],"client-id-uri-allow-permitted-domains":["vscode.dev"]}}],"profiles":["p"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for i := range 8 {
		go func() {
			var err error
			for range 200 {
				r := authzReq("https://vscode.dev/x")
				if i%2 == 0 {
					r.CodeChallenge, r.CodeChallengeMethod = s256, "S256"
					err = pkce.Evaluate(context.Background(), r)
				} else if e := pkce.Evaluate(context.Background(), r); e == nil {
					err = errors.New("missing PKCE accepted")
				}
				if err != nil {
					break
				}
				_ = pkce.Explain(context.Background(), r)
			}
			done <- err
		}()
	}
	for range 8 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
}
