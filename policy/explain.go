package policy

import (
	"context"
	"errors"
)

// Outcome is what happened to a policy, condition or executor during an
// explained evaluation.
type Outcome string

// Outcomes. Policies end up applied, not-applied, refused, error, disabled
// or not-evaluated; conditions match, no-match, error or not-evaluated;
// executors passed, refused, error, skipped or not-run.
const (
	OutcomeApplied      Outcome = "applied"       // policy: conditions held, executors passed
	OutcomeNotApplied   Outcome = "not-applied"   // policy: a condition did not hold (or none exist)
	OutcomeDisabled     Outcome = "disabled"      // policy: switched off
	OutcomeNotEvaluated Outcome = "not-evaluated" // policy or condition: evaluation stopped earlier
	OutcomeMatch        Outcome = "match"         // condition held (after negation)
	OutcomeNoMatch      Outcome = "no-match"      // condition did not hold (after negation)
	OutcomePassed       Outcome = "passed"        // executor let the request go on
	OutcomeRefused      Outcome = "refused"       // policy or executor refused the request
	OutcomeError        Outcome = "error"         // internal failure of a condition or executor
	OutcomeSkipped      Outcome = "skipped"       // executor does not react to this event
	OutcomeNotRun       Outcome = "not-run"       // executor not reached
)

// Explanation is the record of one explained evaluation, for debugging
// tools. It is JSON-serialisable. It names policies, profiles, condition and
// executor IDs and carries the conditions' reasons, which may quote parts of
// the request (such as the client_id host), but never secrets or the
// underlying Go errors.
type Explanation struct {
	// Event is the event's name.
	Event string `json:"event"`
	// Policies lists every policy, in declaration order.
	Policies []PolicyExplanation `json:"policies"`
	// Error is what Evaluate returns for the same request, nil if allowed.
	Error *Error `json:"error,omitempty"`
}

// PolicyExplanation is one policy's part of an [Explanation].
type PolicyExplanation struct {
	Name       string                 `json:"name"`
	Outcome    Outcome                `json:"outcome"`
	Reason     string                 `json:"reason,omitempty"`
	Conditions []ConditionExplanation `json:"conditions,omitempty"`
	Profiles   []ProfileExplanation   `json:"profiles,omitempty"`
}

// ConditionExplanation is one condition's part of a [PolicyExplanation].
// Reason comes from the condition's [Explainer], if it has one, and
// describes the condition's own verdict, before negation.
type ConditionExplanation struct {
	Condition string  `json:"condition"`
	Negative  bool    `json:"negative,omitempty"`
	Outcome   Outcome `json:"outcome"`
	Reason    string  `json:"reason,omitempty"`
}

// ProfileExplanation is one profile's part of a [PolicyExplanation].
type ProfileExplanation struct {
	Name      string                `json:"name"`
	Executors []ExecutorExplanation `json:"executors,omitempty"`
}

// ExecutorExplanation is one executor's part of a [ProfileExplanation].
type ExecutorExplanation struct {
	Executor string  `json:"executor"`
	Outcome  Outcome `json:"outcome"`
	Code     string  `json:"code,omitempty"`
	Reason   string  `json:"reason,omitempty"`
}

// Explain evaluates r exactly as [Engine.Evaluate] does — with the same
// side effects, since executors run for real — and records what happened
// to every policy, condition and executor. The returned explanation's
// Error is what Evaluate would have returned.
//
// Explain is meant for debugging tools; it allocates freely. Evaluate does
// not share its recording cost.
func (e *Engine) Explain(ctx context.Context, r *Request) *Explanation {
	x := &Explanation{Policies: []PolicyExplanation{}}
	if r != nil {
		x.Event = r.Event.String()
	}
	if r == nil || r.Event < EventRegistration || r.Event > EventRefresh {
		x.Error = badRequestError(r)
		return x
	}
	if e == nil {
		return x
	}
	bit := eventMask(1) << r.Event
	stopped := false
	for _, p := range e.policies {
		px := newPolicyExplanation(p)
		switch {
		case stopped:
			px.Outcome = OutcomeNotEvaluated
			px.Reason = "an earlier policy stopped the evaluation"
		case p.disabled:
			px.Outcome = OutcomeDisabled
		case len(p.conds) == 0:
			px.Outcome = OutcomeNotApplied
			px.Reason = "the policy has no conditions"
		case p.events&bit == 0:
			px.Outcome = OutcomeNotApplied
			px.Reason = "not all conditions react to " + r.Event.String()
			for i := range p.conds {
				if m, _ := maskOf(p.conds[i].cond); m&bit == 0 {
					px.Conditions[i].Outcome = OutcomeNoMatch
					px.Conditions[i].Reason = "does not react to " + r.Event.String()
				}
			}
		default:
			ok, err := p.match(ctx, r, &px)
			switch {
			case err != nil:
				px.Outcome = OutcomeError
				x.Error = asError(err)
				stopped = true
			case !ok:
				px.Outcome = OutcomeNotApplied
			default:
				if err := p.execute(ctx, r, &px); err != nil {
					px.Outcome = OutcomeRefused
					if executorFailed(&px) {
						px.Outcome = OutcomeError
					}
					x.Error = asError(err)
					stopped = true
				} else {
					px.Outcome = OutcomeApplied
				}
			}
		}
		x.Policies = append(x.Policies, px)
	}
	return x
}

func executorFailed(px *PolicyExplanation) bool {
	for _, prof := range px.Profiles {
		for _, ex := range prof.Executors {
			if ex.Outcome == OutcomeError {
				return true
			}
		}
	}
	return false
}

func asError(err error) *Error {
	var pe *Error
	if errors.As(err, &pe) {
		return pe
	}
	return &Error{Code: "server_error", Reason: "client policy evaluation failed", Err: err}
}

// newPolicyExplanation prepares the entries the evaluation fills in, each
// starting as not evaluated / not run.
func newPolicyExplanation(p *enginePolicy) PolicyExplanation {
	px := PolicyExplanation{Name: p.name}
	for _, c := range p.conds {
		px.Conditions = append(px.Conditions, ConditionExplanation{Condition: c.id, Negative: c.negative, Outcome: OutcomeNotEvaluated})
	}
	for _, prof := range p.profiles {
		pe := ProfileExplanation{Name: prof.name}
		for _, ex := range prof.execs {
			pe.Executors = append(pe.Executors, ExecutorExplanation{Executor: ex.id, Outcome: OutcomeNotRun})
		}
		px.Profiles = append(px.Profiles, pe)
	}
	return px
}
