package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
)

// unusedMetadataClientTTL is how long a client resolved from a metadata
// document stays in the store before its first use, a completed
// authorization or an issued token (renewed while it keeps being
// resolved).
const unusedMetadataClientTTL = 24 * time.Hour

// policyError converts an error from the policy engine into the *Error a
// client sees. Refusals keep their OAuth code and reason; internal failures
// become server_error (503 when the cause is an outage or a deadline).
func policyError(err error) error {
	var pe *policy.Error
	if !errors.As(err, &pe) {
		return storeErr(err)
	}
	if pe.Code == ErrCodeServerError || pe.Code == "" {
		return storeErr(err)
	}
	oe := &Error{Code: pe.Code, Description: pe.Reason, cause: err}
	if pe.Code == ErrCodeInvalidClient {
		oe.Status = http.StatusUnauthorized
	}
	return oe
}

// resolveAuthorizationClient finds the client of an authorization request.
// Policies run first (EventAuthorizationRequest) so that an executor such as
// cimd's client-id-metadata-document can resolve a URL-shaped client_id.
// A resolved metadata-document client is saved in the store (kind
// storage.ClientMetadataDocument) so that the token endpoint finds it. A
// stored metadata-document client that no policy resolves in this request
// is refused: the policies decide which documents are trusted, now.
func (s *Server) resolveAuthorizationClient(ctx context.Context, r *http.Request, p *params, clientID, redirectURI string) (*clientEntry, error) {
	if s.policies != nil {
		pr := &policy.Request{
			Event:               policy.EventAuthorizationRequest,
			ClientID:            clientID,
			RedirectURI:         redirectURI,
			Resources:           p.all("resource"),
			ResponseType:        p.get("response_type"),
			CodeChallenge:       p.get("code_challenge"),
			CodeChallengeMethod: p.get("code_challenge_method"),
			HTTP:                r,
		}
		if sc, err := parseScope(p.get("scope")); err == nil {
			pr.Scopes = sc
		}
		if e, ok := s.clients[clientID]; ok {
			c := e.client
			pr.Client = &c
		}
		if err := s.policies.Evaluate(ctx, pr); err != nil {
			return nil, policyError(err)
		}
		if pr.Client != nil && pr.Client.Kind == storage.ClientMetadataDocument {
			if pr.Client.ID != clientID {
				return nil, errInvalidRequest("The client metadata document does not match the client_id.")
			}
			if err := s.checkAuthMethodEnabled(pr.Client); err != nil {
				return nil, err
			}
			c, err := s.saveMetadataClient(ctx, pr.Client)
			if err != nil {
				return nil, err
			}
			return &clientEntry{client: *c}, nil
		}
	}
	e, err := s.lookupClient(ctx, clientID)
	if err != nil {
		var oe *Error
		if errors.As(err, &oe) && oe.Code == ErrCodeInvalidClient {
			return nil, &Error{Code: ErrCodeInvalidRequest, Description: "Unknown client.", cause: err}
		}
		return nil, err
	}
	if e.client.Kind == storage.ClientMetadataDocument {
		return nil, errInvalidRequest("Unknown client: no client policy accepts this client_id.")
	}
	if err := s.checkAuthMethodEnabled(&e.client); err != nil {
		return nil, err
	}
	return e, nil
}

// checkAuthMethodEnabled refuses, at the authorization request, a client
// whose authentication method the token endpoint cannot check (a
// mutual-TLS method without Config.MTLS): the user would consent, and the
// client would fail its code exchange with invalid_client.
func (s *Server) checkAuthMethodEnabled(c *storage.Client) error {
	if m := authMethod(c); !s.authMethodEnabled(m) {
		return errInvalidRequest("The client's token_endpoint_auth_method " + m + " is not enabled on this server.")
	}
	return nil
}

