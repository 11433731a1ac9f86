package bearer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

func newStaticVerifier(t testing.TB, clock *fakeClock, mutate func(*Config), keys ...*testKey) *Verifier {
	t.Helper()
	cfg := Config{
		Issuer:   testIssuer,
		Resource: testResource,
		Keys:     StaticKeys(keySet(keys...)),
		Clock:    clock.Now,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func with(c map[string]any, kv ...any) map[string]any {
	out := make(map[string]any, len(c))
	for k, v := range c {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
		} else {
			out[kv[i].(string)] = kv[i+1]
		}
	}
	return out
}

func TestVerifyJWT(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	es384 := newTestKey("es384", jose.ES384)
	es512 := newTestKey("es512", jose.ES512)
	rs := newTestKey("rs", jose.RS256)
	ps := newTestKey("ps", jose.PS256)
	ed := newTestKey("ed", jose.EdDSA)
	other := secondES256("es") // same kid, different key: signature must fail
	c := claimsAt(t0)

	tests := []struct {
		name  string
		token func(t *testing.T) string
		want  Reason // 0 = valid
	}{
		{"ES256", func(t *testing.T) string { return mint(t, es, c, mintOpt{}) }, 0},
		{"ES384", func(t *testing.T) string { return mint(t, es384, c, mintOpt{}) }, 0},
		{"RS256", func(t *testing.T) string { return mint(t, rs, c, mintOpt{}) }, 0},
		{"PS256", func(t *testing.T) string { return mint(t, ps, c, mintOpt{}) }, 0},
		{"EdDSA", func(t *testing.T) string { return mint(t, ed, c, mintOpt{}) }, 0},
		{"ES512 not in default list", func(t *testing.T) string { return mint(t, es512, c, mintOpt{}) }, ReasonBadAlgorithm},
		{"typ application/at+jwt", func(t *testing.T) string { return mint(t, es, c, mintOpt{typ: "application/at+jwt"}) }, 0},
		{"typ upper case", func(t *testing.T) string { return mint(t, es, c, mintOpt{typ: "Application/AT+JWT"}) }, 0},
		{"typ missing", func(t *testing.T) string { return mint(t, es, c, mintOpt{typ: "-"}) }, ReasonBadType},
		{"typ JWT", func(t *testing.T) string { return mint(t, es, c, mintOpt{typ: "JWT"}) }, ReasonBadType},
		{"typ application/jwt", func(t *testing.T) string { return mint(t, es, c, mintOpt{typ: "application/jwt"}) }, ReasonBadType},
		{"typ at+jwt with parameters", func(t *testing.T) string { return mint(t, es, c, mintOpt{typ: "at+jwt;x=1"}) }, ReasonBadType},
		{"alg none", func(t *testing.T) string {
			return mintRaw(t, map[string]any{"alg": "none", "typ": "at+jwt", "kid": "es"}, c, nil)
		}, ReasonBadAlgorithm},
		{"alg None", func(t *testing.T) string {
			return mintRaw(t, map[string]any{"alg": "None", "typ": "at+jwt", "kid": "es"}, c, nil)
		}, ReasonBadAlgorithm},
		{"HS256 with the public key as secret", func(t *testing.T) string { return mintHS256WithPublicKey(t, es, c) }, ReasonBadAlgorithm},
		{"RS256 header on an EC key", func(t *testing.T) string {
			// Claims RS256 but names the EC key: the key does not fit the alg.
			return mint(t, rs, c, mintOpt{kid: "es"})
		}, ReasonBadAlgorithm},
		{"unknown kid", func(t *testing.T) string { return mint(t, es, c, mintOpt{kid: "nope"}) }, ReasonUnknownKey},
		{"no kid with several keys", func(t *testing.T) string { return mint(t, es, c, mintOpt{noKID: true}) }, ReasonUnknownKey},
		{"wrong key same kid", func(t *testing.T) string { return mint(t, other, c, mintOpt{}) }, ReasonBadSignature},
		{"tampered payload", func(t *testing.T) string {
			tok := mint(t, es, c, mintOpt{})
			parts := strings.Split(tok, ".")
			evil, _ := json.Marshal(with(c, "sub", "admin"))
			return parts[0] + "." + b64(evil) + "." + parts[2]
		}, ReasonBadSignature},
		{"garbage", func(*testing.T) string { return "abc.def.ghi" }, ReasonMalformed},
		{"two parts", func(*testing.T) string { return "abc.def" }, ReasonMalformed},
		{"JSON serialization", func(*testing.T) string { return `{"payload":"e30","signatures":[]}` }, ReasonMalformed},
		{"too long", func(*testing.T) string { return strings.Repeat("a", maxTokenBytes) + ".b.c" }, ReasonMalformed},
		{"iss trailing slash", func(t *testing.T) string { return mint(t, es, with(c, "iss", testIssuer+"/"), mintOpt{}) }, ReasonWrongIssuer},
		{"iss upper case", func(t *testing.T) string {
			return mint(t, es, with(c, "iss", "https://ISSUER.example"), mintOpt{})
		}, ReasonWrongIssuer},
		{"iss missing", func(t *testing.T) string { return mint(t, es, with(c, "iss", nil), mintOpt{}) }, ReasonWrongIssuer},
		{"aud array", func(t *testing.T) string {
			return mint(t, es, with(c, "aud", []string{"https://other.example", testResource}), mintOpt{})
		}, 0},
		{"aud host upper case", func(t *testing.T) string { return mint(t, es, with(c, "aud", "https://H.EXAMPLE/mcp"), mintOpt{}) }, 0},
		{"aud scheme upper case", func(t *testing.T) string { return mint(t, es, with(c, "aud", "HTTPS://h.example/mcp"), mintOpt{}) }, 0},
		{"aud trailing slash", func(t *testing.T) string { return mint(t, es, with(c, "aud", testResource+"/"), mintOpt{}) }, ReasonWrongAudience},
		{"aud origin only", func(t *testing.T) string { return mint(t, es, with(c, "aud", "https://h.example"), mintOpt{}) }, ReasonWrongAudience},
		{"aud path case", func(t *testing.T) string { return mint(t, es, with(c, "aud", "https://h.example/MCP"), mintOpt{}) }, ReasonWrongAudience},
		{"aud explicit port", func(t *testing.T) string {
			return mint(t, es, with(c, "aud", "https://h.example:443/mcp"), mintOpt{})
		}, ReasonWrongAudience},
		{"aud other resource", func(t *testing.T) string {
			return mint(t, es, with(c, "aud", "https://other.example/mcp"), mintOpt{})
		}, ReasonWrongAudience},
		{"aud missing", func(t *testing.T) string { return mint(t, es, with(c, "aud", nil), mintOpt{}) }, ReasonWrongAudience},
		{"aud number", func(t *testing.T) string { return mint(t, es, with(c, "aud", 5), mintOpt{}) }, ReasonMalformed},
		{"expired beyond leeway", func(t *testing.T) string {
			return mint(t, es, with(c, "exp", t0.Add(-31*time.Second).Unix()), mintOpt{})
		}, ReasonExpired},
		{"expired within leeway", func(t *testing.T) string {
			return mint(t, es, with(c, "exp", t0.Add(-29*time.Second).Unix()), mintOpt{})
		}, 0},
		{"exp fractional", func(t *testing.T) string { return mint(t, es, with(c, "exp", float64(t0.Unix())+3600.5), mintOpt{}) }, 0},
		{"exp missing", func(t *testing.T) string { return mint(t, es, with(c, "exp", nil), mintOpt{}) }, ReasonMissingClaim},
		{"exp string", func(t *testing.T) string { return mint(t, es, with(c, "exp", "tomorrow"), mintOpt{}) }, ReasonMalformed},
		{"exp negative", func(t *testing.T) string { return mint(t, es, with(c, "exp", -1), mintOpt{}) }, ReasonMalformed},
		{"exp huge", func(t *testing.T) string { return mint(t, es, with(c, "exp", 1e300), mintOpt{}) }, ReasonMalformed},
		{"nbf in the future", func(t *testing.T) string {
			return mint(t, es, with(c, "nbf", t0.Add(time.Minute).Unix()), mintOpt{})
		}, ReasonNotYetValid},
		{"nbf within leeway", func(t *testing.T) string {
			return mint(t, es, with(c, "nbf", t0.Add(20*time.Second).Unix()), mintOpt{})
		}, 0},
		{"iat in the future", func(t *testing.T) string {
			return mint(t, es, with(c, "iat", t0.Add(time.Minute).Unix()), mintOpt{})
		}, ReasonNotYetValid},
		{"sub missing", func(t *testing.T) string { return mint(t, es, with(c, "sub", nil), mintOpt{}) }, ReasonMissingClaim},
		{"sub empty", func(t *testing.T) string { return mint(t, es, with(c, "sub", ""), mintOpt{}) }, ReasonMissingClaim},
		{"client_id missing", func(t *testing.T) string { return mint(t, es, with(c, "client_id", nil), mintOpt{}) }, ReasonMissingClaim},
		{"sender-constrained (cnf)", func(t *testing.T) string {
			return mint(t, es, with(c, "cnf", map[string]any{"jkt": "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"}), mintOpt{})
		}, ReasonBadType},
		{"scope array", func(t *testing.T) string { return mint(t, es, with(c, "scope", []string{"a"}), mintOpt{}) }, ReasonMalformed},
		{"claims not an object", func(t *testing.T) string {
			s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: es.priv, KeyID: "es"}},
				(&jose.SignerOptions{}).WithType("at+jwt"))
			j, _ := s.Sign([]byte(`[1,2]`))
			out, _ := j.CompactSerialize()
			return out
		}, ReasonMalformed},
	}
	v := newStaticVerifier(t, newClock(), func(c *Config) { c.DisableCache = true }, es, es384, es512, rs, ps, ed)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok := tt.token(t)
			info, err := v.Verify(context.Background(), tok)
			if tt.want == 0 {
				if err != nil {
					t.Fatalf("Verify: %v", err)
				}
				if info.Subject != "user-1" || info.ClientID != "client-1" || info.Issuer != testIssuer {
					t.Errorf("info = %+v", info)
				}
				return
			}
			if err == nil {
				t.Fatalf("Verify accepted the token; want reason %v", tt.want)
			}
			if !errors.Is(err, ErrInvalidToken) {
				t.Fatalf("error %v does not match ErrInvalidToken", err)
			}
			if got := reasonOf(err); got != tt.want {
				t.Errorf("reason = %v, want %v (%v)", got, tt.want, err)
			}
			if strings.Contains(err.Error(), tok) || len(tok) > 20 && strings.Contains(err.Error(), tok[:20]) {
				t.Errorf("error echoes the token: %v", err)
			}
		})
	}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

