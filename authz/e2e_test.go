package authz

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"golang.org/x/oauth2"
)

// TestEndToEndOAuth2Client runs the whole MCP flow with golang.org/x/oauth2
// as the client: PKCE S256 + resource on the authorization request,
// interaction, code exchange, JWT verified against the JWKS, refresh
// rotation with reuse detection, and revocation.
func TestEndToEndOAuth2Client(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	cfg := &oauth2.Config{
		ClientID:    publicID,
		RedirectURL: "http://127.0.0.1:4711/callback", // loopback: any port matches
		Scopes:      []string{"mcp:tools", "mcp:prompts"},
		Endpoint: oauth2.Endpoint{
			AuthURL:   e.issuer + "/authorize",
			TokenURL:  e.issuer + "/token",
			AuthStyle: oauth2.AuthStyleInParams,
		},
	}
	verifier := oauth2.GenerateVerifier()
	authURL := cfg.AuthCodeURL("state-xyz", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", testResource))

	// The browser: follow redirects within the server, stop at the client.
	var final *url.URL
	browser := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if req.URL.Host == "127.0.0.1:4711" {
			final = req.URL
			return http.ErrUseLastResponse
		}
		return nil
	}}
	resp, err := browser.Get(authURL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if final == nil {
		t.Fatalf("no redirect to the client; status %d", resp.StatusCode)
	}
	q := final.Query()
	if q.Get("state") != "state-xyz" || q.Get("iss") != e.issuer || q.Get("code") == "" {
		t.Fatalf("callback query = %v", q)
	}
	if final.Port() != "4711" || final.Path != "/callback" {
		t.Fatalf("redirected to %s", final)
	}

	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", testResource))
	if err != nil {
		t.Fatalf("Exchange: %v", err)
	}
	if tok.TokenType != "Bearer" || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token = %+v", tok)
	}
	if got := tok.Extra("scope"); got != "mcp:tools mcp:prompts" {
		t.Fatalf("scope = %v", got)
	}

	// Verify the JWT with the published JWKS.
	jwks := fetchJWKS(t, e.issuer+"/jwks")
	claims := verifyJWT(t, jwks, tok.AccessToken)
	if claims.Issuer != e.issuer || claims.Subject != "alice" || claims.ClientID != publicID {
		t.Fatalf("claims = %+v", claims)
	}
	if len(claims.Audience) != 1 || claims.Audience[0] != testResource {
		t.Fatalf("aud = %v", claims.Audience)
	}
	if claims.Scope != "mcp:tools mcp:prompts" || claims.ID == "" || claims.AuthTime == 0 {
		t.Fatalf("claims = %+v", claims)
	}
	if claims.Expiry-claims.IssuedAt != int64(DefaultAccessTokenLifetime/time.Second) {
		t.Fatalf("lifetime = %d", claims.Expiry-claims.IssuedAt)
	}
	// The in-process key source agrees with the JWKS.
	if k, err := e.srv.VerificationKey(ctx, jwks.Keys[0].KeyID); err != nil || k.KeyID != jwks.Keys[0].KeyID {
		t.Fatalf("VerificationKey: %v %v", k, err)
	}

	// Refresh rotates.
	refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == tok.AccessToken {
		t.Fatalf("refresh did not rotate: %+v", refreshed)
	}
	if c := verifyJWT(t, jwks, refreshed.AccessToken); c.Audience[0] != testResource {
		t.Fatalf("refreshed aud = %v", c.Audience)
	}
	if m := e.introspect(refreshed.AccessToken); m["active"] != true {
		t.Fatalf("introspect refreshed = %v", m)
	}

	// Reusing the old refresh token fails and kills the family and grant.
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	assertRetrieveError(t, err, "invalid_grant")
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refreshed.RefreshToken}).Token()
	assertRetrieveError(t, err, "invalid_grant")
	if m := e.introspect(refreshed.AccessToken); m["active"] != false || len(m) != 1 {
		t.Fatalf("access token of a revoked grant introspects as %v", m)
	}

	// A fresh grant, then revocation of its refresh token by the client.
	code := e.code(authorizeParams())
	status, tj := e.exchange(code)
	if status != http.StatusOK {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	if m := e.introspect(tj.AccessToken); m["active"] != true || m["aud"] != testResource || m["sub"] != "alice" {
		t.Fatalf("introspect = %v", m)
	}
	resp = e.post("/revoke", url.Values{"token": {tj.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {publicID}}, "", "")
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke: %d", resp.StatusCode)
	}
	if m := e.introspect(tj.AccessToken); m["active"] != false {
		t.Fatalf("access token after revoking its refresh token: %v", m)
	}
	_, err = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tj.RefreshToken}).Token()
	assertRetrieveError(t, err, "invalid_grant")
}

func assertRetrieveError(t *testing.T, err error, code string) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error = %v, want RetrieveError %s", err, code)
	}
	if re.ErrorCode != code {
		t.Fatalf("error code = %q (%s), want %q", re.ErrorCode, re.ErrorDescription, code)
	}
}

func fetchJWKS(t *testing.T, u string) *jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Errorf("JWKS without CORS")
	}
	var ks jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&ks); err != nil {
		t.Fatal(err)
	}
	for _, k := range ks.Keys {
		if !k.IsPublic() {
			t.Fatal("JWKS publishes a private key")
		}
	}
	if len(ks.Keys) == 0 {
		t.Fatal("empty JWKS")
	}
	return &ks
}

// verifyJWT checks signature and RFC 9068 header against the JWKS.
func verifyJWT(t *testing.T, ks *jose.JSONWebKeySet, token string) *tokenClaims {
	t.Helper()
	tok, err := jwt.ParseSigned(token, []jose.SignatureAlgorithm{jose.ES256, jose.RS256, jose.EdDSA})
	if err != nil {
		t.Fatalf("parse JWT: %v", err)
	}
	h := tok.Headers[0]
	if h.ExtraHeaders[jose.HeaderType] != "at+jwt" {
		t.Fatalf("typ = %v", h.ExtraHeaders[jose.HeaderType])
	}
	keys := ks.Key(h.KeyID)
	if h.KeyID == "" || len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", h.KeyID)
	}
	var c tokenClaims
	if err := tok.Claims(keys[0].Key, &c); err != nil {
		t.Fatalf("verify JWT: %v", err)
	}
	return &c
}

var _ = slices.Contains[[]string]
