package authz

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
)

// park sends an authorization request and returns the parked request_id.
func (e *env) park(v url.Values) string {
	e.t.Helper()
	resp := e.get("/authorize?" + v.Encode())
	resp.Body.Close()
	loc := resp.Header.Get("Location")
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?request_id=") {
		e.t.Fatalf("authorize: %d %q", resp.StatusCode, loc)
	}
	return strings.TrimPrefix(loc, "/login?request_id=")
}

func TestDenyWithError(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, code := range []string{ErrCodeAccessDenied, ErrCodeLoginRequired, ErrCodeConsentRequired, ErrCodeInteractionRequired, ErrCodeAccountSelectionRequired} {
		t.Run(code, func(t *testing.T) {
			id := e.park(authorizeParams())
			w := httptest.NewRecorder()
			if err := e.srv.DenyWithError(w, httptest.NewRequest(http.MethodGet, "/login", nil), id, code); err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(w.Header().Get("Location"))
			if w.Code != http.StatusSeeOther || err != nil || !strings.HasPrefix(u.String(), callback+"?") {
				t.Fatalf("%d %q", w.Code, w.Header().Get("Location"))
			}
			q := u.Query()
			if q.Get("error") != code || q.Get("state") != "st-123" || q.Get("iss") != e.issuer || q.Has("code") || q.Get("error_description") == "" {
				t.Fatalf("redirect query %v", q)
			}
			// Consumed: a second completion is an error page.
			w = httptest.NewRecorder()
			if err := e.srv.DenyWithError(w, httptest.NewRequest(http.MethodGet, "/login", nil), id, code); !errors.Is(err, ErrRequestNotFound) || w.Code != http.StatusBadRequest || w.Header().Get("Location") != "" {
				t.Fatalf("second completion: %v %d", err, w.Code)
			}
		})
	}
	// Codes outside OpenID Connect Core §3.1.2.6 are refused without
	// consuming the request or redirecting.
	for _, code := range []string{"", "invalid_request", "server_error", "temporarily_unavailable", "Login_Required", "unauthorized_client"} {
		id := e.park(authorizeParams())
		w := httptest.NewRecorder()
		err := e.srv.DenyWithError(w, httptest.NewRequest(http.MethodGet, "/login", nil), id, code)
		if err == nil || w.Code != http.StatusInternalServerError || w.Header().Get("Location") != "" {
			t.Fatalf("code %q: %v %d %q", code, err, w.Code, w.Header().Get("Location"))
		}
		if _, err := e.srv.PendingRequest(ctx, id); err != nil {
			t.Fatalf("code %q consumed the request: %v", code, err)
		}
	}
}

// TestErrorPageHook: every page the server renders instead of redirecting
// goes through Config.ErrorPage, after the security headers are set.
func TestErrorPageHook(t *testing.T) {
	type call struct {
		code, desc string
		status     int
		notFound   bool
		headers    http.Header
	}
	var (
		mu    sync.Mutex // the hook runs on the test server's goroutines
		calls []call
	)
	e := newEnv(t, func(c *Config) {
		c.ErrorPage = func(w http.ResponseWriter, r *http.Request, pe *Error) {
			mu.Lock()
			calls = append(calls, call{pe.Code, pe.Description, pe.Status, errors.Is(pe, ErrRequestNotFound), w.Header().Clone()})
			mu.Unlock()
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			w.WriteHeader(pe.Status)
			fmt.Fprintf(w, "custom page: %s", pe.Code)
		}
	})
	check := func(t *testing.T, status int, body string, wantCode string, wantStatus int, wantNotFound bool) {
		t.Helper()
		mu.Lock()
		defer mu.Unlock()
		if len(calls) != 1 {
			t.Fatalf("hook called %d times", len(calls))
		}
		c := calls[0]
		calls = nil
		if status != wantStatus || body != "custom page: "+wantCode || c.code != wantCode || c.status != wantStatus || c.notFound != wantNotFound || c.desc == "" {
			t.Fatalf("status %d body %q hook %+v", status, body, c)
		}
		for k, v := range map[string]string{
			"Content-Security-Policy": "frame-ancestors 'none'", "X-Frame-Options": "DENY", "Cache-Control": "no-store",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
		} {
			if got := c.headers.Get(k); got != v {
				t.Fatalf("before the hook %s = %q, want %q", k, got, v)
			}
		}
	}
	httpCase := func(t *testing.T, method, rawQuery string, wantCode string, wantStatus int) {
		t.Helper()
		req, _ := http.NewRequest(method, e.ts.URL+"/authorize?"+rawQuery, nil)
		resp, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		check(t, resp.StatusCode, readAll(t, resp), wantCode, wantStatus, false)
		if resp.Header.Get("Location") != "" {
			t.Fatal("redirected")
		}
	}
	t.Run("unknown client", func(t *testing.T) {
		v := authorizeParams()
		v.Set("client_id", "nobody")
		httpCase(t, http.MethodGet, v.Encode(), ErrCodeInvalidRequest, http.StatusBadRequest)
	})
	t.Run("unregistered redirect URI", func(t *testing.T) {
		v := authorizeParams()
		v.Set("redirect_uri", "https://evil.example/cb")
		httpCase(t, http.MethodGet, v.Encode(), ErrCodeInvalidRequest, http.StatusBadRequest)
	})
	t.Run("method", func(t *testing.T) {
		httpCase(t, http.MethodPut, authorizeParams().Encode(), ErrCodeInvalidRequest, http.StatusMethodNotAllowed)
	})
	local := func(f func(w http.ResponseWriter, r *http.Request) error) (*httptest.ResponseRecorder, error) {
		w := httptest.NewRecorder()
		return w, f(w, httptest.NewRequest(http.MethodPost, "/login", nil))
	}
	t.Run("Approve of an unknown request", func(t *testing.T) {
		w, err := local(func(w http.ResponseWriter, r *http.Request) error {
			return e.srv.Approve(w, r, "unknown", Approval{Subject: "alice"})
		})
		if err == nil {
			t.Fatal("no error")
		}
		check(t, w.Code, w.Body.String(), ErrCodeInvalidRequest, http.StatusBadRequest, true)
	})
	t.Run("Deny of an expired request", func(t *testing.T) {
		id := e.park(authorizeParams())
		e.clock.Advance(DefaultRequestLifetime + time.Second)
		w, err := local(func(w http.ResponseWriter, r *http.Request) error { return e.srv.Deny(w, r, id) })
		if !errors.Is(err, ErrRequestNotFound) {
			t.Fatalf("err = %v", err)
		}
		check(t, w.Code, w.Body.String(), ErrCodeInvalidRequest, http.StatusBadRequest, true)
	})
	t.Run("a valid request still redirects", func(t *testing.T) {
		id := e.park(authorizeParams())
		w, err := local(func(w http.ResponseWriter, r *http.Request) error { return e.srv.Deny(w, r, id) })
		mu.Lock()
		defer mu.Unlock()
		if err != nil || w.Code != http.StatusSeeOther || len(calls) != 0 {
			t.Fatalf("%v %d, hook calls %d", err, w.Code, len(calls))
		}
	})
}

