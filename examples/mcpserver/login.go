package main

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	_ "embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/storage"
)

//go:embed page.css
var pageCSS string

//go:embed page.html
var pageHTML string

// maxFormBytes bounds the login and consent form bodies.
const maxFormBytes = 16 << 10

// ticketLifetime bounds the time between signing in and consenting.
const ticketLifetime = 10 * time.Minute

// login is the host's side of the authorization flow: the demo login page
// at InteractionURL, then a consent page, then authz Approve or Deny.
//
// There are no sessions: every authorization asks for the password. The
// forms are protected against cross-site request forgery by a token bound
// to the parked request id and to a random cookie of this browser
// (double submit, keyed with a per-process HMAC key), so another site can
// neither submit them nor log the user in as someone else. The consent
// form carries a ticket, also HMAC-bound to the cookie and the request,
// proving the password was checked.
type login struct {
	az          *authz.Server
	loginPath   string
	consentPath string
	userHash    [sha256.Size]byte
	passHash    [sha256.Size]byte
	subject     string
	key         []byte
	cookie      string
	secure      bool
	cookiePath  string
	failures    *rate.Limiter
	now         func() time.Time
	tmpl        *template.Template
	csp         string
	log         *slog.Logger
}

type loginConfig struct {
	az       *authz.Server
	basePath string // the public URL's path, "" or "/prefix"
	secure   bool   // the public URL is https
	user     string
	password string
	// failureRate is the sustained rate of failed sign-ins (burst 5);
	// zero means one per second.
	failureRate rate.Limit
	now         func() time.Time
	log         *slog.Logger
}

func newLogin(c loginConfig) (*login, error) {
	if c.user == "" || c.password == "" {
		return nil, errors.New("the demo user needs a name and a password")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	tmpl, err := template.New("page").Parse(pageHTML)
	if err != nil {
		return nil, err
	}
	l := &login{
		az:          c.az,
		loginPath:   c.basePath + "/login",
		consentPath: c.basePath + "/consent",
		userHash:    sha256.Sum256([]byte(c.user)),
		passHash:    sha256.Sum256([]byte(c.password)),
		subject:     c.user,
		key:         key,
		secure:      c.secure,
		cookiePath:  c.basePath + "/",
		// A guessing attacker gets a handful of tries, then one a second
		// for everyone: enough to stop brute force against a demo
		// password, harmless for a person mistyping.
		failures: rate.NewLimiter(cmp.Or(c.failureRate, 1), 5),
		now:      c.now,
		tmpl:     tmpl,
		log:      c.log,
	}
	if l.now == nil {
		l.now = time.Now
	}
	// The __Host- prefix makes the browser refuse the cookie unless it is
	// Secure, host-only and for path "/": available only with https and
	// no path prefix.
	l.cookie = "nq_csrf"
	if c.secure && c.basePath == "" {
		l.cookie = "__Host-nq_csrf"
	}
	sum := sha256.Sum256([]byte(pageCSS))
	l.csp = "default-src 'none'; style-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'; img-src 'none'; frame-ancestors 'none'; base-uri 'none'"
	return l, nil
}

// mount registers the login and consent pages.
func (l *login) mount(mux *http.ServeMux) {
	mux.HandleFunc(l.loginPath, l.serveLogin)
	mux.HandleFunc(l.consentPath, l.serveConsent)
}

// pageData is what page.html renders.
type pageData struct {
	Page          string // "login", "consent" or "error"
	Title         string
	CSS           template.CSS
	Error         string
	Message       string
	LoginPath     string
	ConsentPath   string
	RequestID     string
	CSRF          string
	Ticket        string
	Username      string
	Pending       *authz.Pending
	ResourceNames string
	ClientKind    string
}

func (l *login) render(w http.ResponseWriter, status int, d *pageData) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", l.csp)
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	d.CSS = template.CSS(pageCSS)
	d.LoginPath, d.ConsentPath = l.loginPath, l.consentPath
	if d.Pending != nil {
		var names []string
		for _, r := range d.Pending.Resources {
			n := r.Name
			if n == "" {
				n = r.Identifier
			}
			names = append(names, n)
		}
		d.ResourceNames = strings.Join(names, ", ")
		switch d.Pending.ClientKind {
		case storage.ClientRegistered:
			d.ClientKind = "registered itself with this server"
		case storage.ClientMetadataDocument:
			d.ClientKind = "identified by a metadata document on " + d.Pending.ClientIDHost
		case storage.ClientStatic:
			d.ClientKind = "pre-registered"
		}
	}
	w.WriteHeader(status)
	if err := l.tmpl.Execute(w, d); err != nil {
		l.log.Warn("rendering page", slog.Any("error", err))
	}
}