// saveMetadataClient creates or updates the stored record of a client
// resolved from a metadata document. It never overwrites a client of
// another kind, and writes only when something changed.
func (s *Server) saveMetadataClient(ctx context.Context, resolved *storage.Client) (*storage.Client, error) {
	if _, static := s.clients[resolved.ID]; static {
		return nil, errInvalidRequest("The client_id belongs to a pre-registered client.")
	}
	now := s.now()
	c := *resolved
	c.Kind = storage.ClientMetadataDocument
	c.SecretHash = storage.Hash{}
	c.RegistrationTokenHash = storage.Hash{}
	c.Metadata.ClientSecret = ""
	c.Metadata.RegistrationAccessToken = ""
	old, err := s.store.GetClient(ctx, c.ID)
	switch {
	case err == nil:
		if old.Kind != storage.ClientMetadataDocument {
			return nil, errInvalidRequest("The client_id belongs to another client.")
		}
		c.CreatedAt, c.FirstUsedAt = old.CreatedAt, old.FirstUsedAt
		c.ExpiresAt = old.ExpiresAt
		renew := false
		if !c.FirstUsedAt.IsZero() {
			c.ExpiresAt = time.Time{}
		} else if old.ExpiresAt.Sub(now) < unusedMetadataClientTTL/2 {
			c.ExpiresAt, renew = now.Add(unusedMetadataClientTTL), true
		}
		if !renew && reflect.DeepEqual(old.Metadata, c.Metadata) && old.ExpiresAt.Equal(c.ExpiresAt) {
			return old, nil
		}
		c.UpdatedAt = now
		if err := s.store.UpdateClient(ctx, &c); err != nil {
			return nil, storeErr(err)
		}
		return &c, nil
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		// The record's lifetime is about removing clients that never
		// completed an authorization, not about the document's cache
		// lifetime (the resolver decides freshness): it must outlast a
		// slow login, and MarkClientUsed makes it permanent.
		c.CreatedAt, c.UpdatedAt, c.FirstUsedAt = now, now, time.Time{}
		c.ExpiresAt = now.Add(unusedMetadataClientTTL)
		err := s.store.CreateClient(ctx, &c, 0)
		if errors.Is(err, storage.ErrConflict) {
			// An expired record, or a concurrent first request.
			err = s.store.UpdateClient(ctx, &c)
		}
		if err != nil {
			return nil, storeErr(err)
		}
		return &c, nil
	default:
		return nil, storeErr(err)
	}
}

// tokenClient finds the client named in a token request, revocation or
// introspection. For token requests (grantType set) the policies run
// first (EventTokenRequest, or EventRefresh for refresh_token), before the
// credentials are checked, so that cimd's executor can resolve a
// metadata-document client from its current document (and its current
// keys, for private_key_jwt); the resolved client is saved in the store.
// As at the authorization endpoint, a stored metadata-document client that
// no policy resolves is refused.
func (s *Server) tokenClient(ctx context.Context, r *http.Request, p *params, id, grantType string) (*clientEntry, error) {
	if grantType == "" {
		return s.lookupClient(ctx, id)
	}
	if s.policies == nil {
		e, err := s.lookupClient(ctx, id)
		if err != nil {
			return nil, err
		}
		if e.client.Kind == storage.ClientMetadataDocument {
			return nil, errInvalidClient("No client policy accepts this client_id.")
		}
		return e, nil
	}
	static, isStatic := s.clients[id]
	var current *storage.Client
	if isStatic {
		c := static.client
		current = &c
	} else {
		c, err := s.store.GetClient(ctx, id)
		switch {
		case err == nil:
			current = c
		case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		default:
			return nil, storeErr(err)
		}
	}
	ev := policy.EventTokenRequest
	if grantType == GrantTypeRefreshToken {
		ev = policy.EventRefresh
	}
	pr := &policy.Request{
		Event:     ev,
		ClientID:  id,
		Client:    current,
		GrantType: grantType,
		Resources: p.all("resource"),
		HTTP:      r,
	}
	if sc, err := parseScope(p.get("scope")); err == nil {
		pr.Scopes = sc
	}
	if err := s.policies.Evaluate(ctx, pr); err != nil {
		return nil, policyError(err)
	}
	if isStatic {
		return static, nil
	}
	// An executor that resolves the client sets a new *storage.Client; the
	// stored record passed in does not count as a resolution.
	if pr.Client != nil && pr.Client != current && pr.Client.Kind == storage.ClientMetadataDocument {
		if pr.Client.ID != id {
			return nil, errInvalidClient("The client metadata document does not match the client_id.")
		}
		c, err := s.saveMetadataClient(ctx, pr.Client)
		if err != nil {
			var oe *Error
			if errors.As(err, &oe) && oe.Code == ErrCodeInvalidRequest {
				return nil, errInvalidClient(oe.Description)
			}
			return nil, err
		}
		return &clientEntry{client: *c}, nil
	}
	switch {
	case current == nil:
		return nil, errInvalidClient("Unknown client.")
	case current.Kind == storage.ClientMetadataDocument:
		return nil, errInvalidClient("No client policy accepts this client_id.")
	}
	return &clientEntry{client: *current}, nil
}

