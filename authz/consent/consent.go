package consent

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/storage"
)

// DefaultRememberFor is how long a remembered consent lasts by default.
const DefaultRememberFor = 90 * 24 * time.Hour

// maxFormBytes bounds a posted consent form: four short fields.
const maxFormBytes = 8 << 10

// Config configures a [Handler]. Server, Authenticate and LoginURL are
// required; every other zero value is safe.
type Config struct {
	// Server is the authorization server whose parked requests the
	// handler completes.
	Server *authz.Server

	// Authenticate reports who is signed in, from the host's own session
	// (typically a cookie). authTime is when the user last authenticated;
	// return the real time so that prompt=login can be honoured (zero
	// means unknown). When ok is false the handler sends the browser to
	// LoginURL.
	Authenticate func(r *http.Request) (subject string, authTime time.Time, ok bool)

	// LoginURL is the host's login page: an absolute path ("/login") or an
	// absolute http(s) URL, without fragment. The handler redirects there
	// (303) with the query parameter "request_id", plus "prompt=login"
	// when the client demands a fresh login; after signing in, the login
	// page sends the browser back to this handler with the same
	// "request_id". Required, even when Authenticate always succeeds
	// (prompt=login sends a user with an older session there too).
	LoginURL string

	// Store remembers consent per user and client (storage.ConsentStore;
	// any storage.Store will do). Nil means consent is asked every time
	// and the "remember" checkbox is not offered.
	Store storage.ConsentStore
	// RememberFor is how long a remembered consent lasts; 0 means
	// DefaultRememberFor.
	RememberFor time.Duration
	// RememberLoopbackOnly lets users remember consent for clients whose
	// every redirect URI is a loopback address. Any local program can
	// claim such a client's identity (MCP "Localhost Redirect URI
	// Risks"), so by default their consent is asked every time.
	RememberLoopbackOnly bool

	// Template replaces the consent page. It must define "consent",
	// executed with *PageData, and may define "error", executed with
	// *ErrorData (the built-in error page is used otherwise). Start from
	// Layout to keep the built-in look. Nil means the built-in pages.
	Template *template.Template
	// Messages localises or rewords the built-in pages; empty fields keep
	// the English defaults. Nil means English.
	Messages *Messages

	// LogoClient fetches client logos. Nil means a client that reaches
	// public addresses only (no loopback, private or link-local address,
	// no redirects, 3 s timeout); a client you pass keeps the body cap,
	// timeout and no-redirect rules but relies on its own dialer for
	// address checks.
	LogoClient *http.Client
	// DisableLogos stops the handler from fetching client logos; a letter
	// is shown instead.
	DisableLogos bool
	// MaxLogoBytes caps one logo; 0 means DefaultMaxLogoBytes.
	MaxLogoBytes int64

	// CSRFKey keys the CSRF tokens (HMAC-SHA256), at least 32 bytes. Nil
	// means a random key per Handler, which is right for one process; give
	// every node the same key when a load balancer may send the page and
	// its form to different nodes.
	CSRFKey []byte

	// Logger receives diagnostics; nil discards them.
	Logger *slog.Logger
	// Rand is the source of cookie values and of the random CSRF key; nil
	// means crypto/rand.Reader.
	Rand io.Reader
	// Clock returns the current time; nil means time.Now.
	Clock func() time.Time
}

// Handler is the consent step: it shows the consent page for a parked
// authorization request (GET, with "request_id") and completes the request
// with the user's decision (POST). It also serves client logos it fetched
// (GET, with "logo"). Mount it at authz.Config.InteractionURL, or wherever
// the host's login sends the browser. It is safe for concurrent use.
type Handler struct {
	srv          *authz.Server
	authenticate func(r *http.Request) (string, time.Time, bool)
	loginURL     string
	store        storage.ConsentStore
	rememberFor  time.Duration
	rememberLoop bool
	consentTmpl  *template.Template
	errorTmpl    *template.Template
	msgs         *Messages
	logos        *logoCache
	key          []byte
	log          *slog.Logger
	rand         io.Reader
	clock        func() time.Time
	origin       http.CrossOriginProtection
	bufs         sync.Pool
}

