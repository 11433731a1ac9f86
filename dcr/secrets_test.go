package dcr_test

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/dcr"
)

// TestNoSecretsInLogsOrErrors runs registration with an initial access
// token and a client secret, RFC 7592 reads, updates and deletion, and the
// failing variants of each (wrong tokens, a guessed secret, a spent token),
// with a debug-level JSON logger. Afterwards neither the log nor any error
// answer may contain an initial access token, a registration access token,
// a client secret or a guessed credential; a secret appears only in the
// answer that issued it.
func TestNoSecretsInLogsOrErrors(t *testing.T) {
	logs := &syncBuffer{}
	f := newFixture(t, func(c *dcr.Config) {
		c.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Authenticated = &dcr.Policy{Name: "partners", TrustedHosts: []string{"*"}, RateLimit: rate.Inf}
	})
	ctx := context.Background()
	var secrets []string
	var errorAnswers []string
	do := func(r req, want int) registration {
		t.Helper()
		rec := f.do(t, r)
		if rec.Code != want {
			t.Fatalf("%s %s: status %d, want %d: %s", r.method, r.path, rec.Code, want, rec.Body)
		}
		if rec.Code >= 400 {
			var hdr strings.Builder
			_ = rec.Header().Write(&hdr)
			errorAnswers = append(errorAnswers, hdr.String()+rec.Body.String())
			return nil
		}
		if rec.Code == http.StatusNoContent {
			return nil
		}
		return decode(t, rec)
	}

	iat, err := f.reg.MintInitialAccessToken(ctx, "partners", 1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	secrets = append(secrets, iat)
	confidential := `{"redirect_uris":["https://app.example.com/cb"],"token_endpoint_auth_method":"client_secret_basic","client_name":"Partner"}`
	a := do(req{body: confidential, headers: bearer(iat)}, 201)
	secrets = append(secrets, a.str("client_secret"), a.str("registration_access_token"))
	do(req{body: confidential, headers: bearer(iat)}, 401) // spent
	do(req{body: confidential, headers: bearer("bogus-initial-access-token-000")}, 401)
	secrets = append(secrets, "bogus-initial-access-token-000")

	b := do(req{body: strings.Replace(confidential, "client_secret_basic", "client_secret_post", 1)}, 201)
	secrets = append(secrets, b.str("client_secret"), b.str("registration_access_token"))
	if a.str("client_secret") == "" || b.str("client_secret") == "" {
		t.Fatal("no client secret issued")
	}

	for _, m := range []registration{a, b} {
		rat := m.str("registration_access_token")
		path := itemPath(m)
		got := do(req{method: http.MethodGet, path: path, headers: bearer(rat)}, 200)
		if got.str("client_secret") != "" {
			t.Fatal("GET shows the client secret again")
		}
		do(req{method: http.MethodGet, path: path, headers: bearer(rat[:2] + "wrong-registration-token")}, 401)
		secrets = append(secrets, rat[:2]+"wrong-registration-token")
		guess := updateBody(t, got, map[string]any{"client_secret": "guessed-client-secret-111"})
		do(req{method: http.MethodPut, path: path, body: guess, headers: bearer(rat)}, 400)
		secrets = append(secrets, "guessed-client-secret-111")
		ok := updateBody(t, got, map[string]any{"client_secret": m.str("client_secret"), "client_name": "Renamed"})
		if upd := do(req{method: http.MethodPut, path: path, body: ok, headers: bearer(rat)}, 200); upd.str("client_secret") != "" {
			secrets = append(secrets, upd.str("client_secret"))
		}
		public := updateBody(t, got, map[string]any{"token_endpoint_auth_method": "none"})
		do(req{method: http.MethodPut, path: path, body: public, headers: bearer(rat)}, 200)
		again := updateBody(t, got, map[string]any{"token_endpoint_auth_method": "client_secret_basic"})
		if upd := do(req{method: http.MethodPut, path: path, body: again, headers: bearer(rat)}, 200); upd.str("client_secret") == "" {
			t.Fatal("becoming confidential again issued no secret")
		} else {
			secrets = append(secrets, upd.str("client_secret"))
		}
		do(req{method: http.MethodDelete, path: path, headers: bearer(rat)}, 204)
		do(req{method: http.MethodGet, path: path, headers: bearer(rat)}, 401)
	}

	all := logs.String()
	for _, want := range []string{"client registered", "request refused", "client updated", "client deleted", "initial access token minted"} {
		if !strings.Contains(all, want) {
			t.Fatalf("the log lacks %q, so this test would not see a leak there:\n%s", want, all)
		}
	}
	for _, s := range secrets {
		if s == "" {
			t.Fatal("empty secret in the list")
		}
		if strings.Contains(all, s) {
			t.Errorf("log contains %.12q...", s)
		}
		for i, ans := range errorAnswers {
			if strings.Contains(ans, s) {
				t.Errorf("error answer %d contains %.12q...:\n%s", i, s, ans)
			}
		}
	}
	for i, ans := range errorAnswers {
		if strings.Contains(ans, "goroutine ") || strings.Contains(ans, ".go:") {
			t.Errorf("error answer %d looks like a stack trace:\n%s", i, ans)
		}
	}
}