// setupRegistration builds the dynamic registration endpoint from
// Config.Registration, filling what the server knows: the store, the
// endpoint URL, the scopes, grant types and authentication methods it
// supports, its clock, randomness and logger.
func (s *Server) setupRegistration(cfg *dcr.Config) error {
	if cfg == nil {
		return nil
	}
	c := *cfg
	if c.Store == nil {
		c.Store = s.store
	}
	if c.Endpoint == "" {
		c.Endpoint = s.issuer + "/register"
	}
	if c.SupportedScopes == nil {
		c.SupportedScopes = slices.Clone(s.scopeOrder)
	}
	if c.DefaultScopes == nil {
		for _, name := range s.scopeOrder {
			if s.scopes[name].Default {
				c.DefaultScopes = append(c.DefaultScopes, name)
			}
		}
		if len(c.DefaultScopes) == 0 {
			for _, r := range s.resources {
				for _, name := range r.Scopes {
					if !slices.Contains(c.DefaultScopes, name) {
						c.DefaultScopes = append(c.DefaultScopes, name)
					}
				}
			}
		}
	}
	if c.GrantTypesSupported == nil {
		c.GrantTypesSupported = []string{GrantTypeAuthorizationCode}
		if s.refreshPolicy != RefreshNever {
			c.GrantTypesSupported = append(c.GrantTypesSupported, GrantTypeRefreshToken)
		}
		c.GrantTypesSupported = append(c.GrantTypesSupported, GrantTypeClientCredentials)
	}
	if c.TokenEndpointAuthMethodsSupported == nil {
		c.TokenEndpointAuthMethodsSupported = []string{AuthMethodNone, AuthMethodClientSecretBasic, AuthMethodClientSecretPost, AuthMethodPrivateKeyJWT}
		c.TokenEndpointAuthMethodsSupported = append(c.TokenEndpointAuthMethodsSupported, s.mtlsMethods()...)
	}
	for _, m := range c.TokenEndpointAuthMethodsSupported {
		// A client registered with a method the token endpoint cannot
		// check could never authenticate.
		if !s.authMethodEnabled(m) {
			return fmt.Errorf("authz: Config.Registration.TokenEndpointAuthMethodsSupported: %s needs Config.MTLS to enable it", m)
		}
	}
	if c.Clock == nil {
		c.Clock = s.clock
	}
	if c.Rand == nil && !s.cryptoRand {
		c.Rand = s.rand
	}
	if c.Logger == nil {
		c.Logger = s.log
	}
	if c.Policies == nil {
		// Registration-time policies (policy.EventRegistration, such as
		// secure-redirect-uris) come from the same engine as the others.
		c.Policies = s.policies
	}
	reg, err := dcr.New(c)
	if err != nil {
		return fmt.Errorf("authz: Config.Registration: %w", err)
	}
	s.registrar = reg
	if reg.Enabled() {
		s.registrationEndpoint = reg.Endpoint()
	}
	return nil
}

// Registrar returns the dynamic registration endpoint built from
// Config.Registration (for minting initial access tokens), or nil.
func (s *Server) Registrar() *dcr.Registrar { return s.registrar }
