package dcr

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/nqrust/identity/internal/jsonlimit"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
)

// Registration access tokens start with the kind of registration they came
// from, so that a later RFC 7592 update is checked against the same policy.
// The prefix is covered by the stored hash, so it cannot be altered.
const (
	ratAnonymous     = "a."
	ratAuthenticated = "t."
)

// register handles POST on the endpoint (RFC 7591 §3).
func (r *Registrar) register(w http.ResponseWriter, req *http.Request) {
	ctx := req.Context()
	now := r.s.now()

	tok, hasAuth, e := bearerToken(req)
	if e != nil {
		r.fail(w, req, nil, e)
		return
	}
	var p *compiledPolicy
	kind := ratAnonymous
	if hasAuth {
		p, kind = r.s.authenticated, ratAuthenticated
		if p == nil {
			r.fail(w, req, nil, tokenErr(false, "this server does not accept initial access tokens"))
			return
		}
	} else {
		p = r.s.anonymous
		if p == nil {
			if r.s.authenticated != nil {
				r.fail(w, req, nil, tokenErr(true, "an initial access token is required to register"))
			} else {
				r.fail(w, req, nil, deniedErr(nil, "dynamic client registration is disabled"))
			}
			return
		}
	}
	if e := r.gate(req, p, now); e != nil {
		r.fail(w, req, p, e)
		return
	}
	body, e := readJSONBody(w, req)
	if e != nil {
		r.fail(w, req, p, e)
		return
	}
	c, err := metadata.ParseClient(body)
	if err != nil {
		r.fail(w, req, p, clientErr(err))
		return
	}
	// The server assigns identifiers and credentials (RFC 7591 §3.2.1):
	// values a client sends for them are ignored, not refused.
	c.ClientID, c.ClientSecret, c.ClientIDIssuedAt, c.ClientSecretExpiresAt = "", "", 0, nil
	c.RegistrationAccessToken, c.RegistrationClientURI = "", ""
	if e := r.s.prepare(p, c); e != nil {
		r.fail(w, req, p, e)
		return
	}
	if e := r.s.evaluatePolicies(ctx, req, c, nil); e != nil {
		r.fail(w, req, p, e)
		return
	}

	if kind == ratAuthenticated {
		// Spent only now, so that a body the client must fix does not
		// cost a use. A use is still spent if the store then refuses the
		// client (for instance at MaxClients).
		if e := r.s.spendInitialAccessToken(ctx, p, tok); e != nil {
			r.fail(w, req, p, e)
			return
		}
	}

	sc, secret, rat, e := r.s.create(ctx, c, kind, now)
	if e != nil {
		r.fail(w, req, p, e)
		return
	}
	resp := r.s.response(sc, secret, rat)
	if origin := req.Header.Get("Origin"); origin != "" {
		addVaryOrigin(w.Header())
		allowCORS(w, origin)
	}
	w.Header().Set("Location", resp.RegistrationClientURI)
	r.s.log.LogAttrs(ctx, slog.LevelInfo, "dcr: client registered",
		slog.String("client_id", sc.ID),
		slog.String("policy", p.name),
		slog.String("client_name", c.ClientName),
		slog.String("token_endpoint_auth_method", c.TokenEndpointAuthMethod),
		slog.String("caller", r.s.clientIP(req).String()),
	)
	writeJSON(w, http.StatusCreated, resp)
}

// readJSONBody checks the media type and reads a bounded body. RFC 7591
// §3.2.2 answers every registration error with 400, so a wrong media type
// or an oversized body is 400 invalid_client_metadata, not 415 or 413:
// clients such as the MCP Go SDK show the error_description only for 400.
func readJSONBody(w http.ResponseWriter, req *http.Request) ([]byte, *regError) {
	mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return nil, policyErr(nil, codeInvalidClientMetadata, "the request body must be JSON sent with Content-Type: application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, policyErr(nil, codeInvalidClientMetadata, "the request body exceeds %d bytes", MaxBodyBytes)
		}
		return nil, policyErr(nil, codeInvalidClientMetadata, "the request body could not be read")
	}
	if !jsonlimit.DepthOK(body, maxJSONDepth) {
		return nil, policyErr(nil, codeInvalidClientMetadata, "the request body nests JSON deeper than %d levels", maxJSONDepth)
	}
	return body, nil
}

// clientErr maps a metadata parse or validation error.
func clientErr(err error) *regError {
	var ce *metadata.ClientError
	if errors.As(err, &ce) {
		return policyErr(nil, ce.Code, "%s", ce.Description)
	}
	return policyErr(nil, codeInvalidClientMetadata, "client metadata is invalid")
}

