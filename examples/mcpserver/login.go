package main

import (
	"cmp"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/consent"
	"github.com/nqrust/identity/storage"
)

// maxFormBytes bounds the login form body.
const maxFormBytes = 16 << 10

// sessionLifetime is how long a demo sign-in lasts: a client that steps
// up or reconnects within it goes straight to the consent page.
const sessionLifetime = time.Hour

// login is the host's side of the authorization flow, in front of the
// default consent page of package authz/consent:
//
//	/authorize → /consent?request_id=… (authz/consent: not signed in)
//	  → /login?request_id=… (this page) → session cookie
//	  → /consent?request_id=… → Allow / Deny → client's redirect URI
//
// The login form is protected against cross-site request forgery by
// net/http's cross-origin protection and by a token bound to the parked
// request id and to a random cookie of this browser (an HMAC under a
// per-process key), so another site can neither submit it nor sign the
// user in as someone else. The session is a cookie holding the user and
// the sign-in time under the same kind of HMAC.
type login struct {
	az          *authz.Server
	loginPath   string
	consentPath string
	userHash    [sha256.Size]byte
	passHash    [sha256.Size]byte
	subject     string
	key         []byte
	csrfCookie  string
	session     string
	secure      bool
	cookiePath  string
	failures    *rate.Limiter
	origin      *http.CrossOriginProtection
	now         func() time.Time
	tmpl        *template.Template
	errTmpl     *template.Template
	log         *slog.Logger
}

type loginConfig struct {
	az          *authz.Server
	basePath    string // the public URL's path, "" or "/prefix"
	secure      bool   // the public URL is https
	user        string
	password    string
	consentPath string
	// failureRate is the sustained rate of failed sign-ins (burst 5);
	// zero means one per second.
	failureRate rate.Limit
	now         func() time.Time
	log         *slog.Logger
}

// loginTemplate is the login form in the layout of the consent page.
const loginTemplate = `{{define "title"}}Sign in · NQRust-Identity demo{{end}}
{{define "content"}}
<h1>Sign in</h1>
{{with .Pending}}<p class="muted"><strong>{{.ClientName}}</strong> wants to use <strong>{{$.ResourceNames}}</strong> on your behalf.</p>{{end}}
{{if .Error}}<p class="error-text" role="alert">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
<input type="hidden" name="request_id" value="{{.RequestID}}">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<div class="field"><label for="username">User name</label>
<input id="username" name="username" value="{{.Username}}" autocomplete="username" autocapitalize="none" spellcheck="false" required autofocus></div>
<div class="field"><label for="password">Password</label>
<input id="password" type="password" name="password" autocomplete="current-password" required></div>
<div class="actions">
<button type="submit" name="action" value="cancel" class="secondary" formnovalidate>Cancel</button>
<button type="submit" name="action" value="login" class="primary">Sign in</button>
</div>
</form>
<p class="muted">This is a demo server: its user name and password were printed when it started.</p>
{{end}}`

// loginPage is what loginTemplate renders.
type loginPage struct {
	Action        string
	RequestID     string
	CSRF          string
	Username      string
	Error         string
	Pending       *authz.Pending
	ResourceNames string
}

func newLogin(c loginConfig) (*login, error) {
	if c.user == "" || c.password == "" {
		return nil, errors.New("the demo user needs a name and a password")
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return nil, err
	}
	tmpl, err := consent.Layout().Parse(loginTemplate)
	if err != nil {
		return nil, err
	}
	errTmpl, err := consent.Layout().Parse(`{{define "title"}}{{.Title}}{{end}}{{define "content"}}<h1>{{.Title}}</h1><p>{{.Message}}</p>{{end}}`)
	if err != nil {
		return nil, err
	}
	l := &login{
		az:          c.az,
		loginPath:   c.basePath + "/login",
		consentPath: c.consentPath,
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
		origin:   http.NewCrossOriginProtection(),
		now:      c.now,
		tmpl:     tmpl,
		errTmpl:  errTmpl,
		log:      c.log,
	}
	if l.now == nil {
		l.now = time.Now
	}
	// The __Host- prefix makes the browser refuse a cookie unless it is
	// Secure, host-only and for path "/": usable only with https and no
	// path prefix.
	l.csrfCookie, l.session = "nq_login_csrf", "nq_session"
	if c.secure && c.basePath == "" {
		l.csrfCookie, l.session = "__Host-"+l.csrfCookie, "__Host-"+l.session
	}
	return l, nil
}

// ServeHTTP serves the login page.
func (l *login) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		id := r.URL.Query().Get("request_id")
		pd, ok := l.pending(w, r, id)
		if !ok {
			return
		}
		browser := l.browserKey(w, r, true)
		l.render(w, http.StatusOK, pd, &loginPage{RequestID: id, CSRF: l.csrfToken(browser, id)})
	case http.MethodPost:
		l.post(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		l.errorPage(w, http.StatusMethodNotAllowed, "Method not allowed", "Use the sign-in form.")
	}
}

