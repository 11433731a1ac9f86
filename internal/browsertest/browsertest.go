package browsertest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// EnvBinary names the environment variable that overrides the browser path.
const EnvBinary = "NQ_CHROMIUM"

// EnvArtifacts names the environment variable holding the directory that
// screenshots are written to; when unset they go to testdata/artifacts
// under the package being tested (ignored by git).
const EnvArtifacts = "NQ_ARTIFACTS"

// candidates are tried in order after EnvBinary.
var candidates = []string{"/usr/bin/chromium", "chromium", "chromium-browser", "google-chrome-stable", "google-chrome"}

// Binary returns the path of a Chromium executable: $NQ_CHROMIUM, then
// /usr/bin/chromium (Debian's package), then chromium, chromium-browser and
// google-chrome on PATH.
func Binary() (string, bool) {
	if p := os.Getenv(EnvBinary); p != "" {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
		return "", false
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, true
		}
	}
	return "", false
}

// Message is something the page wrote to the console.
type Message struct {
	// Type is "log", "info", "warning", "error", "exception", "debug", ….
	Type string
	// Source is the browser log source ("network", "security", …) for log
	// entries, "console" for console API calls and "exception" for
	// uncaught exceptions.
	Source string
	// Text is the message.
	Text string
	// URL is where it came from, when known.
	URL string
}

// IsError reports whether m is an error or an uncaught exception.
func (m Message) IsError() bool { return m.Type == "error" || m.Type == "exception" }

func (m Message) String() string {
	s := m.Source + " " + m.Type + ": " + m.Text
	if m.URL != "" {
		s += " (" + m.URL + ")"
	}
	return s
}

// Browser is one headless Chromium with one tab, for one test.
type Browser struct {
	// Ctx is the chromedp context of the tab; pass it to chromedp.Do and
	// chromedp.Run. It ends when the test ends or the timeout passes.
	Ctx context.Context

	t        testing.TB
	mu       sync.Mutex
	messages []Message
	dialogs  []string
}

// New starts a headless Chromium with an empty profile for t and opens a
// tab. Everything is torn down when the test ends; timeout bounds the
// browser's whole life so that a stuck page fails the test instead of
// hanging it.
func New(t testing.TB, timeout time.Duration) *Browser {
	t.Helper()
	bin, ok := Binary()
	if !ok {
		msg := "browsertest: NO CHROMIUM FOUND (looked at $" + EnvBinary + ", " + strings.Join(candidates, ", ") +
			"); install it with `apt-get install -y chromium`. THIS BROWSER TEST DID NOT RUN."
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip("\n\n    *** " + msg + " ***\n")
	}
	profile := t.TempDir()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(bin),
		chromedp.UserDataDir(profile),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-features", "Translate,OptimizationHints,MediaRouter"),
		chromedp.Flag("password-store", "basic"),
		chromedp.Flag("force-color-profile", "srgb"),
		chromedp.WindowSize(1280, 800),
	}
	base, cancelBase := context.WithTimeout(context.Background(), timeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(base, opts...)
	b := &Browser{t: t}
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(b.listen))
	b.Ctx = ctx
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
		cancelBase()
	})
	// The first action starts the browser; its context must be the tab's
	// own, so that the browser lives as long as the tab.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("browsertest: starting %s: %v", bin, err)
	}
	return b
}

// listen runs on the tab's reader goroutine, in event order; it must not
// block or send commands.
func (b *Browser) listen(ev any) {
	switch ev := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		var parts []string
		for _, a := range ev.Args {
			switch {
			case a.Value != nil:
				parts = append(parts, strings.Trim(string(a.Value), `"`))
			case a.Description != "":
				parts = append(parts, a.Description)
			default:
				parts = append(parts, string(a.Type))
			}
		}
		b.add(Message{Type: string(ev.Type), Source: "console", Text: strings.Join(parts, " ")})
	case *runtime.EventExceptionThrown:
		d := ev.ExceptionDetails
		text := d.Text
		if d.Exception != nil && d.Exception.Description != "" {
			text += " " + d.Exception.Description
		}
		b.add(Message{Type: "exception", Source: "exception", Text: text, URL: d.URL})
	case *log.EventEntryAdded:
		e := ev.Entry
		b.add(Message{Type: string(e.Level), Source: string(e.Source), Text: e.Text, URL: e.URL})
	case *page.EventJavascriptDialogOpening:
		b.mu.Lock()
		b.dialogs = append(b.dialogs, string(ev.Type)+": "+ev.Message)
		b.mu.Unlock()
		// A dialog blocks the page until it is handled; handle it from
		// another goroutine, as the reader loop must not send commands.
		go func() {
			_, _ = chromedp.Call(b.Ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: false})
		}()
	}
}

