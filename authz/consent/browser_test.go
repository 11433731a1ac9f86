package consent

import (
	"context"
	"errors"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/internal/browsertest"
)

// recorder is a loopback client's redirect endpoint.
type recorder struct {
	ts *httptest.Server
	mu sync.Mutex
	qs []url.Values
}

func newRecorder(t *testing.T) *recorder {
	rc := &recorder{}
	rc.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if serveFavicon(w, r) {
			return
		}
		if r.URL.Path != "/callback" {
			http.NotFound(w, r)
			return
		}
		rc.mu.Lock()
		rc.qs = append(rc.qs, r.URL.Query())
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><html lang="en"><title>Done</title><p id="done">You can close this window.</p></html>`)
	}))
	t.Cleanup(rc.ts.Close)
	return rc
}

func (rc *recorder) calls() []url.Values {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]url.Values(nil), rc.qs...)
}

// authURL builds an authorization URL as an MCP client with x/oauth2 does.
func authURL(hs *harness, clientID, redirect, state string) (*oauth2.Config, string, string) {
	cfg := &oauth2.Config{
		ClientID:    clientID,
		RedirectURL: redirect,
		Scopes:      []string{"mcp:tools", "mcp:prompts"},
		Endpoint:    oauth2.Endpoint{AuthURL: hs.issuer + "/authorize", TokenURL: hs.issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
	}
	verifier := oauth2.GenerateVerifier()
	return cfg, verifier, cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", testResource))
}

// waitLocation waits until the page's URL starts with prefix and the
// document is loaded.
func waitLocation(t *testing.T, b *browsertest.Browser, prefix string) string {
	t.Helper()
	b.WaitFor(`location.href.startsWith(`+strconv.Quote(prefix)+`) && document.readyState === "complete"`, 5*time.Second)
	return b.Location()
}

// TestBrowserConsentFlow runs the whole authorization in Chromium: the
// client's authorization URL, the host's login, the consent page (checked
// for what it must show, and operated with the keyboard alone), the
// redirect to a loopback client, and the code exchange.
func TestBrowserConsentFlow(t *testing.T) {
	start := time.Now()
	rc := newRecorder(t)
	hs := newHarness(t, options{})
	b := browsertest.New(t, 20*time.Second)
	redirect := rc.ts.URL + "/callback"
	cfg, verifier, u := authURL(hs, loopbackID, redirect, "browser-state")

	b.Do(chromedp.Navigate(u))
	waitLocation(t, b, hs.issuer+"/login?request_id=")
	b.Do(chromedp.WaitVisible(chromedp.ID("user")))
	if got := b.Text("h1"); got != "Sign in" {
		t.Fatalf("login page h1 = %q", got)
	}
	b.Screenshots("login")

	b.Do(chromedp.SendKeys(chromedp.ID("user"), "alice"), chromedp.Click(chromedp.CSS("button.primary")))
	consentURL := waitLocation(t, b, hs.issuer+"/consent?request_id=")
	b.Do(chromedp.WaitVisible(chromedp.CSS("form")))

	// What the page must show.
	heading := b.Text("h1")
	if heading != "Loopback Tool wants to access your account" {
		t.Errorf("h1 = %q", heading)
	}
	warning := b.Text(".warning")
	if !strings.Contains(warning, "Make sure you started this.") || !strings.Contains(warning, "127.0.0.1") {
		t.Errorf("loopback warning = %q", warning)
	}
	if got := b.Text(".redirect"); got != "After you decide, you will be sent back to 127.0.0.1." {
		t.Errorf("redirect line = %q", got)
	}
	scopes := browsertest.Eval[[]string](b, `[...document.querySelectorAll('ul[aria-labelledby="scopes-heading"] li')].map(li => li.textContent)`)
	if strings.Join(scopes, "|") != "Use the tools of your MCP serversmcp:tools|Read your promptsmcp:prompts" {
		t.Errorf("scopes = %q", scopes)
	}
	if got := b.Text(`ul[aria-labelledby="resources-heading"] li`); got != "Example MCP serverhttps://mcp.example.com/mcp" {
		t.Errorf("resources = %q", got)
	}
	// The logo was fetched by the server and is served from our origin.
	logo := browsertest.Eval[string](b, `document.querySelector('img.logo').src`)
	if !strings.HasPrefix(logo, hs.issuer+"/consent?logo=") {
		t.Errorf("logo src = %q", logo)
	}
	if w := browsertest.Eval[int](b, `document.querySelector('img.logo').naturalWidth`); w != 48 {
		t.Errorf("logo did not load: naturalWidth %d", w)
	}
	// Loopback-only clients are never remembered by default.
	if n := browsertest.Eval[int](b, `document.querySelectorAll('input[name=remember]').length`); n != 0 {
		t.Errorf("remember checkbox offered for a loopback client")
	}
	// Accessibility basics: language, labelled controls, decorative logo.
	if lang := browsertest.Eval[string](b, `document.documentElement.lang`); lang != "en" {
		t.Errorf("lang = %q", lang)
	}
	if alt := browsertest.Eval[string](b, `document.querySelector('img.logo').getAttribute('alt')`); alt != "" {
		t.Errorf("logo alt = %q, want empty (the heading names the client)", alt)
	}
	b.Screenshots("consent")
	checkContrast(t, b, "light")
	setColorScheme(t, b, "dark")
	b.Screenshots("consent-dark")
	checkContrast(t, b, "dark")
	setColorScheme(t, b, "light")
	// Nothing overflows sideways on a phone.
	b.Do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(1), chromedp.EmulateMobile))
	if w := browsertest.Eval[int](b, `document.documentElement.scrollWidth`); w > 390 {
		t.Errorf("page is %dpx wide on a 390px phone", w)
	}
	b.Do(chromedp.EmulateViewport(1280, 800, chromedp.EmulateScale(1)))

	// Keyboard only: Tab reaches Deny first, then Allow; Enter activates.
	b.Do(chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	b.Do(chromedp.KeyEvent("\t"))
	if got := browsertest.Eval[string](b, `document.activeElement.value`); got != "deny" {
		t.Fatalf("first Tab focuses %q, want the Deny button", got)
	}
	b.Do(chromedp.KeyEvent("\t"))
	if got := browsertest.Eval[string](b, `document.activeElement.value + "|" + document.activeElement.textContent`); got != "approve|Allow" {
		t.Fatalf("second Tab focuses %q, want the Allow button", got)
	}
	// A visible focus indicator (WCAG 2.4.7).
	if o := browsertest.Eval[string](b, `getComputedStyle(document.activeElement).outlineStyle`); o != "solid" {
		t.Errorf("focused button outline = %q", o)
	}
	b.Do(chromedp.KeyEvent("\r"))

	final := waitLocation(t, b, redirect+"?")
	if got := b.Text("#done"); got != "You can close this window." {
		t.Fatalf("callback page text %q", got)
	}
	fu, _ := url.Parse(final)
	q := fu.Query()
	if q.Get("code") == "" || q.Get("state") != "browser-state" || q.Get("iss") != hs.issuer {
		t.Fatalf("callback query = %v", q)
	}
	tok, err := cfg.Exchange(context.Background(), q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", testResource))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.AccessToken == "" || tok.Extra("scope") != "mcp:tools mcp:prompts" {
		t.Fatalf("token = %+v", tok)
	}
	if _, err := hs.srv.PendingRequest(context.Background(), mustID(t, consentURL)); !errors.Is(err, authz.ErrRequestNotFound) {
		t.Fatalf("request not consumed: %v", err)
	}
	b.AssertNoErrors()
	if d := b.Dialogs(); len(d) != 0 {
		t.Errorf("dialogs opened: %v", d)
	}
	t.Logf("browser flow took %v", time.Since(start))
}

// contrastJS returns, for each selector, the WCAG contrast ratio of the
// element's text against its effective background.
const contrastJS = `(() => {
  const rgb = s => s.match(/[\d.]+/g).map(Number);
  const lum = ([r, g, b]) => {
    const f = c => { c /= 255; return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const bg = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length < 4 || c[3] > 0) return c.slice(0, 3);
    }
    return [255, 255, 255];
  };
  const out = {};
  for (const sel of ["h1", "h2", ".warning p", ".redirect", "ul.list .name", "ul.list code", "ul.list .detail", "button.primary", "button.secondary"]) {
    const el = document.querySelector(sel);
    if (!el) { out[sel] = 0; continue; }
    const a = lum(rgb(getComputedStyle(el).color).slice(0, 3)), b = lum(bg(el));
    out[sel] = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
  }
  return out;
})()`

// checkContrast asserts WCAG AA (4.5:1) for the page's text.
func checkContrast(t *testing.T, b *browsertest.Browser, scheme string) {
	t.Helper()
	ratios := browsertest.Eval[map[string]float64](b, contrastJS)
	if len(ratios) != 9 {
		t.Fatalf("contrast of %d elements measured", len(ratios))
	}
	for sel, ratio := range ratios {
		if !(ratio >= 4.5) { // also catches NaN
			t.Errorf("%s mode: %s has contrast %.2f:1, below WCAG AA 4.5:1", scheme, sel, ratio)
		}
	}
}

// setColorScheme emulates the user's light or dark preference.
func setColorScheme(t *testing.T, b *browsertest.Browser, scheme string) {
	t.Helper()
	_, err := chromedp.Call(b.Ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
		Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
	})
	if err != nil {
		t.Fatal(err)
	}
}

func mustID(t *testing.T, pageURL string) string {
	t.Helper()
	u, err := url.Parse(pageURL)
	if err != nil || u.Query().Get("request_id") == "" {
		t.Fatalf("no request_id in %q", pageURL)
	}
	return u.Query().Get("request_id")
}

// TestBrowserConsentAttacks proves, in Chromium, that a cross-site form
// post and a tokenless same-origin post are refused without issuing a
// code, that another origin cannot frame the page, that a hostile
// client_name is shown as text, and that denying sends access_denied.
func TestBrowserConsentAttacks(t *testing.T) {
	start := time.Now()
	rc := newRecorder(t)
	hs := newHarness(t, options{})
	// The attacker's site: "localhost" is another site than 127.0.0.1.
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		switch r.URL.Path {
		case "/csrf":
			fmt.Fprintf(w, `<!doctype html><title>win a prize</title>
