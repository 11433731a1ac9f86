package bearer

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/metadata"
)

// Fuzzing needs the same tokens in every run, so the fuzz keys are fixed
// rather than generated: an Ed25519 key from a constant seed and a P-256
// key from a constant scalar.
var (
	fuzzKeysOnce sync.Once
	fuzzES       *testKey
	fuzzEd       *testKey
)

func fuzzKeys(tb testing.TB) (es, ed *testKey) {
	fuzzKeysOnce.Do(func() {
		scalar := bytes.Repeat([]byte{0x5a}, 32)
		ek, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), scalar)
		if err != nil {
			panic(err)
		}
		fuzzES = &testKey{kid: "fz-es", alg: jose.ES256, priv: ek,
			pub: jose.JSONWebKey{Key: &ek.PublicKey, KeyID: "fz-es", Algorithm: "ES256", Use: "sig"}}
		dk := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x17}, ed25519.SeedSize))
		fuzzEd = &testKey{kid: "fz-ed", alg: jose.EdDSA, priv: dk,
			pub: jose.JSONWebKey{Key: dk.Public(), KeyID: "fz-ed", Algorithm: "EdDSA", Use: "sig"}}
	})
	return fuzzES, fuzzEd
}

// fuzzVerifier verifies with the fixed keys at t0. The cache is off so that
// every input takes the full path.
func fuzzVerifier(tb testing.TB, cache bool) *Verifier {
	es, ed := fuzzKeys(tb)
	v, err := NewVerifier(Config{
		Issuer: testIssuer, Resource: testResource,
		Keys:  StaticKeys(keySet(es, ed)),
		Clock: func() time.Time { return t0 }, DisableCache: !cache,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return v
}

// validClaims is the one claims set the fuzz seeds sign; an accepted
// token must carry exactly these bytes.
func validClaims() []byte {
	b, err := json.Marshal(claimsAt(t0))
	if err != nil {
		panic(err)
	}
	return b
}

// tokenSeeds returns tokens signed with the fuzz keys: accepted ones (same
// claims, different keys and typ spellings) and refused ones that differ in
// one property each.
func tokenSeeds(tb testing.TB) (valid, refused []string) {
	es, ed := fuzzKeys(tb)
	c := claimsAt(t0)
	with := func(k string, v any) map[string]any {
		m := claimsAt(t0)
		m[k] = v
		return m
	}
	valid = []string{
		mint(tb, es, c, mintOpt{}),
		mint(tb, ed, c, mintOpt{}),
		mint(tb, es, c, mintOpt{typ: "application/at+jwt"}),
		mint(tb, ed, c, mintOpt{typ: "AT+JWT"}),
	}
	refused = []string{
		mint(tb, es, c, mintOpt{typ: "JWT"}),
		mint(tb, es, c, mintOpt{typ: "-"}),
		mint(tb, es, with("iss", testIssuer+"/"), mintOpt{}),
		mint(tb, es, with("aud", "https://other.example/mcp"), mintOpt{}),
		mint(tb, es, with("aud", []string{"https://other.example/mcp", testResource + "/"}), mintOpt{}),
		mint(tb, es, with("exp", t0.Add(-time.Hour).Unix()), mintOpt{}),
		mint(tb, es, with("cnf", map[string]any{"jkt": "x"}), mintOpt{}),
		mint(tb, es, c, mintOpt{kid: "fz-ed"}),
		mint(tb, es, c, mintOpt{noKID: true}),
		mintRaw(tb, map[string]any{"alg": "none", "typ": "at+jwt"}, c, nil),
		mintHS256WithPublicKey(tb, es, c),
	}
	return valid, refused
}

// decodeSegment decodes a JWS segment as leniently as any JOSE library might.
func decodeSegment(s string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
}

// FuzzVerifyMutatedToken mutates the three segments of real signed tokens.
// A token the verifier accepts must have a JOSE header with typ at+jwt and
// an allowed alg, the configured issuer, an audience equal to this
// resource, and the exact claims that were signed: no mutation may change
// what the token says and still verify. Refusals are ErrInvalidToken, never
// ErrUnavailable (the keys are local), and the cache never changes the
// answer.
func FuzzVerifyMutatedToken(f *testing.F) {
	valid, refused := tokenSeeds(f)
	for _, tok := range append(valid, refused...) {
		p := strings.SplitN(tok, ".", 3)
		f.Add(p[0], p[1], p[2])
	}
	v := fuzzVerifier(f, false)
	cached := fuzzVerifier(f, true)
	want := validClaims()
	allowed := map[string]bool{}
	for _, a := range defaultAlgorithms {
		allowed[string(a)] = true
	}
	f.Fuzz(func(t *testing.T, hdr, payload, sig string) {
		tok := hdr + "." + payload + "." + sig
		info, err := v.Verify(context.Background(), tok)
		cinfo, cerr := cached.Verify(context.Background(), tok)
		if (err == nil) != (cerr == nil) {
			t.Fatalf("cache changed the answer: %v vs %v", err, cerr)
		}
		if err != nil {
			if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrUnavailable) {
				t.Fatalf("refusal is not ErrInvalidToken: %v", err)
			}
			var te *TokenError
			if !errors.As(err, &te) || len(tok) >= 16 && strings.Contains(te.Error(), tok) {
				t.Fatalf("refusal %v is not a TokenError free of the token", err)
			}
			return
		}
		hb, err := decodeSegment(hdr)
		if err != nil {
			t.Fatalf("accepted token with undecodable header %q", hdr)
		}
		var h struct {
			Alg string `json:"alg"`
			Typ string `json:"typ"`
		}
		if err := json.Unmarshal(hb, &h); err != nil || !isATJWT(h.Typ) || !allowed[h.Alg] {
			t.Fatalf("accepted token with header %s", hb)
		}
		pb, err := decodeSegment(payload)
		if err != nil || !bytes.Equal(pb, want) || !bytes.Equal(info.Claims, want) || !bytes.Equal(cinfo.Claims, want) {
			t.Fatalf("accepted token whose claims differ from the signed ones: %s", pb)
		}
		if info.Issuer != testIssuer || !slices.ContainsFunc(info.Audience, func(a string) bool { return metadata.ResourceEqual(a, testResource) }) {
			t.Fatalf("accepted token with iss %q aud %q", info.Issuer, info.Audience)
		}
	})
}

// FuzzChallenge builds WWW-Authenticate values from hostile configuration
// and per-request scopes. The header must parse back (strictly) to exactly
// the parameters that went in, minus characters a header cannot carry,
// and never contain CR, LF or an unescaped quote.
func FuzzChallenge(f *testing.F) {
	f.Add("", testPRM, "mcp:read mcp:write", "files:read", "invalid_token", "The access token expired")
	f.Add("mcp", "https://h.example/.well-known/oauth-protected-resource/mcp?x=\"1\"", "a\"b c\\d", "offline_access mcp:read", "", "")
	f.Add("r\r\nSet-Cookie: x=1", "https://h/\"\r\n", "\x00 é", "a a a", "insufficient_scope", "a\"b\\c\r\nd")
	v := fuzzVerifier(f, false)
	f.Fuzz(func(t *testing.T, realm, prm, scopes, extra, code, desc string) {
		mw := Middleware(v, Options{
			Realm: realm, ResourceMetadataURL: prm, Scopes: strings.Split(scopes, " "), ErrorDescription: true,
		})(http.NotFoundHandler()).(*handler).m
		extraList := strings.Split(extra, " ")
		got := mw.challenge(code, desc, extraList)
		if strings.ContainsAny(got, "\r\n\x00") {
			t.Fatalf("challenge contains CR, LF or NUL: %q", got)
		}
		scheme, params, err := parseChallenge(got)
		if err != nil || scheme != "Bearer" {
			t.Fatalf("challenge %q does not parse: %v", got, err)
		}
		want := map[string]string{}
		if realm != "" {
			want["realm"] = headerSafe(realm)
		}
		if code != "" {
			want["error"] = headerSafe(code)
		}
		if desc != "" {
			want["error_description"] = headerSafe(desc)
		}
		if s := expectedScope(strings.Split(scopes, " "), extraList); s != "" {
			want["scope"] = s
		}
		if prm != "" {
			want["resource_metadata"] = headerSafe(prm)
		}
		if len(params) != len(want) {
			t.Fatalf("challenge %q has parameters %q, want %q", got, params, want)
		}
		for k, v := range want {
			if params[k] != v {
				t.Fatalf("challenge %q: %s = %q, want %q", got, k, params[k], v)
			}
		}
		if slices.Contains(strings.Fields(params["scope"]), offlineAccess) {
			t.Fatalf("challenge %q asks for offline_access", got)
		}
	})
}

// headerSafe is what a quoted-string can carry of s: tab and printable
// ASCII.
func headerSafe(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '\t' || c >= 0x20 && c < 0x7f {
			b.WriteByte(c)
		}
	}
	return b.String()
}