func (l *login) errorPage(w http.ResponseWriter, status int, title, msg string) {
	l.render(w, status, &pageData{Page: "error", Title: title, Message: msg})
}

// browserKey returns this browser's CSRF cookie value, setting a new one
// when it has none (only for GET: a POST without it is refused).
func (l *login) browserKey(w http.ResponseWriter, r *http.Request, create bool) string {
	if c, err := r.Cookie(l.cookie); err == nil && len(c.Value) == 43 {
		if _, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil {
			return c.Value
		}
	}
	if !create {
		return ""
	}
	var b [32]byte
	_, _ = rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{
		Name:     l.cookie,
		Value:    v,
		Path:     l.cookiePath,
		HttpOnly: true,
		Secure:   l.secure,
		SameSite: http.SameSiteLaxMode,
	})
	return v
}

// mac is HMAC-SHA-256 over the parts, each length-prefixed so that no two
// different part lists give the same input.
func (l *login) mac(parts ...string) string {
	m := hmac.New(sha256.New, l.key)
	for _, p := range parts {
		m.Write([]byte(strconv.Itoa(len(p))))
		m.Write([]byte{':'})
		m.Write([]byte(p))
	}
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (l *login) csrfToken(browser, requestID string) string {
	return l.mac("csrf", browser, requestID)
}

// checkCSRF verifies the form's CSRF token for this browser and request.
func (l *login) checkCSRF(r *http.Request, requestID string) bool {
	browser := l.browserKey(nil, r, false)
	if browser == "" || requestID == "" {
		return false
	}
	want := l.csrfToken(browser, requestID)
	return subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(want)) == 1
}

// ticket proves that this browser signed in for this request at authTime.
func (l *login) ticket(browser, requestID string, authTime time.Time) string {
	ts := strconv.FormatInt(authTime.Unix(), 10)
	return ts + "." + l.mac("ticket", browser, requestID, l.subject, ts)
}

