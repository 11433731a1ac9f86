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
	"strconv"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/storage"
)

// ErrUnknownKey is returned by [Server.VerificationKey] for a key ID the
// server does not publish.
var ErrUnknownKey = errors.New("authz: unknown signing key")

// signingKey is one key with its cached signer. Building a jose.Signer is
// not free, so it is built once per key, never per token (and reused
// across reloads).
type signingKey struct {
	kid    string
	alg    jose.SignatureAlgorithm
	signer jose.Signer
	public jose.JSONWebKey
}

// keyEntry is a key with its schedule (all zero for Config.Keys).
type keyEntry struct {
	sk *signingKey
	// notBefore is when the key may start signing; before that it is only
	// published.
	notBefore time.Time
	// retiredAt is when it stops signing; zero while it has no successor.
	retiredAt time.Time
	// expiresAt is when it is no longer published or accepted.
	expiresAt time.Time
}

// keySet is an immutable snapshot of the server's keys; reloads and
// schedule changes swap the whole snapshot atomically.
type keySet struct {
	// entries are every key read from the store (or configured), in store
	// order, oldest first; the derived fields below hold at the time the
	// snapshot was derived, until changeAt.
	entries []keyEntry
	// seq orders snapshots by when their store read started, so that a
	// slow reload never replaces a newer one.
	seq uint64
	// changeAt is the next notBefore, retiredAt or expiresAt after the
	// derivation time: from then on the derived fields are stale. Zero
	// means never.
	changeAt time.Time

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

// deriveKeySet computes what holds at now for a list of keys: the key that
// signs, and every unexpired key for verification and the JWKS, including
// keys that will sign later. It returns nil when no unexpired key may sign
// yet.
//
// The signing key is the first entry (the oldest: entries are in store
// order, oldest first) whose notBefore has come and that is not retired.
// Oldest rather than newest because nodes that start together on an empty
// store each add a key: every node reads the store after its own AddKey,
// so each snapshot holds the keys added before it was read, and the
// oldest is in all of them. Choosing the newest would let a node sign with
// a key that nodes which read the store earlier do not publish. The other
// keys stay published until a rotation retires them. Failing an unretired
// key, the newest whose notBefore has come signs, so that a botched
// rotation never stops the server.
func deriveKeySet(entries []keyEntry, now time.Time, seq uint64) (*keySet, error) {
	ks := &keySet{entries: entries, seq: seq, byKID: make(map[string]*jose.JSONWebKey, len(entries))}
	later := func(t time.Time) {
		if t.After(now) && (ks.changeAt.IsZero() || t.Before(ks.changeAt)) {
			ks.changeAt = t
		}
	}
	var active, fallback *keyEntry
	for i := range entries {
		e := &entries[i]
		later(e.notBefore)
		later(e.retiredAt)
		later(e.expiresAt)
		if !e.expiresAt.IsZero() && !now.Before(e.expiresAt) {
			continue
		}
		if now.Before(e.notBefore) {
			continue
		}
		// Among equals the later entry (the newer key) wins.
		if fallback == nil || !e.notBefore.Before(fallback.notBefore) {
			fallback = e
		}
		if active == nil && (e.retiredAt.IsZero() || now.Before(e.retiredAt)) {
			active = e
		}
	}
	if active == nil {
		active = fallback
	}
	if active == nil {
		return nil, nil
	}
	ks.active = active.sk
	doc := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(entries))}
	seenAlg := map[string]bool{}
	add := func(k *signingKey) {
		if _, dup := ks.byKID[k.kid]; dup {
			return
		}
		pub := k.public
		ks.byKID[k.kid] = &pub
		doc.Keys = append(doc.Keys, pub)
		if !seenAlg[string(k.alg)] {
			seenAlg[string(k.alg)] = true
			ks.algs = append(ks.algs, string(k.alg))
		}
	}
	add(active.sk) // the signing key comes first in the JWKS
	for i := range entries {
		e := &entries[i]
		if e.expiresAt.IsZero() || now.Before(e.expiresAt) {
			add(e.sk)
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
		entries := make([]keyEntry, 0, len(configured))
		for i, k := range configured {
			if k == nil {
				return fmt.Errorf("authz: Config.Keys[%d] is nil", i)
			}
			sk, err := newSigningKey(k, "")
			if err != nil {
				return fmt.Errorf("authz: Config.Keys[%d]: %v", i, err)
			}
			entries = append(entries, keyEntry{sk: sk})
		}
		// Keys[0] signs: it is the first of the equals.
		ks, err := deriveKeySet(entries, time.Time{}, 0)
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
		if _, err := s.addGeneratedKey(ctx, s.now()); err != nil {
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
	s.lastReload.Store(s.now().UnixNano())
	return nil
}

// keysFromStore reads the stored keys; nil when no key can sign. Keys
// already loaded keep their signers.
func (s *Server) keysFromStore(ctx context.Context) (*keySet, error) {
	seq := s.keySeq.Add(1)
	stored, err := s.store.ListKeys(ctx)
	if err != nil {
		return nil, fmt.Errorf("authz: loading signing keys: %w", err)
	}
	now := s.now()
	known := map[string]*signingKey{}
	if cur := s.keys.Load(); cur != nil {
		for _, e := range cur.entries {
			known[e.sk.kid] = e.sk
		}
	}
	entries := make([]keyEntry, 0, len(stored))
	for _, k := range stored {
		if !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) {
			continue
		}
		sk := known[k.ID]
		if sk == nil {
			if sk, err = parseStoredKey(k); err != nil {
				return nil, err
			}
		}
		entries = append(entries, keyEntry{sk: sk, notBefore: k.NotBefore, retiredAt: k.RetiredAt, expiresAt: k.ExpiresAt})
	}
	return deriveKeySet(entries, now, seq)
}

// parseStoredKey prepares a key read from the store.
func parseStoredKey(k *storage.SigningKey) (*signingKey, error) {
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
	return sk, nil
}

// addGeneratedKey generates an ES256 key and stores it, to sign from
// notBefore on.
func (s *Server) addGeneratedKey(ctx context.Context, notBefore time.Time) (string, error) {
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
	err = s.store.AddKey(ctx, &storage.SigningKey{ID: sk.kid, Algorithm: string(sk.alg), Private: der, CreatedAt: s.now(), NotBefore: notBefore})
	if err != nil {
		return "", fmt.Errorf("authz: storing a signing key: %w", err)
	}
	return sk.kid, nil
}

// RotateKey starts a coordinated key rotation through the store: it adds a
// new ES256 key that signs from now + Config.KeyPublicationDelay on, and
// retires the current key at that moment, keeping it published until the
// last access token it can sign has expired (the longest access-token
// lifetime plus a minute of clock skew). Until then every node keeps
// signing with the current key while publishing the new one: nodes reload
// the keys every Config.KeyReloadInterval, and resource servers that cache
// the JWKS no longer than its max-age learn the new key before any token
// is signed with it. Each node switches by itself when the time comes.
//
// Run it on one node (a scheduled job, an admin action): rotations started
// on two nodes at once retire each other's new key, which the server
// survives by signing with the newest key that may sign, but which ends the
// rotation with two keys retired early. RotateKey fails when the keys come
// from Config.Keys.
func (s *Server) RotateKey(ctx context.Context) error {
	if !s.storeKeys {
		return errors.New("authz: keys are configured in Config.Keys; rotate them there")
	}
	stored, err := s.store.ListKeys(ctx)
	if err != nil {
		return fmt.Errorf("authz: loading signing keys: %w", err)
	}
	switchAt := s.now().Add(s.keyPublicationDelay)
	kid, err := s.addGeneratedKey(ctx, switchAt)
	if err != nil {
		return err
	}
	expires := switchAt.Add(s.maxAccessTokenLifetime + keyExpiryLeeway)
	for _, k := range stored {
		if k.ID == kid || (!k.RetiredAt.IsZero() && !k.RetiredAt.After(switchAt)) {
			continue
		}
		if err := s.store.RetireKey(ctx, k.ID, switchAt, expires); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return fmt.Errorf("authz: retiring key %q: %w", k.ID, err)
		}
	}
	s.log.LogAttrs(ctx, slog.LevelInfo, "authz: signing key rotation started",
		slog.String("kid", kid), slog.Time("signs_from", switchAt), slog.Time("previous_expires", expires))
	return s.ReloadKeys(ctx)
}

