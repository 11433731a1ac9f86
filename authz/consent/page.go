package consent

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"unicode"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/storage"
)

//go:embed assets/consent.css assets/layout.html assets/consent.html assets/error.html
var assets embed.FS

// stylesheet is the shared stylesheet, inlined in every page so that no
// second request (and no second route the host must mount) is needed; the
// Content-Security-Policy allows exactly this text by its hash.
var stylesheet = mustRead("assets/consent.css")

// styleSource is the CSP source expression for stylesheet.
var styleSource = func() string {
	sum := sha256.Sum256([]byte(stylesheet))
	return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
}()

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic("consent: embedded asset missing: " + name) // a build defect, not input
	}
	return string(b)
}

var funcs = template.FuncMap{
	"stylesheet": func() template.CSS { return template.CSS(stylesheet) },
}

// layoutText is the layout template source; every page set starts from a
// fresh parse of it, because html/template sets cannot be cloned once
// executed and each page redefines "title" and "content".
var layoutText = mustRead("assets/layout.html")

func parsePage(name string) (*template.Template, error) {
	t, err := template.New("layout.html").Funcs(funcs).Parse(layoutText)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return t, nil
	}
	return t.Parse(mustRead("assets/" + name))
}

// builtinConsent and builtinError are the default pages, parsed once.
var (
	builtinConsent = template.Must(parsePage("consent.html"))
	builtinError   = template.Must(parsePage("error.html"))
)

// Layout returns a new template set holding the page layout of the consent
// screen, so that a host's own pages (a login form, a "signed out" page)
// look the same. The set defines "layout" and empty "lang" (default "en"),
// "title" and "content" templates; define the last ones and execute
// "layout":
//
//	t := template.Must(consent.Layout().Parse(`
//	  {{define "title"}}Sign in{{end}}
//	  {{define "content"}}
//	  <h1>Sign in</h1>
//	  <form method="post">
//	    <div class="field"><label for="user">User name</label>
//	      <input id="user" name="user" autocomplete="username" required></div>
//	    <div class="actions"><button class="primary">Continue</button></div>
//	  </form>{{end}}`))
//	...
//	consent.SetPageHeaders(w.Header())
//	_ = t.ExecuteTemplate(w, "layout", data)
//
// The stylesheet offers the classes card (the layout's main box), field
// (a label and an input), actions (a row of buttons), primary and
// secondary (buttons or links with class button), muted, warning and
// error-text. Pages use no JavaScript; SetPageHeaders forbids it.
func Layout() *template.Template {
	t, err := parsePage("")
	if err != nil {
		panic("consent: embedded layout does not parse: " + err.Error()) // a build defect
	}
	return t
}

// Stylesheet returns the CSS of the consent pages, for hosts that want to
// serve or extend it. Pages built with Layout inline it already.
func Stylesheet() string { return stylesheet }

// SetPageHeaders sets the security headers of a page rendered with Layout:
// a Content-Security-Policy that allows no script, no plugin, no base
// change and no framing, images and forms from this origin only (plus the
// given formActions: origins such as "https://app.example" or schemes
// such as "vscode:" that a form's response redirects to, because browsers
// check redirects after a form submission against form-action), and the
// inlined stylesheet by its hash; X-Frame-Options DENY for old browsers;
// Referrer-Policy no-referrer so that request IDs never leak in Referer;
// nosniff; no caching; and an HTML content type. Invalid formActions are
// ignored.
func SetPageHeaders(h http.Header, formActions ...string) {
	var b strings.Builder
	b.Grow(256)
	b.WriteString("default-src 'none'; style-src ")
	b.WriteString(styleSource)
	b.WriteString("; img-src 'self'; form-action 'self'")
	for _, fa := range formActions {
		if validSource(fa) {
			b.WriteByte(' ')
			b.WriteString(fa)
		}
	}
	b.WriteString("; frame-ancestors 'none'; base-uri 'none'")
	h.Set("Content-Security-Policy", b.String())
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Type", "text/html; charset=utf-8")
}

// validSource accepts CSP host-sources of the form scheme://host[:port] and
// scheme-sources "scheme:", built from characters that cannot end or
// extend a directive.
func validSource(s string) bool {
	if s == "" || len(s) > 300 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == '-', c == '+', c == ':', c == '/', c == '[', c == ']':
		default:
			return false
		}
	}
	scheme, rest, ok := strings.Cut(s, ":")
	if !ok || scheme == "" || !isScheme(scheme) {
		return false
	}
	if rest == "" {
		return true
	}
	host, ok := strings.CutPrefix(rest, "//")
	return ok && host != "" && !strings.Contains(host, "/")
}

func isScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		alpha := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if i == 0 && !alpha || !alpha && !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// FormAction returns the CSP source that lets a browser follow the
// redirect to redirectURI after a form on the page is posted
// ("http://127.0.0.1:4711", "https://app.example", or "vscode:" for a
// private-use scheme), for [SetPageHeaders]; "" when there is none.
func FormAction(redirectURI string) string {
	src, ok := formActionFor(redirectURI)
	if !ok {
		return ""
	}
	return src
}

func formActionFor(redirectURI string) (string, bool) {
	u, err := url.Parse(redirectURI)
	if err != nil || u.Scheme == "" {
		return "", false
	}
	scheme := strings.ToLower(u.Scheme)
	var src string
	if scheme == "http" || scheme == "https" {
		if u.Host == "" {
			return "", false
		}
		src = scheme + "://" + strings.ToLower(u.Host)
	} else {
		// A private-use scheme (RFC 8252 §7.1) such as "vscode:".
		src = scheme + ":"
	}
	return src, validSource(src)
}

// Display limits for self-asserted strings, in characters.
const (
	maxNameLen        = 80
	maxDescriptionLen = 200
	maxScopeNameLen   = 100
	maxHostLen        = 253
	maxIdentifierLen  = 200
)

// clean makes a self-asserted string safe to show: control and format
// characters (including the bidirectional overrides used to disguise
// names) are removed, runs of white space become one space, invalid UTF-8
// is replaced, and the result is cut to max characters with an ellipsis.
// Escaping is left to html/template.
func clean(s string, max int) string {
	out := make([]rune, 0, min(len(s), max+1))
	space := false
	for _, r := range s {
		switch {
		case unicode.IsSpace(r):
			space = len(out) > 0
			continue
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs):
			continue
		}
		if space {
			out = append(out, ' ')
			space = false
		}
		out = append(out, r) // invalid UTF-8 arrives as U+FFFD
		if len(out) > max {
			break
		}
	}
	if len(out) > max {
		out = append(out[:max-1], '…')
	}
	return string(out)
}

// PageData is what the consent template is executed with. All strings
// that came from the client are already cleaned and length-capped, and
// html/template escapes them; a custom template must not mark any of them
// as safe HTML.
type PageData struct {
	// Lang is the page language (Messages.Lang).
	Lang string
	// Messages are the page strings.
	Messages *Messages
	// Client describes the requesting client.
	Client ClientData
	// Heading, Identity, LoopbackWarning and Redirect are messages with
	// their value filled in. Identity is zero when there is nothing to say.
	Heading         Fill
	Identity        Fill
	LoopbackWarning Fill
	Redirect        Fill
	// RedirectHost is the host the browser is sent to afterwards.
	RedirectHost string
	// LoopbackOnly is true when every redirect URI of the client is a
	// loopback address: show a warning.
	LoopbackOnly bool
	// Scopes are the requested scopes, with descriptions.
	Scopes []authz.ScopeInfo
	// Resources are the resources the token will be for, each with a
	// display name (its identifier when it has none).
	Resources []authz.ResourceInfo
	// RequestID and CSRFToken go into the hidden form fields
	// "request_id" and "csrf_token"; the buttons post "action" = "approve"
	// or "deny", and the optional checkbox posts "remember" = "1".
	RequestID string
	CSRFToken string
	// CanRemember says whether to offer the "remember" checkbox.
	CanRemember bool
	// Pending is the parked request as package authz describes it. Its
	// strings are raw: clean them before showing them.
	Pending *authz.Pending
}

// ClientData describes the client on the consent page.
type ClientData struct {
	// ID is the client_id, cleaned.
	ID string
	// Name is the client's name (its client_id when it has none).
	Name string
	// Initial is the first letter of Name, shown when there is no logo.
	Initial string
	// Kind says how the client is known.
	Kind storage.ClientKind
	// IDHost is the client_id host of a metadata-document client.
	IDHost string
	// LogoURL is a same-origin URL of the client's logo, fetched and
	// checked by the server; empty when there is none.
	LogoURL string
}

// ErrorData is what the error template is executed with.
type ErrorData struct {
	Lang     string
	Messages *Messages
	// Status is the HTTP status of the response.
	Status int
	// Title and Message are the text to show.
	Title   string
	Message string
}

