package integration_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/time/rate"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// withRegistration enables open dynamic registration for callers on this
// machine.
func withRegistration(c *authz.Config) {
	c.Registration = &dcr.Config{
		Anonymous: &dcr.Policy{
			Name:         "local",
			TrustedHosts: []string{"127.0.0.0/8", "localhost"},
			RateLimit:    rate.Inf,
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

// addStagedKey stores a new ES256 key that may sign from notBefore on and
// returns its kid (its RFC 7638 thumbprint, as authz names keys).
func addStagedKey(t *testing.T, n *node, notBefore time.Time) string {
	t.Helper()
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	tp, err := (&jose.JSONWebKey{Key: priv.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	kid := base64.RawURLEncoding.EncodeToString(tp)
	err = n.store.AddKey(t.Context(), &storage.SigningKey{ID: kid, Algorithm: "ES256", Private: der,
		CreatedAt: notBefore.Add(-10 * time.Minute), NotBefore: notBefore})
	if err != nil {
		t.Fatal(err)
	}
	return kid
}
