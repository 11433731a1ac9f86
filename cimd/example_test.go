package cimd_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/nqrust/identity/cimd"
)

func ExampleResolver() {
	// A client publishes its metadata document at its client_id URL.
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := "https://" + r.Host + r.URL.Path
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=3600")
		fmt.Fprintf(w, `{
			"client_id": %q,
			"client_name": "Example MCP client",
			"redirect_uris": ["http://127.0.0.1/callback"],
			"grant_types": ["authorization_code", "refresh_token"],
			"token_endpoint_auth_methods_supported": ["none"]
		}`, id)
	}))
	defer srv.Close()

	// In production leave HTTPClient nil: the built-in client refuses
	// loopback and private addresses. This example's server runs on
	// 127.0.0.1, so it passes the test server's client instead.
	r, err := cimd.NewResolver(cimd.Options{HTTPClient: srv.Client()})
	if err != nil {
		panic(err)
	}
	clientID := srv.URL + "/oauth/client-metadata.json"
	doc, err := r.Resolve(context.Background(), clientID)
	if err != nil {
		panic(err)
	}
	fmt.Println(doc.Metadata.ClientName)
	fmt.Println(doc.Metadata.TokenEndpointAuthMethod) // absent: a public client
	fmt.Println(doc.RedirectURIAllowed("http://127.0.0.1:50123/callback"))
	fmt.Println(doc.ExpiresAt.Sub(doc.FetchedAt))

	// A URL that breaks the client ID rules is refused before any fetch.
	_, err = r.Resolve(context.Background(), srv.URL+"/a/../client.json")
	var ce *cimd.Error
	if errors.As(err, &ce) {
		fmt.Println(ce.Class, ce.Reason)
	}
	// Output:
	// Example MCP client
	// none
	// true
	// 1h0m0s
	// url Invalid Client ID: path traverse segment included.
}
