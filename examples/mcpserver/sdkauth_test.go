package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
)

func authzTokenRequest(s *testServer, scopes ...string) authz.TokenRequest {
	return authzTokenRequestFor(s, s.mcpURL, scopes...)
}

func authzTokenRequestFor(_ *testServer, resource string, scopes ...string) authz.TokenRequest {
	return authz.TokenRequest{Subject: "carol", ClientID: "test-client", Scopes: scopes, Resources: []string{resource}}
}

// countingVerifier counts calls and delegates, or fails with err.
type countingVerifier struct {
	next  bearer.TokenVerifier
	err   error
	calls int
}

func (v *countingVerifier) Verify(ctx context.Context, token string) (*bearer.TokenInfo, error) {
	v.calls++
	if v.err != nil {
		return nil, v.err
	}
	return v.next.Verify(ctx, token)
}

// TestSDKTokenVerifier uses the adapter alone with the SDK's
// auth.RequireBearerToken, the way an SDK user would.
func TestSDKTokenVerifier(t *testing.T) {
	s := startServer(t)
	good, err := s.az.IssueAccessToken(t.Context(), authzTokenRequest(s, scopeTools, scopePrompts))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := s.az.IssueAccessToken(t.Context(), authz.TokenRequest{Subject: "carol", ClientID: "c", Scopes: []string{scopeTools}, Resources: []string{s.mcpURL}, Lifetime: -time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := s.az.IssueAccessToken(t.Context(), authzTokenRequestFor(s, "https://elsewhere.example/mcp", scopeTools))
	if err != nil {
		t.Fatal(err)
	}

	var seen *auth.TokenInfo
	protect := func(v bearer.TokenVerifier) http.Handler {
		return auth.RequireBearerToken(SDKTokenVerifier(v), &auth.RequireBearerTokenOptions{
			ResourceMetadataURL: s.prmURL,
			Scopes:              []string{scopeTools},
		})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = auth.TokenInfoFromContext(r.Context()) }))
	}
	call := func(h http.Handler, token string) int {
		seen = nil
		req := httptest.NewRequest(http.MethodPost, s.mcpURL, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w.Code
	}

	h := protect(s.verifier)
	if code := call(h, good); code != http.StatusOK || seen == nil {
		t.Fatalf("good token: %d", code)
	}
	if seen.UserID != "carol" || seen.Extra[extraClientID] != "test-client" || seen.Extra[extraIssuer] != s.publicURL ||
		!slices.Equal(seen.Scopes, []string{scopeTools, scopePrompts}) || time.Until(seen.Expiration) <= 0 ||
		!slices.Equal(seen.Extra[extraAudience].([]string), []string{s.mcpURL}) || seen.Extra[extraTokenID] == "" {
		t.Errorf("token info %+v", seen)
	}
	for name, tok := range map[string]string{"expired": expired, "foreign audience": foreign, "garbage": "x.y.z"} {
		if code := call(h, tok); code != http.StatusUnauthorized || seen != nil {
			t.Errorf("%s token: %d", name, code)
		}
	}
	narrow, _ := s.az.IssueAccessToken(t.Context(), authzTokenRequest(s, scopePrompts))
	if code := call(h, narrow); code != http.StatusForbidden {
		t.Errorf("token without mcp:tools: %d", code)
	}
	// A verifier that cannot check tokens is not a 401.
	if code := call(protect(&countingVerifier{err: bearer.ErrUnavailable}), good); code != http.StatusInternalServerError {
		t.Errorf("unavailable verifier: %d", code)
	}
	if code := call(protect(nil), good); code != http.StatusInternalServerError {
		t.Errorf("nil verifier: %d", code)
	}
}

// Behind bearer.Middleware, the adapter reuses the token the middleware
// verified instead of verifying it again.
func TestSDKTokenVerifierReusesMiddlewareResult(t *testing.T) {
	s := startServer(t)
	tok, err := s.az.IssueAccessToken(t.Context(), authzTokenRequest(s, scopeTools))
	if err != nil {
		t.Fatal(err)
	}
	inner := &countingVerifier{next: s.verifier}
	var seen *auth.TokenInfo
	h := bearer.Middleware(s.verifier, bearer.Options{ResourceMetadataURL: s.prmURL})(
		auth.RequireBearerToken(SDKTokenVerifier(inner), nil)(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = auth.TokenInfoFromContext(r.Context()) })))
	req := httptest.NewRequest(http.MethodPost, s.mcpURL, nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || seen == nil || seen.UserID != "carol" {
		t.Fatalf("status %d, info %+v", w.Code, seen)
	}
	if inner.calls != 0 {
		t.Errorf("the adapter verified again (%d calls)", inner.calls)
	}
	// Without the middleware it does verify.
	h = auth.RequireBearerToken(SDKTokenVerifier(inner), nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	w = httptest.NewRecorder()
	h.ServeHTTP(w, req)
	if w.Code != http.StatusOK || inner.calls != 1 {
		t.Errorf("alone: status %d, %d calls", w.Code, inner.calls)
	}
}