func TestVerifyTokenInfo(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), nil, es)
	c := with(claimsAt(t0), "nbf", t0.Add(-time.Minute).Unix(), "auth_time", t0.Add(-time.Hour).Unix(),
		"scope", "a  b c", "aud", []string{testResource, "https://x.example"}, "custom", map[string]any{"k": "v"})
	info, err := v.Verify(context.Background(), mint(t, es, c, mintOpt{}))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(info.Scopes, ","); got != "a,b,c" {
		t.Errorf("Scopes = %q", got)
	}
	if !info.HasScope("b") || info.HasScope("d") || info.HasScope("") {
		t.Error("HasScope wrong")
	}
	if len(info.Audience) != 2 || info.Audience[1] != "https://x.example" {
		t.Errorf("Audience = %v", info.Audience)
	}
	if !info.Expiry.Equal(t0.Add(time.Hour)) || !info.IssuedAt.Equal(t0) ||
		!info.NotBefore.Equal(t0.Add(-time.Minute)) || !info.AuthTime.Equal(t0.Add(-time.Hour)) {
		t.Errorf("times = %v %v %v %v", info.Expiry, info.IssuedAt, info.NotBefore, info.AuthTime)
	}
	if info.ID != "jti-1" {
		t.Errorf("ID = %q", info.ID)
	}
	var raw struct {
		Custom map[string]string `json:"custom"`
	}
	if err := json.Unmarshal(info.Claims, &raw); err != nil || raw.Custom["k"] != "v" {
		t.Errorf("Claims = %s (%v)", info.Claims, err)
	}
}