// New validates cfg and returns a Handler.
func New(cfg Config) (*Handler, error) {
	if cfg.Server == nil {
		return nil, errors.New("consent: Config.Server is required")
	}
	if cfg.Authenticate == nil {
		return nil, errors.New("consent: Config.Authenticate is required")
	}
	if err := validLoginURL(cfg.LoginURL); err != nil {
		return nil, err
	}
	if cfg.RememberFor < 0 {
		return nil, errors.New("consent: Config.RememberFor must not be negative")
	}
	if cfg.MaxLogoBytes < 0 || cfg.MaxLogoBytes > 10<<20 {
		return nil, errors.New("consent: Config.MaxLogoBytes must be between 0 and 10 MiB")
	}
	if cfg.CSRFKey != nil && len(cfg.CSRFKey) < 32 {
		return nil, errors.New("consent: Config.CSRFKey must be at least 32 bytes")
	}
	h := &Handler{
		srv:          cfg.Server,
		authenticate: cfg.Authenticate,
		loginURL:     cfg.LoginURL,
		store:        cfg.Store,
		rememberFor:  cfg.RememberFor,
		rememberLoop: cfg.RememberLoopbackOnly,
		consentTmpl:  builtinConsent,
		errorTmpl:    builtinError,
		msgs:         cfg.Messages.withDefaults(),
		log:          cfg.Logger,
		rand:         cfg.Rand,
		clock:        cfg.Clock,
	}
	h.bufs.New = func() any { return new(bytes.Buffer) }
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	if h.rand == nil {
		h.rand = rand.Reader
	}
	if h.clock == nil {
		h.clock = time.Now
	}
	if h.rememberFor == 0 {
		h.rememberFor = DefaultRememberFor
	}
	if t := cfg.Template; t != nil {
		if t.Lookup("consent") == nil {
			return nil, errors.New(`consent: Config.Template must define "consent"`)
		}
		h.consentTmpl = t
		if t.Lookup("error") != nil {
			h.errorTmpl = t
		}
	}
	if cfg.CSRFKey != nil {
		h.key = slices.Clone(cfg.CSRFKey)
	} else {
		h.key = make([]byte, 32)
		if _, err := io.ReadFull(h.rand, h.key); err != nil {
			return nil, fmt.Errorf("consent: reading a CSRF key from Config.Rand: %w", err)
		}
	}
	if !cfg.DisableLogos {
		maxBytes := cfg.MaxLogoBytes
		if maxBytes == 0 {
			maxBytes = DefaultMaxLogoBytes
		}
		lc, err := newLogoCache(cfg.LogoClient, maxBytes, h.clock, h.log)
		if err != nil {
			return nil, fmt.Errorf("consent: logo client: %w", err)
		}
		h.logos = lc
	}
	return h, nil
}

func validLoginURL(s string) error {
	if s == "" {
		return errors.New("consent: Config.LoginURL is required")
	}
	u, err := url.Parse(s)
	if err != nil || u.Fragment != "" || strings.Contains(s, "#") {
		return fmt.Errorf("consent: Config.LoginURL %q must be a path or URL without fragment", s)
	}
	switch {
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(s, "//"):
	case (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" && u.User == nil:
	default:
		return fmt.Errorf("consent: Config.LoginURL %q must be an absolute path or an absolute http(s) URL", s)
	}
	return nil
}

// ServeHTTP implements the consent step.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		q := r.URL.Query()
		if key := q.Get("logo"); key != "" && h.logos != nil {
			h.logos.serve(w, r, key)
			return
		}
		if r.Method == http.MethodGet {
			h.show(w, r, q.Get("request_id"))
			return
		}
		// A page GET may complete the request (remembered consent,
		// prompt=none); HEAD, which nothing navigates with, may not.
	case http.MethodPost:
		h.decide(w, r)
		return
	}
	w.Header().Set("Allow", "GET, POST")
	h.writeError(w, r, http.StatusMethodNotAllowed, h.msgs.ErrorBadRequest)
}

// Revoke forgets the remembered consent of subject for clientID, so that
// the next authorization asks again. It does not revoke grants or tokens
// already issued: use authz.Server.RevokeGrant or RevokeClientGrants for
// that. Without a Store it does nothing.
func (h *Handler) Revoke(ctx context.Context, subject, clientID string) error {
	if h.store == nil {
		return nil
	}
	return h.store.RevokeConsent(ctx, subject, clientID)
}