// keyExpiryLeeway keeps a retired key published a little longer than its
// last token lives, for verifiers whose clocks are behind.
const keyExpiryLeeway = time.Minute

// ReloadKeys re-reads the signing keys from the store at once, picking up
// keys added or retired by other nodes. The server does this by itself
// every Config.KeyReloadInterval (in the background) and when a token
// names an unknown key; call it only to shorten that delay. It does
// nothing when the keys come from Config.Keys.
func (s *Server) ReloadKeys(ctx context.Context) error {
	if !s.storeKeys {
		return nil
	}
	s.lastReload.Store(s.now().UnixNano())
	ks, err := s.keysFromStore(ctx)
	if err != nil {
		return err
	}
	if ks == nil {
		return errors.New("authz: the store holds no usable signing key")
	}
	s.publishKeys(ks)
	return nil
}

// publishKeys makes ks the current snapshot unless a snapshot from a later
// store read is already in place.
func (s *Server) publishKeys(ks *keySet) {
	for {
		cur := s.keys.Load()
		if cur.seq > ks.seq {
			return
		}
		if s.keys.CompareAndSwap(cur, ks) {
			return
		}
	}
}

// currentKeys returns the key snapshot for now. When a key's schedule has
// moved on since the snapshot was derived (a staged key may sign, a
// retired key expired) it derives the next one from memory, without the
// store. When Config.KeyReloadInterval has passed since the last reload
// it starts one in the background; the caller never waits for the store.
func (s *Server) currentKeys(now time.Time) *keySet {
	ks := s.keys.Load()
	if !s.storeKeys {
		return ks
	}
	if !ks.changeAt.IsZero() && !now.Before(ks.changeAt) {
		if next, err := deriveKeySet(ks.entries, now, ks.seq); err == nil && next != nil {
			s.publishKeys(next)
			ks = s.keys.Load()
		}
	}
	if last := s.lastReload.Load(); now.UnixNano()-last >= int64(s.keyReloadInterval) && s.lastReload.CompareAndSwap(last, now.UnixNano()) &&
		s.reloading.CompareAndSwap(false, true) {
		s.background.Add(1)
		go func() {
			defer s.background.Done()
			defer s.reloading.Store(false)
			ctx, cancel := context.WithTimeout(context.Background(), backgroundReloadTimeout)
			defer cancel()
			if err := s.ReloadKeys(ctx); err != nil {
				s.log.LogAttrs(ctx, slog.LevelWarn, "authz: reloading signing keys failed; keeping the current ones", slog.Any("error", err))
			}
		}()
	}
	return ks
}

