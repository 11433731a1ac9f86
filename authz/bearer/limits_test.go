package bearer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The tests below prove each input and response bound of the package
// (listed in the package documentation): a value at the bound passes and
// one past it is refused the documented way.

func TestLimitAuthorizationHeader(t *testing.T) {
	atLimit := strings.Repeat("A", maxTokenBytes)
	tests := []struct {
		name       string
		header     string
		wantStatus int
		wantError  string
		verified   bool
	}{
		{"token at maxTokenBytes", "Bearer " + atLimit, 401, "invalid_token", true},
		{"token over maxTokenBytes", "Bearer " + atLimit + "A", 400, "invalid_request", false},
		{"header at maxAuthorizationBytes", "Bearer " + strings.Repeat(" ", maxAuthorizationBytes-len("Bearer ")-maxTokenBytes) + atLimit, 401, "invalid_token", true},
		{"header over maxAuthorizationBytes", "Bearer " + strings.Repeat(" ", maxAuthorizationBytes) + "abc", 400, "invalid_request", false},
		{"other scheme over the limit", "Basic " + strings.Repeat("A", maxAuthorizationBytes), 400, "invalid_request", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := &recordingVerifier{valid: "x"}
			h := Middleware(rv, Options{ResourceMetadataURL: testPRM})(echoHandler())
			w := runMW(t, h, mwCase{headers: map[string][]string{"Authorization": {tt.header}}})
			_, params, err := parseChallenge(w.Header().Get("WWW-Authenticate"))
			if w.Code != tt.wantStatus || err != nil || params["error"] != tt.wantError {
				t.Fatalf("status %d, challenge %q (%v); want %d %s", w.Code, w.Header().Get("WWW-Authenticate"), err, tt.wantStatus, tt.wantError)
			}
			if (len(rv.seen) > 0) != tt.verified {
				t.Fatalf("verifier called %d times, want called = %v", len(rv.seen), tt.verified)
			}
		})
	}
}

func TestLimitTokenBytes(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v, err := NewVerifier(Config{Issuer: testIssuer, Resource: testResource, Keys: StaticKeys(keySet(es)), Clock: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	srv := newIntrospectionServer(t, func(string) (int, string) { return 200, `{"active":false}` })
	iv := newIntrospector(t, srv.URL, newClock(), nil)
	for name, tv := range map[string]TokenVerifier{"jwt": v, "introspection": iv} {
		t.Run(name, func(t *testing.T) {
			var te *TokenError
			_, err := tv.Verify(context.Background(), strings.Repeat("a", maxTokenBytes))
			if !errors.As(err, &te) || strings.Contains(te.Detail, "too long") {
				t.Fatalf("token at the limit: %v", err)
			}
			hits := srv.hits.Load()
			_, err = tv.Verify(context.Background(), strings.Repeat("a", maxTokenBytes+1))
			if !errors.As(err, &te) || te.Reason != ReasonMalformed || !strings.Contains(te.Detail, "too long") {
				t.Fatalf("token over the limit: %v", err)
			}
			if srv.hits.Load() != hits {
				t.Fatal("an oversized token was sent to the introspection endpoint")
			}
		})
	}
}

func TestLimitJWKSResponseBytes(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	tok := mint(t, a, claimsAt(t0), mintOpt{})
	set, err := json.Marshal(keySet(a))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		size int
		ok   bool
	}{{maxJWKSBytes, true}, {maxJWKSBytes + 1, false}} {
		t.Run(fmt.Sprint(tt.size), func(t *testing.T) {
			srv := newJWKSServer(t, keySet(a))
			srv.setBody(append(set, []byte(strings.Repeat(" ", tt.size-len(set)))...))
			v := newRemoteVerifier(t, srv.URL, newClock(), nil)
			_, err := v.Verify(context.Background(), tok)
			if tt.ok && err != nil {
				t.Fatalf("key set of %d bytes refused: %v", tt.size, err)
			}
			if !tt.ok && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("key set of %d bytes: %v, want ErrUnavailable", tt.size, err)
			}
		})
	}
}

