package browsertest

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowserRecordsConsoleDialogsAndScreenshots proves the helper sees what
// the browser tests rely on: console errors, uncaught exceptions, CSP
// violations reported by the browser log, dialogs, and screenshot files.
func TestBrowserRecordsConsoleDialogsAndScreenshots(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/csp":
			w.Header().Set("Content-Security-Policy", "default-src 'none'")
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><title>csp</title><style>body{color:red}</style><p id=p>blocked style</p>`))
		default:
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			_, _ = w.Write([]byte(`<!doctype html><title>t</title><h1 id=h>hello</h1><script>
console.log("just a log");
console.error("boom", 42);
alert("hi");
setTimeout(function(){ throw new Error("uncaught one"); }, 0);
</script>`))
		}
	}))
	defer ts.Close()

	start := time.Now()
	b := New(t, 20*time.Second)
	t.Setenv(EnvArtifacts, t.TempDir())
	b.Do(chromedp.Navigate(ts.URL + "/"))
	if got := b.Text("#h"); got != "hello" {
		t.Fatalf("text = %q", got)
	}
	// The exception is thrown from a timer; wait until it is in.
	deadline := time.Now().Add(5 * time.Second)
	for len(b.Errors()) < 2 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	var sawError, sawException, sawLog bool
	for _, m := range b.Messages() {
		switch {
		case m.Type == "error" && strings.Contains(m.Text, "boom 42"):
			sawError = true
		case m.Type == "exception" && strings.Contains(m.Text, "uncaught one"):
			sawException = true
		case m.Type == "log" && m.Text == "just a log":
			sawLog = true
		}
	}
	if !sawError || !sawException || !sawLog {
		t.Fatalf("messages = %v", b.Messages())
	}
	if d := b.Dialogs(); len(d) != 1 || d[0] != "alert: hi" {
		t.Fatalf("dialogs = %v", d)
	}

	b.ClearMessages()
	b.Do(chromedp.Navigate(ts.URL + "/csp"))
	b.Text("#p")
	deadline = time.Now().Add(5 * time.Second)
	for len(b.Errors()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	errs := b.Errors()
	if len(errs) == 0 || !strings.Contains(errs[0].Text, "Content Security Policy") {
		t.Fatalf("CSP violation not reported: %v", b.Messages())
	}

	paths := b.Screenshots("page")
	if len(paths) != 2 {
		t.Fatalf("paths = %v", paths)
	}
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(data, []byte("\x89PNG\r\n")) {
			t.Fatalf("%s: not a PNG (%v)", p, err)
		}
	}
	if w := Eval[int](b, `window.innerWidth`); w != 1280 {
		t.Fatalf("viewport not restored: %d", w)
	}
	t.Logf("browser test took %v", time.Since(start))
}

func TestSanitize(t *testing.T) {
	if got := sanitize("TestX/sub case:1"); got != "TestX_sub_case_1" {
		t.Fatal(got)
	}
}

// stopTB records how New stopped the test instead of stopping it.
type stopTB struct {
	testing.TB
	how, msg string
}

type stopped struct{}

func (s *stopTB) Helper() {}
func (s *stopTB) Skip(args ...any) {
	s.how, s.msg = "skip", strings.TrimSpace(strings.Join(strings.Fields(fmtArgs(args)), " "))
	panic(stopped{})
}
func (s *stopTB) Fatal(args ...any) {
	s.how, s.msg = "fatal", fmtArgs(args)
	panic(stopped{})
}

func fmtArgs(args []any) string {
	var b strings.Builder
	for _, a := range args {
		b.WriteString(a.(string))
	}
	return b.String()
}

func runNew(tb *stopTB) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stopped); !ok {
				panic(r)
			}
		}
	}()
	New(tb, time.Second)
}

// TestMissingBrowserSkipsLocallyAndFailsInCI checks that a machine without
// Chromium skips loudly, and that CI=true turns the skip into a failure.
func TestMissingBrowserSkipsLocallyAndFailsInCI(t *testing.T) {
	t.Setenv(EnvBinary, "/nonexistent/chromium")
	if _, ok := Binary(); ok {
		t.Fatal("Binary found a nonexistent path")
	}
	for _, tc := range []struct{ ci, want string }{{"", "skip"}, {"false", "skip"}, {"true", "fatal"}} {
		t.Setenv("CI", tc.ci)
		tb := &stopTB{TB: t}
		runNew(tb)
		if tb.how != tc.want || !strings.Contains(tb.msg, "NO CHROMIUM FOUND") || !strings.Contains(tb.msg, "DID NOT RUN") {
			t.Errorf("CI=%q: %s %q", tc.ci, tb.how, tb.msg)
		}
	}
}
