package interoptest

import (
	"context"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

// Browser is a scripted user agent: it keeps cookies, follows redirects
// within the servers it talks to, and stops at the client's redirect URI,
// as a browser hands the authorization response to a native client.
type Browser struct {
	client *http.Client
	// stopAt reports whether a redirect target is the client's redirect
	// URI, where the browser stops.
	stopAt func(*url.URL) bool

	mu     sync.Mutex
	logins int
	pages  []string
}

// NewBrowser returns a browser that stops at any URL for which stopAt
// reports true.
func NewBrowser(stopAt func(*url.URL) bool) *Browser {
	jar, _ := cookiejar.New(nil)
	b := &Browser{stopAt: stopAt}
	b.client = &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if b.stopAt(req.URL) {
			return http.ErrUseLastResponse
		}
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		return nil
	}}
	return b
}

// StopAtPrefix returns a stopAt function for NewBrowser that stops at
// URLs starting with prefix (a redirect URI without its query).
func StopAtPrefix(prefix string) func(*url.URL) bool {
	return func(u *url.URL) bool { return strings.HasPrefix(u.String(), prefix) }
}

// Logins returns how often the browser filled in a login form.
func (b *Browser) Logins() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.logins
}

// Page is a fetched page.
type Page struct {
	Status int
	URL    *url.URL
	Body   string
	// Location is the Location header of a response the browser stopped
	// at (a redirect to the client).
	Location *url.URL
}

func (b *Browser) do(ctx context.Context, method, u string, form url.Values) (*Page, error) {
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	p := &Page{Status: resp.StatusCode, URL: resp.Request.URL, Body: string(data)}
	if resp.StatusCode/100 == 3 {
		if p.Location, err = resp.Location(); err != nil {
			return nil, err
		}
	}
	b.mu.Lock()
	b.pages = append(b.pages, fmt.Sprintf("%s %s → %d", method, p.URL, p.Status))
	b.mu.Unlock()
	return p, nil
}

// Get fetches u.
func (b *Browser) Get(ctx context.Context, u string) (*Page, error) {
	return b.do(ctx, http.MethodGet, u, nil)
}

// Post submits form to u.
func (b *Browser) Post(ctx context.Context, u string, form url.Values) (*Page, error) {
	return b.do(ctx, http.MethodPost, u, form)
}

var (
	formRE  = regexp.MustCompile(`(?s)<form\b([^>]*)>(.*?)</form>`)
	inputRE = regexp.MustCompile(`<input\b[^>]*>`)
	attrRE  = regexp.MustCompile(`([a-z-]+)="([^"]*)"`)
)

func attrs(tag string) map[string]string {
	m := map[string]string{}
	for _, a := range attrRE.FindAllStringSubmatch(tag, -1) {
		m[a[1]] = html.UnescapeString(a[2])
	}
	return m
}

// Form returns the URL the page's first POST form submits to and its
// hidden fields.
func (p *Page) Form() (string, url.Values, error) {
	for _, f := range formRE.FindAllStringSubmatch(p.Body, -1) {
		fa := attrs(f[1])
		if !strings.EqualFold(fa["method"], "post") {
			continue
		}
		action := p.URL
		if a, ok := fa["action"]; ok && a != "" {
			u, err := p.URL.Parse(a)
			if err != nil {
				return "", nil, err
			}
			action = u
		}
		v := url.Values{}
		for _, in := range inputRE.FindAllString(f[2], -1) {
			ia := attrs(in)
			if ia["type"] == "hidden" && ia["name"] != "" {
				v.Set(ia["name"], ia["value"])
			}
		}
		return action.String(), v, nil
	}
	return "", nil, fmt.Errorf("no form on the page (status %d at %s)", p.Status, p.URL)
}

// IsLogin reports whether the page is a login form (it has a password
// field).
func (p *Page) IsLogin() bool { return strings.Contains(p.Body, `name="password"`) }

// IsConsent reports whether the page is the authz/consent page.
func (p *Page) IsConsent() bool {
	return strings.Contains(p.Body, `name="csrf_token"`) && strings.Contains(p.Body, `value="approve"`)
}

// Authorize opens an authorization URL, signs in as User with Password
// when a login form appears, approves on the consent page, and returns
// the redirect to the client (the authorization response).
func (b *Browser) Authorize(ctx context.Context, authURL string) (*url.URL, error) {
	return b.AuthorizeAs(ctx, authURL, User, Password)
}

// AuthorizeAs is Authorize with the given credentials.
func (b *Browser) AuthorizeAs(ctx context.Context, authURL, user, password string) (*url.URL, error) {
	p, err := b.Get(ctx, authURL)
	if err != nil {
		return nil, err
	}
	if p.Location == nil && p.IsLogin() {
		action, form, err := p.Form()
		if err != nil {
			return nil, err
		}
		form.Set("username", user)
		form.Set("password", password)
		form.Set("action", "login")
		b.mu.Lock()
		b.logins++
		b.mu.Unlock()
		if p, err = b.Post(ctx, action, form); err != nil {
			return nil, err
		}
	}
	if p.Location == nil {
		if !p.IsConsent() {
			return nil, fmt.Errorf("expected the consent page, got status %d at %s:\n%s", p.Status, p.URL, p.Body)
		}
		action, form, err := p.Form()
		if err != nil {
			return nil, err
		}
		form.Set("action", "approve")
		if p, err = b.Post(ctx, action, form); err != nil {
			return nil, err
		}
	}
	if p.Location == nil {
		return nil, fmt.Errorf("no redirect to the client: status %d at %s:\n%s", p.Status, p.URL, p.Body)
	}
	return p.Location, nil
}

// History lists the requests the browser made, for failure messages.
func (b *Browser) History() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.pages...)
}
