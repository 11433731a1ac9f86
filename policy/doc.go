// Package policy implements client policies: conditions that decide whether
// a policy applies to a request, and profiles of executors that then check,
// enforce or resolve things about the client. The model is Keycloak's
// client policies, which the seed guide configures through the admin
// console; here it is configured in Go or in JSON, with identical results.
//
// # Model
//
// A [Policy] has a name, an enabled switch, conditions and the names of the
// [Profile]s it runs. It applies to a request when it is enabled, has at
// least one condition, and every condition matches; a condition may be
// negated. A policy with no conditions never applies (as in Keycloak): use
// the any-client condition to mean "everyone". A profile is a named,
// ordered list of executors. When a policy applies, its profiles run their
// executors in order; the first refusal stops the whole evaluation and is
// returned as a *[Error] naming the policy, profile and executor.
//
// Policies are evaluated at four events ([Event]): registration, the
// authorization request (before the endpoint insists on a known client, so
// that an executor can resolve one), the token request and refresh.
// Conditions and executors may declare the events they react to
// ([EventFilter]). A condition that does not react to an event does not
// match at it, so a policy is only considered at the events all its
// conditions react to; this differs from Keycloak, where such a condition
// abstains and the others decide. An executor that does not react to an
// event is skipped at it.
//
// Conditions and executors are created by ID from a [Registry].
// [NewRegistry] holds the built-ins; other packages add theirs with
// [Registry.RegisterCondition] and [Registry.RegisterExecutor].
//
// # Errors
//
// Executors refuse a request by returning a *[Error] with an OAuth error
// code. Any other error from an executor, and any error from a condition,
// is treated as an internal failure: the evaluation stops with Code
// "server_error" and a generic Reason, and the cause is kept in Err for
// logs. The request is therefore refused whenever a policy cannot be
// evaluated (fail closed).
//
// # Performance
//
// Everything is compiled when the engine is built: patterns, allow-lists,
// and an index of policies by event. [Engine.Evaluate] does not allocate
// while no policy applies. [Engine.Explain] records why each policy did or
// did not apply, for debugging tools, without adding any cost to Evaluate.
package policy