// expectedScope is the scope parameter for required scopes and extra
// ones: each valid scope token once, in order, offline_access left out.
func expectedScope(required, extra []string) string {
	var out []string
	for _, s := range append(slices.Clone(required), extra...) {
		if s == "" || s == offlineAccess || slices.Contains(out, s) {
			continue
		}
		ok := true
		for i := 0; i < len(s); i++ {
			if c := s[i]; c < 0x21 || c > 0x7e || c == '"' || c == '\\' {
				ok = false
			}
		}
		if ok {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

// recordingVerifier accepts one token and records what it was asked.
type recordingVerifier struct {
	valid string
	mu    sync.Mutex
	seen  []string
}

func (r *recordingVerifier) Verify(_ context.Context, tok string) (*TokenInfo, error) {
	r.mu.Lock()
	r.seen = append(r.seen, tok)
	r.mu.Unlock()
	if tok != r.valid {
		return nil, invalid(ReasonBadSignature, "")
	}
	return &TokenInfo{Subject: "user-1", ClientID: "client-1", Scopes: []string{"mcp:read"}}, nil
}

// FuzzMiddlewareRequest sends hostile requests through the middleware:
// arbitrary Authorization header values (several when the input has
// newlines), query strings and form bodies. Properties: the status is one
// of 200, 400, 401, 403; every refusal carries a challenge that parses,
// with the error code that goes with its status and the resource metadata
// URL; the verifier only ever sees token68 strings within the size limit,
// exactly as sent; and a request gets through only with the one valid
// token in the one Authorization header, never with a token in the query.
func FuzzMiddlewareRequest(f *testing.F) {
	valid, refused := tokenSeeds(f)
	tok := valid[0]
	f.Add("Bearer "+tok, "", "", false)
	f.Add("bearer  "+tok, "a=1", "", false)
	f.Add("Bearer "+tok+"\nBearer "+tok, "", "", false)
	f.Add("Bearer "+refused[0], "", "", false)
	f.Add("Bearer "+tok, "access_token="+tok, "", false)
	f.Add("Bearer "+tok, "access%5Ftoken=x", "", false)
	f.Add("Bearer "+tok, "", "access_token="+tok, true)
	f.Add("Basic dXNlcjpwYXNz", "", "", false)
	f.Add("", "", "", false)
	f.Add("Bearer ", "", "", false)
	f.Add("Bearer a\"b", "", "", false)
	f.Add("Bearer "+strings.Repeat("A", maxTokenBytes+1), "", "", false)
	f.Fuzz(func(t *testing.T, authz, query, body string, form bool) {
		rv := &recordingVerifier{valid: tok}
		h := Middleware(rv, Options{ResourceMetadataURL: testPRM, Scopes: []string{"mcp:read"}})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if _, ok := TokenInfoFromContext(r.Context()); !ok {
					t.Fatal("handler reached without a token in the context")
				}
				got, _ := io.ReadAll(r.Body)
				if form && string(got) != body {
					t.Fatalf("handler read %q, client sent %q", got, body)
				}
			}))
		r := httptest.NewRequest(http.MethodPost, "https://h.example/mcp", strings.NewReader(body))
		r.URL.RawQuery = query
		if form {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		var values []string
		if authz != "" {
			values = strings.Split(authz, "\n")
			r.Header["Authorization"] = values
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)

		for _, seen := range rv.seen {
			if !isToken68(seen) || len(seen) > maxTokenBytes {
				t.Fatalf("verifier saw %q", seen)
			}
			if len(values) != 1 || !strings.HasSuffix(values[0], seen) ||
				!strings.EqualFold(strings.TrimRight(strings.TrimSuffix(values[0], seen), " "), "bearer") {
				t.Fatalf("verifier saw %q, header was %q", seen, values)
			}
		}
		switch w.Code {
		case http.StatusOK:
			if len(rv.seen) != 1 || rv.seen[0] != tok {
				t.Fatalf("let through after verifying %q", rv.seen)
			}
			if queryHasToken(query) {
				t.Fatalf("let through with a token in the query %q", query)
			}
			return
		case http.StatusBadRequest, http.StatusUnauthorized, http.StatusForbidden:
		default:
			t.Fatalf("status %d", w.Code)
		}
		ch := w.Header().Get("WWW-Authenticate")
		scheme, params, err := parseChallenge(ch)
		if err != nil || scheme != "Bearer" || params["resource_metadata"] != testPRM || params["scope"] != "mcp:read" {
			t.Fatalf("status %d challenge %q: %v", w.Code, ch, err)
		}
		wantCode := map[int]string{400: "invalid_request", 401: "invalid_token", 403: "insufficient_scope"}[w.Code]
		if e, ok := params["error"]; ok && e != wantCode || !ok && w.Code != 401 {
			t.Fatalf("status %d with error %q", w.Code, params["error"])
		}
		if !hasError(params) && len(rv.seen) > 0 {
			t.Fatal("a request whose token was verified got a challenge without an error code")
		}
		if w.Body.Len() > 0 {
			var e struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Error != params["error"] {
				t.Fatalf("body %q does not match challenge %q", w.Body, ch)
			}
		}
	})
}

func hasError(params map[string]string) bool { _, has := params["error"]; return has }

// queryHasToken reports whether a raw query names access_token, decoding
// each key independently of the middleware's own scanner.
func queryHasToken(q string) bool {
	for _, kv := range strings.Split(q, "&") {
		k, _, _ := strings.Cut(kv, "=")
		if k == "access_token" {
			return true
		}
		if uk, err := url.QueryUnescape(k); err == nil && uk == "access_token" {
			return true
		}
	}
	return false
}

// FuzzIntrospectionResponse feeds arbitrary introspection responses to the
// verifier. Properties: no panic; failures are ErrInvalidToken or
// ErrUnavailable; and a token is accepted only when the response is a JSON
// object with "active": true, the configured issuer, an audience naming
// this resource, an access-token type and an expiry not yet passed.
func FuzzIntrospectionResponse(f *testing.F) {
	for _, s := range []string{
		activeBody(""), `{"active":false}`, `{"active":true}`, activeBody(`,"token_type":"refresh_token"`),
		activeBody(`,"cnf":{"jkt":"x"}`), `{"active":"true","aud":"` + testResource + `"}`,
		`{"active":true,"aud":["x","` + testResource + `/"],"iss":"` + testIssuer + `"}`, `[]`, `null`,
		strings.Repeat(`{"a":`, 200), activeBody(`,"exp":1e400`),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
			return &http.Response{StatusCode: 200, Header: http.Header{"Content-Type": {"application/json"}},
				Body: io.NopCloser(bytes.NewReader(body)), Request: r}, nil
		})}
		v, err := NewIntrospectionVerifier(IntrospectionConfig{
			Endpoint: "https://as.example/introspect", ClientID: rsClientID, ClientSecret: rsClientSecret,
			Resource: testResource, Issuer: testIssuer, HTTPClient: client, DisableCache: true,
			Clock: func() time.Time { return t0 },
		})
		if err != nil {
			t.Fatal(err)
		}
		info, err := v.Verify(context.Background(), opaqueToken)
		if err != nil {
			if errors.Is(err, ErrInvalidToken) == errors.Is(err, ErrUnavailable) {
				t.Fatalf("error matches both or neither sentinel: %v", err)
			}
			return
		}
		var r struct {
			Active    *bool           `json:"active"`
			Iss       *string         `json:"iss"`
			Aud       json.RawMessage `json:"aud"`
			TokenType string          `json:"token_type"`
			Exp       *float64        `json:"exp"`
		}
		if err := json.Unmarshal(body, &r); err != nil || r.Active == nil || !*r.Active {
			t.Fatalf("accepted response %q", body)
		}
		if r.Iss == nil || *r.Iss != testIssuer || info.Issuer != testIssuer {
			t.Fatalf("accepted issuer in %q", body)
		}
		if !slices.ContainsFunc(info.Audience, func(a string) bool { return metadata.ResourceEqual(a, testResource) }) {
			t.Fatalf("accepted audience in %q", body)
		}
		if tt := r.TokenType; tt != "" && !strings.EqualFold(tt, "bearer") && tt != "access_token" {
			t.Fatalf("accepted token_type %q", tt)
		}
		if r.Exp != nil && float64(t0.Unix()) >= *r.Exp {
			t.Fatalf("accepted expired token: %q", body)
		}
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
