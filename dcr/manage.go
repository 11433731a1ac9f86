package dcr

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// maxClientIDLength bounds a client_id taken from the path before it
// reaches the store; issued IDs are 22 characters.
const maxClientIDLength = 128

// membersForbiddenInUpdate may not appear in an RFC 7592 §2.2 update body.
var membersForbiddenInUpdate = []string{
	"registration_access_token", "registration_client_uri",
	"client_secret_expires_at", "client_id_issued_at",
}

// manage handles GET, PUT and DELETE on a client configuration URI
// (RFC 7592 §2), authenticated by the client's registration access token.
func (r *Registrar) manage(w http.ResponseWriter, req *http.Request, id string) {
	ctx := req.Context()
	now := r.s.now()

	tok, present, e := bearerToken(req)
	if e == nil && !present {
		e = tokenErr(true, "a registration access token is required")
	}
	if e != nil {
		r.fail(w, req, nil, e)
		return
	}
	// The token's prefix names the kind of registration; it is checked
	// together with the rest of the token against the stored hash below.
	var p *compiledPolicy
	switch {
	case strings.HasPrefix(tok, ratAnonymous):
		p = r.s.anonymous
	case strings.HasPrefix(tok, ratAuthenticated):
		p = r.s.authenticated
	default:
		r.fail(w, req, nil, tokenErr(false, "the registration access token is not valid"))
		return
	}
	if p != nil {
		if e := r.gate(req, p, now); e != nil {
			r.fail(w, req, p, e)
			return
		}
	} else if origin := req.Header.Get("Origin"); origin != "" {
		// The policy the client registered under is gone; no browser
		// origin is allowed for it any more.
		r.fail(w, req, nil, deniedErr(nil, "web origin %s is not an allowed registration web origin", quote(origin)))
		return
	}

	// Unknown, expired and unmanageable clients and wrong tokens all get
	// the same 401 (RFC 7592 §2.1), so the endpoint reveals nothing about
	// which client IDs exist.
	invalid := tokenErr(false, "the registration access token is not valid for this client")
	if len(id) > maxClientIDLength {
		r.fail(w, req, p, invalid)
		return
	}
	sc, err := r.s.store.GetClient(ctx, id)
	switch {
	case err == nil:
	case errors.Is(err, storage.ErrNotFound), errors.Is(err, storage.ErrExpired):
		r.fail(w, req, p, invalid)
		return
	default:
		r.fail(w, req, p, storeErr(err))
		return
	}
	if sc.Kind != storage.ClientRegistered || sc.RegistrationTokenHash.IsZero() ||
		!sc.RegistrationTokenHash.Equal(storage.HashOf(tok)) {
		r.fail(w, req, p, invalid)
		return
	}

	if origin := req.Header.Get("Origin"); origin != "" {
		addVaryOrigin(w.Header())
	}
	switch req.Method {
	case http.MethodGet:
		r.corsOK(w, req, p)
		// RFC 7592 §3 requires registration_access_token in the answer;
		// only its hash is stored, so the token just presented (which is
		// the current one: this server does not rotate it) is echoed.
		writeJSON(w, http.StatusOK, r.s.response(sc, "", tok))
	case http.MethodDelete:
		r.remove(w, req, p, sc)
	case http.MethodPut:
		r.update(w, req, p, sc, tok)
	}
}

// corsOK sets the CORS answer headers for a request whose origin passed
// the gate.
func (r *Registrar) corsOK(w http.ResponseWriter, req *http.Request, p *compiledPolicy) {
	if origin := req.Header.Get("Origin"); origin != "" && p.originAllowed(origin) {
		allowCORS(w, origin)
	}
}

