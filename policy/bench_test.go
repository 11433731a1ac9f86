package policy

import (
	"context"
	"fmt"
	"testing"
)

// tenPolicies builds ten client-id-uri policies for different trusted
// domains, each also requiring a client kind. When oneMatches is set, the
// last one trusts vscode.dev and runs a trivial executor.
func tenPolicies(tb testing.TB, oneMatches bool) *Engine {
	tb.Helper()
	nop := ExecutorFunc(func(context.Context, *Request) error { return nil })
	profiles := []Profile{{Name: "p", Executors: []ExecutorSpec{{ID: "nop", Executor: nop}}}}
	var policies []Policy
	for i := range 10 {
		domains := []string{fmt.Sprintf("*.tenant%d.example", i), fmt.Sprintf("app%d.example.net", i)}
		if oneMatches && i == 9 {
			domains = []string{"vscode.dev"}
		}
		uri, err := NewClientIDURI(ClientIDURIConfig{Schemes: []string{"https"}, Domains: domains})
		if err != nil {
			tb.Fatal(err)
		}
		kind, err := NewClientKind(ClientKindConfig{Kinds: []string{"metadata-document"}})
		if err != nil {
			tb.Fatal(err)
		}
		policies = append(policies, Policy{
			Name:       fmt.Sprintf("policy-%d", i),
			Conditions: []ConditionSpec{{ID: ConditionClientIDURI, Condition: uri}, {ID: ConditionClientKind, Condition: kind}},
			Profiles:   []string{"p"},
		})
	}
	e, err := New(nil, profiles, policies)
	if err != nil {
		tb.Fatal(err)
	}
	return e
}

var benchRequest = Request{
	Event:        EventAuthorizationRequest,
	ClientID:     "https://vscode.dev/oauth/client-metadata.json",
	ResponseType: "code",
	RedirectURI:  "http://127.0.0.1:33418/",
}

func BenchmarkEvaluate10Policies(b *testing.B) {
	ctx := context.Background()
	for _, c := range []struct {
		name       string
		oneMatches bool
		clientID   string
	}{
		{"none-match/url-client", false, benchRequest.ClientID},
		{"none-match/plain-client", false, "my-static-client"},
		{"one-matches", true, benchRequest.ClientID},
	} {
		b.Run(c.name, func(b *testing.B) {
			e := tenPolicies(b, c.oneMatches)
			r := benchRequest
			r.ClientID = c.clientID
			b.ReportAllocs()
			for b.Loop() {
				if err := e.Evaluate(ctx, &r); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func TestEvaluateAllocations(t *testing.T) {
	ctx := context.Background()
	none := tenPolicies(t, false)
	one := tenPolicies(t, true)
	r := benchRequest
	if n := testing.AllocsPerRun(100, func() { _ = none.Evaluate(ctx, &r) }); n != 0 {
		t.Errorf("no policy matching: %v allocations, want 0", n)
	}
	// One match costs the net/url confirmation of the client_id.
	if n := testing.AllocsPerRun(100, func() { _ = one.Evaluate(ctx, &r) }); n > 2 {
		t.Errorf("one policy matching: %v allocations, want at most 2", n)
	}
}
