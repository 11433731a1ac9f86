package authz

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/nqrust/identity/storage"
)

// ErrRequestNotFound is returned (wrapped in an *Error with code
// invalid_request) when a parked authorization request is unknown, expired
// or already completed.
var ErrRequestNotFound = errors.New("authz: authorization request not found or expired")

// Pending describes a parked authorization request: what a login and
// consent page needs to show. Every string that came from the client
// (names, URIs) is self-asserted: escape it before display and do not
// hot-link ClientLogoURI.
type Pending struct {
	// ID is the request_id the browser arrived with.
	ID string
	// ClientID is the client_id.
	ClientID string
	// ClientName is the client's "client_name", or its client_id.
	ClientName string
	// ClientKind says how the client is known: pre-registered,
	// dynamically registered or resolved from a metadata document.
	ClientKind storage.ClientKind
	// ClientIDHost is the host of a URL-shaped client_id (metadata-document
	// clients); show it next to the name (CIMD §8.5).
	ClientIDHost string
	// ClientURI and ClientLogoURI are the client's "client_uri" and
	// "logo_uri", if any.
	ClientURI     string
	ClientLogoURI string
	// RedirectURI is where the answer will go; RedirectHost is its host,
	// which MCP requires the page to show.
	RedirectURI  string
	RedirectHost string
	// LoopbackOnly is true when every redirect URI the client registered is
	// a loopback address: such a client is easy to impersonate, so warn
	// the user (MCP "Localhost Redirect URI Risks").
	LoopbackOnly bool
	// Scopes are the requested scopes the user is asked to grant.
	Scopes []ScopeInfo
	// Resources are the resources the token will be for.
	Resources []ResourceInfo
	// Prompt is the OpenID Connect "prompt" parameter, if sent. The host
	// decides what it means for its login (for "none", Deny at once when
	// the user has no session, since this server cannot ask).
	Prompt string
	// CreatedAt and ExpiresAt bound the request.
	CreatedAt time.Time
	ExpiresAt time.Time
}

// ScopeInfo is a scope as a consent page shows it.
type ScopeInfo struct {
	// Name is the scope token.
	Name string
	// Description is Scope.Description from the configuration.
	Description string
}

// ResourceInfo is a resource as a consent page shows it.
type ResourceInfo struct {
	// Identifier is the resource URI (the token audience).
	Identifier string
	// Name is Resource.Name from the configuration; empty for audiences
	// that come from Scope.Audiences and are not registered resources.
	Name string
}

// Approval is the user's decision to grant a parked request.
type Approval struct {
	// Subject identifies the user; it becomes the token "sub". Required;
	// it must not equal the client_id (RFC 9700 §4.15).
	Subject string
	// Scopes is the granted subset of the requested scopes; scopes that
	// were not requested are an error. Empty grants no scope.
	Scopes []string
	// AuthTime is when the user authenticated; zero means now.
	AuthTime time.Time
}

// PendingRequest returns the parked request with this ID without consuming
// it. An unknown or expired ID gives an error wrapping ErrRequestNotFound.
func (s *Server) PendingRequest(ctx context.Context, id string) (*Pending, error) {
	req, err := s.getParked(ctx, id)
	if err != nil {
		return nil, err
	}
	e, err := s.lookupClient(ctx, req.ClientID)
	if err != nil {
		return nil, err
	}
	c := &e.client
	pd := &Pending{
		ID:            req.ID,
		ClientID:      c.ID,
		ClientName:    c.Metadata.ClientName,
		ClientKind:    c.Kind,
		ClientURI:     c.Metadata.ClientURI,
		ClientLogoURI: c.Metadata.LogoURI,
		RedirectURI:   req.RedirectURI,
		Prompt:        req.Prompt,
		CreatedAt:     req.CreatedAt,
		ExpiresAt:     req.ExpiresAt,
		LoopbackOnly:  len(c.Metadata.RedirectURIs) > 0,
	}
	if pd.ClientName == "" {
		pd.ClientName = c.ID
	}
	if c.Kind == storage.ClientMetadataDocument {
		if u, err := url.Parse(c.ID); err == nil {
			pd.ClientIDHost = u.Hostname()
		}
	}
	if u, err := url.Parse(req.RedirectURI); err == nil {
		pd.RedirectHost = u.Hostname()
	}
	for _, ru := range c.Metadata.RedirectURIs {
		u, err := url.Parse(ru)
		if err != nil || u.Scheme != "http" || !isLoopbackHost(u.Hostname()) {
			pd.LoopbackOnly = false
			break
		}
	}
	for _, name := range req.Scopes {
		info := ScopeInfo{Name: name}
		if sc, ok := s.scopes[name]; ok {
			info.Description = sc.Description
		}
		pd.Scopes = append(pd.Scopes, info)
	}
	for _, id := range req.Resources {
		info := ResourceInfo{Identifier: id}
		if r := s.findResource(id); r != nil {
			info.Name = r.Name
		}
		pd.Resources = append(pd.Resources, info)
	}
	return pd, nil
}