// show renders the consent page, or completes the request at once when the
// user already consented and may skip the page.
func (h *Handler) show(w http.ResponseWriter, r *http.Request, id string) {
	ctx := r.Context()
	p, err := h.srv.PendingRequest(ctx, id)
	if err != nil {
		h.pendingError(w, r, err)
		return
	}
	prompt := strings.Fields(p.Prompt)
	promptNone := slices.Contains(prompt, "none")
	subject, authTime, ok := h.authenticate(r)
	if ok && slices.Contains(prompt, "login") && !promptNone && !authTime.IsZero() && authTime.Before(p.CreatedAt) {
		// The client asked for a fresh login and this session predates
		// the request.
		ok = false
	}
	if !ok {
		if promptNone {
			// No page may be shown (OpenID Connect Core §3.1.2.6).
			_ = h.srv.DenyWithError(w, r, id, authz.ErrCodeLoginRequired)
			return
		}
		h.redirectToLogin(w, r, id, slices.Contains(prompt, "login"))
		return
	}
	if h.remembered(ctx, subject, p) && !slices.Contains(prompt, "consent") {
		h.approve(w, r, p, subject, authTime, false)
		return
	}
	if promptNone {
		_ = h.srv.DenyWithError(w, r, id, authz.ErrCodeConsentRequired)
		return
	}
	binding, ok := bindingCookie(r)
	if !ok {
		binding, err = newBindingCookie(w, r, h.rand)
		if err != nil {
			h.log.LogAttrs(ctx, slog.LevelError, "consent: reading randomness failed", slog.Any("error", err))
			h.writeError(w, r, http.StatusInternalServerError, h.msgs.ErrorUnavailable)
			return
		}
	}
	d := newPageData(h.msgs, p)
	d.CSRFToken = csrfToken(h.key, p.ID, subject, binding)
	d.CanRemember = h.canRemember(p)
	if h.logos != nil && p.ClientLogoURI != "" {
		d.Client.LogoURL = h.logos.url(ctx, p.ClientID, p.ClientLogoURI)
	}
	var formActions []string
	if src, ok := formActionFor(p.RedirectURI); ok {
		formActions = append(formActions, src)
	}
	h.render(w, r, h.consentTmpl, "consent", d, http.StatusOK, formActions)
}

// decide handles the posted form.
func (h *Handler) decide(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	// First line: browsers label cross-site requests (Sec-Fetch-Site,
	// Origin), and a cross-site POST is refused before anything else.
	if err := h.origin.Check(r); err != nil {
		h.forbidden(w, r, "cross-origin request")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		status := http.StatusBadRequest
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			status = http.StatusRequestEntityTooLarge
		}
		h.writeError(w, r, status, h.msgs.ErrorBadRequest)
		return
	}
	form := r.PostForm
	for _, k := range []string{"request_id", "csrf_token", "action", "remember"} {
		if len(form[k]) > 1 {
			h.writeError(w, r, http.StatusBadRequest, h.msgs.ErrorBadRequest)
			return
		}
	}
	id, token, action := form.Get("request_id"), form.Get("csrf_token"), form.Get("action")
	if id == "" || len(id) > 128 {
		h.writeError(w, r, http.StatusBadRequest, h.msgs.ErrorBadRequest)
		return
	}
	// Second line: the form must come with this browser's binding cookie
	// (SameSite=Lax keeps it off cross-site POSTs) ...
	binding, ok := bindingCookie(r)
	if !ok {
		h.forbidden(w, r, "no binding cookie")
		return
	}
	subject, authTime, ok := h.authenticate(r)
	if !ok {
		h.redirectToLogin(w, r, id, false)
		return
	}
	// ... and carry the token minted for this request, user and browser.
	if !validCSRF(h.key, token, id, subject, binding) {
		h.forbidden(w, r, "bad CSRF token")
		return
	}
	p, err := h.srv.PendingRequest(ctx, id)
	if err != nil {
		h.pendingError(w, r, err)
		return
	}
	switch action {
	case "approve":
		h.approve(w, r, p, subject, authTime, form.Get("remember") == "1" && h.canRemember(p))
	case "deny":
		_ = h.srv.Deny(w, r, id)
	default:
		h.writeError(w, r, http.StatusBadRequest, h.msgs.ErrorBadRequest)
	}
}

// approve grants every requested scope and, when asked, remembers it.
func (h *Handler) approve(w http.ResponseWriter, r *http.Request, p *authz.Pending, subject string, authTime time.Time, remember bool) {
	scopes := make([]string, len(p.Scopes))
	for i, s := range p.Scopes {
		scopes[i] = s.Name
	}
	if err := h.srv.Approve(w, r, p.ID, authz.Approval{Subject: subject, Scopes: scopes, AuthTime: authTime}); err != nil {
		// Approve wrote the response (an error page or redirect).
		return
	}
	if remember {
		h.remember(r.Context(), subject, p, scopes)
	}
}

func (h *Handler) canRemember(p *authz.Pending) bool {
	return h.store != nil && (!p.LoopbackOnly || h.rememberLoop)
}