// A resource configured as a bare origin matches its "/" and upper-case
// spellings.
func TestVerifyOriginResource(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), func(c *Config) { c.Resource = "https://h.example"; c.DisableCache = true }, es)
	for aud, ok := range map[string]bool{
		"https://h.example":   true,
		"https://h.example/":  true,
		"https://H.EXAMPLE":   true,
		"HTTPS://H.example/":  true,
		"https://h.example/x": false,
		"https://h.example//": false,
		"https://h.example?":  false,
		"http://h.example":    false,
		"https://h.example#":  false,
		"https://u@h.example": false,
	} {
		_, err := v.Verify(context.Background(), mint(t, es, with(claimsAt(t0), "aud", aud), mintOpt{}))
		if (err == nil) != ok {
			t.Errorf("aud %q: err = %v, want ok=%v", aud, err, ok)
		}
	}
}

func TestVerifyNoKIDSingleKey(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	v := newStaticVerifier(t, newClock(), nil, es)
	if _, err := v.Verify(context.Background(), mint(t, es, claimsAt(t0), mintOpt{noKID: true})); err != nil {
		t.Fatalf("single key, no kid: %v", err)
	}
}

func TestVerifyLeewayConfig(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	tok := mint(t, es, with(claimsAt(t0), "exp", t0.Add(-5*time.Second).Unix()), mintOpt{})
	strict := newStaticVerifier(t, newClock(), func(c *Config) { c.Leeway = -1 }, es)
	if _, err := strict.Verify(context.Background(), tok); reasonOf(err) != ReasonExpired {
		t.Errorf("no leeway: err = %v, want expired", err)
	}
	lax := newStaticVerifier(t, newClock(), func(c *Config) { c.Leeway = 10 * time.Second }, es)
	if _, err := lax.Verify(context.Background(), tok); err != nil {
		t.Errorf("10s leeway: %v", err)
	}
}

