package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const testPRM = "https://h.example/.well-known/oauth-protected-resource/mcp"

// echoHandler reports the token it saw and echoes the body.
func echoHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, ok := TokenInfoFromContext(r.Context())
		if !ok {
			http.Error(w, "no token info", 500)
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Sub", info.Subject)
		_, _ = w.Write(body)
	})
}

type mwCase struct {
	name       string
	method     string
	target     string
	headers    map[string][]string
	body       string
	wantStatus int
	// wantChallenge is the exact WWW-Authenticate value ("" = absent).
	wantChallenge string
	wantError     string // JSON "error" member, "" = no body expected
	wantBody      string // for 200
}

func runMW(t *testing.T, h http.Handler, tt mwCase) *httptest.ResponseRecorder {
	t.Helper()
	method := tt.method
	if method == "" {
		method = http.MethodGet
	}
	var body io.Reader
	if tt.body != "" {
		body = strings.NewReader(tt.body)
	}
	target := tt.target
	if target == "" {
		target = "/mcp"
	}
	r := httptest.NewRequest(method, "https://h.example"+target, body)
	for k, vs := range tt.headers {
		r.Header[k] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func checkMW(t *testing.T, w *httptest.ResponseRecorder, tt mwCase) {
	t.Helper()
	if w.Code != tt.wantStatus {
		t.Fatalf("status = %d, want %d; WWW-Authenticate %q; body %q", w.Code, tt.wantStatus, w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
	if got := w.Header().Get("WWW-Authenticate"); got != tt.wantChallenge {
		t.Errorf("WWW-Authenticate =\n  %q\nwant\n  %q", got, tt.wantChallenge)
	}
	if tt.wantError != "" {
		var e struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error != tt.wantError {
			t.Errorf("body %q: error = %q, want %q (%v)", w.Body.String(), e.Error, tt.wantError, err)
		}
		if cc := w.Header().Get("Cache-Control"); cc != "no-store" {
			t.Errorf("Cache-Control = %q", cc)
		}
	}
	if tt.wantStatus == http.StatusOK && w.Body.String() != tt.wantBody {
		t.Errorf("body = %q, want %q", w.Body.String(), tt.wantBody)
	}
}

func bearerHdr(tok string) map[string][]string {
	return map[string][]string{"Authorization": {"Bearer " + tok}}
}

func TestMiddleware(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	clock := newClock()
	v := newStaticVerifier(t, clock, nil, es)
	good := mint(t, es, claimsAt(t0), mintOpt{})
	readOnly := mint(t, es, with(claimsAt(t0), "scope", "mcp:read"), mintOpt{})
	expired := mint(t, es, with(claimsAt(t0), "iat", t0.Add(-2*time.Hour).Unix(), "exp", t0.Add(-time.Hour).Unix()), mintOpt{})
	foreign := mint(t, es, with(claimsAt(t0), "aud", "https://other.example/mcp"), mintOpt{})
	slash := mint(t, es, with(claimsAt(t0), "aud", testResource+"/"), mintOpt{})
	wrongIss := mint(t, es, with(claimsAt(t0), "iss", "https://evil.example"), mintOpt{})
	none := mintRaw(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": "es"}, claimsAt(t0), nil)
	hs := mintHS256WithPublicKey(t, es, claimsAt(t0))
	notYet := mint(t, es, with(claimsAt(t0), "nbf", t0.Add(time.Hour).Unix()), mintOpt{})
	typJWT := mint(t, es, claimsAt(t0), mintOpt{typ: "JWT"})

	h := Middleware(v, Options{
		ResourceMetadataURL: testPRM,
		Scopes:              []string{"mcp:read"},
		ScopesFunc: func(r *http.Request) []string {
			if r.Header.Get("Mcp-Method") == "tools/call" && r.Header.Get("Mcp-Name") == "delete" {
				return []string{"mcp:write", "mcp:admin"}
			}
			return nil
		},
	})(echoHandler())

	const noCreds = `Bearer scope="mcp:read", resource_metadata="` + testPRM + `"`
	const invalidTok = `Bearer error="invalid_token", scope="mcp:read", resource_metadata="` + testPRM + `"`
	const badReq = `Bearer error="invalid_request", scope="mcp:read", resource_metadata="` + testPRM + `"`
	stepUp := map[string][]string{"Mcp-Method": {"tools/call"}, "Mcp-Name": {"delete"}}
	merge := func(a, b map[string][]string) map[string][]string {
		out := map[string][]string{}
		for k, v := range a {
			out[k] = v
		}
		for k, v := range b {
			out[k] = v
		}
		return out
	}

	tests := []mwCase{
		{name: "valid token", headers: bearerHdr(good), wantStatus: 200},
		{name: "scheme case-insensitive", headers: map[string][]string{"Authorization": {"bEaReR " + good}}, wantStatus: 200},
		{name: "several spaces", headers: map[string][]string{"Authorization": {"Bearer   " + good}}, wantStatus: 200},
		{name: "POST JSON body mentioning access_token passes", method: "POST",
			headers: merge(bearerHdr(good), map[string][]string{"Content-Type": {"application/json"}}),
			body:    `{"access_token":"x"}`, wantStatus: 200, wantBody: `{"access_token":"x"}`},
		{name: "form body without token passes intact", method: "POST",
			headers: merge(bearerHdr(good), map[string][]string{"Content-Type": {"application/x-www-form-urlencoded"}}),
			body:    "a=1&b=2", wantStatus: 200, wantBody: "a=1&b=2"},
		{name: "no credentials", wantStatus: 401, wantChallenge: noCreds},
		{name: "basic scheme counts as no bearer credentials", headers: map[string][]string{"Authorization": {"Basic dXNlcjpwYXNz"}},
			wantStatus: 401, wantChallenge: noCreds},
		{name: "expired", headers: bearerHdr(expired), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "not yet valid", headers: bearerHdr(notYet), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "other resource", headers: bearerHdr(foreign), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "trailing slash resource", headers: bearerHdr(slash), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "wrong issuer", headers: bearerHdr(wrongIss), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "alg none", headers: bearerHdr(none), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "HS256 confusion", headers: bearerHdr(hs), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "typ JWT", headers: bearerHdr(typJWT), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "garbage token", headers: bearerHdr("abc"), wantStatus: 401, wantChallenge: invalidTok, wantError: "invalid_token"},
		{name: "insufficient scope (step-up)", headers: merge(bearerHdr(readOnly), stepUp), wantStatus: 403,
			wantChallenge: `Bearer error="insufficient_scope", scope="mcp:read mcp:write mcp:admin", resource_metadata="` + testPRM + `"`,
			wantError:     "insufficient_scope"},
		{name: "step-up scopes in the 401 challenge too", headers: stepUp, wantStatus: 401,
			wantChallenge: `Bearer scope="mcp:read mcp:write mcp:admin", resource_metadata="` + testPRM + `"`},
		{name: "two Authorization headers", headers: map[string][]string{"Authorization": {"Bearer " + good, "Bearer " + good}},
			wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "Bearer without token", headers: map[string][]string{"Authorization": {"Bearer"}},
			wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "Bearer and spaces", headers: map[string][]string{"Authorization": {"Bearer   "}},
			wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "token with a space", headers: map[string][]string{"Authorization": {"Bearer " + good + " x"}},
			wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "token with a comma", headers: map[string][]string{"Authorization": {"Bearer a,b"}},
			wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "token with = inside", headers: map[string][]string{"Authorization": {"Bearer a=b"}},
			wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "token in query", target: "/mcp?access_token=" + good, wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "token in query and header", target: "/mcp?x=1&access_token=" + good, headers: bearerHdr(good),
			wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "percent-encoded query key", target: "/mcp?access%5Ftoken=abc", wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
		{name: "token in form body", method: "POST",
			headers: map[string][]string{"Content-Type": {"application/x-www-form-urlencoded; charset=utf-8"}},
			body:    "x=1&access_token=" + good, wantStatus: 400, wantChallenge: badReq, wantError: "invalid_request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := runMW(t, h, tt)
			checkMW(t, w, tt)
			if tt.wantStatus == 200 && w.Header().Get("X-Sub") != "user-1" {
				t.Errorf("handler did not see the token info")
			}
		})
	}
}

func TestMiddlewareImplies(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), nil, es)
	broad := mint(t, es, with(claimsAt(t0), "scope", "files"), mintOpt{})
	lookalike := mint(t, es, with(claimsAt(t0), "scope", "filesystem"), mintOpt{})
	for _, tc := range []struct {
		implies func(string, string) bool
		token   string
		want    int
	}{
		{nil, broad, 403},
		{HierarchicalScopes(":"), broad, 200},
		{HierarchicalScopes(":"), lookalike, 403},
	} {
		h := Middleware(v, Options{Scopes: []string{"files:read"}, Implies: tc.implies})(echoHandler())
		w := runMW(t, h, mwCase{headers: bearerHdr(tc.token)})
		if w.Code != tc.want {
			t.Errorf("status = %d, want %d", w.Code, tc.want)
		}
	}
	hs := HierarchicalScopes(":")
	for _, c := range []struct {
		g, r string
		want bool
	}{{"a", "a:b", true}, {"a", "a:b:c", true}, {"a:b", "a", false}, {"a", "a:", false}, {"a", "ab", false}, {"a", "a", false}} {
		if hs(c.g, c.r) != c.want {
			t.Errorf("HierarchicalScopes(%q, %q) = %v", c.g, c.r, !c.want)
		}
	}
}

func TestMiddlewareErrorDescriptionAndRealm(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), nil, es)
	expired := mint(t, es, with(claimsAt(t0), "exp", t0.Add(-time.Hour).Unix()), mintOpt{})
	h := Middleware(v, Options{Realm: "mcp", ErrorDescription: true, ResourceMetadataURL: testPRM})(echoHandler())
	w := runMW(t, h, mwCase{headers: bearerHdr(expired)})
	want := `Bearer realm="mcp", error="invalid_token", error_description="The access token expired", resource_metadata="` + testPRM + `"`
	if got := w.Header().Get("WWW-Authenticate"); got != want {
		t.Errorf("challenge = %q\nwant %q", got, want)
	}
	if !strings.Contains(w.Body.String(), `"error_description":"The access token expired"`) {
		t.Errorf("body = %q", w.Body.String())
	}
	// Without ErrorDescription, nothing about the reason leaks.
	h = Middleware(v, Options{})(echoHandler())
	w = runMW(t, h, mwCase{headers: bearerHdr(expired)})
	if strings.Contains(w.Header().Get("WWW-Authenticate"), "description") || strings.Contains(w.Body.String(), "description") {
		t.Errorf("description leaked: %q %q", w.Header().Get("WWW-Authenticate"), w.Body.String())
	}
	if w.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("minimal challenge = %q", w.Header().Get("WWW-Authenticate"))
	}
}

