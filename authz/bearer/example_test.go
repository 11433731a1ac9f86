package bearer_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/authz/bearer"
)

// Protect an MCP endpoint and publish its protected resource metadata.
func ExampleMiddleware() {
	const (
		resource = "https://mcp.example.com/mcp"
		issuer   = "https://auth.example.com"
	)
	// In production, use Keys: the authorization server running in the
	// same process, or JWKSURL: the issuer's jwks_uri.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		log.Fatal(err)
	}
	keys := bearer.StaticKeys(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &key.PublicKey, KeyID: "k1", Algorithm: "ES256", Use: "sig"},
	}})
	v, err := bearer.NewVerifier(bearer.Config{Issuer: issuer, Resource: resource, Keys: keys})
	if err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	prm, err := bearer.MountProtectedResourceMetadata(mux,
		bearer.ProtectedResourceMetadata(resource, []string{issuer}, []string{"mcp:tools"}))
	if err != nil {
		log.Fatal(err)
	}
	mcp := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		info, _ := bearer.TokenInfoFromContext(r.Context())
		fmt.Fprintf(w, "hello %s", info.Subject)
	})
	mux.Handle("/mcp", bearer.Middleware(v, bearer.Options{
		ResourceMetadataURL: prm,
		Scopes:              []string{"mcp:tools"},
	})(mcp))

	// A client without a token is told where to discover authorization.
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("POST", resource, nil))
	fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))

	// It then fetches the metadata.
	w = httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", prm, nil))
	fmt.Println(w.Code, w.Body.String())
	// Output:
	// 401 Bearer scope="mcp:tools", resource_metadata="https://mcp.example.com/.well-known/oauth-protected-resource/mcp"
	// 200 {"resource":"https://mcp.example.com/mcp","authorization_servers":["https://auth.example.com"],"scopes_supported":["mcp:tools"],"bearer_methods_supported":["header"]}
}
