package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Config is the JSON form of a set of client profiles and policies. Its
// members mirror Keycloak's client-policies representation (and so the
// seed guide's console steps):
//
//	{
//	  "profiles": [{"name": "cimd-profile", "description": "…",
//	                "executors": [{"executor": "client-id-metadata-document", "configuration": {…}}]}],
//	  "policies": [{"name": "cimd-policy", "description": "…", "enabled": true,
//	                "conditions": [{"condition": "client-id-uri", "negative": false, "configuration": {…}}],
//	                "profiles": ["cimd-profile"]}]
//	}
//
// Read it with [ParseConfig] or [Load], which refuse unknown members and
// require "enabled" on every policy: the file is written by operators, and
// a misspelt member must not silently switch a security check off.
// Decoding it with json.Unmarshal skips those checks.
type Config struct {
	Profiles []ProfileConfig `json:"profiles"`
	Policies []PolicyConfig  `json:"policies"`
}

// ProfileConfig is the JSON form of a [Profile].
type ProfileConfig struct {
	Name        string           `json:"name"`
	Description string           `json:"description,omitempty"`
	Executors   []ExecutorConfig `json:"executors"`
}

// ExecutorConfig is the JSON form of an [ExecutorSpec]: the executor's ID
// and its configuration, passed as is to the registered factory.
type ExecutorConfig struct {
	Executor      string          `json:"executor"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// PolicyConfig is the JSON form of a [Policy]. Unlike the Go form, it says
// "enabled", following Keycloak; ParseConfig requires it to be present.
type PolicyConfig struct {
	Name        string            `json:"name"`
	Description string            `json:"description,omitempty"`
	Enabled     bool              `json:"enabled"`
	Conditions  []ConditionConfig `json:"conditions"`
	Profiles    []string          `json:"profiles"`
}

// ConditionConfig is the JSON form of a [ConditionSpec]. Negation may be
// written as "negative": true, or Keycloak-style as "is-negative-logic":
// true inside the configuration (that member is removed before the
// configuration reaches the factory).
type ConditionConfig struct {
	Condition     string          `json:"condition"`
	Negative      bool            `json:"negative,omitempty"`
	Configuration json.RawMessage `json:"configuration,omitempty"`
}

// wire types mirror the public ones with pointers where presence matters.
type wireConfig struct {
	Profiles []ProfileConfig `json:"profiles"`
	Policies []wirePolicy    `json:"policies"`
}

type wirePolicy struct {
	Name        string            `json:"name"`
	Description string            `json:"description"`
	Enabled     *bool             `json:"enabled"`
	Conditions  []ConditionConfig `json:"conditions"`
	Profiles    []string          `json:"profiles"`
}

// ParseConfig decodes a JSON policy configuration strictly: unknown members
// anywhere outside the condition and executor configurations are refused
// (those are checked by their factories when the engine is built), trailing
// data is refused, and every policy must say whether it is enabled.
func ParseConfig(data []byte) (*Config, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w wireConfig
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("policy: config: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("policy: config: unexpected data after the top-level object")
	}
	c := &Config{Profiles: w.Profiles}
	for i, p := range w.Policies {
		if p.Enabled == nil {
			return nil, fmt.Errorf("policy: config: policies[%d] %q: \"enabled\" is required (true or false)", i, p.Name)
		}
		c.Policies = append(c.Policies, PolicyConfig{
			Name:        p.Name,
			Description: p.Description,
			Enabled:     *p.Enabled,
			Conditions:  p.Conditions,
			Profiles:    p.Profiles,
		})
	}
	return c, nil
}

// Load parses a JSON configuration with [ParseConfig] and builds an engine
// from it with [FromConfig].
func Load(reg *Registry, data []byte) (*Engine, error) {
	c, err := ParseConfig(data)
	if err != nil {
		return nil, err
	}
	return FromConfig(reg, c)
}

// FromConfig builds an engine from a configuration, creating every
// condition and executor through reg. The result is the same as calling
// [New] with the equivalent Go values.
func FromConfig(reg *Registry, c *Config) (*Engine, error) {
	if c == nil {
		return New(reg, nil, nil)
	}
	profiles, policies, err := c.specs()
	if err != nil {
		return nil, err
	}
	return New(reg, profiles, policies)
}

// specs converts the JSON form to the Go form, leaving the conditions and
// executors to be built by the registry.
func (c *Config) specs() ([]Profile, []Policy, error) {
	profiles := make([]Profile, 0, len(c.Profiles))
	for _, p := range c.Profiles {
		gp := Profile{Name: p.Name, Description: p.Description}
		for _, x := range p.Executors {
			gp.Executors = append(gp.Executors, ExecutorSpec{ID: x.Executor, Configuration: x.Configuration})
		}
		profiles = append(profiles, gp)
	}
	policies := make([]Policy, 0, len(c.Policies))
	for i, p := range c.Policies {
		gp := Policy{Name: p.Name, Description: p.Description, Disabled: !p.Enabled, Profiles: p.Profiles}
		for j, cc := range p.Conditions {
			cfg, neg, err := splitNegativeLogic(cc.Configuration)
			if err != nil {
				return nil, nil, fmt.Errorf("policy: policies[%d] %q: conditions[%d] %q: configuration: %w", i, p.Name, j, cc.Condition, err)
			}
			if neg != nil && !*neg && cc.Negative {
				return nil, nil, fmt.Errorf("policy: policies[%d] %q: conditions[%d] %q: \"negative\" and \"is-negative-logic\" disagree", i, p.Name, j, cc.Condition)
			}
			gp.Conditions = append(gp.Conditions, ConditionSpec{
				ID:            cc.Condition,
				Negative:      cc.Negative || (neg != nil && *neg),
				Configuration: cfg,
			})
		}
		policies = append(policies, gp)
	}
	return profiles, policies, nil
}

// negativeLogicKey is Keycloak's generic condition option for negation.
const negativeLogicKey = "is-negative-logic"

// splitNegativeLogic removes Keycloak's "is-negative-logic" member from a
// condition configuration and returns its value, if it was present.
func splitNegativeLogic(cfg json.RawMessage) (json.RawMessage, *bool, error) {
	cfg = normaliseConfig(cfg)
	if cfg == nil || !bytes.Contains(cfg, []byte(negativeLogicKey)) {
		return cfg, nil, nil
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(cfg, &m); err != nil {
		return nil, nil, err
	}
	raw, ok := m[negativeLogicKey]
	if !ok {
		return cfg, nil, nil
	}
	var neg bool
	if err := json.Unmarshal(raw, &neg); err != nil {
		// Accept the quoted spellings too: exported configurations from
		// other tools sometimes quote booleans.
		var s string
		if json.Unmarshal(raw, &s) != nil || (s != "true" && s != "false") {
			return nil, nil, fmt.Errorf("%q must be true or false", negativeLogicKey)
		}
		neg = s == "true"
	}
	delete(m, negativeLogicKey)
	if len(m) == 0 {
		return nil, &neg, nil
	}
	out, err := json.Marshal(m)
	if err != nil {
		return nil, nil, err
	}
	return out, &neg, nil
}
