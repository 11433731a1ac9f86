package authz

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/nqrust/identity/storage"
)

// Limits on what one authorization request may ask for.
const (
	maxResources    = 10
	maxScopes       = 50
	maxStateLength  = 2048
	maxNonceLength  = 512
	maxRedirectURI  = 2048
	challengeMinLen = 43
	challengeMaxLen = 128
)

// authzTarget is where errors go once the redirect URI is trusted.
type authzTarget struct {
	redirectURI string
	state       string
}

// AuthorizationHandler serves the authorization endpoint (GET and POST).
// It validates the request in an order that never redirects to an
// unvalidated URI: first the client and its redirect URI (failures render
// an HTML error page), then everything else (failures redirect with
// "error", "state" and "iss"). A valid request is parked and the browser
// is sent (303) to Config.InteractionURL with a "request_id". The endpoint
// never sends CORS headers.
func (s *Server) AuthorizationHandler() http.Handler {
	return s.recoverer(http.HandlerFunc(s.serveAuthorize))
}

func (s *Server) serveAuthorize(w http.ResponseWriter, r *http.Request) {
	var p params
	switch r.Method {
	case http.MethodGet:
		if len(r.URL.RawQuery) > maxQueryLength {
			s.writeErrorPage(w, r, errInvalidRequest("The request is too long."))
			return
		}
		if err := p.parse(r.URL.RawQuery); err != nil {
			s.writeErrorPage(w, r, errInvalidRequest("The request parameters are malformed or too many."))
			return
		}
	case http.MethodPost:
		if err := readForm(w, r, s.maxBody, &p, nil); err != nil {
			s.writeErrorPage(w, r, err)
			return
		}
	default:
		w.Header().Set("Allow", "GET, POST")
		s.writeErrorPage(w, r, &Error{Code: ErrCodeInvalidRequest, Description: "Method not allowed.", Status: http.StatusMethodNotAllowed})
		return
	}
	ctx := r.Context()
	req, target, err := s.validateAuthorization(ctx, r, &p)
	if err != nil {
		if target == nil {
			s.writeErrorPage(w, r, err)
		} else {
			s.redirectError(w, r, target, err)
		}
		return
	}
	if err := s.store.SaveAuthorizationRequest(ctx, req); err != nil {
		s.redirectError(w, r, target, storeErr(err))
		return
	}
	loc := s.interactionURL
	if strings.Contains(loc, "?") {
		loc += "&request_id=" + req.ID
	} else {
		loc += "?request_id=" + req.ID
	}
	h := w.Header()
	h["Cache-Control"] = noStoreValue
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// validateAuthorization checks an authorization request. When it returns
// an error with a nil target, the error must be shown to the user, never
// redirected.
func (s *Server) validateAuthorization(ctx context.Context, r *http.Request, p *params) (*storage.AuthorizationRequest, *authzTarget, error) {
	if p.isDup("client_id") {
		return nil, nil, errInvalidRequest("The client_id parameter is repeated.")
	}
	clientID := p.get("client_id")
	if clientID == "" {
		return nil, nil, errInvalidRequest("The client_id parameter is missing.")
	}
	if !validClientID(clientID) {
		return nil, nil, errInvalidRequest("The client_id parameter is malformed.")
	}
	if p.isDup("redirect_uri") {
		return nil, nil, errInvalidRequest("The redirect_uri parameter is repeated.")
	}
	redirectURI := p.get("redirect_uri")
	if len(redirectURI) > maxRedirectURI {
		return nil, nil, errInvalidRequest("The redirect_uri parameter is too long.")
	}

	e, err := s.resolveAuthorizationClient(ctx, r, p, clientID, redirectURI)
	if err != nil {
		return nil, nil, err
	}
	c := &e.client
	registered := c.Metadata.RedirectURIs
	if redirectURI == "" {
		if len(registered) != 1 {
			return nil, nil, errInvalidRequest("The redirect_uri parameter is required for this client.")
		}
		redirectURI = registered[0]
	} else if !slices.ContainsFunc(registered, func(reg string) bool { return redirectURIMatches(reg, redirectURI) }) {
		return nil, nil, errInvalidRequest("The redirect_uri is not registered for this client.")
	}

	// From here on the redirect URI is trusted and errors go back to it.
	t := &authzTarget{redirectURI: redirectURI}
	if p.isDup("state") {
		return nil, t, errInvalidRequest("The state parameter is repeated.")
	}
	t.state = p.get("state")
	if len(t.state) > maxStateLength {
		t.state = ""
		return nil, t, errInvalidRequest("The state parameter is too long.")
	}
	if p.dup != "" {
		return nil, t, errRepeated(p.dup)
	}
	switch rt := p.get("response_type"); rt {
	case "code":
	case "":
		return nil, t, errInvalidRequest("The response_type parameter is missing.")
	default:
		return nil, t, oauthErr(ErrCodeUnsupportedResponseType, "Only response_type=code is supported.")
	}
	if rm := p.get("response_mode"); rm != "" && rm != "query" {
		return nil, t, errInvalidRequest("Only response_mode=query is supported.")
	}
	if !allowsGrant(c, GrantTypeAuthorizationCode) || (len(c.Metadata.ResponseTypes) > 0 && !slices.Contains(c.Metadata.ResponseTypes, "code")) {
		return nil, t, oauthErr(ErrCodeUnauthorizedClient, "The client may not use the authorization code grant.")
	}
	challenge := p.get("code_challenge")
	method := p.get("code_challenge_method")
	switch {
	case challenge == "":
		return nil, t, errInvalidRequest("PKCE is required: send code_challenge with code_challenge_method=S256.")
	case method == "":
		return nil, t, errInvalidRequest("code_challenge_method is required and must be S256.")
	case method != "S256":
		return nil, t, errInvalidRequest("Only code_challenge_method=S256 is supported.")
	case !validChallenge(challenge):
		return nil, t, errInvalidRequest("The code_challenge is malformed.")
	}
	resources, err := s.requestedResources(p.all("resource"))
	if err != nil {
		return nil, t, err
	}
	requested, err := parseScope(p.get("scope"))
	if err != nil {
		return nil, t, err
	}
	scopes, resources, err := s.decideScopes(c, requested, resources)
	if err != nil {
		return nil, t, err
	}
	nonce := p.get("nonce")
	if len(nonce) > maxNonceLength {
		return nil, t, errInvalidRequest("The nonce parameter is too long.")
	}
	id, err := s.randomToken(32)
	if err != nil {
		return nil, t, storeErr(err)
	}
	now := s.now()
	return &storage.AuthorizationRequest{
		ID:                  id,
		ClientID:            c.ID,
		RedirectURI:         redirectURI,
		State:               t.state,
		Scopes:              scopes,
		Resources:           resources,
		CodeChallenge:       challenge,
		CodeChallengeMethod: method,
		Nonce:               nonce,
		Prompt:              p.get("prompt"),
		CreatedAt:           now,
		ExpiresAt:           now.Add(s.requestLifetime),
	}, t, nil
}

// requestedResources validates RFC 8707 resource indicators: each must be
// absolute, without fragment, and registered. The result holds the
// registered identifiers, deduplicated, in request order.
func (s *Server) requestedResources(values []string) ([]string, error) {
	if len(values) == 0 {
		return nil, nil
	}
	if len(values) > maxResources {
		return nil, errInvalidTarget("Too many resource parameters.")
	}
	out := make([]string, 0, len(values))
	for _, v := range values {
		if _, ok := canonicalResource(v); !ok {
			return nil, errInvalidTarget("Each resource must be an absolute URI without a fragment.")
		}
		res := s.findResource(v)
		if res == nil {
			return nil, errInvalidTarget("The resource is not served by this authorization server.")
		}
		if !slices.Contains(out, res.Identifier) {
			out = append(out, res.Identifier)
		}
	}
	return out, nil
}

// parseScope splits a scope parameter, checking RFC 6749 §3.3 syntax and
// dropping duplicates.
func parseScope(v string) ([]string, error) {
	if v == "" {
		return nil, nil
	}
	n := strings.Count(v, " ") + 1
	if n > maxScopes*2 {
		return nil, errInvalidScope("Too many scopes.")
	}
	out := make([]string, 0, n)
	for v != "" {
		var tok string
		tok, v, _ = strings.Cut(v, " ")
		if tok == "" {
			continue
		}
		if !validScopeToken(tok) {
			return nil, errInvalidScope("The scope parameter is malformed.")
		}
		if !slices.Contains(out, tok) {
			out = append(out, tok)
		}
	}
	if len(out) > maxScopes {
		return nil, errInvalidScope("Too many scopes.")
	}
	return out, nil
}

// decideScopes computes the granted scopes and the audience of a request
// (see the package documentation, "Scopes and audiences"):
//
//   - candidates are the requested scopes, or, when none were requested,
//     the scopes marked Default;
//   - candidates the server does not know, or that the client did not
//     register (when it registered a "scope"), are dropped;
//   - without a resource, the audience comes from the candidates' scope
//     audiences (several distinct ones are invalid_scope), else from
//     Config.DefaultResource, else the request fails with invalid_target;
//   - when nothing was requested and no scope is marked Default, the
//     candidates are the scopes the resources accept;
//   - candidates no resource accepts are dropped;
//   - a request that named scopes but keeps none fails with invalid_scope,
//     so that dropping never turns into a broader grant.
func (s *Server) decideScopes(c *storage.Client, requested, resources []string) ([]string, []string, error) {
	explicit := len(requested) > 0
	var clientScopes []string
	if c.Metadata.Scope != "" {
		clientScopes = strings.Fields(c.Metadata.Scope)
	}
	allowedForClient := func(name string) bool {
		if _, ok := s.scopes[name]; !ok {
			return false
		}
		return clientScopes == nil || name == ScopeOfflineAccess || slices.Contains(clientScopes, name)
	}
	cand := make([]string, 0, 8)
	if explicit {
		for _, sc := range requested {
			if allowedForClient(sc) {
				cand = append(cand, sc)
			}
		}
	} else {
		for _, name := range s.scopeOrder {
			if s.scopes[name].Default && allowedForClient(name) {
				cand = append(cand, name)
			}
		}
	}
	if len(resources) == 0 {
		var aud string
		for _, name := range cand {
			for _, a := range s.scopes[name].Audiences {
				if aud == "" {
					aud = a
				} else if !resourceEqual(aud, a) {
					return nil, nil, errInvalidScope("The requested scopes belong to different resources; name one with the resource parameter.")
				}
			}
		}
		switch {
		case aud != "":
			if r := s.findResource(aud); r != nil {
				aud = r.Identifier
			}
			resources = []string{aud}
		case s.defaultResource != "":
			resources = []string{s.defaultResource}
		default:
			return nil, nil, errInvalidTarget("Name the protected resource with the resource parameter.")
		}
	}
	if !explicit && len(cand) == 0 {
		for _, name := range s.scopeOrder {
			if name == ScopeOfflineAccess || !allowedForClient(name) {
				continue
			}
			for _, id := range resources {
				if r := s.findResource(id); r != nil && slices.Contains(r.Scopes, name) {
					cand = append(cand, name)
					break
				}
			}
		}
	}
	out := cand[:0]
	for _, name := range cand {
		if s.resourcesAccept(resources, name) {
			out = append(out, name)
		}
	}
	if explicit && len(out) == 0 {
		return nil, nil, errInvalidScope("None of the requested scopes can be granted to this client for this resource.")
	}
	return out, resources, nil
}

// resourcesAccept reports whether at least one of the resources accepts
// the scope. Unregistered audiences (from scope audiences) and resources
// without a scope list accept every known scope.
func (s *Server) resourcesAccept(resources []string, name string) bool {
	if name == ScopeOfflineAccess {
		return true
	}
	for _, id := range resources {
		r := s.findResource(id)
		if r == nil || len(r.Scopes) == 0 || slices.Contains(r.Scopes, name) {
			return true
		}
	}
	return false
}

// validChallenge checks an S256 code_challenge: the base64url (no padding)
// SHA-256 digest, which is always 43 characters of the unreserved set.
func validChallenge(c string) bool {
	if len(c) != challengeMinLen {
		return false
	}
	for i := 0; i < len(c); i++ {
		if !isBase64URLChar(c[i]) {
			return false
		}
	}
	return true
}

func isBase64URLChar(b byte) bool {
	return b >= 'A' && b <= 'Z' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-' || b == '_'
}

// validVerifier checks RFC 7636 §4.1: 43–128 unreserved characters.
func validVerifier(v string) bool {
	if len(v) < challengeMinLen || len(v) > challengeMaxLen {
		return false
	}
	for i := 0; i < len(v); i++ {
		b := v[i]
		if !isBase64URLChar(b) && b != '.' && b != '~' {
			return false
		}
	}
	return true
}

// redirectError answers an authorization request with an error at the
// validated redirect URI, with state and iss (RFC 9207).
func (s *Server) redirectError(w http.ResponseWriter, r *http.Request, t *authzTarget, err error) {
	oe := asOAuthError(err)
	s.logError(r, oe)
	code := oe.Code
	switch code {
	case ErrCodeInvalidRequest, ErrCodeUnauthorizedClient, ErrCodeAccessDenied, ErrCodeUnsupportedResponseType,
		ErrCodeInvalidScope, ErrCodeServerError, ErrCodeTemporarilyUnavailable, ErrCodeInvalidTarget,
		ErrCodeLoginRequired, ErrCodeConsentRequired, ErrCodeInteractionRequired, ErrCodeAccountSelectionRequired:
	default:
		code = ErrCodeInvalidRequest
	}
	if code == ErrCodeServerError && oe.status() == http.StatusServiceUnavailable {
		code = ErrCodeTemporarilyUnavailable
	}
	q := "error=" + url.QueryEscape(code)
	if d := descriptionText(oe.Description); d != "" {
		q += "&error_description=" + url.QueryEscape(d)
	}
	s.redirect(w, t, q)
}

// redirect sends the browser to the client's redirect URI with the given
// query (already encoded) plus state and iss, keeping the URI's own query.
func (s *Server) redirect(w http.ResponseWriter, t *authzTarget, q string) {
	if t.state != "" {
		q += "&state=" + url.QueryEscape(t.state)
	}
	q += "&iss=" + url.QueryEscape(s.issuer)
	loc := t.redirectURI
	if strings.Contains(loc, "?") {
		if !strings.HasSuffix(loc, "?") && !strings.HasSuffix(loc, "&") {
			loc += "&"
		}
	} else {
		loc += "?"
	}
	loc += q
	h := w.Header()
	h["Cache-Control"] = noStoreValue
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}
