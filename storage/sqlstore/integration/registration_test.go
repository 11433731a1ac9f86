package integration_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
)

// withRegistration enables open dynamic registration for callers on this
// machine.
func withRegistration(c *authz.Config) {
	c.Registration = &dcr.Config{
		Anonymous: &dcr.Policy{
			Name:         "local",
			TrustedHosts: []string{"127.0.0.0/8", "localhost"},
			RateLimit:    rate.Inf,
			// The outage test loads the token endpoint with registered
			// machine clients.
			AllowClientCredentials: true,
		},
	}
}

// register registers a client on n and returns the registration response.
func register(t *testing.T, n *node, body string) *metadata.Client {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, issuer+"/register", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var c metadata.Client
	if err := json.Unmarshal(raw, &c); err != nil || resp.StatusCode != http.StatusCreated || c.ClientID == "" {
		t.Fatalf("node %s: registration: status %d, %v:\n%s", n.name, resp.StatusCode, err, raw)
	}
	if c.RegistrationAccessToken == "" || c.RegistrationClientURI == "" {
		t.Fatalf("node %s: registration without RFC 7592 credentials: %s", n.name, raw)
	}
	return &c
}

// readRegistration reads a client's registration (RFC 7592 §2.1) on n.
func readRegistration(t *testing.T, n *node, reg *metadata.Client) *metadata.Client {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, reg.RegistrationClientURI, nil)
	req.Header.Set("Authorization", "Bearer "+reg.RegistrationAccessToken)
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var c metadata.Client
	if err := json.Unmarshal(raw, &c); err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("node %s: RFC 7592 read: status %d, %v:\n%s", n.name, resp.StatusCode, err, raw)
	}
	return &c
}
