package policy

import (
	"context"
	"testing"
)

type eventsOnly struct {
	Executor
	events []Event
}

func (x eventsOnly) Events() []Event { return x.events }

func TestHasExecutor(t *testing.T) {
	nop := ExecutorFunc(func(context.Context, *Request) error { return nil })
	yes := []ConditionSpec{{ID: "yes", Condition: matchIf(true)}}
	regOnly := eventsOnly{Executor: nop, events: []Event{EventRegistration}}
	authzOnly := []ConditionSpec{{ID: "authz", Condition: eventsCond{events: []Event{EventAuthorizationRequest}}}}
	profiles := []Profile{
		{Name: "cimd", Executors: []ExecutorSpec{{ID: "pkce", Executor: nop}, {ID: ExecutorClientIDMetadataDocument, Executor: nop}}},
		{Name: "reg", Executors: []ExecutorSpec{{ID: "reg-only", Executor: regOnly}}},
		{Name: "other", Executors: []ExecutorSpec{{ID: "other", Executor: nop}}},
	}
	tests := []struct {
		name     string
		policies []Policy
		id       string
		want     bool
	}{
		{"enabled policy", []Policy{{Name: "p", Conditions: yes, Profiles: []string{"cimd"}}}, ExecutorClientIDMetadataDocument, true},
		{"second executor of a profile", []Policy{{Name: "p", Conditions: yes, Profiles: []string{"other", "cimd"}}}, "pkce", true},
		{"not listed", []Policy{{Name: "p", Conditions: yes, Profiles: []string{"other"}}}, ExecutorClientIDMetadataDocument, false},
		{"profile defined but unused", []Policy{{Name: "p", Conditions: yes, Profiles: []string{"other"}}}, "pkce", false},
		{"disabled policy", []Policy{{Name: "p", Disabled: true, Conditions: yes, Profiles: []string{"cimd"}}}, ExecutorClientIDMetadataDocument, false},
		{"policy without conditions never applies", []Policy{{Name: "p", Profiles: []string{"cimd"}}}, ExecutorClientIDMetadataDocument, false},
		{"executor reacts to none of the policy's events", []Policy{{Name: "p", Conditions: authzOnly, Profiles: []string{"reg"}}}, "reg-only", false},
		{"executor shares an event", []Policy{{Name: "p", Conditions: yes, Profiles: []string{"reg"}}}, "reg-only", true},
		{"one of several policies", []Policy{
			{Name: "off", Disabled: true, Conditions: yes, Profiles: []string{"other"}},
			{Name: "on", Conditions: yes, Profiles: []string{"cimd"}},
		}, ExecutorClientIDMetadataDocument, true},
		{"empty id", []Policy{{Name: "p", Conditions: yes, Profiles: []string{"cimd"}}}, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(nil, profiles, tt.policies)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.HasExecutor(tt.id); got != tt.want {
				t.Fatalf("HasExecutor(%q) = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
	var nilEngine *Engine
	if nilEngine.HasExecutor(ExecutorClientIDMetadataDocument) {
		t.Fatal("a nil engine has executors")
	}
}

type eventsCond struct{ events []Event }

func (c eventsCond) Match(context.Context, *Request) (bool, error) { return true, nil }
func (c eventsCond) Events() []Event                               { return c.events }