func TestMiddlewareHeaderInjection(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), nil, es)
	h := Middleware(v, Options{
		Realm:               "r\"ealm\\\r\nX-Evil: 1",
		ResourceMetadataURL: "https://h.example/prm\"\r\nSet-Cookie: a=b",
		Scopes:              []string{"ok"},
		ScopesFunc: func(r *http.Request) []string {
			// A careless ScopesFunc that copies request data.
			return []string{r.Header.Get("X-Scope"), "fine"}
		},
	})(echoHandler())
	w := runMW(t, h, mwCase{headers: map[string][]string{"X-Scope": {"evil\"\r\nSet-Cookie: x=1"}}})
	got := w.Header().Get("WWW-Authenticate")
	if strings.ContainsAny(got, "\r\n") {
		t.Fatalf("CR/LF in challenge: %q", got)
	}
	want := `Bearer realm="r\"ealm\\X-Evil: 1", scope="ok fine", resource_metadata="https://h.example/prm\"Set-Cookie: a=b"`
	if got != want {
		t.Errorf("challenge =\n  %q\nwant\n  %q", got, want)
	}
	if w.Header().Get("Set-Cookie") != "" {
		t.Error("header injected")
	}
}

// errVerifier fails with err (or returns no info and no error).
type errVerifier struct{ err error }

