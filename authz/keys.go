package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/storage"
)

// ErrUnknownKey is returned by [Server.VerificationKey] for a key ID the
// server does not publish.
var ErrUnknownKey = errors.New("authz: unknown signing key")

// signingKey is one key with its cached signer. Building a jose.Signer is
// not free, so it is built once per key, never per token.
type signingKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer jose.Signer
	public jose.JSONWebKey
}

// keySet is an immutable snapshot of the server's keys; rotation swaps the
// whole snapshot atomically.
type keySet struct {
	active *signingKey
	byKID  map[string]*jose.JSONWebKey
	algs   []string
	jwks   []byte
}

// algorithmFor picks the JWS algorithm for a private key.
func algorithmFor(k crypto.Signer) (jose.SignatureAlgorithm, error) {
	switch key := k.(type) {
	case *ecdsa.PrivateKey:
		if key.Curve != elliptic.P256() {
			return "", errors.New("only P-256 ECDSA keys are supported (ES256)")
		}
		return jose.ES256, nil
	case *rsa.PrivateKey:
		if key.N.BitLen() < 2048 {
			return "", errors.New("RSA keys must have at least 2048 bits")
		}
		return jose.RS256, nil
	case ed25519.PrivateKey:
		return jose.EdDSA, nil
	case *ed25519.PrivateKey:
		return jose.EdDSA, nil
	}
	return "", fmt.Errorf("unsupported key type %T (want *ecdsa.PrivateKey, *rsa.PrivateKey or ed25519.PrivateKey)", k)
}

// newSigningKey prepares a key: its algorithm, its RFC 7638 thumbprint as
// "kid" (unless kid is given), its public JWK and a cached signer that sets
// "typ": "at+jwt" (RFC 9068 §2.1).
func newSigningKey(priv crypto.Signer, kid string) (*signingKey, error) {
	if p, ok := priv.(*ed25519.PrivateKey); ok {
		priv = *p
	}
	alg, err := algorithmFor(priv)
	if err != nil {
		return nil, err
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: string(alg), Use: "sig"}
	if kid == "" {
		tp, err := pub.Thumbprint(crypto.SHA256)
		if err != nil {
			return nil, fmt.Errorf("thumbprint: %w", err)
		}
		kid = base64.RawURLEncoding.EncodeToString(tp)
	}
	pub.KeyID = kid
	opts := (&jose.SignerOptions{}).WithType("at+jwt")
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, opts)
	if err != nil {
		return nil, fmt.Errorf("signer: %w", err)
	}
	return &signingKey{kid: kid, alg: alg, signer: signer, public: pub}, nil
}

// newKeySet builds a snapshot; keys[0] is the active key.
func newKeySet(keys []*signingKey) (*keySet, error) {
	ks := &keySet{active: keys[0], byKID: make(map[string]*jose.JSONWebKey, len(keys))}
	doc := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	seenAlg := map[string]bool{}
	for _, k := range keys {
		if _, dup := ks.byKID[k.kid]; dup {
			continue
		}
		pub := k.public
		ks.byKID[k.kid] = &pub
		doc.Keys = append(doc.Keys, pub)
		if !seenAlg[string(k.alg)] {
			seenAlg[string(k.alg)] = true
			ks.algs = append(ks.algs, string(k.alg))
		}
	}
	b, err := json.Marshal(doc)
	if err != nil {
		return nil, err
	}
	ks.jwks = b
	return ks, nil
}

// loadKeys builds the key set from configuration or from the store.
func (s *Server) loadKeys(ctx context.Context, configured []crypto.Signer) error {
	if len(configured) > 0 {
		keys := make([]*signingKey, 0, len(configured))
		for i, k := range configured {
			if k == nil {
				return fmt.Errorf("authz: Config.Keys[%d] is nil", i)
			}
			sk, err := newSigningKey(k, "")
			if err != nil {
				return fmt.Errorf("authz: Config.Keys[%d]: %v", i, err)
			}
			keys = append(keys, sk)
		}
		ks, err := newKeySet(keys)
		if err != nil {
			return err
		}
		s.keys.Store(ks)
		return nil
	}
	s.storeKeys = true
	ks, err := s.keysFromStore(ctx)
	if err != nil {
		return err
	}
	if ks == nil {
		if _, err := s.addGeneratedKey(ctx, nil); err != nil {
			return err
		}
		s.log.LogAttrs(ctx, slog.LevelWarn, "authz: no signing key configured; generated an ES256 key and saved it in the store (tokens survive a restart only if the store is durable)")
		if ks, err = s.keysFromStore(ctx); err != nil {
			return err
		}
		if ks == nil {
			return errors.New("authz: the store did not keep the generated signing key")
		}
	}
	s.keys.Store(ks)
	return nil
}

