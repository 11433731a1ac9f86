package policy

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// A refusal may reach the client as error_description (see Error.Reason),
// so executors must not echo request values: a long, hostile scheme in a
// redirect URI must not come back, nor may a refused resource or a client's
// code_challenge.
func TestReasonsDoNotEchoRequestValues(t *testing.T) {
	scheme := "com.evil." + strings.Repeat("x", 8000)
	strict := NewSecureRedirectURIs(SecureRedirectURIsConfig{DenyPrivateUseSchemes: true})
	allow, err := NewResourceAllowList(ResourceAllowListConfig{Resources: []string{"https://h.example/mcp"}})
	if err != nil {
		t.Fatal(err)
	}
	hostile := "https://evil.example/" + strings.Repeat("r", 8000)
	for name, c := range map[string]struct {
		ex   Executor
		r    *Request
		echo string
	}{
		"private-use scheme": {strict, &Request{Event: EventAuthorizationRequest, RedirectURI: scheme + ":/cb"}, scheme[:40]},
		"resource":           {allow, &Request{Event: EventTokenRequest, Resources: []string{hostile}}, hostile[:40]},
		"code_challenge":     {NewPKCEEnforcer(PKCEEnforcerConfig{}), &Request{Event: EventAuthorizationRequest, CodeChallenge: hostile, CodeChallengeMethod: "S256"}, hostile[:40]},
	} {
		t.Run(name, func(t *testing.T) {
			err := c.ex.Execute(context.Background(), c.r)
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("not refused: %v", err)
			}
			if strings.Contains(pe.Reason, c.echo) || len(pe.Reason) > 200 {
				t.Fatalf("reason echoes the request: %.120q", pe.Reason)
			}
		})
	}
}

// ParseConfig is meant for operator files, but it still refuses absurd
// nesting cleanly (encoding/json's bound) rather than exhausting the stack.
func TestParseConfigNesting(t *testing.T) {
	deep := `{"profiles":[{"name":"p","executors":[{"executor":"pkce-enforcer","configuration":` +
		strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000) + `}]}]}`
	if _, err := ParseConfig([]byte(deep)); err == nil {
		t.Fatal("20 000 levels of nesting accepted")
	}
}