// remove deletes a client after revoking its grants, so that every code,
// refresh token and grant-bound access token issued to it stops working
// (RFC 7592 §2.3).
func (r *Registrar) remove(w http.ResponseWriter, req *http.Request, p *compiledPolicy, sc *storage.Client) {
	ctx := req.Context()
	now := r.s.now()
	if err := r.s.store.RevokeClientGrants(ctx, sc.ID, now); err != nil {
		r.fail(w, req, p, storeErr(err))
		return
	}
	if err := r.s.store.DeleteClient(ctx, sc.ID); err != nil && !errors.Is(err, storage.ErrNotFound) {
		r.fail(w, req, p, storeErr(err))
		return
	}
	if r.s.onDelete != nil {
		r.s.onDelete(ctx, sc.ID)
	}
	r.s.log.LogAttrs(ctx, slog.LevelInfo, "dcr: client deleted", slog.String("client_id", sc.ID))
	r.corsOK(w, req, p)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusNoContent)
}

// update replaces a client's metadata (RFC 7592 §2.2): members left out are
// removed (and RFC 7591 defaults apply again), and the result passes the
// same validation and policy as a registration.
func (r *Registrar) update(w http.ResponseWriter, req *http.Request, p *compiledPolicy, sc *storage.Client, tok string) {
	ctx := req.Context()
	now := r.s.now()
	if p == nil {
		r.fail(w, req, nil, deniedErr(nil, "the registration policy this client was registered under is no longer configured, so it cannot be updated"))
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
	var members map[string]json.RawMessage
	if err := json.Unmarshal(body, &members); err != nil {
		r.fail(w, req, p, policyErr(nil, codeInvalidClientMetadata, "client metadata is not valid JSON"))
		return
	}
	for _, m := range membersForbiddenInUpdate {
		if _, ok := members[m]; ok {
			r.fail(w, req, p, policyErr(nil, codeInvalidClientMetadata, "%s must not be sent in an update", m))
			return
		}
	}
	if c.ClientID != sc.ID {
		r.fail(w, req, p, policyErr(nil, codeInvalidClientMetadata, "client_id must be present and equal to the client's current client_id"))
		return
	}
	if c.ClientSecret != "" {
		if sc.SecretHash.IsZero() || !sc.SecretHash.Equal(storage.HashOf(c.ClientSecret)) {
			r.fail(w, req, p, policyErr(nil, codeInvalidClientMetadata, "client_secret does not match the client's current secret"))
			return
		}
	}
	c.ClientID, c.ClientSecret = "", ""
	if e := r.s.prepare(p, c); e != nil {
		r.fail(w, req, p, e)
		return
	}
	if e := r.s.evaluatePolicies(ctx, req, c, sc); e != nil {
		r.fail(w, req, p, e)
		return
	}

	next := *sc
	next.Metadata = *c
	next.Metadata.ClientID = sc.ID
	next.Metadata.ClientIDIssuedAt = sc.Metadata.ClientIDIssuedAt
	next.UpdatedAt = now
	var secret string
	switch {
	case !usesSecret(c.TokenEndpointAuthMethod):
		next.SecretHash, next.SecretExpiresAt = storage.Hash{}, time.Time{}
	case sc.SecretHash.IsZero() || (!sc.SecretExpiresAt.IsZero() && !now.Before(sc.SecretExpiresAt)):
		// The client becomes confidential, or its secret has expired: a
		// new secret is issued (RFC 7592 §2.2 lets the server do so).
		if secret, err = r.s.random(32); err != nil {
			r.fail(w, req, p, &regError{status: http.StatusInternalServerError, code: codeServerError, desc: "internal error", cause: err})
			return
		}
		next.SecretHash = storage.HashOf(secret)
		next.SecretExpiresAt = time.Time{}
		if r.s.secretLifetime > 0 {
			next.SecretExpiresAt = now.Add(r.s.secretLifetime)
		}
	}
	if err := r.s.store.UpdateClient(ctx, &next); err != nil {
		if errors.Is(err, storage.ErrNotFound) {
			r.fail(w, req, p, tokenErr(false, "the registration access token is not valid for this client"))
			return
		}
		r.fail(w, req, p, storeErr(err))
		return
	}
	r.s.log.LogAttrs(ctx, slog.LevelInfo, "dcr: client updated",
		slog.String("client_id", sc.ID), slog.String("policy", p.name), slog.Bool("new_secret", secret != ""))
	r.corsOK(w, req, p)
	writeJSON(w, http.StatusOK, r.s.response(&next, secret, tok))
}
