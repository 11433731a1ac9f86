package policy

import (
	"context"
	"fmt"
	"net/http"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// Event is the point in the protocol at which policies are evaluated.
type Event int

const (
	// EventRegistration is a dynamic client registration (RFC 7591).
	EventRegistration Event = iota + 1
	// EventAuthorizationRequest is an authorization request, evaluated
	// before the client is looked up so that an executor can resolve it.
	EventAuthorizationRequest
	// EventTokenRequest is a token request other than a refresh.
	EventTokenRequest
	// EventRefresh is a refresh_token grant.
	EventRefresh
)

// String returns the event's JSON name.
func (e Event) String() string {
	switch e {
	case EventRegistration:
		return "registration"
	case EventAuthorizationRequest:
		return "authorization-request"
	case EventTokenRequest:
		return "token-request"
	case EventRefresh:
		return "refresh"
	}
	return "unknown"
}

// ParseEvent returns the Event whose String form is name.
func ParseEvent(name string) (Event, error) {
	for e := EventRegistration; e <= EventRefresh; e++ {
		if e.String() == name {
			return e, nil
		}
	}
	return 0, fmt.Errorf("policy: unknown event %q", name)
}

// MarshalText encodes the event as its String form, so that explanations
// and configurations read "authorization-request" rather than a number.
func (e Event) MarshalText() ([]byte, error) {
	if e < EventRegistration || e > EventRefresh {
		return nil, fmt.Errorf("policy: unknown event %d", int(e))
	}
	return []byte(e.String()), nil
}

// UnmarshalText decodes an event from its String form.
func (e *Event) UnmarshalText(b []byte) error {
	v, err := ParseEvent(string(b))
	if err != nil {
		return err
	}
	*e = v
	return nil
}

// Request is what flows through the policies at an event. Executors may
// change Client (resolving it) and the fields they enforce. A Request
// belongs to one evaluation at a time: do not pass the same *Request to
// concurrent Evaluate or Explain calls.
type Request struct {
	// Event is where in the protocol the evaluation happens.
	Event Event
	// ClientID is the client_id parameter as received.
	ClientID string
	// Client is the resolved client; nil until looked up or resolved.
	Client *storage.Client
	// Registration is the registration body at EventRegistration.
	Registration *metadata.Client
	// RedirectURI is the redirect_uri parameter, if any.
	RedirectURI string
	// Scopes are the requested scopes.
	Scopes []string
	// Resources are the requested RFC 8707 resource indicators.
	Resources []string
	// GrantType is the grant_type at token events.
	GrantType string
	// ResponseType is the response_type at EventAuthorizationRequest.
	ResponseType string
	// CodeChallenge and CodeChallengeMethod are the PKCE parameters.
	CodeChallenge       string
	CodeChallengeMethod string
	// HTTP is the underlying HTTP request (read-only; do not consume Body).
	HTTP *http.Request

	// clientIDMemo caches the split of ClientID for the conditions of one
	// evaluation, so that ten client-id-uri conditions parse it once.
	clientIDMemo uriMemo
}

// uriMemo is a cached splitURI result, valid while for equals the string
// that was split.
type uriMemo struct {
	set   bool
	ok    bool
	key   string
	parts uriParts
}

// clientIDParts returns splitURI(r.ClientID), computing it at most once
// per client_id value. A Request is not safe for concurrent evaluations
// (executors may change it anyway), so the memo needs no lock.
func (r *Request) clientIDParts() (uriParts, bool) {
	m := &r.clientIDMemo
	if m.set && m.key == r.ClientID {
		return m.parts, m.ok
	}
	p, ok := splitURI(r.ClientID)
	*m = uriMemo{set: true, ok: ok, key: r.ClientID, parts: p}
	return p, ok
}

// Condition decides whether a policy applies to a request.
//
// Match must not modify r and should not allocate when it does not match:
// every enabled policy's conditions run on every request at its events.
type Condition interface {
	// Match reports whether the condition holds. An error aborts the
	// evaluation (it is not the same as "does not match"): the engine
	// returns it as a *[Error] with Code "server_error".
	Match(ctx context.Context, r *Request) (bool, error)
}

// ConditionFunc adapts a function to a Condition.
type ConditionFunc func(ctx context.Context, r *Request) (bool, error)

// Match calls f.
func (f ConditionFunc) Match(ctx context.Context, r *Request) (bool, error) { return f(ctx, r) }

// Executor runs when its policy applies. It returns nil to let the request
// go on, or an error, normally a *[Error], to refuse it. It may modify r, for
// example to set r.Client.
type Executor interface {
	Execute(ctx context.Context, r *Request) error
}

// ExecutorFunc adapts a function to an Executor.
type ExecutorFunc func(ctx context.Context, r *Request) error

// Execute calls f.
func (f ExecutorFunc) Execute(ctx context.Context, r *Request) error { return f(ctx, r) }

// Error is a refusal by an executor: an OAuth error code and a reason meant
// for logs and error_description. Policy and Executor are filled in by the
// evaluator.
//
// The JSON form (used in an [Explanation]) carries everything but Err.
type Error struct {
	// Code is the OAuth error code, such as "invalid_request",
	// "invalid_client", "invalid_target" or "invalid_client_metadata";
	// "server_error" when a condition or executor failed internally.
	Code string `json:"code"`
	// Reason explains the refusal in one sentence. It may reach the
	// client as error_description, so executors should write it with the
	// characters RFC 6749 §5.2 allows there (printable ASCII except '"'
	// and backslash) and without echoing request values or internal details.
	Reason string `json:"reason"`
	// Policy and Profile name the policy and profile that refused.
	Policy  string `json:"policy,omitempty"`
	Profile string `json:"profile,omitempty"`
	// Executor is the executor ID that refused.
	Executor string `json:"executor,omitempty"`
	// Err is the underlying cause, if any (for example a *cimd.Error).
	Err error `json:"-"`
}

func (e *Error) Error() string {
	s := e.Code + ": " + e.Reason
	if e.Policy != "" {
		s += " (policy " + e.Policy
		if e.Executor != "" {
			s += ", executor " + e.Executor
		}
		s += ")"
	}
	return s
}

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }
