package bearer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	rsClientID     = "rs:1"
	rsClientSecret = "s3cr&t +/="
	opaqueToken    = "opaque-token-value-123"
)

// introspectionServer answers with a response chosen per token and checks
// the request shape.
type introspectionServer struct {
	*httptest.Server
	t     testing.TB
	hits  atomic.Int32
	mu    sync.Mutex
	reply func(token string) (status int, body string)
}

func newIntrospectionServer(t testing.TB, reply func(token string) (int, string)) *introspectionServer {
	s := &introspectionServer{t: t, reply: reply}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.hits.Add(1)
		id, secret, ok := r.BasicAuth()
		// BasicAuth does not undo the form encoding RFC 6749 §2.3.1 adds.
		if !ok || id != "rs%3A1" || secret != "s3cr%26t+%2B%2F%3D" {
			t.Errorf("credentials = %q %q %v", id, secret, ok)
			w.WriteHeader(401)
			return
		}
		if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/x-www-form-urlencoded" {
			t.Errorf("request %s %s", r.Method, r.Header.Get("Content-Type"))
		}
		if err := r.ParseForm(); err != nil {
			t.Error(err)
		}
		if r.PostForm.Get("token_type_hint") != "access_token" {
			t.Errorf("token_type_hint = %q", r.PostForm.Get("token_type_hint"))
		}
		s.mu.Lock()
		reply := s.reply
		s.mu.Unlock()
		status, body := reply(r.PostForm.Get("token"))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *introspectionServer) setReply(f func(string) (int, string)) {
	s.mu.Lock()
	s.reply = f
	s.mu.Unlock()
}

func activeBody(extra string) string {
	return `{"active":true,"token_type":"Bearer","scope":"mcp:read mcp:write","client_id":"client-1","sub":"user-1",` +
		`"aud":"` + testResource + `","iss":"` + testIssuer + `","exp":` + itoa(t0.Add(time.Hour).Unix()) +
		`,"iat":` + itoa(t0.Unix()) + `,"jti":"j1"` + extra + `}`
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func newIntrospector(t testing.TB, endpoint string, clock *fakeClock, mutate func(*IntrospectionConfig)) *IntrospectionVerifier {
	t.Helper()
	cfg := IntrospectionConfig{
		Endpoint:     endpoint,
		ClientID:     rsClientID,
		ClientSecret: rsClientSecret,
		Resource:     testResource,
		Clock:        clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := NewIntrospectionVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestIntrospection(t *testing.T) {
	tests := []struct {
		name   string
		status int
		body   string
		mutate func(*IntrospectionConfig)
		reason Reason // 0 = accepted
		unavai bool
	}{
		{name: "active", status: 200, body: activeBody("")},
		{name: "aud array, host case", status: 200, body: strings.Replace(activeBody(""), `"aud":"`+testResource+`"`,
			`"aud":["https://x.example","https://H.EXAMPLE/mcp"]`, 1)},
		{name: "inactive", status: 200, body: `{"active":false}`, reason: ReasonInactive},
		{name: "active missing", status: 200, body: `{"scope":"x"}`, reason: ReasonInactive},
		{name: "active as string", status: 200, body: `{"active":"true"}`, unavai: true},
		{name: "other audience", status: 200, body: strings.Replace(activeBody(""), testResource, "https://other.example/mcp", 1),
			reason: ReasonWrongAudience},
		{name: "trailing slash audience", status: 200, body: strings.Replace(activeBody(""), testResource, testResource+"/", 1),
			reason: ReasonWrongAudience},
		{name: "no audience", status: 200, body: strings.Replace(activeBody(""), `"aud":"`+testResource+`",`, "", 1),
			reason: ReasonWrongAudience},
		{name: "no audience allowed", status: 200, body: strings.Replace(activeBody(""), `"aud":"`+testResource+`",`, "", 1),
			mutate: func(c *IntrospectionConfig) { c.AllowMissingAudience = true }},
		{name: "issuer checked", status: 200, body: activeBody(""),
			mutate: func(c *IntrospectionConfig) { c.Issuer = testIssuer }},
		{name: "issuer mismatch", status: 200, body: activeBody(""), reason: ReasonWrongIssuer,
			mutate: func(c *IntrospectionConfig) { c.Issuer = testIssuer + "/" }},
		{name: "refresh token", status: 200, body: strings.Replace(activeBody(""), `"Bearer"`, `"refresh_token"`, 1), reason: ReasonBadType},
		{name: "sender-constrained", status: 200, body: activeBody(`,"cnf":{"x5t#S256":"bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"}`), reason: ReasonBadType},
		{name: "token_use refresh", status: 200, body: activeBody(`,"token_use":"refresh_token"`), reason: ReasonBadType},
		{name: "expired", status: 200, body: strings.Replace(activeBody(""), itoa(t0.Add(time.Hour).Unix()), itoa(t0.Add(-time.Second).Unix()), 1),
			reason: ReasonExpired},
		{name: "not yet valid", status: 200, body: activeBody(`,"nbf":` + itoa(t0.Add(time.Hour).Unix())), reason: ReasonNotYetValid},
		{name: "negative auth_time", status: 200, body: activeBody(`,"auth_time":-5`), reason: ReasonMalformed},
		{name: "bad credentials", status: 401, body: `{"error":"invalid_client"}`, unavai: true},
		{name: "server error", status: 500, body: `oops`, unavai: true},
		{name: "not JSON", status: 200, body: `<html>`, unavai: true},
		{name: "too large", status: 200, body: activeBody(`,"pad":"` + strings.Repeat("x", maxIntrospectionBytes) + `"`), unavai: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIntrospectionServer(t, func(string) (int, string) { return tt.status, tt.body })
			v := newIntrospector(t, srv.URL, newClock(), tt.mutate)
			info, err := v.Verify(context.Background(), opaqueToken)
			switch {
			case tt.unavai:
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
					t.Fatalf("err = %v, want ErrUnavailable", err)
				}
			case tt.reason != 0:
				if !errors.Is(err, ErrInvalidToken) || reasonOf(err) != tt.reason {
					t.Fatalf("err = %v, want %v", err, tt.reason)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if info.Subject != "user-1" || info.ClientID != "client-1" || !info.HasScope("mcp:write") ||
					!info.Expiry.Equal(t0.Add(time.Hour)) || info.ID != "j1" || len(info.Claims) == 0 {
					t.Errorf("info = %+v", info)
				}
			}
			if err != nil && strings.Contains(err.Error(), opaqueToken) {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

func TestIntrospectionRedirectNotFollowed(t *testing.T) {
	var followed atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/introspect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/elsewhere", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/elsewhere", func(w http.ResponseWriter, r *http.Request) {
		followed.Store(true)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(activeBody("")))
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	v := newIntrospector(t, srv.URL+"/introspect", newClock(), nil)
	if _, err := v.Verify(context.Background(), opaqueToken); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v", err)
	}
	if followed.Load() {
		t.Fatal("redirect followed (the token would have been re-posted)")
	}
}

func TestIntrospectionCache(t *testing.T) {
	clock := newClock()
	exp := t0.Add(90 * time.Second)
	srv := newIntrospectionServer(t, func(tok string) (int, string) {
		if tok != opaqueToken {
			return 200, `{"active":false}`
		}
		return 200, strings.Replace(activeBody(""), itoa(t0.Add(time.Hour).Unix()), itoa(exp.Unix()), 1)
	})
	v := newIntrospector(t, srv.URL, clock, nil) // CacheTTL 1 min
	ctx := context.Background()
	verify := func(tok string) error { _, err := v.Verify(ctx, tok); return err }

	for i := 0; i < 3; i++ {
		if err := verify(opaqueToken); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("calls = %d, want 1", got)
	}
	// After CacheTTL the endpoint is asked again (revocation noticed).
	clock.Advance(61 * time.Second)
	if err := verify(opaqueToken); err != nil {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 2 {
		t.Fatalf("calls after TTL = %d, want 2", got)
	}
	// The entry made at t0+61s would live to t0+121s, but the token
	// expires at t0+90s: the cache must not outlive exp (RFC 7662 §4).
	srv.setReply(func(string) (int, string) { return 200, `{"active":false}` })
	clock.Advance(30 * time.Second)
	if err := verify(opaqueToken); reasonOf(err) != ReasonInactive {
		t.Fatalf("after exp: %v", err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("calls after exp = %d, want 3", got)
	}
	// Inactive answers are reused briefly.
	if err := verify(opaqueToken); reasonOf(err) != ReasonInactive {
		t.Fatal(err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("calls for a cached inactive result = %d, want 3", got)
	}
	clock.Advance(maxNegativeIntrospection + time.Second)
	_ = verify(opaqueToken)
	if got := srv.hits.Load(); got != 4 {
		t.Fatalf("calls after the negative TTL = %d, want 4", got)
	}
}

func TestIntrospectionCacheDisabledAndFailuresNotCached(t *testing.T) {
	srv := newIntrospectionServer(t, func(string) (int, string) { return 500, "" })
	v := newIntrospector(t, srv.URL, newClock(), nil)
	for i := 0; i < 2; i++ {
		if _, err := v.Verify(context.Background(), opaqueToken); !errors.Is(err, ErrUnavailable) {
			t.Fatal(err)
		}
	}
	srv.setReply(func(string) (int, string) { return 200, activeBody("") })
	if _, err := v.Verify(context.Background(), opaqueToken); err != nil {
		t.Fatalf("after recovery: %v", err)
	}
	if got := srv.hits.Load(); got != 3 {
		t.Fatalf("calls = %d, want 3", got)
	}
	nc := newIntrospector(t, srv.URL, newClock(), func(c *IntrospectionConfig) { c.DisableCache = true })
	for i := 0; i < 2; i++ {
		if _, err := nc.Verify(context.Background(), opaqueToken); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.hits.Load(); got != 5 {
		t.Fatalf("calls with cache disabled = %d, want 5", got)
	}
}

func TestIntrospectionConcurrentSingleCall(t *testing.T) {
	srv := newIntrospectionServer(t, func(string) (int, string) { return 200, activeBody("") })
	v := newIntrospector(t, srv.URL, newClock(), nil)
	var wg sync.WaitGroup
	for i := 0; i < 32; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), opaqueToken); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if got := srv.hits.Load(); got != 1 {
		t.Fatalf("32 concurrent requests caused %d calls, want 1", got)
	}
}

func TestIntrospectionNeverLogsToken(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	srv := newIntrospectionServer(t, func(string) (int, string) { return 500, "" })
	v := newIntrospector(t, srv.URL, newClock(), func(c *IntrospectionConfig) { c.Logger = log })
	h := Middleware(v, Options{Logger: log})(echoHandler())
	w := runMW(t, h, mwCase{headers: bearerHdr(opaqueToken)})
	if w.Code != 503 {
		t.Fatalf("status %d", w.Code)
	}
	if buf.Len() == 0 {
		t.Fatal("nothing logged")
	}
	if strings.Contains(buf.String(), opaqueToken) || strings.Contains(buf.String(), rsClientSecret) {
		t.Fatalf("log leaks a secret: %s", buf.String())
	}
}

func TestIntrospectionThroughMiddleware(t *testing.T) {
	srv := newIntrospectionServer(t, func(tok string) (int, string) {
		if tok == opaqueToken {
			return 200, activeBody("")
		}
		return 200, `{"active":false}`
	})
	v := newIntrospector(t, srv.URL, newClock(), nil)
	h := Middleware(v, Options{Scopes: []string{"mcp:read"}})(echoHandler())
	if w := runMW(t, h, mwCase{headers: bearerHdr(opaqueToken)}); w.Code != 200 || w.Header().Get("X-Sub") != "user-1" {
		t.Fatalf("active token: %d", w.Code)
	}
	w := runMW(t, h, mwCase{headers: bearerHdr("revoked-token")})
	if w.Code != 401 || !strings.Contains(w.Header().Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Fatalf("inactive token: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
}

func TestNewIntrospectionVerifierValidation(t *testing.T) {
	ok := IntrospectionConfig{Endpoint: "https://as.example/introspect", ClientID: "a", ClientSecret: "b", Resource: testResource}
	if _, err := NewIntrospectionVerifier(ok); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*IntrospectionConfig){
		"no endpoint":    func(c *IntrospectionConfig) { c.Endpoint = "" },
		"http endpoint":  func(c *IntrospectionConfig) { c.Endpoint = "http://as.example/introspect" },
		"no client":      func(c *IntrospectionConfig) { c.ClientID = "" },
		"no secret":      func(c *IntrospectionConfig) { c.ClientSecret = "" },
		"no resource":    func(c *IntrospectionConfig) { c.Resource = "" },
		"bad issuer":     func(c *IntrospectionConfig) { c.Issuer = "not a url" },
		"negative cache": func(c *IntrospectionConfig) { c.CacheTTL = -1 },
	} {
		cfg := ok
		mutate(&cfg)
		if _, err := NewIntrospectionVerifier(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
