package bearer

import (
	"bytes"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// lockedBuffer is a log sink safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestNoSecretsInLogsOrResponses runs every kind of verification this
// package does, succeeding and failing, with a debug-level JSON logger, and
// then looks for the raw tokens, their signatures and the introspection
// client secret in the log and in every response. None may appear.
func TestNoSecretsInLogsOrResponses(t *testing.T) {
	logs := &lockedBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newClock()

	es := newTestKey("es", jose.ES256)
	jwks := newJWKSServer(t, keySet(es))
	remote := newRemoteVerifier(t, jwks.URL, clock, func(c *Config) { c.Logger = log })
	local, err := NewVerifier(Config{Issuer: testIssuer, Resource: testResource, Keys: StaticKeys(keySet(es)), Clock: clock.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	with := func(k string, v any) map[string]any {
		c := claimsAt(t0)
		c[k] = v
		return c
	}
	valid := mint(t, es, claimsAt(t0), mintOpt{})
	tokens := []string{
		valid,
		mint(t, es, with("aud", "https://other.example/mcp"), mintOpt{}),
		mint(t, es, with("exp", t0.Add(-time.Hour).Unix()), mintOpt{}),
		mint(t, es, with("iss", "https://evil.example"), mintOpt{}),
		mint(t, es, claimsAt(t0), mintOpt{kid: "unknown-kid"}),
		mint(t, es, claimsAt(t0), mintOpt{typ: "JWT"}),
		valid[:len(valid)-4] + "AAAA", // bad signature
		mint(t, secondES256("es"), claimsAt(t0), mintOpt{}),
	}
	secrets := []string{rsClientSecret, url.QueryEscape(rsClientSecret), opaqueToken, "revoked-opaque-token"}
	secrets = append(secrets, base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(rsClientID)+":"+url.QueryEscape(rsClientSecret))))
	for _, tok := range tokens {
		secrets = append(secrets, tok, tok[strings.LastIndexByte(tok, '.')+1:])
	}

	introspect := newIntrospectionServer(t, func(tok string) (int, string) {
		switch tok {
		case opaqueToken:
			return 200, activeBody("")
		case "broken-endpoint-token":
			return 500, "internal error"
		case "garbage-answer-token":
			return 200, "not json " + tok
		}
		return 200, `{"active":false}`
	})
	iv := newIntrospector(t, introspect.URL, clock, func(c *IntrospectionConfig) { c.Logger = log })
	secrets = append(secrets, "broken-endpoint-token", "garbage-answer-token")

	var responses []string
	run := func(v TokenVerifier, tok string, scopes []string) {
		h := Middleware(v, Options{ResourceMetadataURL: testPRM, Scopes: scopes, Logger: log, ErrorDescription: true})(echoHandler())
		r := httptest.NewRequest(http.MethodGet, "https://h.example/mcp", nil)
		r.Header.Set("Authorization", "Bearer "+tok)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		var hdr strings.Builder
		_ = w.Header().Write(&hdr)
		responses = append(responses, hdr.String()+w.Body.String())
	}
	for _, tok := range tokens {
		for _, v := range []TokenVerifier{local, remote} {
			run(v, tok, nil)
			run(v, tok, []string{"admin"}) // insufficient scope for the valid one
		}
	}
	for _, tok := range []string{opaqueToken, "revoked-opaque-token", "broken-endpoint-token", "garbage-answer-token"} {
		run(iv, tok, nil)
	}
	jwks.setStatus(500)
	clock.Advance(25 * time.Hour) // the key set is stale and its refetch fails
	run(remote, tokens[4], nil)

	all := logs.String()
	if !strings.Contains(all, "JWKS fetch failed") || !strings.Contains(all, "introspection failed") || !strings.Contains(all, "token refused") {
		t.Fatalf("the operations did not log what this test inspects:\n%s", all)
	}
	for _, s := range secrets {
		if strings.Contains(all, s) {
			t.Errorf("log contains the secret %.20q...", s)
		}
		for i, resp := range responses {
			if strings.Contains(resp, s) {
				t.Errorf("response %d contains the secret %.20q...:\n%s", i, s, resp)
			}
		}
	}
	for i, resp := range responses {
		if strings.Contains(resp, "goroutine ") || strings.Contains(resp, ".go:") {
			t.Errorf("response %d looks like a stack trace:\n%s", i, resp)
		}
	}
}
