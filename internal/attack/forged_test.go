package attack

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/authz/bearer"
)

// TestForgedTokens covers forged and doctored access tokens at the
// resource (RFC 8725 §2, §3.1; RFC 9068 §4): algorithm confusion, key-id
// injection, tampering, and every time claim beyond the leeway.
func TestForgedTokens(t *testing.T) {
	w := newWorld(t, options{})
	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: w.key.Public()})
	der, _ := x509.MarshalPKIXPublicKey(w.key.Public())
	pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})

	hs256 := func(secret []byte) string {
		h := map[string]any{"alg": "HS256", "typ": "at+jwt", "kid": w.kid}
		tok := unsigned(h, w.claims(w.resA), nil)
		input := tok[:strings.LastIndexByte(tok, '.')]
		m := hmac.New(sha256.New, secret)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	real := w.tokens(pubID, loopCB, w.resA, "a:read").AccessToken
	parts := strings.Split(real, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := strings.Replace(string(payload), `"scope":"a:read"`, `"scope":"a:read a:write"`, 1)
	if tampered == string(payload) {
		t.Fatalf("cannot tamper with %s", payload)
	}

	cases := []struct {
		name, token string
	}{
		{"alg-none", unsigned(map[string]any{"alg": "none", "typ": "at+jwt", "kid": w.kid}, w.claims(w.resA), nil)},
		{"alg-none-mixed-case", unsigned(map[string]any{"alg": "None", "typ": "at+jwt", "kid": w.kid}, w.claims(w.resA), nil)},
		{"alg-none-with-real-signature", unsigned(map[string]any{"alg": "none", "typ": "at+jwt", "kid": w.kid}, w.claims(w.resA),
			mustDecode(parts[2]))},
		{"hs256-public-jwk-as-secret", hs256(pubJWK)},
		{"hs256-public-pem-as-secret", hs256(pubPEM)},
		{"hs256-public-der-as-secret", hs256(der)},
		{"kid-path-traversal", sign(t, evilKey, jose.ES256, "../../../../etc/passwd", "at+jwt", w.claims(w.resA))},
		{"kid-sql-injection", sign(t, evilKey, jose.ES256, "x' OR '1'='1' --", "at+jwt", w.claims(w.resA))},
		{"kid-very-long", sign(t, evilKey, jose.ES256, strings.Repeat("k", 8000), "at+jwt", w.claims(w.resA))},
		{"kid-control-characters", sign(t, evilKey, jose.ES256, "k\x00\r\n", "at+jwt", w.claims(w.resA))},
		{"kid-not-in-set", sign(t, evilKey, jose.ES256, "rotated-2026", "at+jwt", w.claims(w.resA))},
		{"kid-absent-foreign-key", sign(t, evilKey, jose.ES256, "", "at+jwt", w.claims(w.resA))},
		{"embedded-jwk-header", signWith(t, evilKey, jose.ES256, "", (&jose.SignerOptions{EmbedJWK: true}).WithType("at+jwt"), w.claims(w.resA))},
		{"jku-header", signWith(t, evilKey, jose.ES256, "evil", (&jose.SignerOptions{}).WithType("at+jwt").
			WithHeader("jku", "https://keys.vscode.dev/jwks.json"), w.claims(w.resA))},
		{"signature-stripped", parts[0] + "." + parts[1] + "."},
		{"payload-tampered", parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(tampered)) + "." + parts[2]},
		{"signature-of-other-token", parts[0] + "." + parts[1] + "." + strings.Split(w.forge("at+jwt", w.claims(w.resA)), ".")[2]},
		{"expired-beyond-leeway", w.forge("at+jwt", with(w.claims(w.resA), "exp", w.clock.Now().Add(-31*time.Second).Unix()))},
		{"nbf-beyond-leeway", w.forge("at+jwt", with(w.claims(w.resA), "nbf", w.clock.Now().Add(31*time.Second).Unix()))},
		{"iat-in-the-future", w.forge("at+jwt", with(w.claims(w.resA), "iat", w.clock.Now().Add(2*time.Minute).Unix()))},
		{"exp-missing", w.forge("at+jwt", with(w.claims(w.resA), "exp", nil))},
		{"exp-as-string", w.forge("at+jwt", with(w.claims(w.resA), "exp", "99999999999"))},
		{"aud-array-without-resource", w.forge("at+jwt", w.claims([]string{"https://evil.example/mcp", w.resB}))},
		{"unknown-critical-header", signWith(t, w.key, jose.ES256, w.kid, (&jose.SignerOptions{}).WithType("at+jwt").
			WithHeader("exp-check", true).WithCritical("exp-check"), w.claims(w.resA))},
		{"jwe-shaped", "eyJhbGciOiJkaXIiLCJlbmMiOiJBMTI4R0NNIn0..aaaa.bbbb.cccc"},
	}
	before := w.site.totalHits()
	for _, tc := range cases {
		t.Run("forged/"+tc.name, func(t *testing.T) {
			challenge(t, w.callMCP(w.resA, "Bearer "+tc.token), 401, "invalid_token", w.prmA)
		})
	}
	if w.site.totalHits() != before {
		t.Errorf("a token header made the resource fetch a URL")
	}

	// Time claims against an injected clock: the leeway is 30 s and not a
	// second more.
	t.Run("forged/real-token-after-expiry-beyond-leeway", func(t *testing.T) {
		w2 := newWorld(t, options{})
		tok := w2.tokens(pubID, loopCB, w2.resA, "a:read").AccessToken
		w2.clock.Advance(30*time.Minute + 29*time.Second)
		if r := w2.callMCP(w2.resA, "Bearer "+tok); r.status != 200 {
			t.Fatalf("within the leeway: %d %s", r.status, r.body)
		}
		w2.clock.Advance(2 * time.Second)
		challenge(t, w2.callMCP(w2.resA, "Bearer "+tok), 401, "invalid_token", w2.prmA)
	})
	t.Run("forged/resource-clock-behind-issuer", func(t *testing.T) {
		// A token minted by an issuer whose clock runs a minute ahead
		// is not yet valid here.
		c := w.claims(w.resA)
		ahead := w.clock.Now().Add(time.Minute)
		c["iat"], c["nbf"], c["exp"] = ahead.Unix(), ahead.Unix(), ahead.Add(5*time.Minute).Unix()
		challenge(t, w.callMCP(w.resA, "Bearer "+w.forge("at+jwt", c)), 401, "invalid_token", w.prmA)
	})
	t.Run("forged/jwks-publishes-no-private-key", func(t *testing.T) {
		r := w.browser("").get("/jwks")
		var set struct {
			Keys []map[string]any `json:"keys"`
		}
		if err := json.Unmarshal([]byte(r.body), &set); err != nil || len(set.Keys) == 0 {
			t.Fatalf("jwks: %d %s", r.status, r.body)
		}
		for _, k := range set.Keys {
			for _, priv := range []string{"d", "p", "q", "dp", "dq", "qi", "k"} {
				if _, ok := k[priv]; ok {
					t.Errorf("JWKS key %v publishes private member %q", k["kid"], priv)
				}
			}
		}
	})
	t.Run("forged/unknown-kids-do-not-hammer-jwks", func(t *testing.T) {
		v, err := bearer.NewVerifier(bearer.Config{Issuer: w.issuer, Resource: w.resA, JWKSURL: w.issuer + "/jwks", Clock: w.clock.Now})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), real); err != nil {
			t.Fatalf("control: the real token through the remote JWKS: %v", err)
		}
		start := w.jwksGet.Load()
		for i := range 50 {
			tok := sign(t, evilKey, jose.ES256, "kid-"+rand.Text()+string(rune('a'+i%26)), "at+jwt", w.claims(w.resA))
			if _, err := v.Verify(context.Background(), tok); !errors.Is(err, bearer.ErrInvalidToken) {
				t.Fatalf("token %d with an unknown kid: %v", i, err)
			}
		}
		if n := w.jwksGet.Load() - start; n > 1 {
			t.Errorf("50 unknown kids caused %d JWKS fetches, want at most 1", n)
		}
	})
}