func (e errVerifier) Verify(context.Context, string) (*TokenInfo, error) { return nil, e.err }

func TestMiddlewareVerifierErrors(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{ErrUnavailable, 503},
		{unavailable("jwks", errors.New("down")), 503},
		{context.DeadlineExceeded, 503},
		{ErrInvalidToken, 401},
		{errors.New("custom verifier failure"), 401},
		{nil, 401}, // (nil, nil): must not let the request through
	} {
		h := Middleware(errVerifier{tc.err}, Options{})(echoHandler())
		w := runMW(t, h, mwCase{headers: bearerHdr("abc")})
		if w.Code != tc.want {
			t.Errorf("%v: status %d, want %d", tc.err, w.Code, tc.want)
		}
		if tc.want == 503 && (w.Header().Get("Retry-After") == "" || w.Header().Get("WWW-Authenticate") != "") {
			t.Errorf("503 headers: %v", w.Header())
		}
	}
	// A nil verifier fails closed.
	h := Middleware(nil, Options{})(echoHandler())
	if w := runMW(t, h, mwCase{headers: bearerHdr("abc")}); w.Code != 500 {
		t.Errorf("nil verifier: status %d", w.Code)
	}
}

func TestMiddlewareCORS(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), nil, es)
	good := mint(t, es, claimsAt(t0), mintOpt{})
	called := false
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called = true })

	preflight := map[string][]string{
		"Origin":                         {"https://app.example"},
		"Access-Control-Request-Method":  {"POST"},
		"Access-Control-Request-Headers": {"authorization, content-type, mcp-protocol-version"},
	}
	t.Run("preflight without token", func(t *testing.T) {
		called = false
		h := Middleware(v, Options{ResourceMetadataURL: testPRM, Scopes: []string{"mcp:read"}})(next)
		w := runMW(t, h, mwCase{method: "OPTIONS", headers: preflight})
		if w.Code != 204 || called {
			t.Fatalf("status %d, next called %v", w.Code, called)
		}
		hdr := w.Header()
		if hdr.Get("Access-Control-Allow-Origin") != "*" || hdr.Get("Access-Control-Allow-Credentials") != "" {
			t.Errorf("origin headers: %v", hdr)
		}
		allow := strings.ToLower(hdr.Get("Access-Control-Allow-Headers"))
		for _, want := range []string{"authorization", "content-type", "mcp-protocol-version", "mcp-session-id", "last-event-id", "mcp-method", "mcp-name"} {
			if !strings.Contains(allow, want) {
				t.Errorf("Allow-Headers lacks %s: %q", want, allow)
			}
		}
		if !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") {
			t.Errorf("Allow-Methods = %q", hdr.Get("Access-Control-Allow-Methods"))
		}
	})
	t.Run("401 exposes WWW-Authenticate", func(t *testing.T) {
		h := Middleware(v, Options{ResourceMetadataURL: testPRM})(next)
		w := runMW(t, h, mwCase{headers: map[string][]string{"Origin": {"https://app.example"}}})
		if w.Code != 401 {
			t.Fatalf("status %d", w.Code)
		}
		if !strings.Contains(w.Header().Get("Access-Control-Expose-Headers"), "WWW-Authenticate") ||
			w.Header().Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("CORS headers on 401: %v", w.Header())
		}
	})
	t.Run("allow list", func(t *testing.T) {
		h := Middleware(v, Options{AllowedOrigins: []string{"https://app.example"}})(next)
		w := runMW(t, h, mwCase{method: "OPTIONS", headers: preflight})
		if w.Code != 204 || w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" {
			t.Errorf("allowed origin: %d %v", w.Code, w.Header())
		}
		evil := map[string][]string{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"POST"}}
		w = runMW(t, h, mwCase{method: "OPTIONS", headers: evil})
		if w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("disallowed preflight: %d %v", w.Code, w.Header())
		}
		called = false
		w = runMW(t, h, mwCase{headers: map[string][]string{"Origin": {"https://evil.example"}, "Authorization": {"Bearer " + good}}})
		if w.Code != 200 || !called || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("disallowed origin on a real request: %d %v", w.Code, w.Header())
		}
		w = runMW(t, h, mwCase{headers: map[string][]string{"Origin": {"https://app.example"}, "Authorization": {"Bearer " + good}}})
		if w.Header().Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(w.Header().Get("Vary"), "Origin") {
			t.Errorf("allowed origin on a real request: %v", w.Header())
		}
	})
	t.Run("disabled", func(t *testing.T) {
		h := Middleware(v, Options{DisableCORS: true})(next)
		w := runMW(t, h, mwCase{method: "OPTIONS", headers: preflight})
		if w.Code != 401 || w.Header().Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("CORS disabled: %d %v", w.Code, w.Header())
		}
	})
}