// keysFromStore reads the stored keys; nil when no key can sign.
func (s *Server) keysFromStore(ctx context.Context) (*keySet, error) {
	stored, err := s.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: loading signing keys: %w", err)
	}
	now := s.now()
	var active *signingKey
	var activeAt time.Time
	var others []*signingKey
	for _, k := range stored {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			continue
		}
		priv, err := x509.ParsePKCS8PrivateKey(k.Private)
		if err != nil {
			return nil, fmt.Errorf("authz: signing key %q: %v", k.ID, err)
		}
		signer, ok := priv.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("authz: signing key %q: unsupported key type", k.ID)
		}
		sk, err := newSigningKey(signer, k.ID)
		if err != nil {
			return nil, fmt.Errorf("authz: signing key %q: %v", k.ID, err)
		}
		if k.Algorithm != "" && k.Algorithm != string(sk.alg) {
			return nil, fmt.Errorf("authz: signing key %q: algorithm %q does not match the key", k.ID, k.Algorithm)
		}
		canSign := k.RetiredAt.IsZero() && !now.Before(k.NotBefore)
		// The newest key that may sign is the active one.
		if canSign && (active == nil || !k.NotBefore.Before(activeAt)) {
			if active != nil {
				others = append(others, active)
			}
			active, activeAt = sk, k.NotBefore
			continue
		}
		others = append(others, sk)
	}
	if active == nil {
		return nil, nil
	}
	return newKeySet(append([]*signingKey{active}, others...))
}

// addGeneratedKey generates an ES256 key and stores it. A nil notBefore
// means now.
func (s *Server) addGeneratedKey(ctx context.Context, notBefore *time.Time) (string, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", fmt.Errorf("authz: generating a signing key: %w", err)
	}
	sk, err := newSigningKey(priv, "")
	if err != nil {
		return "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return "", err
	}
	now := s.now()
	nb := now
	if notBefore != nil {
		nb = *notBefore
	}
	err = s.store.AddKey(ctx, &storage.SigningKey{ID: sk.kid, Algorithm: string(sk.alg), Private: der, CreatedAt: now, NotBefore: nb})
	if err != nil {
		return "", fmt.Errorf("authz: storing a signing key: %w", err)
	}
	return sk.kid, nil
}

// RotateKey generates a new ES256 signing key, stores it and makes it the
// active key; the previous active key is retired but stays published until
// every token it signed has expired. Other nodes sharing the store verify
// tokens signed with the new key at once (an unknown kid makes them reload),
// but keep signing with their current key until [Server.ReloadKeys] runs
// on them: call it on every node after a rotation, or periodically.
// RotateKey fails when the keys come from Config.Keys.
func (s *Server) RotateKey(ctx context.Context) error {
	if !s.storeKeys {
		return errors.New("authz: keys are configured in Config.Keys; rotate them there")
	}
	old := s.keys.Load().active
	if _, err := s.addGeneratedKey(ctx, nil); err != nil {
		return err
	}
	now := s.now()
	if err := s.store.RetireKey(ctx, old.kid, now, now.Add(s.maxAccessTokenLifetime+time.Minute)); err != nil && !errors.Is(err, storage.ErrNotFound) {
		return fmt.Errorf("authz: retiring key %q: %w", old.kid, err)
	}
	return s.ReloadKeys(ctx)
}

// ReloadKeys re-reads the signing keys from the store, picking up keys
// added or retired by other nodes. It does nothing when the keys come from
// Config.Keys.
func (s *Server) ReloadKeys(ctx context.Context) error {
	if !s.storeKeys {
		return nil
	}
	ks, err := s.keysFromStore(ctx)
	if err != nil {
		return err
	}
	if ks == nil {
		return errors.New("authz: the store holds no usable signing key")
	}
	s.keys.Store(ks)
	s.lastReload.Store(s.now().UnixNano())
	return nil
}

// VerificationKey returns the public key with the given kid, for verifying
// access tokens in the same process. It has the signature of the
// authz/bearer KeySource interface. An empty kid finds the key only when
// there is exactly one. An unknown kid gives ErrUnknownKey; when
// keys live in the store, an unknown kid first triggers a reload (at most
// every 30 seconds) so keys rotated on another node are found.
func (s *Server) VerificationKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	ks := s.keys.Load()
	if k, ok := ks.byKID[kid]; ok {
		return k, nil
	}
	if kid == "" && len(ks.byKID) == 1 {
		// A token without "kid" (not one of ours) may use the only key.
		for _, k := range ks.byKID {
			return k, nil
		}
	}
	if s.storeKeys && kid != "" {
		last := s.lastReload.Load()
		now := s.now().UnixNano()
		if now-last > int64(30*time.Second) && s.lastReload.CompareAndSwap(last, now) {
			if err := s.ReloadKeys(ctx); err != nil {
				return nil, err
			}
			if k, ok := s.keys.Load().byKID[kid]; ok {
				return k, nil
			}
		}
	}
	return nil, ErrUnknownKey
}

// JWKSHandler serves the public signing keys as a JWK Set (RFC 7517 §5).
// Responses may be cached for five minutes and are readable cross-origin.
func (s *Server) JWKSHandler() http.Handler {
	return s.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			corsPreflight(w, "GET, HEAD, OPTIONS")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD, OPTIONS")
			return
		}
		h := w.Header()
		corsHeaders(h)
		h["Content-Type"] = jsonValue
		h.Set("Cache-Control", "public, max-age=300")
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(s.keys.Load().jwks)
		}
	}))
}