func TestLimitJWKSKeys(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	tok := mint(t, a, claimsAt(t0), mintOpt{})
	filler := secondES256("")
	for _, tt := range []struct {
		before int // keys listed before the signing key
		ok     bool
	}{{maxJWKSKeys - 1, true}, {maxJWKSKeys, false}} {
		t.Run(fmt.Sprint(tt.before), func(t *testing.T) {
			var set jose.JSONWebKeySet
			for i := range tt.before {
				k := filler.pub
				k.KeyID = fmt.Sprintf("filler-%d", i)
				set.Keys = append(set.Keys, k)
			}
			set.Keys = append(set.Keys, a.pub)
			srv := newJWKSServer(t, set)
			v := newRemoteVerifier(t, srv.URL, newClock(), nil)
			_, err := v.Verify(context.Background(), tok)
			if tt.ok && err != nil {
				t.Fatalf("key number %d refused: %v", tt.before+1, err)
			}
			if !tt.ok && reasonOf(err) != ReasonUnknownKey {
				t.Fatalf("key number %d: %v, want unknown key (only %d keys are read)", tt.before+1, err, maxJWKSKeys)
			}
		})
	}
}

func TestLimitIntrospectionResponse(t *testing.T) {
	base := activeBody("")
	pad := func(n int) string { // a body of exactly n bytes
		return strings.TrimSuffix(base, "}") + `,"pad":"` + strings.Repeat("x", n-len(base)-len(`,"pad":""`)) + `"}`
	}
	for _, tt := range []struct {
		name string
		body string
		ok   bool
	}{
		{"at the limit", pad(maxIntrospectionBytes), true},
		{"over the limit", pad(maxIntrospectionBytes + 1), false},
		{"deeply nested", `{"active":true,"x":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}`, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := newIntrospectionServer(t, func(string) (int, string) { return 200, tt.body })
			v := newIntrospector(t, srv.URL, newClock(), nil)
			_, err := v.Verify(context.Background(), opaqueToken)
			if tt.ok && err != nil {
				t.Fatalf("%d-byte answer refused: %v", len(tt.body), err)
			}
			if !tt.ok && !errors.Is(err, ErrUnavailable) {
				t.Fatalf("%d-byte answer: %v, want ErrUnavailable", len(tt.body), err)
			}
		})
	}
}

