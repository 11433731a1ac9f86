package authz

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"golang.org/x/oauth2"
)

// TestBasicEmptySecretIdentifiesPublicClient: HTTP Basic with the client_id
// and an empty password identifies a client registered with "none", as a
// bare client_id does; any password for such a client, and an empty one
// for a confidential client, is invalid_client.
func TestBasicEmptySecretIdentifiesPublicClient(t *testing.T) {
	basic := func(id, secret string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
	}
	for _, tc := range []struct {
		name   string
		header string
		form   url.Values
		status int
		code   string
	}{
		{"public, empty password", basic(publicID, ""), nil, 200, ""},
		{"public, empty password, same client_id in the body", basic(publicID, ""), url.Values{"client_id": {publicID}}, 200, ""},
		{"public, empty password, other client_id in the body", basic(publicID, ""), url.Values{"client_id": {confID}}, 401, "invalid_client"},
		{"public, a password", basic(publicID, "anything"), nil, 401, "invalid_client"},
		{"public, a space as password", basic(publicID, " "), nil, 401, "invalid_client"},
		{"confidential, empty password", basic(confID, ""), nil, 401, "invalid_client"},
		{"confidential, wrong password", basic(confID, "wrong-secret-0123456789"), nil, 401, "invalid_client"},
		{"unknown client, empty password", basic("nobody", ""), nil, 401, "invalid_client"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			form := url.Values{"grant_type": {"authorization_code"}, "code": {e.code(authorizeParams())},
				"code_verifier": {testVerifier}, "redirect_uri": {callback}}
			for k, v := range tc.form {
				form[k] = v
			}
			req, err := http.NewRequest(http.MethodPost, e.ts.URL+"/token", strings.NewReader(form.Encode()))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Authorization", tc.header)
			resp, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			status, tj := decodeToken(t, resp)
			if status != tc.status || tj.Error != tc.code || (status == 200) != (tj.AccessToken != "") {
				t.Fatalf("%d %+v, want %d %q", status, tj, tc.status, tc.code)
			}
		})
	}
}

// TestOAuth2AutoDetectPublicClientOneRequest: x/oauth2 with
// AuthStyleAutoDetect (the MCP Go SDK's choice) exchanges and refreshes
// for a public client with one token request each, not a refused Basic
// attempt followed by a retry.
func TestOAuth2AutoDetectPublicClientOneRequest(t *testing.T) {
	e := newEnv(t)
	var tokenCalls, basicCalls atomic.Int32
	inner := e.ts.Config.Handler
	e.ts.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/token" {
			tokenCalls.Add(1)
			if strings.HasPrefix(r.Header.Get("Authorization"), "Basic ") {
				basicCalls.Add(1)
			}
		}
		inner.ServeHTTP(w, r)
	})
	cfg := &oauth2.Config{
		ClientID:    publicID,
		RedirectURL: callback,
		Endpoint:    oauth2.Endpoint{TokenURL: e.issuer + "/token", AuthStyle: oauth2.AuthStyleAutoDetect},
	}
	ctx := context.Background()
	tok, err := cfg.Exchange(ctx, e.code(authorizeParams()), oauth2.VerifierOption(testVerifier))
	if err != nil {
		t.Fatal(err)
	}
	if tokenCalls.Load() != 1 || basicCalls.Load() != 1 {
		t.Fatalf("exchange took %d token requests (%d with Basic), want 1 with Basic", tokenCalls.Load(), basicCalls.Load())
	}
	if _, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
		t.Fatal(err)
	}
	if tokenCalls.Load() != 2 {
		t.Fatalf("refresh took %d token requests, want 1", tokenCalls.Load()-1)
	}
}