func (b *Browser) add(m Message) {
	b.mu.Lock()
	b.messages = append(b.messages, m)
	b.mu.Unlock()
}

// sync makes sure every event the browser sent before now has reached the
// listener: the reader handles events and replies in order, so once a
// command's reply is in, the events before it were seen.
func (b *Browser) sync() {
	_, _ = chromedp.Run(b.Ctx, chromedp.Evaluate[chromedp.Void](`0`))
}

// Messages returns everything the page wrote to the console so far.
func (b *Browser) Messages() []Message {
	b.sync()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]Message(nil), b.messages...)
}

// Errors returns the console errors and uncaught exceptions so far.
func (b *Browser) Errors() []Message {
	var out []Message
	for _, m := range b.Messages() {
		if m.IsError() {
			out = append(out, m)
		}
	}
	return out
}

// ClearMessages forgets the messages recorded so far.
func (b *Browser) ClearMessages() {
	b.sync()
	b.mu.Lock()
	b.messages = nil
	b.mu.Unlock()
}

// Dialogs returns the JavaScript dialogs (alert, confirm, prompt) that
// opened so far; each was dismissed.
func (b *Browser) Dialogs() []string {
	b.sync()
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.dialogs...)
}

// AssertNoErrors fails the test if the page logged any console error or
// threw any uncaught exception so far.
func (b *Browser) AssertNoErrors() {
	b.t.Helper()
	for _, m := range b.Errors() {
		b.t.Errorf("browser console error: %s", m)
	}
}

// Do runs actions in the tab and fails the test on error.
func (b *Browser) Do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.Ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

// Location returns the URL of the page.
func (b *Browser) Location() string {
	b.t.Helper()
	loc, err := chromedp.Run(b.Ctx, chromedp.Location())
	if err != nil {
		b.t.Fatalf("browser: location: %v", err)
	}
	return loc
}

// Text returns the text content of the first element matching the CSS
// selector, waiting for it to exist.
func (b *Browser) Text(css string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.Ctx, chromedp.TextContent(chromedp.CSS(css)))
	if err != nil {
		b.t.Fatalf("browser: text of %s: %v", css, err)
	}
	return s
}

// Eval evaluates a JavaScript expression in the page and returns its
// value decoded as T.
func Eval[T any](b *Browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.Ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("browser: eval %q: %v", expr, err)
	}
	return v
}

// WaitFor evaluates the JavaScript expression until it yields true, and
// fails the test if it does not within timeout. Errors while the page
// navigates count as "not yet".
func (b *Browser) WaitFor(expr string, timeout time.Duration) {
	b.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(b.Ctx, chromedp.Evaluate[bool](expr))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
			b.t.Fatalf("browser: %q still not true after %v (at %s, last error %v)", expr, timeout, loc, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ArtifactsDir returns (and creates) the directory screenshots go to:
// $NQ_ARTIFACTS, or testdata/artifacts in the package directory.
func ArtifactsDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv(EnvArtifacts)
	if dir == "" {
		dir = filepath.Join("testdata", "artifacts")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatalf("browsertest: artifacts dir: %v", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		t.Fatalf("browsertest: artifacts dir: %v", err)
	}
	return abs
}

// Screenshot sets the viewport to width×height CSS pixels, takes a
// full-page PNG screenshot and writes it to the artifacts directory as
// "<test>-<name>-<width>x<height>.png". It logs and returns the path.
func (b *Browser) Screenshot(name string, width, height int64) string {
	b.t.Helper()
	opts := []chromedp.EmulateViewportOption{chromedp.EmulateScale(1)}
	if width < 600 {
		opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
	}
	if err := chromedp.Do(b.Ctx, chromedp.EmulateViewport(width, height, opts...)); err != nil {
		b.t.Fatalf("browser: viewport %dx%d: %v", width, height, err)
	}
	png, err := chromedp.Run(b.Ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("browser: screenshot: %v", err)
	}
	file := fmt.Sprintf("%s-%s-%dx%d.png", sanitize(b.t.Name()), sanitize(name), width, height)
	path := filepath.Join(ArtifactsDir(b.t), file)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatalf("browser: writing screenshot: %v", err)
	}
	b.t.Logf("screenshot: %s", path)
	return path
}

// Screenshots takes Screenshot at the desktop (1280×800) and phone
// (390×844) sizes, then restores the desktop viewport.
func (b *Browser) Screenshots(name string) []string {
	b.t.Helper()
	paths := []string{b.Screenshot(name, 1280, 800), b.Screenshot(name, 390, 844)}
	if err := chromedp.Do(b.Ctx, chromedp.EmulateViewport(1280, 800, chromedp.EmulateScale(1))); err != nil {
		b.t.Fatalf("browser: viewport: %v", err)
	}
	return paths
}

func sanitize(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			return r
		}
		return '_'
	}, s)
}
