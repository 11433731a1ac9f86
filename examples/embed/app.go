package main

import (
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// This file is the existing app: users, sessions, login and a home page.
// None of it knows about OAuth; the authorization server only calls
// app.currentUser (see server.go).

// user is an account of the app.
type user struct {
	id       string // stable ID; becomes the token "sub"
	name     string // login name
	display  string
	salt     []byte
	passHash []byte
}

// session is a signed-in browser.
type session struct {
	userID   string
	authTime time.Time
	expires  time.Time
}

const (
	sessionCookie   = "notes_session"
	csrfCookie      = "notes_csrf"
	sessionLifetime = 8 * time.Hour
	pbkdf2Rounds    = 600_000 // OWASP's advice for PBKDF2-HMAC-SHA256
	maxFormBytes    = 16 << 10
)

// app is the notes service.
type app struct {
	users    map[string]*user // by login name
	byID     map[string]*user
	mu       sync.Mutex
	sessions map[[sha256.Size]byte]*session // by digest of the cookie value
	notes    *notes
	origin   *http.CrossOriginProtection
	failures *rate.Limiter // failed sign-ins, for everyone together
	now      func() time.Time
	rounds   int // PBKDF2 iterations
}

// newApp creates the app with its two demo users, both with password.
// rounds is the PBKDF2 iteration count (pbkdf2Rounds in production; tests
// use fewer).
func newApp(password string, rounds int, now func() time.Time) (*app, error) {
	a := &app{
		rounds:   rounds,
		users:    map[string]*user{},
		byID:     map[string]*user{},
		sessions: map[[sha256.Size]byte]*session{},
		notes:    newNotes(),
		origin:   http.NewCrossOriginProtection(),
		failures: rate.NewLimiter(1, 5),
		now:      now,
	}
	for _, u := range []struct{ id, name, display string }{
		{"user-1001", "alice", "Alice Liddell"},
		{"user-1002", "bob", "Bob Builder"},
	} {
		salt := make([]byte, 16)
		if _, err := rand.Read(salt); err != nil {
			return nil, err
		}
		h, err := pbkdf2.Key(sha256.New, password, salt, rounds, 32)
		if err != nil {
			return nil, err
		}
		usr := &user{id: u.id, name: u.name, display: u.display, salt: salt, passHash: h}
		a.users[u.name] = usr
		a.byID[u.id] = usr
	}
	a.notes.add("user-1001", "Buy tea for the March Hare")
	a.notes.add("user-1001", "Follow the white rabbit")
	a.notes.add("user-1002", "Fix the roof")
	return a, nil
}

// checkPassword returns the user if name and password match.
func (a *app) checkPassword(name, password string) *user {
	u := a.users[name]
	salt, want := make([]byte, 16), make([]byte, 32)
	if u != nil {
		salt, want = u.salt, u.passHash
	}
	// Hash even for unknown names, so timing does not tell which names
	// exist.
	got, err := pbkdf2.Key(sha256.New, password, salt, a.rounds, 32)
	if err != nil || subtle.ConstantTimeCompare(got, want) != 1 || u == nil {
		return nil
	}
	return u
}

// currentUser returns the signed-in user of the request, from the app's
// session cookie.
func (a *app) currentUser(r *http.Request) (*user, *session) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	key := sha256.Sum256([]byte(c.Value))
	a.mu.Lock()
	s := a.sessions[key]
	if s != nil && !a.now().Before(s.expires) {
		delete(a.sessions, key)
		s = nil
	}
	a.mu.Unlock()
	if s == nil {
		return nil, nil
	}
	return a.byID[s.userID], s
}

func (a *app) startSession(w http.ResponseWriter, u *user) {
	v := rand.Text()
	now := a.now()
	a.mu.Lock()
	for k, s := range a.sessions {
		if !now.Before(s.expires) {
			delete(a.sessions, k)
		}
	}
	a.sessions[sha256.Sum256([]byte(v))] = &session{userID: u.id, authTime: now, expires: now.Add(sessionLifetime)}
	a.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode, MaxAge: int(sessionLifetime / time.Second)})
}

