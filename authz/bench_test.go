package authz

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// benchServer returns a server on a memory store, without HTTP listener.
func benchServer(b testing.TB) (*Server, *memory.Store) {
	b.Helper()
	st := memory.New(memory.Options{})
	cfg := testConfig()
	cfg.Issuer = "https://as.example.com"
	cfg.Store = st
	srv, err := New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	return srv, st
}

// discardWriter is a reusable http.ResponseWriter, so that benchmarks
// measure the handler rather than the recorder.
type discardWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(s int)           { w.status = s }
func (w *discardWriter) Write(p []byte) (int, error) { w.n += len(p); return len(p), nil }
func (w *discardWriter) reset() {
	clear(w.h)
	w.status, w.n = 0, 0
}

// BenchmarkBareES256Sign is the floor: go-jose signing a payload of the
// size of our access-token claims with a cached ES256 signer.
func BenchmarkBareES256Sign(b *testing.B) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	sk, err := newSigningKey(priv, "")
	if err != nil {
		b.Fatal(err)
	}
	payload := []byte(`{"iss":"https://as.example.com","sub":"alice","aud":"https://mcp.example.com/mcp","client_id":"public-client","scope":"mcp:tools","iat":1785585600,"exp":1785587400,"jti":"k1lLx0dYQ3u2wS9C8ZqQ5A.Zm9vYmFyYmF6cXV4cXV1eA","auth_time":1785585600}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		jws, err := sk.signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
	}
}

// seedCodes stores n codes for the public client and returns them.
func seedCodes(b testing.TB, srv *Server, st *memory.Store, n int) []string {
	b.Helper()
	ctx := context.Background()
	now := srv.now()
	codes := make([]string, n)
	for i := range codes {
		c := "bench-code-" + strconv.Itoa(i) + "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		codes[i] = c
		err := st.SaveCode(ctx, &storage.AuthorizationCode{
			Hash: storage.HashOf(c), GrantID: "grant" + strconv.Itoa(i), ClientID: publicID,
			RedirectURI: callback, CodeChallenge: challengeOf(testVerifier), CodeChallengeMethod: "S256",
			Subject: "alice", Scopes: []string{"mcp:tools"}, Resources: []string{testResource},
			AuthTime: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour),
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return codes
}

// BenchmarkCodeExchange redeems an authorization code on the memory store:
// "handler" goes through TokenHandler (form parsing, client
// authentication, JSON response); "internal" calls the grant directly.
func BenchmarkCodeExchange(b *testing.B) {
	b.Run("handler", func(b *testing.B) {
		srv, st := benchServer(b)
		codes := seedCodes(b, srv, st, b.N)
		bodies := make([]string, b.N)
		for i, c := range codes {
			bodies[i] = "grant_type=authorization_code&code=" + c + "&code_verifier=" + testVerifier +
				"&client_id=" + publicID + "&redirect_uri=" + url.QueryEscape(callback) + "&resource=" + url.QueryEscape(testResource)
		}
		h := srv.TokenHandler()
		req, _ := http.NewRequest(http.MethodPost, "https://as.example.com/token", nil)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.RemoteAddr = "192.0.2.10:50000"
		w := &discardWriter{h: http.Header{}}
		rd := new(strings.Reader)
		body := &nopCloser{rd}
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			rd.Reset(bodies[i])
			req.Body = body
			req.ContentLength = int64(len(bodies[i]))
			w.reset()
			h.ServeHTTP(w, req)
			if w.status != http.StatusOK {
				b.Fatalf("status %d", w.status)
			}
		}
	})
	b.Run("internal", func(b *testing.B) {
		srv, st := benchServer(b)
		codes := seedCodes(b, srv, st, b.N)
		e := srv.clients[publicID]
		ctx := context.Background()
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			var p params
			p.add("code", codes[i])
			p.add("code_verifier", testVerifier)
			p.add("redirect_uri", callback)
			if _, err := srv.exchangeCode(ctx, e, &p); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type nopCloser struct{ *strings.Reader }

func (nopCloser) Close() error { return nil }

// BenchmarkRefresh rotates a refresh token through TokenHandler.
func BenchmarkRefresh(b *testing.B) {
	srv, st := benchServer(b)
	ctx := context.Background()
	now := srv.now()
	bodies := make([]string, b.N)
	for i := range bodies {
		gid := "grant" + strconv.Itoa(i)
		rt := "bench-refresh-" + strconv.Itoa(i) + "-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		if err := st.CreateGrant(ctx, &storage.Grant{ID: gid, Subject: "alice", ClientID: publicID, Scopes: []string{"mcp:tools"},
			Resources: []string{testResource}, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		if err := st.SaveRefreshToken(ctx, &storage.RefreshToken{Hash: storage.HashOf(rt), FamilyID: gid, GrantID: gid, ClientID: publicID,
			Subject: "alice", Scopes: []string{"mcp:tools"}, Resources: []string{testResource}, AuthTime: now, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
		bodies[i] = "grant_type=refresh_token&refresh_token=" + rt + "&client_id=" + publicID
	}
	h := srv.TokenHandler()
	req, _ := http.NewRequest(http.MethodPost, "https://as.example.com/token", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.10:50000"
	w := &discardWriter{h: http.Header{}}
	rd := new(strings.Reader)
	body := &nopCloser{rd}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		rd.Reset(bodies[i])
		req.Body = body
		req.ContentLength = int64(len(bodies[i]))
		w.reset()
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
}

// BenchmarkAuthorizationRequestValidation validates a typical MCP
// authorization request (parse, client, redirect URI, PKCE, resource,
// scopes), without parking it.
func BenchmarkAuthorizationRequestValidation(b *testing.B) {
	srv, _ := benchServer(b)
	raw := authorizeParams().Encode()
	req, _ := http.NewRequest(http.MethodGet, "https://as.example.com/authorize?"+raw, nil)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var p params
		if err := p.parse(raw); err != nil {
			b.Fatal(err)
		}
		if _, _, err := srv.validateAuthorization(ctx, req, &p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCodeExchangeVsSign interleaves one bare ES256 signature and one
// code exchange through TokenHandler per iteration and reports their time
// ratio ("x-sign"), which, unlike two separate benchmarks, holds on a
// machine whose load changes during the run.
func BenchmarkCodeExchangeVsSign(b *testing.B) {
	srv, st := benchServer(b)
	codes := seedCodes(b, srv, st, b.N)
	bodies := make([]string, b.N)
	for i, c := range codes {
		bodies[i] = "grant_type=authorization_code&code=" + c + "&code_verifier=" + testVerifier +
			"&client_id=" + publicID + "&redirect_uri=" + url.QueryEscape(callback) + "&resource=" + url.QueryEscape(testResource)
	}
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	sk, _ := newSigningKey(priv, "")
	payload := []byte(`{"iss":"https://as.example.com","sub":"alice","aud":"https://mcp.example.com/mcp","client_id":"public-client","scope":"mcp:tools","iat":1785585600,"exp":1785587400,"jti":"k1lLx0dYQ3u2wS9C8ZqQ5A.Zm9vYmFyYmF6cXV4cXV1eA","auth_time":1785585600}`)
	h := srv.TokenHandler()
	req, _ := http.NewRequest(http.MethodPost, "https://as.example.com/token", nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.RemoteAddr = "192.0.2.10:50000"
	w := &discardWriter{h: http.Header{}}
	rd := new(strings.Reader)
	body := &nopCloser{rd}
	var signT, exchT time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		jws, err := sk.signer.Sign(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.CompactSerialize(); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		rd.Reset(bodies[i])
		req.Body = body
		req.ContentLength = int64(len(bodies[i]))
		w.reset()
		h.ServeHTTP(w, req)
		t2 := time.Now()
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		signT += t1.Sub(t0)
		exchT += t2.Sub(t1)
	}
	b.ReportMetric(float64(exchT)/float64(signT), "x-sign")
}