// getParked reads a parked request, treating expiry as absence.
func (s *Server) getParked(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	if id == "" || len(id) > 128 {
		return nil, requestNotFound(nil)
	}
	req, err := s.store.GetAuthorizationRequest(ctx, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) {
			return nil, requestNotFound(err)
		}
		return nil, storeErr(err)
	}
	if !s.now().Before(req.ExpiresAt) {
		return nil, requestNotFound(storage.ErrExpired)
	}
	return req, nil
}

func requestNotFound(cause error) *Error {
	return &Error{Code: ErrCodeInvalidRequest, Description: "The authorization request has expired or was already completed.", cause: errors.Join(ErrRequestNotFound, cause)}
}

// consumeParked removes a parked request; exactly one caller wins.
func (s *Server) consumeParked(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	req, err := s.store.ConsumeAuthorizationRequest(ctx, id)
	if err != nil {
		if errors.Is(err, storage.ErrNotFound) || errors.Is(err, storage.ErrExpired) || errors.Is(err, storage.ErrAlreadyUsed) {
			return nil, requestNotFound(err)
		}
		return nil, storeErr(err)
	}
	if !s.now().Before(req.ExpiresAt) {
		return nil, requestNotFound(storage.ErrExpired)
	}
	return req, nil
}

// Approve completes a parked request with the user's consent: it consumes
// the request (once), records a grant, issues an authorization code and
// answers the browser with a 303 to the client's redirect URI carrying
// code, state and iss. The host must have authenticated the user.
//
// When the request cannot be completed Approve writes an HTML error page
// (or, for an invalid Approval after the request is consumed, an error
// redirect to the client) and returns the error; the response is always
// written.
func (s *Server) Approve(w http.ResponseWriter, r *http.Request, id string, a Approval) error {
	ctx := r.Context()
	if err := validSubject(a.Subject); err != nil {
		s.writeErrorPage(w, r, err)
		return err
	}
	parked, err := s.getParked(ctx, id)
	if err != nil {
		s.writeErrorPage(w, r, err)
		return err
	}
	if a.Subject == parked.ClientID {
		err := errInvalidRequest("The subject must not equal the client_id.")
		s.writeErrorPage(w, r, err)
		return err
	}
	for _, sc := range a.Scopes {
		if !slices.Contains(parked.Scopes, sc) {
			err := errInvalidScope("The approval grants a scope that was not requested: " + sc)
			s.writeErrorPage(w, r, err)
			return err
		}
	}
	req, err := s.consumeParked(ctx, id)
	if err != nil {
		s.writeErrorPage(w, r, err)
		return err
	}
	t := &authzTarget{redirectURI: req.RedirectURI, state: req.State}
	e, err := s.lookupClient(ctx, req.ClientID)
	if err != nil {
		// The client vanished while the user was consenting; its redirect
		// URI is no longer trustworthy.
		s.writeErrorPage(w, r, err)
		return err
	}
	code, err := s.issueCode(ctx, e, req, a)
	if err != nil {
		s.redirectError(w, r, t, err)
		return err
	}
	s.redirect(w, t, "code="+code)
	return nil
}