// Bounds of key reloads.
const (
	backgroundReloadTimeout = 10 * time.Second
	// unknownKIDReloadInterval rate-limits the reloads a token with an
	// unknown kid triggers, which anyone can send.
	unknownKIDReloadInterval = 10 * time.Second
)

// VerificationKey returns the public key with the given kid, for verifying
// access tokens in the same process. It has the signature of the
// authz/bearer KeySource interface. An empty kid finds the key only when
// there is exactly one. An unknown kid gives ErrUnknownKey; when keys live
// in the store, an unknown kid first triggers a reload (at most one every
// 10 seconds, shared by concurrent callers) so that keys added on another
// node are found at once.
func (s *Server) VerificationKey(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	ks := s.currentKeys(s.now())
	if k, ok := ks.byKID[kid]; ok {
		return k, nil
	}
	if kid == "" && len(ks.byKID) == 1 {
		// A token without "kid" (not one of ours) may use the only key.
		for _, k := range ks.byKID {
			return k, nil
		}
	}
	if !s.storeKeys || kid == "" {
		return nil, ErrUnknownKey
	}
	_, err, _ := s.kidReload.Do("", func() (any, error) {
		now := s.now().UnixNano()
		last := s.lastKIDReload.Load()
		if last != 0 && now-last < int64(unknownKIDReloadInterval) {
			return nil, nil
		}
		s.lastKIDReload.Store(now)
		// Detached from the first caller's cancellation: the others wait
		// for the same reload.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), backgroundReloadTimeout)
		defer cancel()
		return nil, s.ReloadKeys(rctx)
	})
	if err != nil {
		return nil, err
	}
	if k, ok := s.keys.Load().byKID[kid]; ok {
		return k, nil
	}
	return nil, ErrUnknownKey
}

// JWKSHandler serves the public signing keys as a JWK Set (RFC 7517 §5):
// the signing key, keys that will sign after a rotation and retired keys
// whose tokens may still be live. Responses are readable cross-origin and
// may be cached for Config.KeyPublicationDelay minus
// Config.KeyReloadInterval (four minutes by default), so that a verifier
// holding a cached copy has seen a new key before it signs.
func (s *Server) JWKSHandler() http.Handler {
	cacheControl := "public, max-age=" + strconv.FormatInt(int64(s.jwksMaxAge/time.Second), 10)
	return s.recoverer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			corsPreflight(w, "GET, HEAD, OPTIONS")
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			methodNotAllowed(w, "GET, HEAD, OPTIONS")
			return
		}
		ks := s.currentKeys(s.now())
		h := w.Header()
		corsHeaders(h)
		h["Content-Type"] = jsonValue
		h.Set("Cache-Control", cacheControl)
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = w.Write(ks.jwks)
		}
	}))
}
