package consent

import (
	"html/template"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/nqrust/identity/authz"
)

// TestErrorPageForServer: ErrorPage plugged into authz.Config.ErrorPage
// shows the server's own error pages in the consent page's look and
// headers, with the configured messages.
func TestErrorPageForServer(t *testing.T) {
	fr := &Messages{Lang: "fr", ErrorTitle: "Erreur d'autorisation", ErrorExpired: "La demande a expiré."}
	hs := newHarness(t, options{authz: func(c *authz.Config) { c.ErrorPage = ErrorPage(nil, fr) }})
	get := func(path string) (*http.Response, string) {
		resp, err := http.Get(hs.issuer + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	q := url.Values{"response_type": {"code"}, "client_id": {"no-such-client"}, "redirect_uri": {webCallback},
		"code_challenge": {strings.Repeat("a", 43)}, "code_challenge_method": {"S256"}}
	resp, body := get("/authorize?" + q.Encode())
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
		t.Fatalf("unknown client: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"style-src " + styleSource, "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Errorf("headers %v", resp.Header)
	}
	for _, want := range []string{`lang="fr"`, "Erreur d&#39;autorisation", "Unknown client.", "<style>"} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	// An expired or completed request gets the localised message.
	w := httptest.NewRecorder()
	_ = hs.srv.Deny(w, httptest.NewRequest(http.MethodPost, "/consent", nil), "no-such-request")
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "La demande a expiré.") || !strings.Contains(w.Body.String(), "<style>") {
		t.Fatalf("expired request: %d\n%s", w.Code, w.Body)
	}
}

// TestErrorPageTemplates: a host template's "error" is used, a broken one
// falls back to the built-in page with 500, and a nil error still renders.
func TestErrorPageTemplates(t *testing.T) {
	custom := template.Must(template.New("consent").Parse(`{{define "consent"}}c{{end}}{{define "error"}}custom {{.Status}} {{.Message}}{{end}}`))
	broken := template.Must(template.New("consent").Parse(`{{define "consent"}}c{{end}}{{define "error"}}{{.Nope}}{{end}}`))
	onlyConsent := template.Must(template.New("consent").Parse(`{{define "consent"}}c{{end}}`))
	for _, tc := range []struct {
		name   string
		tmpl   *template.Template
		e      *authz.Error
		status int
		want   string
	}{
		{"custom", custom, &authz.Error{Code: "invalid_request", Description: "Bad <thing>.", Status: 400}, 400, "custom 400 Bad &lt;thing&gt;."},
		{"broken custom", broken, &authz.Error{Code: "invalid_request", Description: "x", Status: 400}, 500, "<style>"},
		{"template without error", onlyConsent, &authz.Error{Code: "server_error", Description: "store down", Status: 503}, 503, English().ErrorUnavailable},
		{"nil error", nil, nil, 400, English().ErrorBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			ErrorPage(tc.tmpl, nil)(w, httptest.NewRequest(http.MethodGet, "/authorize", nil), tc.e)
			if w.Code != tc.status || !strings.Contains(w.Body.String(), tc.want) {
				t.Fatalf("%d, want %d with %q:\n%s", w.Code, tc.status, tc.want, w.Body)
			}
			if !strings.Contains(w.Header().Get("Content-Security-Policy"), "frame-ancestors 'none'") {
				t.Errorf("CSP %q", w.Header().Get("Content-Security-Policy"))
			}
		})
	}
}