func TestVerifyAlgorithmsConfig(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	ed := newTestKey("ed", jose.EdDSA)
	v := newStaticVerifier(t, newClock(), func(c *Config) { c.Algorithms = []string{"EdDSA"} }, es, ed)
	if _, err := v.Verify(context.Background(), mint(t, es, claimsAt(t0), mintOpt{})); reasonOf(err) != ReasonBadAlgorithm {
		t.Errorf("ES256 with EdDSA-only config: %v", err)
	}
	if _, err := v.Verify(context.Background(), mint(t, ed, claimsAt(t0), mintOpt{})); err != nil {
		t.Errorf("EdDSA: %v", err)
	}
}

// A JWK whose "alg" says RS256 must not verify PS256 tokens even though
// the key type fits.
func TestVerifyKeyAlgPinned(t *testing.T) {
	rs := newTestKey("rs", jose.RS256)
	v := newStaticVerifier(t, newClock(), nil, rs)
	ps := &testKey{kid: "rs", alg: jose.PS256, priv: rs.priv, pub: rs.pub}
	if _, err := v.Verify(context.Background(), mint(t, ps, claimsAt(t0), mintOpt{})); reasonOf(err) != ReasonBadAlgorithm {
		t.Errorf("PS256 on an RS256 key: %v", err)
	}
}