// Authenticate is consent.Config.Authenticate: the signed-in user from the
// session cookie.
func (l *login) Authenticate(r *http.Request) (subject string, authTime time.Time, ok bool) {
	c, err := r.Cookie(l.session)
	if err != nil {
		return "", time.Time{}, false
	}
	ts, sig, ok := strings.Cut(c.Value, ".")
	if !ok {
		return "", time.Time{}, false
	}
	if subtle.ConstantTimeCompare([]byte(sig), []byte(l.mac("session", l.subject, ts))) != 1 {
		return "", time.Time{}, false
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return "", time.Time{}, false
	}
	at := time.Unix(sec, 0)
	if now := l.now(); now.Sub(at) > sessionLifetime || at.After(now.Add(time.Minute)) {
		return "", time.Time{}, false
	}
	return l.subject, at, true
}

func (l *login) post(w http.ResponseWriter, r *http.Request) {
	if err := l.origin.Check(r); err != nil {
		l.errorPage(w, http.StatusForbidden, "Request refused", "The form was sent from another site.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		l.errorPage(w, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return
	}
	id := r.PostFormValue("request_id")
	browser := l.browserKey(nil, r, false)
	if browser == "" || id == "" ||
		subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(l.csrfToken(browser, id))) != 1 {
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
	user := r.PostFormValue("username")
	page := &loginPage{RequestID: id, CSRF: l.csrfToken(browser, id), Username: user}
	if l.failures.Tokens() < 1 {
		// Refused before the password is even compared, so that guessing
		// faster than the limit learns nothing.
		page.Error = "Too many failed sign-ins. Wait a few seconds, then try again."
		l.render(w, http.StatusTooManyRequests, pd, page)
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
		page.Error = "Wrong user name or password. Please try again."
		l.log.Info("demo login failed", slog.String("client_id", pd.ClientID))
		l.render(w, http.StatusUnauthorized, pd, page)
		return
	}
	ts := strconv.FormatInt(l.now().Unix(), 10)
	http.SetCookie(w, &http.Cookie{
		Name:     l.session,
		Value:    ts + "." + l.mac("session", l.subject, ts),
		Path:     l.cookiePath,
		MaxAge:   int(sessionLifetime / time.Second),
		HttpOnly: true,
		Secure:   l.secure,
		SameSite: http.SameSiteLaxMode,
	})
	http.Redirect(w, r, l.consentPath+"?request_id="+url.QueryEscape(id), http.StatusSeeOther)
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

func (l *login) render(w http.ResponseWriter, status int, pd *authz.Pending, page *loginPage) {
	page.Action = l.loginPath
	page.Pending = pd
	var names []string
	for _, r := range pd.Resources {
		names = append(names, cmp.Or(r.Name, r.Identifier))
	}
	page.ResourceNames = strings.Join(names, ", ")
	// Cancel answers with a redirect to the client, which browsers check
	// against form-action.
	consent.SetPageHeaders(w.Header(), formAction(pd.RedirectURI))
	w.WriteHeader(status)
	if err := l.tmpl.ExecuteTemplate(w, "layout", page); err != nil {
		l.log.Warn("rendering the login page", slog.Any("error", err))
	}
}

// errorPage renders a message in the same layout.
func (l *login) errorPage(w http.ResponseWriter, status int, title, msg string) {
	consent.SetPageHeaders(w.Header())
	w.WriteHeader(status)
	if err := l.errTmpl.ExecuteTemplate(w, "layout", struct{ Title, Message string }{title, msg}); err != nil {
		l.log.Warn("rendering an error page", slog.Any("error", err))
	}
}

// formAction returns the CSP form-action source for a redirect URI: its
// origin for http(s), its scheme otherwise.
func formAction(redirectURI string) string {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" {
		return ""
	}
	if (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" {
		return u.Scheme + "://" + u.Host
	}
	return u.Scheme + ":"
}

// browserKey returns this browser's CSRF cookie value, setting a new one
// when it has none and create is set (w may be nil otherwise).
func (l *login) browserKey(w http.ResponseWriter, r *http.Request, create bool) string {
	if c, err := r.Cookie(l.csrfCookie); err == nil && len(c.Value) == 43 {
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
		Name:     l.csrfCookie,
		Value:    v,
		Path:     l.cookiePath,
		HttpOnly: true,
		Secure:   l.secure,
		SameSite: http.SameSiteLaxMode,
	})
	return v
}

func (l *login) csrfToken(browser, requestID string) string {
	return l.mac("csrf", browser, requestID)
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

// newConsent builds the consent page in front of which login runs.
func newConsent(az *authz.Server, l *login, st storage.ConsentStore, logoClient *http.Client, log *slog.Logger) (*consent.Handler, error) {
	return consent.New(consent.Config{
		Server:       az,
		Authenticate: l.Authenticate,
		LoginURL:     l.loginPath,
		Store:        st,
		LogoClient:   logoClient,
		Logger:       log,
	})
}
