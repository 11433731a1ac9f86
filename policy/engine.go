package policy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// EventFilter is implemented by conditions and executors that only react
// to some events. A condition that does not react to an event does not
// match at it; an executor that does not react to an event is skipped at
// it. Conditions and executors without this method react to every event.
//
// The engine reads Events once, when it is built, and indexes policies by
// event, so that a request only pays for the policies that can apply to it.
type EventFilter interface {
	Events() []Event
}

// Explainer is implemented by conditions that can say why they matched or
// not. [Engine.Explain] calls Explain instead of Match; [Engine.Evaluate]
// never does. Explain must return the same verdict and error as Match.
type Explainer interface {
	Condition
	Explain(ctx context.Context, r *Request) (matched bool, reason string, err error)
}

// Policy is the Go form of a client policy. It applies to a request when it
// is enabled, it has at least one condition, and every condition matches
// (after negation). When it applies, its profiles run in order.
//
// A policy with no conditions never applies, as in Keycloak: an empty
// condition list is far more often an unfinished policy than a deliberate
// "match everything" (use the any-client condition for that).
type Policy struct {
	// Name identifies the policy in errors and explanations; unique.
	Name string
	// Description is free text for operators.
	Description string
	// Disabled switches the policy off. The zero value is enabled, so that
	// a policy written in Go is enforced unless explicitly turned off. (The
	// JSON form uses Keycloak's "enabled" member, which is required.)
	Disabled bool
	// Conditions must all match for the policy to apply.
	Conditions []ConditionSpec
	// Profiles names the profiles to run, in order.
	Profiles []string
}

// ConditionSpec is one condition of a [Policy].
type ConditionSpec struct {
	// ID is the condition type, such as "client-id-uri".
	ID string
	// Negative inverts the condition's result (Keycloak's "negative
	// logic" switch). It inverts match and no-match only; a condition
	// that does not react to the event still does not match.
	Negative bool
	// Condition is the condition itself. When nil, it is built from ID and
	// Configuration by the registry passed to [New].
	Condition Condition
	// Configuration is the JSON configuration used when Condition is nil.
	Configuration json.RawMessage
}

// Profile is the Go form of a client profile: a named, ordered list of
// executors.
type Profile struct {
	// Name identifies the profile; unique.
	Name string
	// Description is free text for operators.
	Description string
	// Executors run in order; the first refusal stops the evaluation.
	Executors []ExecutorSpec
}

// ExecutorSpec is one executor of a [Profile].
type ExecutorSpec struct {
	// ID is the executor type, such as "pkce-enforcer".
	ID string
	// Executor is the executor itself. When nil, it is built from ID and
	// Configuration by the registry passed to [New].
	Executor Executor
	// Configuration is the JSON configuration used when Executor is nil.
	Configuration json.RawMessage
}

// eventMask has bit 1<<e set for every event e something reacts to.
type eventMask uint8

const (
	numEvents = int(EventRefresh) + 1
	allEvents = eventMask(1<<EventRegistration | 1<<EventAuthorizationRequest | 1<<EventTokenRequest | 1<<EventRefresh)
)

func maskOf(v any) (eventMask, error) {
	f, ok := v.(EventFilter)
	if !ok {
		return allEvents, nil
	}
	var m eventMask
	for _, e := range f.Events() {
		if e < EventRegistration || e > EventRefresh {
			return 0, fmt.Errorf("declares unknown event %d", int(e))
		}
		m |= 1 << e
	}
	return m, nil
}

type engineCondition struct {
	id        string
	negative  bool
	cond      Condition
	explainer Explainer
}

type engineExecutor struct {
	id     string
	exec   Executor
	events eventMask
}

type engineProfile struct {
	name  string
	execs []engineExecutor
}

type enginePolicy struct {
	name     string
	disabled bool
	events   eventMask
	conds    []engineCondition
	profiles []*engineProfile
}

// Engine evaluates a fixed set of policies. It is built once by [New] or
// [Load], is immutable afterwards and is safe for concurrent use. A nil
// *Engine has no policies: Evaluate returns nil.
type Engine struct {
	policies []*enginePolicy
	byEvent  [numEvents][]*enginePolicy
}