// The middleware scans the first maxFormScan bytes of a form body for an
// access_token; the bytes it read are handed on to the handler intact.
func TestLimitFormScan(t *testing.T) {
	rv := &recordingVerifier{valid: "good"}
	var got []byte
	h := Middleware(rv, Options{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	for _, tt := range []struct {
		name   string
		offset int
		status int
	}{{"inside the scan", maxFormScan - len("&access_token=x"), 400}, {"past the scan", maxFormScan, 200}} {
		t.Run(tt.name, func(t *testing.T) {
			got = nil
			body := "a=" + strings.Repeat("b", tt.offset-2) + "&access_token=x"
			r := httptest.NewRequest(http.MethodPost, "https://h.example/mcp", strings.NewReader(body))
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			r.Header.Set("Authorization", "Bearer good")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d", w.Code, tt.status)
			}
			if tt.status == 200 && string(got) != body {
				t.Fatalf("handler read %d bytes, want the %d sent", len(got), len(body))
			}
		})
	}
}

// MCP 2026-07-28: a resource server should not challenge with
// offline_access, even when it was configured as required.
func TestChallengeOmitsOfflineAccess(t *testing.T) {
	h := Middleware(&recordingVerifier{valid: "good"}, Options{
		ResourceMetadataURL: testPRM,
		Scopes:              []string{"mcp:read", "offline_access"},
		ScopesFunc:          func(*http.Request) []string { return []string{"offline_access", "mcp:write"} },
	})(echoHandler())
	for _, hdr := range []map[string][]string{nil, bearerHdr("bad"), bearerHdr("good")} {
		w := runMW(t, h, mwCase{headers: hdr})
		_, params, err := parseChallenge(w.Header().Get("WWW-Authenticate"))
		if err != nil || params["scope"] != "mcp:read mcp:write" {
			t.Fatalf("status %d challenge %q", w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
}

// Misconfigurations that leave MCP clients stranded are logged when the
// middleware is built.
func TestMiddlewareWarnsAboutConfiguration(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	Middleware(&recordingVerifier{}, Options{Logger: log, Scopes: []string{"offline_access"}})
	for _, want := range []string{"ResourceMetadataURL is empty", "requires offline_access"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
	logs = &lockedBuffer{}
	Middleware(&recordingVerifier{}, Options{Logger: slog.New(slog.NewTextHandler(logs, nil)), ResourceMetadataURL: testPRM, Scopes: []string{"mcp:read"}})
	if logs.String() != "" {
		t.Errorf("a sound configuration logged:\n%s", logs)
	}
}

// deadlineRecorder is a transport that records the deadline of each
// request's context and answers at once.
type deadlineRecorder struct {
	body     string
	ctype    string
	deadline time.Time
	ok       bool
}

func (d *deadlineRecorder) RoundTrip(r *http.Request) (*http.Response, error) {
	d.deadline, d.ok = r.Context().Deadline()
	return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {d.ctype}},
		Body: io.NopCloser(strings.NewReader(d.body)), Request: r}, nil
}

// TestLimitOutboundTimeouts proves the 10-second bound on JWKS fetches and
// introspection calls made with an HTTP client that has no timeout of its
// own, without waiting for it: the request context carries the deadline.
func TestLimitOutboundTimeouts(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	set, _ := json.Marshal(keySet(a))
	jw := &deadlineRecorder{body: string(set), ctype: "application/json"}
	v, err := NewVerifier(Config{Issuer: testIssuer, Resource: testResource, JWKSURL: "https://as.example/jwks",
		HTTPClient: &http.Client{Transport: jw}, Clock: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := v.Verify(context.Background(), mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
		t.Fatal(err)
	}
	if !jw.ok || jw.deadline.Sub(start) > jwksFetchTimeout+time.Second || jw.deadline.Sub(start) < jwksFetchTimeout-time.Second {
		t.Fatalf("JWKS fetch deadline %v after start, want about %v", jw.deadline.Sub(start), jwksFetchTimeout)
	}

	in := &deadlineRecorder{body: activeBody(""), ctype: "application/json"}
	iv, err := NewIntrospectionVerifier(IntrospectionConfig{Endpoint: "https://as.example/introspect", ClientID: rsClientID,
		ClientSecret: rsClientSecret, Resource: testResource, HTTPClient: &http.Client{Transport: in}, Clock: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	if _, err := iv.Verify(context.Background(), opaqueToken); err != nil {
		t.Fatal(err)
	}
	if !in.ok || in.deadline.Sub(start) > introspectionTimeout+time.Second || in.deadline.Sub(start) < introspectionTimeout-time.Second {
		t.Fatalf("introspection deadline %v after start, want about %v", in.deadline.Sub(start), introspectionTimeout)
	}
}

// TestLimitOutboundTimeoutsWithClientTimeout: the 10-second bound holds
// whatever the HTTP client's own Timeout, and a shorter Timeout wins.
func TestLimitOutboundTimeoutsWithClientTimeout(t *testing.T) {
	a := newTestKey("a", jose.ES256)
	set, _ := json.Marshal(keySet(a))
	for _, tc := range []struct {
		clientTimeout, want time.Duration
	}{
		{time.Hour, 10 * time.Second},
		{2 * time.Second, 2 * time.Second},
	} {
		jw := &deadlineRecorder{body: string(set), ctype: "application/json"}
		v, err := NewVerifier(Config{Issuer: testIssuer, Resource: testResource, JWKSURL: "https://as.example/jwks",
			HTTPClient: &http.Client{Transport: jw, Timeout: tc.clientTimeout}, Clock: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if _, err := v.Verify(context.Background(), mint(t, a, claimsAt(t0), mintOpt{})); err != nil {
			t.Fatal(err)
		}
		if d := jw.deadline.Sub(start); !jw.ok || d > tc.want+time.Second || d < tc.want-time.Second {
			t.Errorf("client Timeout %v: JWKS fetch deadline %v after start, want about %v", tc.clientTimeout, d, tc.want)
		}

		in := &deadlineRecorder{body: activeBody(""), ctype: "application/json"}
		iv, err := NewIntrospectionVerifier(IntrospectionConfig{Endpoint: "https://as.example/introspect", ClientID: rsClientID,
			ClientSecret: rsClientSecret, Resource: testResource, HTTPClient: &http.Client{Transport: in, Timeout: tc.clientTimeout},
			Clock: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		start = time.Now()
		if _, err := iv.Verify(context.Background(), opaqueToken); err != nil {
			t.Fatal(err)
		}
		if d := in.deadline.Sub(start); !in.ok || d > tc.want+time.Second || d < tc.want-time.Second {
			t.Errorf("client Timeout %v: introspection deadline %v after start, want about %v", tc.clientTimeout, d, tc.want)
		}
	}
}