// remembered reports whether the user's remembered consent covers every
// scope and resource of the request.
func (h *Handler) remembered(ctx context.Context, subject string, p *authz.Pending) bool {
	if !h.canRemember(p) {
		return false
	}
	c, err := h.store.GetConsent(ctx, subject, p.ClientID)
	if err != nil {
		if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrExpired) {
			// Fail towards asking the user.
			h.log.LogAttrs(ctx, slog.LevelWarn, "consent: reading remembered consent failed", slog.Any("error", err))
		}
		return false
	}
	if !c.ExpiresAt.IsZero() && !h.clock().Before(c.ExpiresAt) {
		return false
	}
	for _, s := range p.Scopes {
		if !slices.Contains(c.Scopes, s.Name) {
			return false
		}
	}
	for _, res := range p.Resources {
		if !slices.Contains(c.Resources, res.Identifier) {
			return false
		}
	}
	return true
}

// remember records the approval, adding to what the user approved before
// for this client. A failure only costs the user a question next time.
func (h *Handler) remember(ctx context.Context, subject string, p *authz.Pending, scopes []string) {
	now := h.clock()
	c := &storage.Consent{Subject: subject, ClientID: p.ClientID, CreatedAt: now, ExpiresAt: now.Add(h.rememberFor)}
	if old, err := h.store.GetConsent(ctx, subject, p.ClientID); err == nil && (old.ExpiresAt.IsZero() || now.Before(old.ExpiresAt)) {
		c.Scopes = slices.Clone(old.Scopes)
		c.Resources = slices.Clone(old.Resources)
	}
	for _, s := range scopes {
		if !slices.Contains(c.Scopes, s) {
			c.Scopes = append(c.Scopes, s)
		}
	}
	for _, res := range p.Resources {
		if !slices.Contains(c.Resources, res.Identifier) {
			c.Resources = append(c.Resources, res.Identifier)
		}
	}
	if err := h.store.SaveConsent(ctx, c); err != nil {
		h.log.LogAttrs(ctx, slog.LevelWarn, "consent: saving remembered consent failed", slog.Any("error", err))
	}
}

// redirectToLogin sends the browser to the host's login page.
func (h *Handler) redirectToLogin(w http.ResponseWriter, r *http.Request, id string, forceLogin bool) {
	q := "request_id=" + url.QueryEscape(id)
	if forceLogin {
		q += "&prompt=login"
	}
	loc := h.loginURL
	switch {
	case !strings.Contains(loc, "?"):
		loc += "?" + q
	case strings.HasSuffix(loc, "?"), strings.HasSuffix(loc, "&"):
		loc += q
	default:
		loc += "&" + q
	}
	hd := w.Header()
	hd.Set("Cache-Control", "no-store")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("Location", loc)
	w.WriteHeader(http.StatusSeeOther)
}

// pendingError shows why a parked request cannot be used.
func (h *Handler) pendingError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, authz.ErrRequestNotFound) {
		h.writeError(w, r, http.StatusBadRequest, h.msgs.ErrorExpired)
		return
	}
	status := http.StatusServiceUnavailable
	var oe *authz.Error
	if errors.As(err, &oe) && oe.Status >= 400 && oe.Status < 500 {
		h.writeError(w, r, http.StatusBadRequest, h.msgs.ErrorExpired)
		return
	}
	h.log.LogAttrs(r.Context(), slog.LevelError, "consent: reading the authorization request failed", slog.Any("error", err))
	h.writeError(w, r, status, h.msgs.ErrorUnavailable)
}

func (h *Handler) forbidden(w http.ResponseWriter, r *http.Request, why string) {
	h.log.LogAttrs(r.Context(), slog.LevelInfo, "consent: form refused", slog.String("reason", why))
	h.writeError(w, r, http.StatusForbidden, h.msgs.ErrorForbidden)
}

func (h *Handler) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	d := &ErrorData{Lang: h.msgs.Lang, Messages: h.msgs, Status: status, Title: h.msgs.ErrorTitle, Message: msg}
	h.render(w, r, h.errorTmpl, "error", d, status, nil)
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 rather than half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, t *template.Template, name string, data any, status int, formActions []string) {
	buf := h.bufs.Get().(*bytes.Buffer)
	buf.Reset()
	defer func() {
		if buf.Cap() <= 64<<10 {
			h.bufs.Put(buf)
		}
	}()
	if err := t.ExecuteTemplate(buf, name, data); err != nil {
		h.log.LogAttrs(r.Context(), slog.LevelError, "consent: template failed", slog.String("template", name), slog.Any("error", err))
		buf.Reset()
		status = http.StatusInternalServerError
		if t != builtinError {
			if err := builtinError.ExecuteTemplate(buf, "error", &ErrorData{Lang: h.msgs.Lang, Messages: h.msgs, Status: status, Title: h.msgs.ErrorTitle, Message: h.msgs.ErrorUnavailable}); err != nil {
				buf.Reset()
			}
		}
		formActions = nil
	}
	SetPageHeaders(w.Header(), formActions...)
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