// New builds an engine from profiles and policies written in Go. Specs
// whose Condition or Executor is nil are built from their ID and
// Configuration by reg, which may be nil when every spec is prebuilt.
//
// New checks that names are present and unique, that every referenced
// profile exists (and is referenced once per policy), that every condition
// and executor exists and accepts its configuration, and that an enabled
// policy's conditions have at least one event in common (otherwise it
// could never apply). Errors name the offending policy or profile and the
// index of the condition or executor.
func New(reg *Registry, profiles []Profile, policies []Policy) (*Engine, error) {
	e := &Engine{}
	byName := make(map[string]*engineProfile, len(profiles))
	for i, p := range profiles {
		where := fmt.Sprintf("profiles[%d] %q", i, p.Name)
		if p.Name == "" {
			return nil, fmt.Errorf("policy: profiles[%d]: name is required", i)
		}
		if _, dup := byName[p.Name]; dup {
			return nil, fmt.Errorf("policy: %s: duplicate profile name", where)
		}
		ep := &engineProfile{name: p.Name, execs: make([]engineExecutor, 0, len(p.Executors))}
		for j, s := range p.Executors {
			ewhere := fmt.Sprintf("%s: executors[%d] %q", where, j, s.ID)
			if s.ID == "" {
				return nil, fmt.Errorf("policy: %s: executors[%d]: executor id is required", where, j)
			}
			x := s.Executor
			if x == nil {
				var err error
				if x, err = reg.newExecutor(s.ID, s.Configuration); err != nil {
					return nil, fmt.Errorf("policy: %s: %w", ewhere, err)
				}
			} else if len(normaliseConfig(s.Configuration)) > 0 {
				return nil, fmt.Errorf("policy: %s: both Executor and Configuration are set", ewhere)
			}
			m, err := maskOf(x)
			if err != nil {
				return nil, fmt.Errorf("policy: %s: %w", ewhere, err)
			}
			ep.execs = append(ep.execs, engineExecutor{id: s.ID, exec: x, events: m})
		}
		byName[p.Name] = ep
	}

	seen := make(map[string]bool, len(policies))
	for i, p := range policies {
		where := fmt.Sprintf("policies[%d] %q", i, p.Name)
		if p.Name == "" {
			return nil, fmt.Errorf("policy: policies[%d]: name is required", i)
		}
		if seen[p.Name] {
			return nil, fmt.Errorf("policy: %s: duplicate policy name", where)
		}
		seen[p.Name] = true
		ep := &enginePolicy{name: p.Name, disabled: p.Disabled, events: allEvents}
		for j, s := range p.Conditions {
			cwhere := fmt.Sprintf("%s: conditions[%d] %q", where, j, s.ID)
			if s.ID == "" {
				return nil, fmt.Errorf("policy: %s: conditions[%d]: condition id is required", where, j)
			}
			c := s.Condition
			if c == nil {
				var err error
				if c, err = reg.newCondition(s.ID, s.Configuration); err != nil {
					return nil, fmt.Errorf("policy: %s: %w", cwhere, err)
				}
			} else if len(normaliseConfig(s.Configuration)) > 0 {
				return nil, fmt.Errorf("policy: %s: both Condition and Configuration are set", cwhere)
			}
			m, err := maskOf(c)
			if err != nil {
				return nil, fmt.Errorf("policy: %s: %w", cwhere, err)
			}
			ep.events &= m
			ec := engineCondition{id: s.ID, negative: s.Negative, cond: c}
			ec.explainer, _ = c.(Explainer)
			ep.conds = append(ep.conds, ec)
		}
		if len(ep.conds) == 0 {
			ep.events = 0
		} else if ep.events == 0 && !p.Disabled {
			return nil, fmt.Errorf("policy: %s: its conditions react to no common event, so it could never apply", where)
		}
		used := make(map[string]bool, len(p.Profiles))
		for j, name := range p.Profiles {
			prof, ok := byName[name]
			if !ok {
				return nil, fmt.Errorf("policy: %s: profiles[%d]: unknown profile %q", where, j, name)
			}
			if used[name] {
				return nil, fmt.Errorf("policy: %s: profiles[%d]: profile %q listed twice", where, j, name)
			}
			used[name] = true
			ep.profiles = append(ep.profiles, prof)
		}
		e.policies = append(e.policies, ep)
		if p.Disabled {
			continue
		}
		for ev := EventRegistration; ev <= EventRefresh; ev++ {
			if ep.events&(1<<ev) != 0 {
				e.byEvent[ev] = append(e.byEvent[ev], ep)
			}
		}
	}
	return e, nil
}