// ErrorPage returns a function for authz.Config.ErrorPage that shows the
// authorization server's own error pages (unknown client, unregistered
// redirect URI, expired request, …) in the look of the consent page: the
// built-in error page, or tmpl's "error" template when tmpl defines one
// (executed with [ErrorData]), with msgs' texts (nil means English). Pass
// the Template and Messages given to [Config], so that every page looks
// alike. An expired or completed request shows Messages.ErrorExpired, a
// server failure Messages.ErrorUnavailable, any other error the server's
// description (English, and safe to show; html/template escapes it). The
// page gets the headers of [SetPageHeaders]. It is a function rather than
// a Handler method because authz.New needs it before consent.New can be
// given the server.
func ErrorPage(tmpl *template.Template, msgs *Messages) func(w http.ResponseWriter, r *http.Request, e *authz.Error) {
	t := builtinError
	if tmpl != nil && tmpl.Lookup("error") != nil {
		t = tmpl
	}
	m := msgs.withDefaults()
	return func(w http.ResponseWriter, r *http.Request, e *authz.Error) {
		status := http.StatusBadRequest
		msg := m.ErrorBadRequest
		if e != nil {
			if e.Status >= 400 && e.Status <= 599 {
				status = e.Status
			}
			if d := strings.TrimSpace(e.Description); d != "" {
				msg = d
			}
		}
		switch {
		case e != nil && errors.Is(e, authz.ErrRequestNotFound):
			msg = m.ErrorExpired
		case status >= 500:
			msg = m.ErrorUnavailable
		}
		var buf bytes.Buffer
		if err := t.ExecuteTemplate(&buf, "error", &ErrorData{Lang: m.Lang, Messages: m, Status: status, Title: m.ErrorTitle, Message: msg}); err != nil {
			// A broken host template: the built-in page rather than half
			// a page.
			buf.Reset()
			status = http.StatusInternalServerError
			_ = builtinError.ExecuteTemplate(&buf, "error", &ErrorData{Lang: m.Lang, Messages: m, Status: status, Title: m.ErrorTitle, Message: m.ErrorUnavailable})
		}
		SetPageHeaders(w.Header())
		w.WriteHeader(status)
		if r.Method != http.MethodHead {
			_, _ = w.Write(buf.Bytes())
		}
	}
}

// initial is the first letter or digit of a name, for the placeholder
// shown when a client has no logo.
func initial(name string) string {
	for _, r := range name {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			return strings.ToUpper(string(r))
		}
	}
	return "?"
}

// newPageData builds the page data for a parked request.
func newPageData(m *Messages, p *authz.Pending) *PageData {
	name := clean(p.ClientName, maxNameLen)
	if name == "" {
		name = clean(p.ClientID, maxNameLen)
	}
	d := &PageData{
		Lang:     m.Lang,
		Messages: m,
		Client: ClientData{
			ID:     clean(p.ClientID, maxIdentifierLen),
			Name:   name,
			Kind:   p.ClientKind,
			IDHost: clean(p.ClientIDHost, maxHostLen),
		},
		RedirectHost: clean(p.RedirectHost, maxHostLen),
		LoopbackOnly: p.LoopbackOnly,
		RequestID:    p.ID,
		Pending:      p,
	}
	d.Client.Initial = initial(name)
	d.Heading = fill(m.Heading, "client", name)
	switch p.ClientKind {
	case storage.ClientMetadataDocument:
		if d.Client.IDHost != "" {
			d.Identity = fill(m.IdentityMetadataDocument, "host", d.Client.IDHost)
		}
	case storage.ClientRegistered:
		d.Identity = fill(m.IdentityRegistered, "client", name)
	default:
		if m.IdentityStatic != "" {
			d.Identity = fill(m.IdentityStatic, "client", name)
		}
	}
	d.LoopbackWarning = fill(m.LoopbackWarning, "host", d.RedirectHost)
	d.Redirect = fill(m.Redirect, "host", d.RedirectHost)
	for _, s := range p.Scopes {
		d.Scopes = append(d.Scopes, authz.ScopeInfo{
			Name:        clean(s.Name, maxScopeNameLen),
			Description: clean(s.Description, maxDescriptionLen),
		})
	}
	for _, r := range p.Resources {
		ri := authz.ResourceInfo{
			Identifier: clean(r.Identifier, maxIdentifierLen),
			Name:       clean(r.Name, maxNameLen),
		}
		if ri.Name == "" {
			ri.Name = ri.Identifier
		}
		d.Resources = append(d.Resources, ri)
	}
	return d
}