func TestStaticKeysFiltering(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	enc := newTestKey("enc", jose.ES256)
	enc.pub.Use = "enc"
	set := keySet(es, enc)
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "hmac"})
	// A private key is accepted: its public half is used.
	set.Keys = append(set.Keys, jose.JSONWebKey{Key: ecKey2, KeyID: "priv", Algorithm: "ES256"})
	v, err := NewVerifier(Config{Issuer: testIssuer, Resource: testResource, Keys: StaticKeys(set), Clock: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(context.Background(), mint(t, enc, claimsAt(t0), mintOpt{})); reasonOf(err) != ReasonUnknownKey {
		t.Errorf("use=enc key: %v", err)
	}
	priv := secondES256("priv")
	if _, err := v.Verify(context.Background(), mint(t, priv, claimsAt(t0), mintOpt{})); err != nil {
		t.Errorf("private key in static set: %v", err)
	}
	// The HMAC key is gone, so an HS256 token cannot even find a key; and
	// HS256 is not an accepted algorithm anyway.
	hs, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: []byte("0123456789abcdef0123456789abcdef"), KeyID: "hmac"}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	p, _ := json.Marshal(claimsAt(t0))
	j, _ := hs.Sign(p)
	tok, _ := j.CompactSerialize()
	if _, err := v.Verify(context.Background(), tok); reasonOf(err) != ReasonBadAlgorithm {
		t.Errorf("HS256 token: %v", err)
	}
	if _, err := StaticKeys(set).VerificationKey(context.Background(), "hmac"); !errors.Is(err, ErrKeyNotFound) {
		t.Errorf("hmac key served: %v", err)
	}
}

// funcSource is a KeySource implemented by a function, as package authz
// would implement it.
type funcSource func(ctx context.Context, kid string) (*jose.JSONWebKey, error)

func (f funcSource) VerificationKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	return f(ctx, kid)
}

func TestKeySourceErrors(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	tok := mint(t, es, claimsAt(t0), mintOpt{})
	tests := []struct {
		name   string
		src    funcSource
		reason Reason
		unavai bool
	}{
		{"ok", func(context.Context, string) (*jose.JSONWebKey, error) { return &es.pub, nil }, 0, false},
		{"private key", func(context.Context, string) (*jose.JSONWebKey, error) {
			return &jose.JSONWebKey{Key: ecKey, KeyID: "es"}, nil
		}, 0, false},
		{"not found", func(context.Context, string) (*jose.JSONWebKey, error) { return nil, ErrKeyNotFound }, ReasonUnknownKey, false},
		{"nil key", func(context.Context, string) (*jose.JSONWebKey, error) { return nil, nil }, ReasonUnknownKey, false},
		{"other error", func(context.Context, string) (*jose.JSONWebKey, error) { return nil, errors.New("boom") }, ReasonUnknownKey, false},
		{"wrong kid returned", func(context.Context, string) (*jose.JSONWebKey, error) {
			k := es.pub
			k.KeyID = "other"
			return &k, nil
		}, ReasonUnknownKey, false},
		{"symmetric", func(context.Context, string) (*jose.JSONWebKey, error) {
			return &jose.JSONWebKey{Key: []byte("secret-secret-secret-secret-secret"), KeyID: "es"}, nil
		}, ReasonUnknownKey, false},
		{"unavailable", func(context.Context, string) (*jose.JSONWebKey, error) {
			return nil, errors.Join(ErrUnavailable, errors.New("db down"))
		}, 0, true},
		{"context", func(context.Context, string) (*jose.JSONWebKey, error) { return nil, context.DeadlineExceeded }, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := NewVerifier(Config{Issuer: testIssuer, Resource: testResource, Keys: tt.src, Clock: newClock().Now})
			if err != nil {
				t.Fatal(err)
			}
			_, err = v.Verify(context.Background(), tok)
			switch {
			case tt.unavai:
				if !errors.Is(err, ErrUnavailable) || errors.Is(err, ErrInvalidToken) {
					t.Errorf("err = %v, want ErrUnavailable only", err)
				}
			case tt.reason == 0:
				if err != nil {
					t.Errorf("err = %v", err)
				}
			default:
				if reasonOf(err) != tt.reason {
					t.Errorf("err = %v, want %v", err, tt.reason)
				}
			}
		})
	}
}