// Evaluate runs the enabled policies that react to r.Event, in declaration
// order. For each policy whose conditions all match, the executors of its
// profiles run in order. The first refusal stops the evaluation and is
// returned as a *[Error] with Policy, Profile and Executor set:
//
//   - an executor's *Error (found with errors.As) keeps its Code and
//     Reason;
//   - any other executor error, and any condition error, is an internal
//     failure: Code "server_error", a generic Reason that leaks nothing,
//     and the original error in Err (so errors.Is(err, context.Canceled)
//     still works). Executors refuse requests with a *Error; a plain
//     error means they could not decide.
//
// Executors may modify r (for example set r.Client); later policies see the
// change. Evaluate does not allocate unless a policy applies or fails.
func (e *Engine) Evaluate(ctx context.Context, r *Request) error {
	if e == nil {
		return nil
	}
	if r == nil || r.Event < EventRegistration || r.Event > EventRefresh {
		return badRequestError(r)
	}
	for _, p := range e.byEvent[r.Event] {
		ok, err := p.match(ctx, r, nil)
		if err != nil {
			return err
		}
		if ok {
			if err := p.execute(ctx, r, nil); err != nil {
				return err
			}
		}
	}
	return nil
}

func badRequestError(r *Request) *Error {
	if r == nil {
		return &Error{Code: "server_error", Reason: "no policy request given"}
	}
	return &Error{Code: "server_error", Reason: fmt.Sprintf("unknown policy event %d", int(r.Event))}
}

// match evaluates the conditions in order and stops at the first that does
// not hold. x, when not nil, receives one entry per condition.
func (p *enginePolicy) match(ctx context.Context, r *Request, x *PolicyExplanation) (bool, error) {
	for i := range p.conds {
		c := &p.conds[i]
		var (
			ok     bool
			reason string
			err    error
		)
		if x != nil && c.explainer != nil {
			ok, reason, err = c.explainer.Explain(ctx, r)
		} else {
			ok, err = c.cond.Match(ctx, r)
		}
		if err != nil {
			perr := &Error{Code: "server_error", Reason: "condition " + c.id + " could not be evaluated", Policy: p.name, Err: err}
			if x != nil {
				x.Conditions[i].Outcome = OutcomeError
				x.Conditions[i].Reason = perr.Reason
			}
			return false, perr
		}
		if c.negative {
			ok = !ok
		}
		if x != nil {
			x.Conditions[i].Reason = reason
			if ok {
				x.Conditions[i].Outcome = OutcomeMatch
			} else {
				x.Conditions[i].Outcome = OutcomeNoMatch
			}
		}
		if !ok {
			return false, nil
		}
	}
	return true, nil
}

// execute runs the profiles' executors that react to r.Event. x, when not
// nil, receives one entry per executor.
func (p *enginePolicy) execute(ctx context.Context, r *Request, x *PolicyExplanation) error {
	bit := eventMask(1) << r.Event
	for pi, prof := range p.profiles {
		for i := range prof.execs {
			ex := &prof.execs[i]
			if ex.events&bit == 0 {
				if x != nil {
					x.Profiles[pi].Executors[i].Outcome = OutcomeSkipped
					x.Profiles[pi].Executors[i].Reason = "does not react to " + r.Event.String()
				}
				continue
			}
			err := ex.exec.Execute(ctx, r)
			if err == nil {
				if x != nil {
					x.Profiles[pi].Executors[i].Outcome = OutcomePassed
				}
				continue
			}
			perr, internal := wrapExecutorError(err, p.name, prof.name, ex.id)
			if x != nil {
				xe := &x.Profiles[pi].Executors[i]
				xe.Outcome = OutcomeRefused
				if internal {
					xe.Outcome = OutcomeError
				}
				xe.Code = perr.Code
				xe.Reason = perr.Reason
			}
			return perr
		}
	}
	return nil
}

// wrapExecutorError turns an executor's error into a fresh *Error naming
// where it came from, and reports whether it was an internal failure rather
// than a refusal. The executor's own *Error is copied rather than changed,
// since it may be a shared value.
func wrapExecutorError(err error, policy, profile, executor string) (*Error, bool) {
	var pe *Error
	if errors.As(err, &pe) && pe != nil {
		out := *pe
		if out.Code == "" {
			out.Code = "invalid_request"
		}
		if out.Reason == "" {
			out.Reason = "refused by client policy"
		}
		out.Policy, out.Profile, out.Executor = policy, profile, executor
		return &out, false
	}
	return &Error{
		Code:     "server_error",
		Reason:   "executor " + executor + " could not complete",
		Policy:   policy,
		Profile:  profile,
		Executor: executor,
		Err:      err,
	}, true
}