<form id="f" method="post" action="%s"><input type="hidden" name="request_id" value="%s"><input type="hidden" name="action" value="approve"></form>
<script>document.getElementById("f").submit()</script>`, html.EscapeString(q.Get("target")), html.EscapeString(q.Get("id")))
		case "/frame":
			fmt.Fprintf(w, `<!doctype html><title>framed</title><iframe id="victim" src="%s" width="600" height="400"></iframe>`, html.EscapeString(q.Get("src")))
		}
	}))
	defer attacker.Close()
	attackerOrigin := strings.Replace(attacker.URL, "127.0.0.1", "localhost", 1)

	b := browsertest.New(t, 25*time.Second)
	redirect := rc.ts.URL + "/callback"
	_, _, u := authURL(hs, loopbackID, redirect, "attack-state")

	// The victim signs in and reaches a consent page.
	b.Do(chromedp.Navigate(u))
	waitLocation(t, b, hs.issuer+"/login")
	b.Do(chromedp.SendKeys(chromedp.ID("user"), "victim"), chromedp.Click(chromedp.CSS("button.primary")))
	consentURL := waitLocation(t, b, hs.issuer+"/consent?request_id=")
	id := mustID(t, consentURL)

	t.Run("cross-site post", func(t *testing.T) {
		target := hs.issuer + "/consent"
		b.Do(chromedp.Navigate(attackerOrigin + "/csrf?target=" + url.QueryEscape(target) + "&id=" + url.QueryEscape(id)))
		waitLocation(t, b, target)
		if got := b.Text("h1"); got != "Authorization problem" {
			t.Fatalf("after the forged post the page says %q", got)
		}
		if got := b.Text("main p"); !strings.Contains(got, "was not sent from this page") {
			t.Fatalf("refusal text %q", got)
		}
		if n := len(rc.calls()); n != 0 {
			t.Fatalf("the client received %d redirects", n)
		}
		hs.stillPending(id)
		b.Screenshots("refused")
	})

	t.Run("same-origin post without token", func(t *testing.T) {
		b.Do(chromedp.Navigate(consentURL), chromedp.WaitVisible(chromedp.CSS("form")))
		b.Do(chromedp.Evaluate[chromedp.Void](`document.querySelector('input[name=csrf_token]').remove()`))
		b.Do(chromedp.Click(chromedp.CSS(`button[value=approve]`)))
		b.WaitFor(`document.querySelector("h1")?.textContent === "Authorization problem"`, 5*time.Second)
		if got := b.Text("main p"); !strings.Contains(got, "was not sent from this page") {
			t.Fatalf("refusal text %q", got)
		}
		if n := len(rc.calls()); n != 0 {
			t.Fatalf("the client received %d redirects", n)
		}
		hs.stillPending(id)
	})

	t.Run("framing", func(t *testing.T) {
		b.ClearMessages()
		b.Do(chromedp.Navigate(attackerOrigin + "/frame?src=" + url.QueryEscape(consentURL)))
		b.Do(chromedp.WaitReady(chromedp.ID("victim")))
		// Chromium replaces a frame refused by frame-ancestors with an
		// error document and reports the violation.
		var blocked bool
		var frameURL string
		deadline := time.Now().Add(5 * time.Second)
		for !blocked && time.Now().Before(deadline) {
			for _, m := range b.Messages() {
				if strings.Contains(m.Text, "frame-ancestors 'none'") && strings.Contains(m.Text, hs.issuer) &&
					(strings.Contains(m.Text, "blocked") || strings.Contains(m.Text, "Refused")) {
					blocked = true
				}
			}
			tree, err := chromedp.Call(b.Ctx, page.GetFrameTree, cdp.Empty{})
			if err != nil {
				t.Fatal(err)
			}
			if len(tree.FrameTree.ChildFrames) == 1 {
				frameURL = tree.FrameTree.ChildFrames[0].Frame.URL
			}
			if !blocked {
				time.Sleep(25 * time.Millisecond)
			}
		}
		if !blocked {
			t.Fatalf("no frame-ancestors refusal reported; messages %v", b.Messages())
		}
		if strings.HasPrefix(frameURL, hs.issuer) {
			t.Errorf("the frame holds the consent page: %s", frameURL)
		}
		// And the headers that make it so.
		resp, err := http.Get(consentURL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Header.Get("X-Frame-Options") != "DENY" || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Fatalf("headers %v", resp.Header)
		}
		hs.stillPending(id)
	})

	t.Run("hostile client name", func(t *testing.T) {
		_, _, u := authURL(hs, registeredID, "https://evil.example/cb", "xss-state")
		b.Do(chromedp.Navigate(u))
		waitLocation(t, b, hs.issuer+"/consent?request_id=")
		b.Do(chromedp.WaitVisible(chromedp.CSS("form")))
		if got := b.Text("h1"); got != xssName+" wants to access your account" {
			t.Fatalf("h1 = %q", got)
		}
		if got := b.Text("h1 strong"); got != xssName {
			t.Fatalf("client name = %q", got)
		}
		if n := browsertest.Eval[int](b, `document.scripts.length`); n != 0 {
			t.Fatalf("%d script elements in the page", n)
		}
		if got := b.Text(".identity"); !strings.Contains(got, "registered itself dynamically") {
			t.Errorf("identity line = %q", got)
		}
		b.Screenshots("hostile-name")
		if d := b.Dialogs(); len(d) != 0 {
			t.Fatalf("dialogs opened: %v", d)
		}
	})

	t.Run("deny", func(t *testing.T) {
		b.Do(chromedp.Navigate(consentURL), chromedp.WaitVisible(chromedp.CSS("form")))
		b.Do(chromedp.Click(chromedp.CSS(`button[value=deny]`)))
		final := waitLocation(t, b, redirect+"?")
		fu, _ := url.Parse(final)
		q := fu.Query()
		if q.Get("error") != "access_denied" || q.Get("state") != "attack-state" || q.Get("iss") != hs.issuer || q.Get("code") != "" {
			t.Fatalf("callback query = %v", q)
		}
		if calls := rc.calls(); len(calls) != 1 || calls[0].Get("code") != "" {
			t.Fatalf("client calls = %v", calls)
		}
	})
	if d := b.Dialogs(); len(d) != 0 {
		t.Errorf("dialogs opened: %v", d)
	}
	t.Logf("browser attacks took %v", time.Since(start))
}