// issueCode records the grant and its authorization code.
func (s *Server) issueCode(ctx context.Context, e *clientEntry, req *storage.AuthorizationRequest, a Approval) (string, error) {
	now := s.now()
	authTime := a.AuthTime
	if authTime.IsZero() {
		authTime = now
	}
	scopes := make([]string, 0, len(a.Scopes))
	for _, sc := range req.Scopes { // keep the request's order
		if slices.Contains(a.Scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	grantID, err := s.randomToken(16)
	if err != nil {
		return "", err
	}
	code, err := s.randomToken(32)
	if err != nil {
		return "", err
	}
	g := &storage.Grant{
		ID:        grantID,
		Subject:   a.Subject,
		ClientID:  req.ClientID,
		Scopes:    scopes,
		Resources: req.Resources,
		AuthTime:  authTime,
		CreatedAt: now,
		ExpiresAt: now.Add(s.grantLifetime),
	}
	if err := s.store.CreateGrant(ctx, g); err != nil {
		return "", storeErr(err)
	}
	ac := &storage.AuthorizationCode{
		Hash:                storage.HashOf(code),
		GrantID:             grantID,
		ClientID:            req.ClientID,
		RedirectURI:         req.RedirectURI,
		CodeChallenge:       req.CodeChallenge,
		CodeChallengeMethod: req.CodeChallengeMethod,
		Subject:             a.Subject,
		Scopes:              scopes,
		Resources:           req.Resources,
		Nonce:               req.Nonce,
		AuthTime:            authTime,
		IssuedAt:            now,
		ExpiresAt:           now.Add(s.codeLifetime),
	}
	if err := s.store.SaveCode(ctx, ac); err != nil {
		return "", storeErr(err)
	}
	if e.client.Kind != storage.ClientStatic {
		if err := s.store.MarkClientUsed(ctx, e.client.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return "", storeErr(err)
		}
	}
	return code, nil
}

// Deny completes a parked request with the user's refusal: it consumes the
// request and answers 303 to the client with error=access_denied, state
// and iss. An unknown or expired request gives an HTML error page and an
// error.
func (s *Server) Deny(w http.ResponseWriter, r *http.Request, id string) error {
	return s.deny(w, r, id, oauthErr(ErrCodeAccessDenied, "The user denied the request."))
}

// DenyWithError completes a parked request without asking the user, as
// OpenID Connect Core §3.1.2.6 wants for prompt=none: it consumes the
// request and answers 303 to the client with the given error code, state
// and iss. code is one of access_denied, login_required (no session),
// consent_required (no remembered consent), interaction_required (some
// other page would be needed) or account_selection_required; any other
// code is a programming error, answered with a 500 error page without
// consuming the request. An unknown or expired request gives an HTML
// error page and an error, as with Deny.
func (s *Server) DenyWithError(w http.ResponseWriter, r *http.Request, id, code string) error {
	var desc string
	switch code {
	case ErrCodeAccessDenied:
		desc = "The user denied the request."
	case ErrCodeLoginRequired:
		desc = "The user must log in, which prompt=none does not allow."
	case ErrCodeConsentRequired:
		desc = "The user must consent, which prompt=none does not allow."
	case ErrCodeInteractionRequired:
		desc = "The user must interact, which prompt=none does not allow."
	case ErrCodeAccountSelectionRequired:
		desc = "The user must select an account, which prompt=none does not allow."
	default:
		err := fmt.Errorf("authz: DenyWithError: unsupported error code %q", code)
		s.writeErrorPage(w, r, err)
		return err
	}
	return s.deny(w, r, id, oauthErr(code, desc))
}

func (s *Server) deny(w http.ResponseWriter, r *http.Request, id string, oe *Error) error {
	req, err := s.consumeParked(r.Context(), id)
	if err != nil {
		s.writeErrorPage(w, r, err)
		return err
	}
	t := &authzTarget{redirectURI: req.RedirectURI, state: req.State}
	s.redirectError(w, r, t, oe)
	return nil
}

// validSubject checks an Approval's subject: non-empty, at most 255 bytes,
// valid UTF-8 without control characters.
func validSubject(sub string) error {
	if sub == "" || len(sub) > 255 || !utf8.ValidString(sub) {
		return errInvalidRequest("The approval needs a subject of 1 to 255 bytes.")
	}
	for _, r := range sub {
		if unicode.IsControl(r) {
			return errInvalidRequest("The subject contains control characters.")
		}
	}
	return nil
}

// AutoApprove returns an interaction handler that approves every request
// for subject with all requested scopes, without asking anyone. It exists
// for tests and demos; never mount it in production.
func AutoApprove(s *Server, subject string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.URL.Query().Get("request_id")
		pd, err := s.PendingRequest(r.Context(), id)
		if err != nil {
			s.writeErrorPage(w, r, err)
			return
		}
		scopes := make([]string, len(pd.Scopes))
		for i, sc := range pd.Scopes {
			scopes[i] = sc.Name
		}
		_ = s.Approve(w, r, id, Approval{Subject: subject, Scopes: scopes})
	})
}