func mustDecode(s string) []byte {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// assertion is an RFC 7523 client assertion for clientID.
func (w *world) assertion(t testing.TB, key any, alg jose.SignatureAlgorithm, kid, clientID string, edit func(map[string]any)) string {
	t.Helper()
	now := w.clock.Now()
	c := map[string]any{"iss": clientID, "sub": clientID, "aud": w.issuer + "/token", "jti": rand.Text(),
		"iat": now.Unix(), "exp": now.Add(time.Minute).Unix()}
	if edit != nil {
		edit(c)
	}
	return sign(t, key, alg, kid, "", c)
}

// TestClientAssertions covers forged private_key_jwt client
// authentication (RFC 7523 §3, RFC 8725) and jwks_uri poisoning: a
// client's jwks_uri that points into the server's own network is never
// fetched.
func TestClientAssertions(t *testing.T) {
	w := newWorld(t, options{})
	ccForm := func(a string) url.Values {
		return url.Values{"grant_type": {"client_credentials"}, "resource": {w.resA}, "scope": {"a:read"},
			"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {a}}
	}
	if r := w.token(ccForm(w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, nil))); r.status != 200 {
		t.Fatalf("control: a good assertion is refused: %d %s", r.status, r.body)
	}

	for id, u := range jwksClients {
		t.Run("jwks-uri/"+strings.TrimPrefix(id, "pkjwt-"), func(t *testing.T) {
			before := w.site.totalHits()
			w.nothingStored(t, func() {
				r := w.token(ccForm(w.assertion(t, evilKey, jose.ES256, "evil", id, nil)))
				jsonError(t, r.resp, 401, "invalid_client")
			})
			if w.site.totalHits() != before || len(w.site.dialedNonPublic()) != 0 {
				t.Errorf("jwks_uri %s was fetched (dialled %v)", u, w.site.dialedNonPublic())
			}
			if h, _ := url.Parse(u); !strings.HasPrefix(h.Host, "127.") && w.site.lookupsFor(h.Hostname()) == 0 {
				t.Errorf("%s was never looked up: the refusal did not come from the address check", u)
			}
		})
	}

	pubJWK, _ := json.Marshal(jose.JSONWebKey{Key: w.pkKey.Public()})
	hsAssertion := func() string {
		now := w.clock.Now()
		tok := unsigned(map[string]any{"alg": "HS256", "kid": "pk1"}, map[string]any{"iss": pkjwtID, "sub": pkjwtID,
			"aud": w.issuer + "/token", "jti": rand.Text(), "exp": now.Add(time.Minute).Unix()}, nil)
		input := tok[:strings.LastIndexByte(tok, '.')]
		m := hmac.New(sha256.New, pubJWK)
		m.Write([]byte(input))
		return input + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
	}
	refusals := []struct {
		name string
		a    func() string
	}{
		{"key-not-in-client-jwks", func() string { return w.assertion(t, evilKey, jose.ES256, "pk1", pkjwtID, nil) }},
		{"alg-none", func() string {
			now := w.clock.Now()
			return unsigned(map[string]any{"alg": "none"}, map[string]any{"iss": pkjwtID, "sub": pkjwtID,
				"aud": w.issuer + "/token", "jti": rand.Text(), "exp": now.Add(time.Minute).Unix()}, nil)
		}},
		{"hs256-public-key-as-secret", hsAssertion},
		{"wrong-audience", func() string {
			return w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, func(c map[string]any) { c["aud"] = "https://other-as.example/token" })
		}},
		{"expired", func() string {
			return w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, func(c map[string]any) { c["exp"] = w.clock.Now().Add(-2 * time.Minute).Unix() })
		}},
		{"lifetime-too-long", func() string {
			return w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, func(c map[string]any) { c["exp"] = w.clock.Now().Add(24 * time.Hour).Unix() })
		}},
		{"not-yet-valid", func() string {
			return w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, func(c map[string]any) { c["nbf"] = w.clock.Now().Add(5 * time.Minute).Unix() })
		}},
		{"sub-is-another-client", func() string {
			return w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, func(c map[string]any) { c["sub"] = confID })
		}},
		{"no-jti", func() string {
			return w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, func(c map[string]any) { delete(c, "jti") })
		}},
		{"secret-client-signs-assertion", func() string { return w.assertion(t, w.pkKey, jose.ES256, "pk1", confID, nil) }},
	}
	for _, tc := range refusals {
		t.Run("client-assertion/"+tc.name, func(t *testing.T) {
			a := tc.a()
			w.nothingStored(t, func() { jsonError(t, w.token(ccForm(a)).resp, 401, "invalid_client") })
		})
	}
	t.Run("client-assertion/replayed-jti", func(t *testing.T) {
		a := w.assertion(t, w.pkKey, jose.ES256, "pk1", pkjwtID, nil)
		if r := w.token(ccForm(a)); r.status != 200 {
			t.Fatalf("first use: %d %s", r.status, r.body)
		}
		w.nothingStored(t, func() { jsonError(t, w.token(ccForm(a)).resp, 401, "invalid_client") })
	})
}
