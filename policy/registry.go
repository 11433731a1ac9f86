package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
)

// ConditionFactory builds a condition from its JSON configuration. cfg is
// nil when the configuration member is absent or null. A factory should
// refuse unknown members (see [DecodeConfig]) and validate everything it
// can, so that mistakes surface when the configuration is loaded rather
// than on a request.
type ConditionFactory func(cfg json.RawMessage) (Condition, error)

// ExecutorFactory builds an executor from its JSON configuration, with the
// same conventions as [ConditionFactory].
type ExecutorFactory func(cfg json.RawMessage) (Executor, error)

// Registry maps condition and executor IDs to their factories. It is a
// plain value: each engine is loaded against the registry it is given, and
// nothing is registered globally. A Registry is safe for concurrent use.
//
// Packages that provide executors register them on a registry the host
// passes in; package cimd, for example, registers the
// "client-id-metadata-document" executor ([ExecutorClientIDMetadataDocument])
// this way (see the package documentation). The zero Registry is empty and
// ready to use; [NewRegistry] returns one with the built-ins.
type Registry struct {
	mu         sync.RWMutex
	conditions map[string]ConditionFactory
	executors  map[string]ExecutorFactory
}

// NewRegistry returns a registry holding the built-in conditions
// ([ConditionAnyClient], [ConditionClientIDURI], [ConditionClientKind],
// [ConditionGrantType]) and executors ([ExecutorPKCEEnforcer],
// [ExecutorSecureRedirectURIs], [ExecutorResourceAllowList]).
func NewRegistry() *Registry {
	r := &Registry{
		conditions: map[string]ConditionFactory{},
		executors:  map[string]ExecutorFactory{},
	}
	for id, f := range builtinConditions() {
		r.conditions[id] = f
	}
	for id, f := range builtinExecutors() {
		r.executors[id] = f
	}
	return r
}

// RegisterCondition adds a condition factory under id. It fails if id is
// empty, f is nil, or id is already registered: a second registration
// would silently change what existing configurations mean.
func (r *Registry) RegisterCondition(id string, f ConditionFactory) error {
	if id == "" {
		return errors.New("policy: RegisterCondition: empty id")
	}
	if f == nil {
		return fmt.Errorf("policy: RegisterCondition(%q): nil factory", id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.conditions == nil {
		r.conditions = map[string]ConditionFactory{}
	}
	if _, ok := r.conditions[id]; ok {
		return fmt.Errorf("policy: condition %q is already registered", id)
	}
	r.conditions[id] = f
	return nil
}

// RegisterExecutor adds an executor factory under id, with the same rules
// as [Registry.RegisterCondition].
func (r *Registry) RegisterExecutor(id string, f ExecutorFactory) error {
	if id == "" {
		return errors.New("policy: RegisterExecutor: empty id")
	}
	if f == nil {
		return fmt.Errorf("policy: RegisterExecutor(%q): nil factory", id)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.executors == nil {
		r.executors = map[string]ExecutorFactory{}
	}
	if _, ok := r.executors[id]; ok {
		return fmt.Errorf("policy: executor %q is already registered", id)
	}
	r.executors[id] = f
	return nil
}

// ConditionIDs returns the registered condition IDs, sorted.
func (r *Registry) ConditionIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.conditions))
	for id := range r.conditions {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// ExecutorIDs returns the registered executor IDs, sorted.
func (r *Registry) ExecutorIDs() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	ids := make([]string, 0, len(r.executors))
	for id := range r.executors {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (r *Registry) newCondition(id string, cfg json.RawMessage) (Condition, error) {
	if r == nil {
		return nil, fmt.Errorf("unknown condition %q (no registry given)", id)
	}
	r.mu.RLock()
	f := r.conditions[id]
	r.mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("unknown condition %q (registered: %q)", id, r.ConditionIDs())
	}
	c, err := f(normaliseConfig(cfg))
	if err != nil {
		return nil, err
	}
	if c == nil {
		return nil, fmt.Errorf("condition factory %q returned nil", id)
	}
	return c, nil
}

func (r *Registry) newExecutor(id string, cfg json.RawMessage) (Executor, error) {
	if r == nil {
		return nil, fmt.Errorf("unknown executor %q (no registry given)", id)
	}
	r.mu.RLock()
	f := r.executors[id]
	r.mu.RUnlock()
	if f == nil {
		return nil, fmt.Errorf("unknown executor %q (registered: %q)", id, r.ExecutorIDs())
	}
	e, err := f(normaliseConfig(cfg))
	if err != nil {
		return nil, err
	}
	if e == nil {
		return nil, fmt.Errorf("executor factory %q returned nil", id)
	}
	return e, nil
}

// normaliseConfig maps an absent or JSON null configuration to nil.
func normaliseConfig(cfg json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(cfg)
	if len(t) == 0 || string(t) == "null" {
		return nil
	}
	return t
}

// DecodeConfig decodes a condition or executor configuration into v, a
// pointer to a struct. It refuses unknown members and trailing data, since a
// misspelt option in an operator-written policy must not silently fall
// back to a default. A nil or null cfg leaves v unchanged.
func DecodeConfig(cfg json.RawMessage, v any) error {
	cfg = normaliseConfig(cfg)
	if cfg == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(cfg))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("unexpected data after the configuration object")
	}
	return nil
}