// Through a real server, so net/http's own header handling is in the loop.
func TestMiddlewareOverHTTP(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), nil, es)
	srv := httptest.NewServer(Middleware(v, Options{ResourceMetadataURL: testPRM})(echoHandler()))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/mcp")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 || resp.Header.Get("WWW-Authenticate") != `Bearer resource_metadata="`+testPRM+`"` {
		t.Fatalf("%d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	req, _ := http.NewRequest("GET", srv.URL+"/mcp", nil)
	req.Header.Set("Authorization", "Bearer "+mint(t, es, claimsAt(t0), mintOpt{}))
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-Sub") != "user-1" {
		t.Fatalf("valid token: %d", resp.StatusCode)
	}
}

func TestTokenInfoContext(t *testing.T) {
	if _, ok := TokenInfoFromContext(context.Background()); ok {
		t.Error("empty context has token info")
	}
	if _, ok := TokenInfoFromContext(WithTokenInfo(context.Background(), nil)); ok {
		t.Error("nil info reported as present")
	}
	info := &TokenInfo{Subject: "s"}
	got, ok := TokenInfoFromContext(WithTokenInfo(context.Background(), info))
	if !ok || got != info {
		t.Error("round trip failed")
	}
	var nilInfo *TokenInfo
	if nilInfo.HasScope("x") {
		t.Error("nil HasScope")
	}
}
