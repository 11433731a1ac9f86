package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

const (
	testIssuer   = "https://issuer.example"
	testResource = "https://h.example/mcp"
)

// t0 is the fake "now" of every test.
var t0 = time.Unix(1_800_000_000, 0)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testKey is a signing key with its public JWK.
type testKey struct {
	kid  string
	alg  jose.SignatureAlgorithm
	priv any
	pub  jose.JSONWebKey
}

// Keys are generated once per test binary: RSA generation is slow.
var (
	keysOnce sync.Once
	ecKey    *ecdsa.PrivateKey
	ecKey2   *ecdsa.PrivateKey
	ec384Key *ecdsa.PrivateKey
	ec521Key *ecdsa.PrivateKey
	rsaKey   *rsa.PrivateKey
	edKey    ed25519.PrivateKey
)

func initKeys() {
	keysOnce.Do(func() {
		var err error
		if ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ecKey2, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			panic(err)
		}
		if ec384Key, err = ecdsa.GenerateKey(elliptic.P384(), rand.Reader); err != nil {
			panic(err)
		}
		if ec521Key, err = ecdsa.GenerateKey(elliptic.P521(), rand.Reader); err != nil {
			panic(err)
		}
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if _, edKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
			panic(err)
		}
	})
}

func newTestKey(kid string, alg jose.SignatureAlgorithm) *testKey {
	initKeys()
	k := &testKey{kid: kid, alg: alg}
	switch alg {
	case jose.ES256:
		k.priv = ecKey
		k.pub = jose.JSONWebKey{Key: &ecKey.PublicKey, KeyID: kid, Algorithm: string(alg), Use: "sig"}
	case jose.ES384:
		k.priv = ec384Key
		k.pub = jose.JSONWebKey{Key: &ec384Key.PublicKey, KeyID: kid, Algorithm: string(alg), Use: "sig"}
	case jose.ES512:
		k.priv = ec521Key
		k.pub = jose.JSONWebKey{Key: &ec521Key.PublicKey, KeyID: kid, Algorithm: string(alg), Use: "sig"}
	case jose.RS256, jose.PS256:
		k.priv = rsaKey
		k.pub = jose.JSONWebKey{Key: &rsaKey.PublicKey, KeyID: kid, Algorithm: string(alg), Use: "sig"}
	case jose.EdDSA:
		k.priv = edKey
		k.pub = jose.JSONWebKey{Key: edKey.Public(), KeyID: kid, Algorithm: string(alg), Use: "sig"}
	default:
		panic("unsupported test alg " + string(alg))
	}
	return k
}

// secondES256 is another P-256 key.
func secondES256(kid string) *testKey {
	initKeys()
	return &testKey{kid: kid, alg: jose.ES256, priv: ecKey2,
		pub: jose.JSONWebKey{Key: &ecKey2.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}
}

func claimsAt(now time.Time) map[string]any {
	return map[string]any{
		"iss":       testIssuer,
		"sub":       "user-1",
		"aud":       testResource,
		"client_id": "client-1",
		"scope":     "mcp:read mcp:write",
		"iat":       now.Unix(),
		"exp":       now.Add(time.Hour).Unix(),
		"jti":       "jti-1",
	}
}

type mintOpt struct {
	typ   string // "" means at+jwt; "-" means no typ
	noKID bool
	kid   string // overrides the key's kid
}

// mint signs claims with k.
func mint(t testing.TB, k *testKey, claims map[string]any, o mintOpt) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	switch o.typ {
	case "":
		opts = opts.WithType("at+jwt")
	case "-":
	default:
		opts = opts.WithType(jose.ContentType(o.typ))
	}
	kid := k.kid
	if o.kid != "" {
		kid = o.kid
	}
	var key any = jose.JSONWebKey{Key: k.priv, KeyID: kid}
	if o.noKID {
		key = k.priv
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg, Key: key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// mintRaw builds a compact JWS from a header and claims with the given
// signature bytes (used for alg "none").
func mintRaw(t testing.TB, header, claims map[string]any, sig []byte) string {
	t.Helper()
	h, _ := json.Marshal(header)
	c, _ := json.Marshal(claims)
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(c) + "." + enc.EncodeToString(sig)
}

// mintHS256WithPublicKey is the classic key-confusion attack: an HMAC
// token whose secret is the issuer's public key.
func mintHS256WithPublicKey(t testing.TB, k *testKey, claims map[string]any) string {
	t.Helper()
	secret, err := x509.MarshalPKIXPublicKey(k.pub.Key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: jose.JSONWebKey{Key: secret, KeyID: k.kid}},
		(&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
	jws, err := s.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	out, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func keySet(keys ...*testKey) jose.JSONWebKeySet {
	var s jose.JSONWebKeySet
	for _, k := range keys {
		s.Keys = append(s.Keys, k.pub)
	}
	return s
}

// countingSource counts calls into a KeySource.
type countingSource struct {
	KeySource
	n atomic.Int32
}

func (c *countingSource) VerificationKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	c.n.Add(1)
	return c.KeySource.VerificationKey(ctx, kid)
}

// reasonOf returns the Reason of a TokenError, or 0.
func reasonOf(err error) Reason {
	var te *TokenError
	if errors.As(err, &te) {
		return te.Reason
	}
	return 0
}