func (a *app) endSession(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(sessionCookie); err == nil {
		a.mu.Lock()
		delete(a.sessions, sha256.Sum256([]byte(c.Value)))
		a.mu.Unlock()
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Acme Notes</title></head>
<body>
<h1>Acme Notes</h1>
{{if .Login}}
{{if .Error}}<p role="alert">{{.Error}}</p>{{end}}
{{if .RequestID}}<p>Sign in to continue to the application that asked for access.</p>{{end}}
<form method="post" action="/login">
<input type="hidden" name="csrf" value="{{.CSRF}}">
<input type="hidden" name="next" value="{{.Next}}">
<input type="hidden" name="request_id" value="{{.RequestID}}">
<p><label for="username">User name</label> <input id="username" name="username" autocomplete="username" required autofocus></p>
<p><label for="password">Password</label> <input id="password" type="password" name="password" autocomplete="current-password" required></p>
<p><button type="submit">Sign in</button></p>
</form>
{{else if .User}}
<p>Signed in as {{.User}}.</p>
<ul>{{range .Notes}}<li>{{.}}</li>{{end}}</ul>
<form method="post" action="/logout"><input type="hidden" name="csrf" value="{{.CSRF}}"><button type="submit">Sign out</button></form>
{{else}}
<p><a href="/login">Sign in</a></p>
{{end}}
</body></html>`))

type pageData struct {
	Login     bool
	Error     string
	CSRF      string
	Next      string
	RequestID string
	User      string
	Notes     []string
}

func setPageHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; form-action 'self'; frame-ancestors 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// csrfToken returns this browser's double-submit token, setting the
// cookie when there is none yet.
func csrfToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 26 {
		return c.Value
	}
	v := rand.Text()
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
	return v
}

// checkForm parses a posted form and checks cross-origin protection and
// the double-submit token.
func (a *app) checkForm(w http.ResponseWriter, r *http.Request) bool {
	if err := a.origin.Check(r); err != nil {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return false
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || subtle.ConstantTimeCompare([]byte(c.Value), []byte(r.PostFormValue("csrf"))) != 1 {
		http.Error(w, "the form expired; reload the page", http.StatusForbidden)
		return false
	}
	return true
}

// safeNext accepts only local absolute paths as a place to return to.
func safeNext(next string) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n") {
		return "/"
	}
	return next
}

// serveLogin is the app's login page. When the consent page sends a
// browser here it adds "request_id"; after signing in the browser goes
// back to the consent page with it.
func (a *app) serveLogin(consentPath string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodGet, http.MethodHead:
			setPageHeaders(w)
			q := r.URL.Query()
			_ = pageTmpl.Execute(w, pageData{Login: true, CSRF: csrfToken(w, r), Next: q.Get("next"), RequestID: q.Get("request_id")})
		case http.MethodPost:
			if !a.checkForm(w, r) {
				return
			}
			page := pageData{Login: true, CSRF: csrfToken(w, r), Next: r.PostFormValue("next"), RequestID: r.PostFormValue("request_id")}
			if a.failures.Tokens() < 1 {
				// Refused before any password is hashed: guessing faster
				// than the limit learns nothing and costs us nothing.
				setPageHeaders(w)
				w.WriteHeader(http.StatusTooManyRequests)
				page.Error = "Too many failed sign-ins. Wait a few seconds, then try again."
				_ = pageTmpl.Execute(w, page)
				return
			}
			u := a.checkPassword(r.PostFormValue("username"), r.PostFormValue("password"))
			if u == nil {
				a.failures.Allow() // spend one try
				setPageHeaders(w)
				w.WriteHeader(http.StatusUnauthorized)
				page.Error = "Wrong user name or password."
				_ = pageTmpl.Execute(w, page)
				return
			}
			a.startSession(w, u)
			next := safeNext(r.PostFormValue("next"))
			if id := r.PostFormValue("request_id"); id != "" {
				next = consentPath + "?request_id=" + url.QueryEscape(id)
			}
			http.Redirect(w, r, next, http.StatusSeeOther)
		default:
			w.Header().Set("Allow", "GET, HEAD, POST")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		}
	}
}

func (a *app) serveLogout(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !a.checkForm(w, r) {
		return
	}
	a.endSession(w, r)
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (a *app) serveHome(w http.ResponseWriter, r *http.Request) {
	setPageHeaders(w)
	d := pageData{CSRF: csrfToken(w, r)}
	if u, _ := a.currentUser(r); u != nil {
		d.User = u.display
		d.Notes = a.notes.list(u.id)
	}
	_ = pageTmpl.Execute(w, d)
}

// notes is the app's data.
type notes struct {
	mu     sync.Mutex
	byUser map[string][]string
}

func newNotes() *notes { return &notes{byUser: map[string][]string{}} }

func (n *notes) add(userID, text string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.byUser[userID] = append(n.byUser[userID], text)
}

func (n *notes) list(userID string) []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]string{}, n.byUser[userID]...)
}