// validation returns the metadata rules for registration bodies.
func (s *settings) validation() metadata.ClientValidation {
	return metadata.ClientValidation{
		AllowInsecureRedirectURIs: s.allowInsecure,
		AllowSingleLabelSchemes:   s.allowSingle,
		// Grant types the server does not implement are dropped below
		// rather than refused (RFC 7591 §3.2.1).
		IgnoreUnknownGrantTypes: true,
	}
}

// prepare validates a registration (or update) body and turns it into the
// metadata to register: RFC 7591 defaults applied, unsupported grant types
// dropped, application_type settled, policy checks on URI hosts and scope
// applied. Identifier and credential members must already be cleared.
func (s *settings) prepare(p *compiledPolicy, c *metadata.Client) *regError {
	// Software statements are accepted but not trusted or kept: this
	// server has no trusted statement issuers (RFC 7591 §3.1.1 lets it
	// ignore them), and storing unverified JWTs only costs space.
	c.SoftwareStatement = ""
	// scope is space-separated (RFC 6749 §3.3); other white space is
	// treated as a separator too rather than refused.
	c.Scope = strings.Join(strings.Fields(c.Scope), " ")
	opts := s.validation()
	if err := c.Validate(opts); err != nil {
		return clientErr(err)
	}
	c.ApplyDefaults()

	if !slices.Contains(s.authMethods, c.TokenEndpointAuthMethod) {
		return policyErr(nil, codeInvalidClientMetadata,
			"token_endpoint_auth_method %s is not supported; this server supports %s",
			quote(c.TokenEndpointAuthMethod), strings.Join(s.authMethods, ", "))
	}

	if !p.allowCC && slices.Contains(c.GrantTypes, metadata.GrantClientCredentials) {
		return policyErr(p, codeInvalidClientMetadata,
			"grant type client_credentials is not allowed for clients registered under this policy (it issues tokens without a user's consent)")
	}
	kept := make([]string, 0, len(c.GrantTypes))
	for _, g := range c.GrantTypes {
		if slices.Contains(s.grantTypes, g) && !slices.Contains(kept, g) {
			kept = append(kept, g)
		}
	}
	if slices.Contains(c.GrantTypes, metadata.GrantAuthorizationCode) && !slices.Contains(kept, metadata.GrantAuthorizationCode) {
		return policyErr(nil, codeInvalidClientMetadata, "grant type authorization_code is not supported by this server")
	}
	if len(kept) == 0 {
		return policyErr(nil, codeInvalidClientMetadata,
			"none of the requested grant types is supported; this server supports %s", strings.Join(s.grantTypes, ", "))
	}
	c.GrantTypes = kept

	if c.ApplicationType == "" {
		// OpenID Connect's default would be "web", but MCP clients before
		// 2026-07-28 omit the member while registering loopback redirect
		// URIs (the MCP Inspector, a web page, redirects to
		// http://localhost:6274). The type is inferred from the redirect
		// URIs instead, as the MCP Go SDK does: "web" when every one is
		// https on a non-loopback host, "native" otherwise. If the
		// inferred type would contradict the URIs (possible only with
		// AllowInsecureRedirectURIs), the member stays absent.
		c.ApplicationType = inferApplicationType(c.RedirectURIs)
		if c.Validate(opts) != nil {
			c.ApplicationType = ""
		}
	}

	if e := p.checkClientURIs(c); e != nil {
		return e
	}
	scopes, e := s.resolveScopes(p, c.Scope)
	if e != nil {
		return e
	}
	c.Scope = strings.Join(scopes, " ")
	return nil
}

// evaluatePolicies runs Config.Policies at policy.EventRegistration on
// prepared metadata; current is the stored client of an RFC 7592 update
// (nil for a registration).
func (s *settings) evaluatePolicies(ctx context.Context, req *http.Request, c *metadata.Client, current *storage.Client) *regError {
	if s.policies == nil {
		return nil
	}
	pr := &policy.Request{
		Event:        policy.EventRegistration,
		Registration: c,
		Scopes:       strings.Fields(c.Scope),
		HTTP:         req,
	}
	if current != nil {
		cur := *current // executors may change the Client they are given
		pr.ClientID, pr.Client = cur.ID, &cur
	}
	err := s.policies.Evaluate(ctx, pr)
	if err == nil {
		return nil
	}
	var pe *policy.Error
	if !errors.As(err, &pe) || pe.Code == "" || pe.Code == codeServerError {
		return storeErr(err)
	}
	code := pe.Code
	if code != codeInvalidRedirectURI {
		code = codeInvalidClientMetadata
	}
	return &regError{status: http.StatusBadRequest, code: code, desc: "client policy " + quote(pe.Policy) + ": " + pe.Reason, policy: pe.Policy}
}