// checkTicket returns the sign-in time a valid, unexpired ticket carries.
func (l *login) checkTicket(r *http.Request, requestID string) (time.Time, bool) {
	browser := l.browserKey(nil, r, false)
	ts, sig, ok := strings.Cut(r.PostFormValue("ticket"), ".")
	if browser == "" || !ok {
		return time.Time{}, false
	}
	want := l.mac("ticket", browser, requestID, l.subject, ts)
	if subtle.ConstantTimeCompare([]byte(sig), []byte(want)) != 1 {
		return time.Time{}, false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	at := time.Unix(sec, 0)
	if now := l.now(); now.Sub(at) > ticketLifetime || at.After(now.Add(time.Minute)) {
		return time.Time{}, false
	}
	return at, true
}

// pending loads the parked request, rendering an error page when it is
// gone.
func (l *login) pending(w http.ResponseWriter, r *http.Request, id string) (*authz.Pending, bool) {
	pd, err := l.az.PendingRequest(r.Context(), id)
	if err == nil {
		return pd, true
	}
	if errors.Is(err, authz.ErrRequestNotFound) {
		l.errorPage(w, http.StatusBadRequest, "Sign-in request expired",
			"This sign-in request has expired or was already completed. Go back to your application and connect again.")
		return nil, false
	}
	l.log.Warn("loading a parked authorization request", slog.Any("error", err))
	l.errorPage(w, http.StatusServiceUnavailable, "Temporarily unavailable", "The server cannot complete the sign-in right now. Try again in a moment.")
	return nil, false
}

// parseForm reads a bounded form body.
func (l *login) parseForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		l.errorPage(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

func (l *login) serveLogin(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		id := r.URL.Query().Get("request_id")
		pd, ok := l.pending(w, r, id)
		if !ok {
			return
		}
		browser := l.browserKey(w, r, true)
		l.render(w, http.StatusOK, &pageData{Page: "login", Title: "Sign in", RequestID: id, CSRF: l.csrfToken(browser, id), Pending: pd})
	case http.MethodPost:
		l.postLogin(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		l.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "Use the sign-in form.")
	}
}

func (l *login) postLogin(w http.ResponseWriter, r *http.Request) {
	if !l.parseForm(w, r) {
		return
	}
	id := r.PostFormValue("request_id")
	if !l.checkCSRF(r, id) {
		l.errorPage(w, http.StatusForbidden, "Form expired",
			"The form could not be verified (missing cookie or stale page). Go back to your application and connect again.")
		return
	}
	if r.PostFormValue("action") == "cancel" {
		_ = l.az.Deny(w, r, id)
		return
	}
	pd, ok := l.pending(w, r, id)
	if !ok {
		return
	}
	browser := l.browserKey(nil, r, false)
	user := r.PostFormValue("username")
	d := &pageData{Page: "login", Title: "Sign in", RequestID: id, CSRF: l.csrfToken(browser, id), Pending: pd, Username: user}
	if l.failures.Tokens() < 1 {
		// Refused before the password is even compared, so that guessing
		// faster than the limit learns nothing.
		d.Error = "Too many failed sign-ins. Wait a few seconds, then try again."
		l.render(w, http.StatusTooManyRequests, d)
		return
	}
	uh := sha256.Sum256([]byte(user))
	ph := sha256.Sum256([]byte(r.PostFormValue("password")))
	// Both comparisons always run, in constant time, so timing tells
	// nothing about which of the two was wrong.
	okUser := subtle.ConstantTimeCompare(uh[:], l.userHash[:])
	okPass := subtle.ConstantTimeCompare(ph[:], l.passHash[:])
	if okUser&okPass != 1 {
		l.failures.Allow() // spend one try
		d.Error = "Wrong username or password. Please try again."
		l.log.Info("demo login failed", slog.String("client_id", pd.ClientID))
		l.render(w, http.StatusUnauthorized, d)
		return
	}
	l.render(w, http.StatusOK, &pageData{
		Page: "consent", Title: "Allow access", RequestID: id, CSRF: l.csrfToken(browser, id),
		Ticket: l.ticket(browser, id, l.now()), Pending: pd, Username: l.subject,
	})
}

func (l *login) serveConsent(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		l.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "Use the consent form.")
		return
	}
	if !l.parseForm(w, r) {
		return
	}
	id := r.PostFormValue("request_id")
	if !l.checkCSRF(r, id) {
		l.errorPage(w, http.StatusForbidden, "Form expired",
			"The form could not be verified (missing cookie or stale page). Go back to your application and connect again.")
		return
	}
	authTime, ok := l.checkTicket(r, id)
	if !ok {
		l.errorPage(w, http.StatusForbidden, "Sign-in expired", "Your sign-in has expired. Go back to your application and connect again.")
		return
	}
	if r.PostFormValue("action") != "allow" {
		_ = l.az.Deny(w, r, id)
		return
	}
	pd, ok := l.pending(w, r, id)
	if !ok {
		return
	}
	var scopes []string
	for _, s := range r.PostForm["scope"] {
		if slices.ContainsFunc(pd.Scopes, func(si authz.ScopeInfo) bool { return si.Name == s }) && !slices.Contains(scopes, s) {
			scopes = append(scopes, s)
		}
	}
	if len(scopes) == 0 && len(pd.Scopes) > 0 {
		browser := l.browserKey(nil, r, false)
		l.render(w, http.StatusBadRequest, &pageData{
			Page: "consent", Title: "Allow access", RequestID: id, CSRF: l.csrfToken(browser, id),
			Ticket: r.PostFormValue("ticket"), Pending: pd, Username: l.subject,
			Error: "Choose at least one permission, or deny the request.",
		})
		return
	}
	if err := l.az.Approve(w, r, id, authz.Approval{Subject: l.subject, Scopes: scopes, AuthTime: authTime}); err != nil {
		l.log.Info("approval failed", slog.Any("error", err))
	}
}