func TestNewVerifierValidation(t *testing.T) {
	es := newTestKey("es", jose.ES256)
	keys := StaticKeys(keySet(es))
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no issuer", Config{Resource: testResource, Keys: keys}},
		{"no resource", Config{Issuer: testIssuer, Keys: keys}},
		{"no keys", Config{Issuer: testIssuer, Resource: testResource}},
		{"both keys", Config{Issuer: testIssuer, Resource: testResource, Keys: keys, JWKSURL: "https://issuer.example/jwks"}},
		{"http issuer", Config{Issuer: "http://issuer.example", Resource: testResource, Keys: keys}},
		{"http jwks", Config{Issuer: testIssuer, Resource: testResource, JWKSURL: "http://issuer.example/jwks"}},
		{"resource with fragment", Config{Issuer: testIssuer, Resource: testResource + "#x", Keys: keys}},
		{"resource relative", Config{Issuer: testIssuer, Resource: "/mcp", Keys: keys}},
		{"alg none", Config{Issuer: testIssuer, Resource: testResource, Keys: keys, Algorithms: []string{"none"}}},
		{"alg HS256", Config{Issuer: testIssuer, Resource: testResource, Keys: keys, Algorithms: []string{"ES256", "HS256"}}},
		{"leeway too large", Config{Issuer: testIssuer, Resource: testResource, Keys: keys, Leeway: time.Hour}},
		{"negative cache", Config{Issuer: testIssuer, Resource: testResource, Keys: keys, CacheSize: -1}},
		{"jwks ttl inverted", Config{Issuer: testIssuer, Resource: testResource, JWKSURL: "https://issuer.example/jwks",
			JWKSMinTTL: time.Hour, JWKSMaxTTL: time.Minute}},
		// Against the defaults (1 minute, 24 hours), not only when both are set.
		{"jwks min ttl above default max", Config{Issuer: testIssuer, Resource: testResource, JWKSURL: "https://issuer.example/jwks",
			JWKSMinTTL: 48 * time.Hour}},
		{"jwks max ttl below default min", Config{Issuer: testIssuer, Resource: testResource, JWKSURL: "https://issuer.example/jwks",
			JWKSMaxTTL: 30 * time.Second}},
	}
	for _, tt := range tests {
		if _, err := NewVerifier(tt.cfg); err == nil {
			t.Errorf("%s: NewVerifier accepted the config", tt.name)
		}
	}
	if _, err := NewVerifier(Config{Issuer: "http://127.0.0.1:8080", Resource: "http://localhost:9000/mcp", Keys: keys}); err != nil {
		t.Errorf("loopback http: %v", err)
	}
	for _, c := range []struct{ min, max time.Duration }{{48 * time.Hour, 72 * time.Hour}, {0, 2 * time.Minute}, {time.Hour, time.Hour}} {
		if _, err := NewVerifier(Config{Issuer: testIssuer, Resource: testResource, JWKSURL: "https://issuer.example/jwks",
			JWKSMinTTL: c.min, JWKSMaxTTL: c.max}); err != nil {
			t.Errorf("JWKS TTL range [%v, %v] refused: %v", c.min, c.max, err)
		}
	}
}

func TestReasonStrings(t *testing.T) {
	seen := map[string]bool{}
	for r := ReasonMalformed; r <= ReasonInactive; r++ {
		s := r.String()
		if s == "unknown" || seen[s] {
			t.Errorf("Reason(%d).String() = %q", r, s)
		}
		seen[s] = true
	}
	if Reason(200).String() != "unknown" {
		t.Error("out of range reason")
	}
	err := &TokenError{Reason: ReasonExpired, Detail: "x"}
	if !errors.Is(err, ErrInvalidToken) || errors.Is(err, ErrUnavailable) || err.Error() != "bearer: invalid token: expired: x" {
		t.Errorf("TokenError = %v", err)
	}
}