// TestBuiltinErrorPage: without a hook the page is self-contained HTML
// under a policy that loads nothing, not even inline style.
func TestBuiltinErrorPage(t *testing.T) {
	e := newEnv(t)
	v := authorizeParams()
	v.Set("client_id", "nobody<script>")
	resp := e.get("/authorize?" + v.Encode())
	body := readAll(t, resp)
	resp.Body.Close()
	csp := resp.Header.Get("Content-Security-Policy")
	if resp.StatusCode != http.StatusBadRequest || csp != builtinPageCSP || strings.Contains(csp, "unsafe-inline") ||
		!strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Fatalf("%d CSP %q", resp.StatusCode, csp)
	}
	if resp.Header.Get("X-Frame-Options") != "DENY" || resp.Header.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("headers %v", resp.Header)
	}
	if strings.Contains(body, "<style") || strings.Contains(body, "style=") || strings.Contains(body, "<script") || !strings.Contains(body, "<code>invalid_request</code>") {
		t.Fatalf("body %s", body)
	}
}

func TestRevokeSubjectClientGrants(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// alice authorizes the public client and gets a refresh token.
	status, tj := e.exchange(e.code(authorizeParams()))
	if status != http.StatusOK || tj.RefreshToken == "" {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	now := e.clock.Now()
	for _, g := range []storage.Grant{
		{ID: "alice-public-2", Subject: "alice", ClientID: publicID},
		{ID: "alice-conf", Subject: "alice", ClientID: confID},
		{ID: "bob-public", Subject: "bob", ClientID: publicID},
	} {
		g.Scopes, g.Resources, g.AuthTime, g.CreatedAt, g.ExpiresAt = []string{"mcp:tools"}, []string{testResource}, now, now, now.Add(time.Hour)
		if err := e.store.CreateGrant(ctx, &g); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.srv.RevokeSubjectClientGrants(ctx, "alice", publicID); err != nil {
		t.Fatal(err)
	}
	ids := func(subject string) []string {
		gs, err := e.srv.ListGrants(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, g := range gs {
			out = append(out, g.ID)
		}
		return out
	}
	if got := ids("alice"); len(got) != 1 || got[0] != "alice-conf" {
		t.Fatalf("alice's grants after revoking the public client: %v", got)
	}
	if got := ids("bob"); len(got) != 1 || got[0] != "bob-public" {
		t.Fatalf("bob's grants: %v", got)
	}
	if m := e.introspect(tj.AccessToken); m["active"] != false {
		t.Fatalf("access token of a revoked grant: %v", m)
	}
	status, rj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {publicID}}, "", ""))
	if status != http.StatusBadRequest || rj.Error != ErrCodeInvalidGrant {
		t.Fatalf("refresh after revocation: %d %+v", status, rj)
	}
	// Nothing left to revoke is not an error; empty arguments are.
	if err := e.srv.RevokeSubjectClientGrants(ctx, "alice", publicID); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.RevokeSubjectClientGrants(ctx, "", publicID); err == nil {
		t.Fatal("empty subject accepted")
	}
	if err := e.srv.RevokeSubjectClientGrants(ctx, "alice", ""); err == nil {
		t.Fatal("empty client_id accepted")
	}
}

func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
