package bearer

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"errors"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/storage"
)

// ErrKeyNotFound is what a [KeySource] returns (possibly wrapped) when it
// has no key with the requested key ID. [StaticKeys] returns it.
var ErrKeyNotFound = errors.New("bearer: verification key not found")

// KeySource gives the verifier the authorization server's public keys
// without HTTP, for a resource server that runs in the same process as
// its authorization server or that has the keys configured.
//
// VerificationKey returns the key whose "kid" is kid. kid is empty when the
// token carries no "kid"; a source with exactly one key should then return
// it, and one with several should refuse, so that tokens without "kid" do
// not make the verifier try keys one by one.
//
// Return an error wrapping [ErrKeyNotFound] when there is no such key. Any
// other error also refuses the token (as an unknown key), except errors
// wrapping [ErrUnavailable], [storage.ErrUnavailable] or a context error,
// which make the request fail with 503 instead. The returned key is used directly and must not be
// modified afterwards; return a pointer to a long-lived key rather than a
// fresh copy, since the method runs for every token not yet in the cache.
// A private asymmetric key is accepted (its public half is used);
// symmetric keys are refused.
type KeySource interface {
	VerificationKey(ctx context.Context, kid string) (*jose.JSONWebKey, error)
}

// StaticKeys returns a [KeySource] over a fixed key set, for example one
// loaded from configuration. Keys are looked up by "kid"; a token without
// "kid" is accepted only when the set holds exactly one key. Symmetric keys
// and keys whose "use" is not "sig" are ignored.
func StaticKeys(set jose.JSONWebKeySet) KeySource {
	s := &staticKeys{byKID: make(map[string][]verificationKey)}
	for i := range set.Keys {
		k := set.Keys[i] // copy: the caller's set may change later
		vk, err := toVerificationKey(&k)
		if err != nil {
			continue
		}
		s.keys = append(s.keys, &k)
		s.byKID[k.KeyID] = append(s.byKID[k.KeyID], vk)
		s.count++
	}
	return s
}

type staticKeys struct {
	keys  []*jose.JSONWebKey
	byKID map[string][]verificationKey
	count int
}

// VerificationKey implements KeySource.
func (s *staticKeys) VerificationKey(_ context.Context, kid string) (*jose.JSONWebKey, error) {
	if kid == "" {
		if len(s.keys) == 1 {
			return s.keys[0], nil
		}
		return nil, ErrKeyNotFound
	}
	for _, k := range s.keys {
		if k.KeyID == kid {
			return k, nil
		}
	}
	return nil, ErrKeyNotFound
}

// resolve is the verifier's allocation-free path for static keys: the
// keys were converted once, in StaticKeys.
func (s *staticKeys) resolve(_ context.Context, kid, alg string) (verificationKey, error) {
	if kid == "" {
		if s.count != 1 {
			return verificationKey{}, invalid(ReasonUnknownKey, "token has no kid and there is more than one key")
		}
		for _, l := range s.byKID {
			return pick(l, alg)
		}
	}
	return pick(s.byKID[kid], alg)
}

// keyResolver finds the key that verifies a token with the given header
// "kid" and "alg". Errors are *TokenError or unavailable errors.
type keyResolver interface {
	resolve(ctx context.Context, kid, alg string) (verificationKey, error)
}

// sourceResolver adapts a user-supplied KeySource.
type sourceResolver struct{ src KeySource }

func (r sourceResolver) resolve(ctx context.Context, kid, alg string) (verificationKey, error) {
	jwk, err := r.src.VerificationKey(ctx, kid)
	if err != nil {
		if errors.Is(err, ErrUnavailable) || errors.Is(err, storage.ErrUnavailable) ||
			errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return verificationKey{}, unavailable("key source", err)
		}
		return verificationKey{}, invalid(ReasonUnknownKey, "")
	}
	if jwk == nil {
		return verificationKey{}, invalid(ReasonUnknownKey, "")
	}
	if kid != "" && jwk.KeyID != kid {
		// A source must not hand out a different key than the one asked
		// for; refusing keeps a sloppy source from widening acceptance.
		return verificationKey{}, invalid(ReasonUnknownKey, "key source returned a key with another kid")
	}
	vk, err := toVerificationKey(jwk)
	if err != nil {
		return verificationKey{}, invalid(ReasonUnknownKey, "key source returned an unusable key")
	}
	return pick([]verificationKey{vk}, alg)
}

// verificationKey is a public key ready for jose's Verify, converted once.
type verificationKey struct {
	alg string // the JWK "alg", empty when the key does not restrict it
	key any    // *ecdsa.PublicKey, *rsa.PublicKey or ed25519.PublicKey
}

var errUnusableKey = errors.New("bearer: unusable verification key")

// minRSABits is the smallest RSA modulus accepted (RFC 7518 §3.3).
const minRSABits = 2048

// toVerificationKey extracts the public key of a signing JWK. It refuses
// symmetric keys (an HMAC secret shared with the issuer would let anyone
// holding it mint tokens) and keys meant for encryption.
func toVerificationKey(k *jose.JSONWebKey) (verificationKey, error) {
	if k == nil || k.Key == nil || (k.Use != "" && k.Use != "sig") {
		return verificationKey{}, errUnusableKey
	}
	var pub any
	switch key := k.Key.(type) {
	case *ecdsa.PublicKey:
		pub = key
	case *ecdsa.PrivateKey:
		pub = &key.PublicKey
	case *rsa.PublicKey:
		pub = key
	case *rsa.PrivateKey:
		pub = &key.PublicKey
	case ed25519.PublicKey:
		pub = key
	case ed25519.PrivateKey:
		if len(key) != ed25519.PrivateKeySize {
			return verificationKey{}, errUnusableKey
		}
		pub = ed25519.PublicKey(key[ed25519.SeedSize:])
	default:
		return verificationKey{}, errUnusableKey
	}
	switch key := pub.(type) {
	case *ecdsa.PublicKey:
		if key == nil || key.Curve == nil {
			return verificationKey{}, errUnusableKey
		}
		if _, err := key.Bytes(); err != nil { // not a point on the curve
			return verificationKey{}, errUnusableKey
		}
	case *rsa.PublicKey:
		if key == nil || key.N == nil || key.N.BitLen() < minRSABits {
			return verificationKey{}, errUnusableKey
		}
	case ed25519.PublicKey:
		if len(key) != ed25519.PublicKeySize {
			return verificationKey{}, errUnusableKey
		}
	}
	return verificationKey{alg: k.Algorithm, key: pub}, nil
}

// fits reports whether the key can verify a signature made with alg.
// jose checks this too; doing it here lets a key set hold several keys
// under one "kid" (say an RSA and an EC key) and lets a JWK's own "alg"
// pin it to one algorithm (RFC 7517 §4.4).
func (k verificationKey) fits(alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch key := k.key.(type) {
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return key.Curve == elliptic.P256()
		case "ES384":
			return key.Curve == elliptic.P384()
		case "ES512":
			return key.Curve == elliptic.P521()
		}
	case *rsa.PublicKey:
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// pick returns the first key in l that fits alg.
func pick(l []verificationKey, alg string) (verificationKey, error) {
	if len(l) == 0 {
		return verificationKey{}, invalid(ReasonUnknownKey, "")
	}
	for _, k := range l {
		if k.fits(alg) {
			return k, nil
		}
	}
	return verificationKey{}, invalid(ReasonBadAlgorithm, "alg does not fit the key")
}
