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
// # Configuration in JSON
//
// [Load] reads the JSON form ([Config]), which follows Keycloak's client
// policies representation and the seed guide's console steps. This is the
// guide's VS Code desktop setup (the "client-id-metadata-document"
// executor is provided by package cimd, see below):
//
//	{
//	  "profiles": [
//	    {
//	      "name": "vscode-cimd-profile",
//	      "description": "Resolve VS Code's Client ID Metadata Document",
//	      "executors": [
//	        {
//	          "executor": "client-id-metadata-document",
//	          "configuration": {
//	            "cimd-allow-http-scheme": false,
//	            "cimd-allow-permitted-domains": ["vscode.dev", "127.0.0.1"],
//	            "cimd-restrict-same-domain": false,
//	            "only-allow-confidential-client": false
//	          }
//	        }
//	      ]
//	    }
//	  ],
//	  "policies": [
//	    {
//	      "name": "vscode-cimd-policy",
//	      "description": "client_id URLs on vscode.dev",
//	      "enabled": true,
//	      "conditions": [
//	        {
//	          "condition": "client-id-uri",
//	          "configuration": {
//	            "client-id-uri-scheme": ["https"],
//	            "client-id-uri-allow-permitted-domains": ["vscode.dev"]
//	          }
//	        }
//	      ],
//	      "profiles": ["vscode-cimd-profile"]
//	    }
//	  ]
//	}
//
// The generic setup of the guide is the same with the names "cimd-profile"
// and "cimd-policy" and the operator's own trusted domains.
//
// The configuration is operator-written, so it is read strictly: unknown
// members are refused everywhere (including inside the built-ins'
// configurations), every policy must state "enabled", and unknown condition
// or executor IDs, bad option values, duplicate names and references to
// missing profiles fail the load with an error naming the policy or
// profile, the index and the field. A condition is negated with
// "negative": true, or Keycloak-style with "is-negative-logic": true inside
// its configuration.
//
// # Configuration in Go
//
// The same setup in Go, with [New]; the built-ins have constructors
// ([NewClientIDURI], [NewPKCEEnforcer], …), and a spec whose Condition or
// Executor is nil is built from its ID and JSON Configuration by the
// registry:
//
//	cond, err := policy.NewClientIDURI(policy.ClientIDURIConfig{
//		Schemes: []string{"https"},
//		Domains: []string{"vscode.dev"},
//	})
//	...
//	engine, err := policy.New(reg,
//		[]policy.Profile{{
//			Name: "vscode-cimd-profile",
//			Executors: []policy.ExecutorSpec{{
//				ID:            policy.ExecutorClientIDMetadataDocument,
//				Configuration: json.RawMessage(`{"cimd-allow-permitted-domains": ["vscode.dev", "127.0.0.1"]}`),
//			}},
//		}},
//		[]policy.Policy{{
//			Name:       "vscode-cimd-policy",
//			Conditions: []policy.ConditionSpec{{ID: policy.ConditionClientIDURI, Condition: cond}},
//			Profiles:   []string{"vscode-cimd-profile"},
//		}})
//
// A Go [Policy] is enabled unless Disabled is set. Both forms give engines
// that behave and explain identically.
//
// # Built-in conditions and executors
//
//   - "any-client": every request.
//   - "client-id-uri" ([ClientIDURIConfig]): client_id is a URI with a
//     listed scheme and a host matching a trusted-domain pattern.
//   - "client-kind" ([ClientKindConfig]): the client is static, registered
//     or resolved from a metadata document.
//   - "grant-type" ([GrantTypeConfig]): the grant being requested.
//   - "pkce-enforcer" ([PKCEEnforcerConfig]): PKCE with S256 on
//     authorization requests.
//   - "secure-redirect-uris" ([SecureRedirectURIsConfig]): https, loopback
//     http and private-use schemes only.
//   - "resource-allow-list" ([ResourceAllowListConfig]): RFC 8707 resources
//     must be listed, else "invalid_target".
//
// # Adding conditions and executors
//
// A package that provides an executor registers a factory on the host's
// registry before the configuration is loaded. Package cimd does this for
// "client-id-metadata-document" ([ExecutorClientIDMetadataDocument]); in
// outline:
//
//	reg := policy.NewRegistry()
//	err := reg.RegisterExecutor(policy.ExecutorClientIDMetadataDocument,
//		func(cfg json.RawMessage) (policy.Executor, error) {
//			var c ExecutorConfig // with the "cimd-…" JSON member names
//			if err := policy.DecodeConfig(cfg, &c); err != nil {
//				return nil, err
//			}
//			return newExecutor(resolver, c) // resolves r.ClientID, sets r.Client
//		})
//	engine, err := policy.Load(reg, configJSON)
//
// Factories validate their configuration completely ([DecodeConfig]
// refuses unknown members), executors refuse with a *[Error], and
// implementing [EventFilter] keeps them out of events they have nothing to
// do with (the CIMD executor reacts to the authorization request, and to
// token events if it re-resolves clients there). Registering an ID twice
// is an error.
//
// # Contract with the host
//
// The authorization server fills in a [Request] at each event: ClientID
// as received (at token events, the authenticated or presented client_id),
// Client when the store already knows the client (it may stay nil at the
// authorization request, where an executor may resolve it), the redirect
// URI, scopes, resources, grant or response type and PKCE parameters. A
// refusal at the authorization request must not be sent to the redirect_uri
// unless that URI has been validated against the client; otherwise show an
// error page. At EventRegistration package dcr (dcr.Config.Policies, which
// package authz fills with its own policies) fills Registration with the
// metadata as it would be registered, after its own validation, and Scopes;
// for an RFC 7592 update also ClientID and Client. A refusal there is a 400
// invalid_redirect_uri or invalid_client_metadata answer.
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
// # Limits
//
// The package reads no network input of its own. [ParseConfig] and [Load]
// read a configuration written by the operator; they bound nothing but
// nesting (encoding/json refuses more than 10 000 levels), so do not feed
// them untrusted input. [Request] fields come from the host, which bounds
// them (package authz takes at most 64 parameters of at most 8 KiB each; a
// registration body is bounded by package dcr and metadata.ParseClient).
// Conditions and built-in executors work in time linear in their input,
// and a refusal's Reason never quotes a request value, so it is safe as
// error_description whatever the request held.
//
// # Performance
//
// Everything is compiled when the engine is built: patterns, allow-lists,
// and an index of policies by event. [Engine.Evaluate] does not allocate
// while no policy applies. [Engine.Explain] records why each policy did or
// did not apply, for debugging tools, without adding any cost to Evaluate.
package policy
