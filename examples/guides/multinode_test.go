package guides_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/authz/bearer"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage/sqlstore"
)

// roundRobin is the load balancer: each request goes to the next node, so
// that one authorization flow visits both. It notes who served what.
type roundRobin struct {
	mu    sync.Mutex
	nodes []http.Handler
	names []string
	next  int
	log   []string
}

func (lb *roundRobin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb.mu.Lock()
	i := lb.next % len(lb.nodes)
	lb.next++
	lb.log = append(lb.log, r.Method+" "+r.URL.Path+" → "+lb.names[i])
	lb.mu.Unlock()
	lb.nodes[i].ServeHTTP(w, r)
}

// Two authorization server nodes behind a load balancer, sharing one
// database: the parked request, the code, the grant, the refresh token
// and the signing key live in the store, so any node can take any step.
// SQLite stands in for PostgreSQL here; with PostgreSQL the code is the
// same except for the DSN (see storage/sqlstore/integration for the
// two-node tests on PostgreSQL).
func Example_multiNode() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "multinode")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	dsn := "sqlite:" + filepath.Join(dir, "identity.db") // PostgreSQL: "postgres://identity@db.internal/identity?sslmode=verify-full"

	// Every node gets the same secret (from your secret manager): it
	// encrypts the signing keys in the database.
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		log.Fatal(err)
	}

	lb := &roundRobin{names: []string{"node-1", "node-2"}}
	front := httptest.NewUnstartedServer(lb)
	issuer := "http://" + front.Listener.Addr().String() // the public URL, the same on every node

	for range lb.names {
		store, err := sqlstore.Open(ctx, dsn, sqlstore.Options{KeyEncryptionSecret: secret})
		if err != nil {
			log.Fatal(err)
		}
		defer store.Close()
		node, err := authz.New(authz.Config{
			Issuer:          issuer,
			Store:           store, // no Keys: the signing key is generated once and shared through the store
			Scopes:          []authz.Scope{{Name: "mcp:tools"}},
			Resources:       []authz.Resource{{Identifier: "https://mcp.example.com/mcp"}},
			DefaultResource: "https://mcp.example.com/mcp",
			InteractionURL:  "/interaction",
			Clients: []authz.StaticClient{{Metadata: metadata.Client{
				ClientID:     "mcp-client",
				RedirectURIs: []string{"http://127.0.0.1:33418/"},
			}}},
		})
		if err != nil {
			log.Fatal(err)
		}
		mux := http.NewServeMux()
		mux.Handle("/interaction", authz.AutoApprove(node, "alice"))
		mux.Handle("/", node.Handler())
		lb.nodes = append(lb.nodes, mux)
	}
	front.Start()
	defer front.Close()

	client := &oauth2.Config{
		ClientID:    "mcp-client",
		Endpoint:    oauth2.Endpoint{AuthURL: issuer + "/authorize", TokenURL: issuer + "/token", AuthStyle: oauth2.AuthStyleInParams},
		RedirectURL: redirectURI,
	}
	tok, err := authorize(client)
	if err != nil {
		log.Fatal(err)
	}

	// An MCP server in another process checks the token against the JWKS
	// behind the load balancer; whichever node answers, the key is there.
	v, err := bearer.NewVerifier(bearer.Config{Issuer: issuer, Resource: "https://mcp.example.com/mcp", JWKSURL: issuer + "/jwks"})
	if err != nil {
		log.Fatal(err)
	}
	info, err := v.Verify(ctx, tok.AccessToken)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("verified:", info.Subject, info.Audience)
	keys := map[string]bool{}
	for range lb.names {
		resp, err := http.Get(issuer + "/jwks")
		if err != nil {
			log.Fatal(err)
		}
		var set struct {
			Keys []struct {
				Kid string `json:"kid"`
			} `json:"keys"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
		for _, k := range set.Keys {
			keys[k.Kid] = true
		}
	}
	fmt.Println("distinct signing keys across nodes:", len(keys))

	// Refresh on whichever node; a replay of the rotated refresh token is
	// caught by the other node too.
	tctx := context.WithValue(ctx, oauth2.HTTPClient, stopAtRedirect)
	fresh, err := client.TokenSource(tctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	fmt.Println("refreshed:", err == nil && fresh.AccessToken != "")
	_, err = client.TokenSource(tctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		fmt.Println("replayed refresh token:", re.ErrorCode)
	}

	fmt.Println("requests:")
	for _, l := range lb.log {
		fmt.Println(" ", l)
	}
	// Output:
	// verified: alice [https://mcp.example.com/mcp]
	// distinct signing keys across nodes: 1
	// refreshed: true
	// replayed refresh token: invalid_grant
	// requests:
	//   GET /authorize → node-1
	//   GET /interaction → node-2
	//   POST /token → node-1
	//   GET /jwks → node-2
	//   GET /jwks → node-1
	//   GET /jwks → node-2
	//   POST /token → node-1
	//   POST /token → node-2
}
