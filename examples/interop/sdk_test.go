package interop

import (
	"encoding/json"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/auth"
	"github.com/modelcontextprotocol/go-sdk/mcp"
	"github.com/modelcontextprotocol/go-sdk/oauthex"

	"github.com/nqrust/identity/examples/interop/interoptest"
)

// TestSDKClientPrefersMetadataDocument runs the MCP Go SDK client with its
// OAuth handler configured the way an application ships it: a Client ID
// Metadata Document URL first and dynamic registration as the fallback.
//
// The SDK insists on an https document URL, so the document is served by
// a TLS test server on 127.0.0.1. The example server is started with
// -cimd-domains 127.0.0.1 (a client_id URL on that host is resolved as a
// metadata document) and -allow-private-fetch (its fetch client may reach
// loopback), and it trusts the test server's certificate through
// SSL_CERT_FILE, which Go reads in place of the system roots. Nothing in
// the example is changed for the test.
//
// With metadata documents on, the client_id the MCP server sees is the
// document URL and no registration happens; with them off
// (-cimd-domains ""), the same client registers and still gets in.
func TestSDKClientPrefersMetadataDocument(t *testing.T) {
	t.Parallel()
	var fetches atomic.Int32
	var docURL string
	docs := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/oauth/client-metadata.json" {
			http.NotFound(w, r)
			return
		}
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=600")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"client_id":                  docURL,
			"client_name":                "Interop SDK client",
			"client_uri":                 "https://127.0.0.1/",
			"redirect_uris":              []string{redirectURI},
			"grant_types":                []string{"authorization_code", "refresh_token"},
			"response_types":             []string{"code"},
			"token_endpoint_auth_method": "none",
		})
	}))
	t.Cleanup(docs.Close)
	docURL = docs.URL + "/oauth/client-metadata.json"

	// The certificate of the document server, for the example server's
	// SSL_CERT_FILE.
	certFile := filepath.Join(t.TempDir(), "docs.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: docs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"SSL_CERT_FILE=" + certFile}

	for _, tc := range []struct {
		name    string
		args    []string
		useCIMD bool
	}{
		{"metadata document", []string{"-cimd-domains", "127.0.0.1", "-allow-private-fetch"}, true},
		{"registration fallback", []string{"-cimd-domains", ""}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.useCIMD && (runtime.GOOS == "darwin" || runtime.GOOS == "ios" || runtime.GOOS == "windows") {
				// These systems verify certificates with their own roots
				// and ignore SSL_CERT_FILE, so the example server could
				// not trust the document server.
				t.Skip("SSL_CERT_FILE is ignored on " + runtime.GOOS)
			}
			srv := interoptest.StartMCPServer(t, mcpserverBin, env, tc.args...)
			ctx := interoptest.Context(t, 30*time.Second)
			before := fetches.Load()

			rec := &interoptest.Recorder{}
			hc := &http.Client{Transport: rec}
			b := newBrowser()
			handler, err := auth.NewAuthorizationCodeHandler(&auth.AuthorizationCodeHandlerConfig{
				ClientIDMetadataDocumentConfig: &auth.ClientIDMetadataDocumentConfig{URL: docURL},
				DynamicClientRegistrationConfig: &auth.DynamicClientRegistrationConfig{Metadata: &oauthex.ClientRegistrationMetadata{
					ClientName:              "Interop SDK client",
					RedirectURIs:            []string{redirectURI},
					TokenEndpointAuthMethod: "none",
					GrantTypes:              []string{"authorization_code", "refresh_token"},
					ResponseTypes:           []string{"code"},
				}},
				AuthorizationCodeFetcher: sdkFetcher(b),
				Client:                   hc,
			})
			if err != nil {
				t.Fatal(err)
			}
			who := whoami(ctx, t, &mcp.StreamableClientTransport{Endpoint: srv.MCPURL, HTTPClient: hc, OAuthHandler: handler}, "")

			if who["subject"] != interoptest.User {
				t.Errorf("whoami subject = %v, want %s", who["subject"], interoptest.User)
			}
			clientID, _ := who["client_id"].(string)
			registered := rec.Find(http.MethodPost, srv.Issuer+"/register")
			if tc.useCIMD {
				if clientID != docURL {
					t.Errorf("client_id = %q, want the document URL %q", clientID, docURL)
				}
				if registered != nil {
					t.Errorf("the client registered although the server accepts its metadata document: %+v", *registered)
				}
				if fetches.Load() == before {
					t.Error("the authorization server never fetched the metadata document")
				}
			} else {
				if clientID == "" || strings.Contains(clientID, "/") {
					t.Errorf("client_id = %q, want a registered (opaque) client_id", clientID)
				}
				if registered == nil || registered.Status != http.StatusCreated {
					t.Errorf("no successful registration: %+v", rec.Exchanges())
				}
			}

			// The token the SDK holds is bound to the MCP endpoint.
			ts, err := handler.TokenSource(ctx)
			if err != nil || ts == nil {
				t.Fatalf("TokenSource: %v", err)
			}
			tok, err := ts.Token()
			if err != nil {
				t.Fatal(err)
			}
			c, err := interoptest.UnverifiedClaims(tok.AccessToken)
			if err != nil {
				t.Fatal(err)
			}
			if len(c.Audience) != 1 || c.Audience[0] != srv.MCPURL || c.ClientID != clientID || c.Issuer != srv.Issuer {
				t.Errorf("token claims = %+v, want aud %s, client_id %s, iss %s", c, srv.MCPURL, clientID, srv.Issuer)
			}
			// The token request carried the resource, as MCP 2025-06-18
			// and later require, and succeeded at once. (For a
			// metadata-document client the SDK leaves x/oauth2 to
			// auto-detect the client authentication style: its first
			// attempt sends client_id in an HTTP Basic header with an
			// empty secret, which the server accepts for a public client,
			// so there is no refused attempt and no retry with client_id
			// in the body. The recorder keeps no headers; the token's
			// client_id claim, checked above, says who it was for.)
			var codeRequests []interoptest.Exchange
			for _, x := range rec.Exchanges() {
				if x.Method == http.MethodPost && x.URL == srv.Issuer+"/token" && x.Form.Get("grant_type") == "authorization_code" {
					codeRequests = append(codeRequests, x)
				}
			}
			if len(codeRequests) != 1 || codeRequests[0].Status != http.StatusOK {
				t.Fatalf("authorization_code token requests: %+v, want one, successful", codeRequests)
			}
			if x := codeRequests[0]; x.Form.Get("resource") != srv.MCPURL || (x.Form.Get("client_id") != clientID && x.Form.Get("client_id") != "") || x.Form.Get("code_verifier") == "" {
				t.Errorf("token request %+v", x)
			}
		})
	}
}
