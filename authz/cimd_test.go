package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/policy"
	"github.com/nqrust/identity/storage"
)

// TestClientIDMetadataDocumentEndToEnd runs the VS Code style flow with the
// real cimd executor: a URL client_id, the document fetched over TLS, a
// loopback redirect on an ephemeral port, and the token endpoint finding
// the client again.
func TestClientIDMetadataDocumentEndToEnd(t *testing.T) {
	var fetches atomic.Int32
	site := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		id := "https://" + r.Host + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, `{"client_id":%q,"client_name":"Visual Studio Code","application_type":"native",
			"redirect_uris":["http://127.0.0.1:33418/","https://vscode.dev/redirect"],
			"grant_types":["authorization_code","refresh_token","urn:ietf:params:oauth:grant-type:device_code"],
			"response_types":["code"],"token_endpoint_auth_method":"none"}`, id)
	}))
	defer site.Close()
	resolver, err := cimd.NewResolver(cimd.Options{HTTPClient: site.Client()})
	if err != nil {
		t.Fatal(err)
	}
	reg := policy.NewRegistry()
	if err := cimd.Register(reg, resolver); err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(reg,
		[]policy.Profile{{Name: "cimd-profile", Executors: []policy.ExecutorSpec{{ID: policy.ExecutorClientIDMetadataDocument,
			Configuration: json.RawMessage(`{"cimd-allow-permitted-domains":["127.0.0.1","vscode.dev"]}`)}}}},
		[]policy.Policy{{Name: "cimd-policy", Conditions: []policy.ConditionSpec{{ID: policy.ConditionClientIDURI,
			Configuration: json.RawMessage(`{"client-id-uri-scheme":["https"],"client-id-uri-allow-permitted-domains":["127.0.0.1"]}`)}},
			Profiles: []string{"cimd-profile"}}})
	if err != nil {
		t.Fatal(err)
	}
	// No Config.ClientIDMetadataDocuments: the executor is found in the
	// policies and advertised.
	e := newEnv(t, func(c *Config) { c.Policies = eng })
	resp := e.get("/.well-known/oauth-authorization-server")
	var md map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&md)
	resp.Body.Close()
	if md["client_id_metadata_document_supported"] != true {
		t.Fatalf("metadata: %v", md)
	}

	clientID := site.URL + "/oauth/client-metadata.json"
	v := authorizeParams()
	v.Set("client_id", clientID)
	v.Set("redirect_uri", "http://127.0.0.1:51234/") // ephemeral port
	code := e.code(v)
	status, tj := decodeToken(t, e.post("/token", url.Values{"grant_type": {"authorization_code"}, "code": {code},
		"code_verifier": {testVerifier}, "client_id": {clientID}}, "", ""))
	if status != 200 || tj.RefreshToken == "" {
		t.Fatalf("exchange: %d %+v", status, tj)
	}
	stored, err := e.store.GetClient(context.Background(), clientID)
	if err != nil || stored.Kind != storage.ClientMetadataDocument || stored.Metadata.ClientName != "Visual Studio Code" || stored.FirstUsedAt.IsZero() {
		t.Fatalf("stored client: %+v %v", stored, err)
	}
	if n := fetches.Load(); n != 1 {
		t.Fatalf("%d fetches, want 1 (cached)", n)
	}
	status, tj = decodeToken(t, e.post("/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tj.RefreshToken}, "client_id": {clientID}}, "", ""))
	if status != 200 {
		t.Fatalf("refresh: %d %+v", status, tj)
	}

	// A redirect URI outside the document, and an untrusted host, are
	// shown as errors, never redirected.
	v.Set("redirect_uri", "https://evil.example/cb")
	resp = e.get("/authorize?" + v.Encode())
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("foreign redirect: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	v.Set("client_id", strings.Replace(clientID, "127.0.0.1", "localhost", 1))
	v.Set("redirect_uri", "http://127.0.0.1:51234/")
	resp = e.get("/authorize?" + v.Encode())
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Location") != "" {
		t.Fatalf("untrusted client_id host: %d %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

// TestPrivateKeyJWTWithJWKSURI authenticates a client whose keys are
// published at a jwks_uri, including a key rotation on the client's side.
func TestPrivateKeyJWTWithJWKSURI(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var current atomic.Pointer[jose.JSONWebKey]
	current.Store(&jose.JSONWebKey{Key: k1.Public(), KeyID: "k1", Algorithm: "ES256", Use: "sig"})
	var fetches atomic.Int32
	keys := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{*current.Load()}})
	}))
	defer keys.Close()
	e := newEnv(t, func(c *Config) {
		c.HTTPClient = keys.Client()
		c.DefaultResource = testResource
		c.Clients = append(c.Clients, StaticClient{Metadata: metadata.Client{ClientID: "remote-keys", JWKSURI: keys.URL + "/jwks.json", GrantTypes: []string{"client_credentials"}}})
	})
	assert := func(key *ecdsa.PrivateKey, kid string) string {
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
		now := e.clock.Now()
		tok, err := jwt.Signed(s).Claims(jwt.Claims{Issuer: "remote-keys", Subject: "remote-keys", Audience: jwt.Audience{e.issuer + "/token"},
			ID: rand.Text(), Expiry: jwt.NewNumericDate(now.Add(time.Minute))}).Serialize()
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	try := func(a string) int {
		s, _ := decodeToken(t, e.post("/token", url.Values{"grant_type": {"client_credentials"}, "client_assertion_type": {clientAssertionTypeJWT}, "client_assertion": {a}}, "", ""))
		return s
	}
	if s := try(assert(k1, "k1")); s != 200 {
		t.Fatalf("k1: %d", s)
	}
	if s := try(assert(k1, "k1")); s != 200 || fetches.Load() != 1 {
		t.Fatalf("second assertion: %d, %d fetches", s, fetches.Load())
	}
	// The client rotates; after the 30-second floor the server refetches.
	current.Store(&jose.JSONWebKey{Key: k2.Public(), KeyID: "k2", Algorithm: "ES256", Use: "sig"})
	e.clock.Advance(jwksRefetchAfter + time.Second)
	if s := try(assert(k2, "k2")); s != 200 || fetches.Load() != 2 {
		t.Fatalf("rotated key: %d, %d fetches", s, fetches.Load())
	}
	if s := try(assert(k1, "k1")); s != 401 {
		t.Fatalf("retired key accepted: %d", s)
	}
}
