package authz

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestCodeExchangeAllocationBudget keeps the code exchange's own
// allocations, beyond the go-jose ES256 signature it contains, within
// budget: form parsing, client lookup, store calls, refresh token and
// response.
func TestCodeExchangeAllocationBudget(t *testing.T) {
	budget := 12.0
	if raceEnabled {
		budget += 3 // pool misses (body and random buffers)
	}
	srv, st := benchServer(t)
	const runs = 50
	codes := seedCodes(t, srv, st, runs+1)
	h := srv.TokenHandler()
	req, _ := http.NewRequest(http.MethodPost, "https://as.example.com/token", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.10:50000"
	w := &discardWriter{h: http.Header{}}
	rd := new(strings.Reader)
	body := &nopCloser{rd}
	bodies := make([]string, len(codes))
	for i, c := range codes {
		bodies[i] = "grant_type=authorization_code&code=" + c + "&code_verifier=" + testVerifier +
			"&client_id=" + publicID + "&redirect_uri=" + url.QueryEscape(callback) + "&resource=" + url.QueryEscape(testResource)
	}
	i := 0
	exchange := testing.AllocsPerRun(runs, func() {
		rd.Reset(bodies[i])
		i++
		req.Body = body
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			t.Fatalf("status %d", w.status)
		}
	})
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sk, _ := newSigningKey(priv, "")
	payload := []byte(`{"iss":"https://as.example.com","sub":"alice","aud":"https://mcp.example.com/mcp","client_id":"public-client","scope":"mcp:tools","iat":1785585600,"exp":1785587400,"jti":"k1lLx0dYQ3u2wS9C8ZqQ5A.Zm9vYmFyYmF6cXV4cXV1eA","auth_time":1785585600}`)
	sign := testing.AllocsPerRun(runs, func() {
		jws, err := sk.signer.Sign(payload)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("code exchange %.0f allocs, bare ES256 sign %.0f", exchange, sign)
	if exchange-sign > budget {
		t.Fatalf("code exchange allocates %.0f times beyond its signature, budget %.0f", exchange-sign, budget)
	}
}