// inferApplicationType applies the rule documented in prepare.
func inferApplicationType(redirects []string) string {
	for _, r := range redirects {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "https" || metadata.IsLoopbackHost(u.Hostname()) {
			return metadata.ApplicationTypeNative
		}
	}
	return metadata.ApplicationTypeWeb
}

// usesSecret reports whether a token endpoint authentication method needs
// a client_secret issued by the server. client_secret_jwt is refused by
// New: it needs the secret in clear, and only its hash is kept.
func usesSecret(method string) bool {
	return method == metadata.AuthMethodClientSecretBasic || method == metadata.AuthMethodClientSecretPost
}

// spendInitialAccessToken spends one use of an initial access token.
func (s *settings) spendInitialAccessToken(ctx context.Context, p *compiledPolicy, tok string) *regError {
	it, err := s.store.UseInitialAccessToken(ctx, storage.HashOf(tok))
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound):
		return tokenErr(false, "the initial access token is not valid")
	case errors.Is(err, storage.ErrExpired):
		return tokenErr(false, "the initial access token has expired")
	case errors.Is(err, storage.ErrAlreadyUsed):
		return tokenErr(false, "the initial access token has no registrations left")
	default:
		return storeErr(err)
	}
	if it.Policy != p.name {
		return tokenErr(false, "the initial access token was issued for a registration policy that is no longer configured")
	}
	return nil
}

// create stores a new client and returns it with the clear-text secret (if
// one was issued) and registration access token.
func (s *settings) create(ctx context.Context, c *metadata.Client, kind string, now time.Time) (*storage.Client, string, string, *regError) {
	var secret string
	sc := &storage.Client{
		Kind:      storage.ClientRegistered,
		CreatedAt: now,
		UpdatedAt: now,
	}
	if s.unusedTTL > 0 {
		sc.ExpiresAt = now.Add(s.unusedTTL)
	}
	if usesSecret(c.TokenEndpointAuthMethod) {
		var err error
		if secret, err = s.random(32); err != nil {
			return nil, "", "", &regError{status: http.StatusInternalServerError, code: codeServerError, desc: "internal error", cause: err}
		}
		sc.SecretHash = storage.HashOf(secret)
		if s.secretLifetime > 0 {
			sc.SecretExpiresAt = now.Add(s.secretLifetime)
		}
	}
	rnd, err := s.random(32)
	if err != nil {
		return nil, "", "", &regError{status: http.StatusInternalServerError, code: codeServerError, desc: "internal error", cause: err}
	}
	rat := kind + rnd
	sc.RegistrationTokenHash = storage.HashOf(rat)

	// 128 random bits make a collision practically impossible; the retry
	// covers a store that already holds the ID (ErrConflict) anyway.
	for attempt := 0; ; attempt++ {
		id, err := s.random(16)
		if err != nil {
			return nil, "", "", &regError{status: http.StatusInternalServerError, code: codeServerError, desc: "internal error", cause: err}
		}
		sc.ID = id
		sc.Metadata = *c
		sc.Metadata.ClientID = id
		sc.Metadata.ClientIDIssuedAt = now.Unix()
		err = s.store.CreateClient(ctx, sc, s.maxClients)
		switch {
		case err == nil:
			return sc, secret, rat, nil
		case errors.Is(err, storage.ErrConflict) && attempt < 3:
			continue
		case errors.Is(err, storage.ErrLimitReached):
			return nil, "", "", deniedErr(nil, "the server's limit of %d registered clients is reached; try again later", s.maxClients)
		default:
			return nil, "", "", storeErr(err)
		}
	}
}

// response builds the RFC 7591 §3.2.1 / RFC 7592 §3 answer for a stored
// client: every registered member, client_secret when one was just issued,
// client_secret_expires_at for a client with a secret, and the
// registration access token and client configuration URI.
func (s *settings) response(sc *storage.Client, secret, rat string) *metadata.Client {
	m := sc.Metadata
	m.ClientSecret = secret
	if !sc.SecretHash.IsZero() {
		var exp int64
		if !sc.SecretExpiresAt.IsZero() {
			exp = sc.SecretExpiresAt.Unix()
		}
		m.ClientSecretExpiresAt = &exp
	}
	m.RegistrationAccessToken = rat
	m.RegistrationClientURI = s.endpoint + "/" + sc.ID
	return &m
}
