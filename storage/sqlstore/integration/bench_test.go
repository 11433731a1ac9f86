package integration_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/internal/pgtest"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
	"github.com/nqrust/identity/storage/sqlstore"
)

// BenchmarkCodeExchange measures the token endpoint redeeming an
// authorization code (PKCE S256, resource, refresh token issued) on each
// backend, in process (no network): consume the code, sign the access
// token, store the refresh token. SQLite runs with Open's production
// settings; the test PostgreSQL server runs without fsync, so its numbers
// leave out disk flushes.
func BenchmarkCodeExchange(b *testing.B) {
	b.Run("memory", func(b *testing.B) {
		benchCodeExchange(b, memory.New(memory.Options{}))
	})
	b.Run("sqlite", func(b *testing.B) {
		st, err := sqlstore.Open(b.Context(), "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), sqlstore.Options{KeyEncryptionSecret: keySecret})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchCodeExchange(b, st)
	})
	b.Run("postgres", func(b *testing.B) {
		st, err := sqlstore.Open(b.Context(), pgtest.Shared(b).NewDatabase(b), sqlstore.Options{KeyEncryptionSecret: keySecret})
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		benchCodeExchange(b, st)
	})
}

func benchCodeExchange(b *testing.B, st storage.Store) {
	srv, err := authz.New(baseConfig(st, nil))
	if err != nil {
		b.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(interactionPath, authz.AutoApprove(srv, subject))
	mux.Handle("/", srv.Handler())

	verifier := oauth2.GenerateVerifier()
	authURL := oauthConfig(publicID).AuthCodeURL("s", oauth2.S256ChallengeOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	// serve runs one request in process and returns the recorder.
	serve := func(method, target, body string) *httptest.ResponseRecorder {
		var req *http.Request
		if body == "" {
			req = httptest.NewRequest(method, target, nil)
		} else {
			req = httptest.NewRequest(method, target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		return rec
	}
	// Codes are made before the timer starts, through the real flow.
	bodies := make([]string, b.N)
	for i := range bodies {
		rec := serve(http.MethodGet, authURL, "")
		interact := rec.Header().Get("Location")
		if rec.Code != http.StatusSeeOther || !strings.HasPrefix(interact, interactionPath+"?") {
			b.Fatalf("authorize: %d %s", rec.Code, interact)
		}
		rec = serve(http.MethodGet, issuer+interact, "")
		back, err := url.Parse(rec.Header().Get("Location"))
		if err != nil || rec.Code != http.StatusSeeOther || back.Query().Get("code") == "" {
			b.Fatalf("approve: %d %v %s", rec.Code, err, rec.Header().Get("Location"))
		}
		bodies[i] = codeForm(publicID, back.Query().Get("code"), verifier).Encode()
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if rec := serve(http.MethodPost, issuer+"/token", bodies[i]); rec.Code != http.StatusOK {
			b.Fatalf("exchange %d: %d %s", i, rec.Code, rec.Body)
		}
	}
}
