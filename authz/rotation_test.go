package authz

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// keyNode is one server of a cluster sharing a store and a clock.
type keyNode struct {
	t   *testing.T
	srv *Server
}

func newKeyNode(t *testing.T, st storage.Store, clk *fakeClock, mutate ...func(*Config)) *keyNode {
	t.Helper()
	cfg := testConfig()
	cfg.Issuer = "https://as.example.com"
	cfg.Store = st
	cfg.Clock = clk.Now
	for _, m := range mutate {
		m(&cfg)
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.background.Wait)
	return &keyNode{t: t, srv: srv}
}

// jwks fetches the node's JWKS through its handler, waits for any reload
// the request started, and returns the published kids and Cache-Control.
func (n *keyNode) jwks() (map[string]bool, string) {
	n.t.Helper()
	w := httptest.NewRecorder()
	n.srv.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/jwks", nil))
	n.srv.background.Wait()
	var ks jose.JSONWebKeySet
	if err := json.Unmarshal(w.Body.Bytes(), &ks); err != nil {
		n.t.Fatal(err)
	}
	kids := map[string]bool{}
	for _, k := range ks.Keys {
		kids[k.KeyID] = true
	}
	return kids, w.Header().Get("Cache-Control")
}

// sign issues an access token and returns it with the kid it is signed
// with.
func (n *keyNode) sign() (string, string) {
	n.t.Helper()
	tok, err := n.srv.IssueAccessToken(context.Background(), TokenRequest{Subject: "alice", ClientID: publicID, Resources: []string{testResource}})
	n.srv.background.Wait()
	if err != nil {
		n.t.Fatal(err)
	}
	return tok, kidOf(n.t, tok)
}

func kidOf(t *testing.T, tok string) string {
	t.Helper()
	jws, err := jose.ParseSignedCompact(tok, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatal(err)
	}
	return jws.Signatures[0].Protected.KeyID
}

// verifies reports whether the node accepts the token's signature.
func (n *keyNode) verifies(tok string) bool {
	_, err := n.srv.parseAccessToken(context.Background(), tok)
	n.srv.background.Wait()
	return err == nil
}

// TestKeyRotationAcrossNodes follows a rotation started on node A of two
// nodes sharing one store: B publishes the new key before either signs
// with it, both switch when it may sign, tokens signed with the old key
// verify on both until they have expired, and then the old key leaves
// the JWKS. No node is told to reload.
func TestKeyRotationAcrossNodes(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
	st := memory.New(memory.Options{Clock: clk.Now})
	a, b := newKeyNode(t, st, clk), newKeyNode(t, st, clk)
	start := clk.Now()

	oldTok, k1 := a.sign()
	if _, kb := b.sign(); kb != k1 {
		t.Fatalf("nodes sign with %s and %s", k1, kb)
	}
	if err := a.srv.RotateKey(context.Background()); err != nil {
		t.Fatal(err)
	}
	stored, _ := st.ListKeys(context.Background())
	if len(stored) != 2 || stored[0].ID != k1 {
		t.Fatalf("stored keys: %+v", stored)
	}
	k2, nb := stored[1].ID, stored[1].NotBefore
	if !nb.Equal(start.Add(DefaultKeyPublicationDelay)) || !stored[0].RetiredAt.Equal(nb) ||
		!stored[0].ExpiresAt.Equal(nb.Add(DefaultAccessTokenLifetime+keyExpiryLeeway)) {
		t.Fatalf("schedule: new key from %v, old retired %v expires %v", nb, stored[0].RetiredAt, stored[0].ExpiresAt)
	}

	// A publishes the new key at once; both keep signing with the old one.
	if kids, cc := a.jwks(); !kids[k1] || !kids[k2] || cc != "public, max-age=240" {
		t.Fatalf("A right after rotating: %v %q", kids, cc)
	}
	// B learns of it on its first request after KeyReloadInterval.
	clk.Advance(DefaultKeyReloadInterval + time.Second)
	b.jwks() // starts the background reload
	if kids, _ := b.jwks(); !kids[k1] || !kids[k2] {
		t.Fatalf("B one reload interval after the rotation: %v", kids)
	}
	// Both publish the new key well before it signs; nobody signs with it
	// early.
	for _, d := range []time.Duration{2 * time.Minute, 3 * time.Minute, 4 * time.Minute, DefaultKeyPublicationDelay - time.Second} {
		clk.Advance(start.Add(d).Sub(clk.Now()))
		for name, n := range map[string]*keyNode{"A": a, "B": b} {
			if _, kid := n.sign(); kid != k1 {
				t.Fatalf("node %s signs with %s at %v, before the new key's NotBefore %v", name, kid, d, nb.Sub(start))
			}
			if kids, _ := n.jwks(); !kids[k2] || !kids[k1] {
				t.Fatalf("node %s publishes %v at %v", name, kids, d)
			}
		}
	}

	// From NotBefore on, both sign with the new key, without being told.
	clk.Advance(time.Second)
	var newTok string
	for name, n := range map[string]*keyNode{"A": a, "B": b} {
		tok, kid := n.sign()
		if kid != k2 {
			t.Fatalf("node %s signs with %s at NotBefore, want %s", name, kid, k2)
		}
		newTok = tok
	}
	expiry := stored[0].ExpiresAt
	clk.Advance(expiry.Sub(clk.Now()) - time.Second)
	for name, n := range map[string]*keyNode{"A": a, "B": b} {
		if !n.verifies(oldTok) || !n.verifies(newTok) {
			t.Fatalf("node %s: old %v new %v, a second before the old key expires", name, n.verifies(oldTok), n.verifies(newTok))
		}
		if kids, _ := n.jwks(); !kids[k1] || !kids[k2] {
			t.Fatalf("node %s a second before the old key expires publishes %v", name, kids)
		}
	}
	// Once the old key's last token has expired, it is gone everywhere.
	clk.Advance(time.Second)
	for name, n := range map[string]*keyNode{"A": a, "B": b} {
		if kids, _ := n.jwks(); kids[k1] || !kids[k2] || len(kids) != 1 {
			t.Fatalf("node %s after the old key expired publishes %v", name, kids)
		}
		if n.verifies(oldTok) || !n.verifies(newTok) {
			t.Fatalf("node %s after the old key expired: old %v new %v", name, n.verifies(oldTok), n.verifies(newTok))
		}
		if _, kid := n.sign(); kid != k2 {
			t.Fatalf("node %s signs with %s", name, kid)
		}
	}
}

// gatedStore counts ListKeys calls and can hold them until released.
type gatedStore struct {
	storage.Store
	calls   atomic.Int32
	mu      sync.Mutex
	gate    chan struct{}
	entered chan struct{}
}

func (s *gatedStore) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	s.calls.Add(1)
	s.mu.Lock()
	gate, entered := s.gate, s.entered
	s.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		<-gate
	}
	return s.Store.ListKeys(ctx)
}

func (s *gatedStore) hold() (entered chan struct{}, release func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gate, s.entered = make(chan struct{}), make(chan struct{}, 100)
	gate := s.gate
	var once sync.Once
	return s.entered, func() {
		once.Do(func() {
			s.mu.Lock()
			s.gate = nil
			s.mu.Unlock()
			close(gate)
		})
	}
}

// TestKeyReloadNeverBlocksSigning: a reload due after KeyReloadInterval
// runs in the background, once, however many requests need keys while the
// store is slow.
func TestKeyReloadNeverBlocksSigning(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
	st := &gatedStore{Store: memory.New(memory.Options{Clock: clk.Now})}
	n := newKeyNode(t, st, clk)
	entered, release := st.hold()
	defer release()
	clk.Advance(DefaultKeyReloadInterval)
	before := st.calls.Load()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for range 50 {
			if _, err := n.srv.IssueAccessToken(context.Background(), TokenRequest{Subject: "alice", ClientID: publicID, Resources: []string{testResource}}); err != nil {
				t.Error(err)
				return
			}
			w := httptest.NewRecorder()
			n.srv.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/jwks", nil))
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("signing waited for the store")
	}
	select {
	case <-entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no background reload started")
	}
	if got := st.calls.Load() - before; got != 1 {
		t.Fatalf("%d reloads started, want 1", got)
	}
	// Further intervals pass while the store still hangs: no pile-up.
	for range 3 {
		clk.Advance(DefaultKeyReloadInterval)
		if _, err := n.srv.IssueAccessToken(context.Background(), TokenRequest{Subject: "alice", ClientID: publicID, Resources: []string{testResource}}); err != nil {
			t.Fatal(err)
		}
	}
	if got := st.calls.Load() - before; got != 1 {
		t.Fatalf("%d reloads running against a hanging store, want 1", got)
	}
	release()
	n.srv.background.Wait()
}

// TestUnknownKIDReload: a token naming a key this node has not loaded yet
// makes it reload at once; made-up kids cost at most one store read per
// 10 seconds, shared by concurrent callers.
func TestUnknownKIDReload(t *testing.T) {
	clk := &fakeClock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
	st := &gatedStore{Store: memory.New(memory.Options{Clock: clk.Now})}
	a, c := newKeyNode(t, st, clk), newKeyNode(t, st, clk)
	ctx := context.Background()
	if err := a.srv.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	stored, _ := st.ListKeys(ctx)
	k2 := stored[len(stored)-1].ID
	before := st.calls.Load()
	if k, err := c.srv.VerificationKey(ctx, k2); err != nil || k.KeyID != k2 {
		t.Fatalf("node C does not find the key added on A: %v", err)
	}
	if got := st.calls.Load() - before; got != 1 {
		t.Fatalf("%d store reads for an unknown kid, want 1", got)
	}
	// Rate-limited: another unknown kid within 10 s reads nothing.
	before = st.calls.Load()
	if _, err := c.srv.VerificationKey(ctx, "made-up"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("made-up kid: %v", err)
	}
	if got := st.calls.Load() - before; got != 0 {
		t.Fatalf("%d store reads within the rate limit", got)
	}
	// After 10 s, concurrent unknown kids share one read.
	clk.Advance(unknownKIDReloadInterval)
	entered, release := st.hold()
	before = st.calls.Load()
	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Go(func() {
			_, err := c.srv.VerificationKey(ctx, "made-up-"+strings.Repeat("x", i))
			errs <- err
		})
	}
	<-entered
	release()
	wg.Wait()
	close(errs)
	for err := range errs {
		if !errors.Is(err, ErrUnknownKey) {
			t.Fatalf("concurrent made-up kid: %v", err)
		}
	}
	if got := st.calls.Load() - before; got != 1 {
		t.Fatalf("%d store reads for 20 concurrent unknown kids, want 1", got)
	}
}

func TestKeyScheduleConfig(t *testing.T) {
	for _, tc := range []struct {
		name          string
		delay, reload time.Duration
		wantErr       string
		wantMaxAge    string
	}{
		{"defaults", 0, 0, "", "max-age=240"},
		{"short reload", 2 * time.Minute, 5 * time.Second, "", "max-age=115"},
		{"long delay", time.Hour, 0, "", "max-age=3540"},
		{"delay not above reload plus a minute", 90 * time.Second, time.Minute, "KeyPublicationDelay", ""},
		{"delay below default reload", 30 * time.Second, 0, "KeyPublicationDelay", ""},
		{"delay too long", 25 * time.Hour, 0, "KeyPublicationDelay", ""},
		{"reload too short", 0, time.Millisecond, "KeyReloadInterval", ""},
		{"reload too long", 3 * time.Hour, 2 * time.Hour, "KeyReloadInterval", ""},
		{"negative delay", -time.Minute, 0, "KeyPublicationDelay", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Issuer = "https://as.example.com"
			cfg.KeyPublicationDelay, cfg.KeyReloadInterval = tc.delay, tc.reload
			srv, err := New(cfg)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			w := httptest.NewRecorder()
			srv.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/jwks", nil))
			if cc := w.Header().Get("Cache-Control"); cc != "public, "+tc.wantMaxAge {
				t.Fatalf("Cache-Control %q", cc)
			}
		})
	}
}

// TestKeyScheduleWithConfiguredKeys pins what Config.KeyReloadInterval
// documents for Config.Keys: the two durations are still validated and
// still set the JWKS max-age.
func TestKeyScheduleWithConfiguredKeys(t *testing.T) {
	for _, tc := range []struct {
		name          string
		delay, reload time.Duration
		want          string
	}{
		{"defaults", 0, 0, "public, max-age=240"},
		{"long delay", time.Hour, 0, "public, max-age=3540"},
		{"reload too short", 0, time.Millisecond, "KeyReloadInterval"},
		{"delay too short", 90 * time.Second, time.Minute, "KeyPublicationDelay"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.Issuer = "https://as.example.com"
			cfg.Keys = []crypto.Signer{mustP256(t)}
			cfg.KeyPublicationDelay, cfg.KeyReloadInterval = tc.delay, tc.reload
			srv, err := New(cfg)
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("New: %v, want %s", err, tc.want)
				}
				return
			}
			w := httptest.NewRecorder()
			srv.JWKSHandler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/jwks", nil))
			if cc := w.Header().Get("Cache-Control"); cc != tc.want {
				t.Fatalf("Cache-Control %q, want %q", cc, tc.want)
			}
		})
	}
}

// TestDeriveKeySet checks the schedule rules on a snapshot: staged keys are
// published but do not sign before NotBefore, expired keys disappear, and
// when every key is retired the newest one keeps signing; among keys that
// may sign, the first (oldest) signs.
func TestDeriveKeySet(t *testing.T) {
	mk := func(n int) []*signingKey {
		var out []*signingKey
		for range n {
			sk, err := newSigningKey(mustP256(t), "")
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sk)
		}
		return out
	}
	k := mk(3)
	t0 := time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	for _, tc := range []struct {
		name       string
		entries    []keyEntry
		now        time.Time
		active     *signingKey
		published  []*signingKey
		changeAt   time.Time
		noSnapshot bool
	}{
		{"staged key before NotBefore", []keyEntry{{sk: k[0], retiredAt: at(5), expiresAt: at(36)}, {sk: k[1], notBefore: at(5)}},
			at(4), k[0], []*signingKey{k[0], k[1]}, at(5), false},
		{"staged key at NotBefore", []keyEntry{{sk: k[0], retiredAt: at(5), expiresAt: at(36)}, {sk: k[1], notBefore: at(5)}},
			at(5), k[1], []*signingKey{k[1], k[0]}, at(36), false},
		{"retired key expired", []keyEntry{{sk: k[0], retiredAt: at(5), expiresAt: at(36)}, {sk: k[1], notBefore: at(5)}},
			at(36), k[1], []*signingKey{k[1]}, time.Time{}, false},
		{"every key retired: the newest signs", []keyEntry{{sk: k[0], retiredAt: at(1), expiresAt: at(40)}, {sk: k[1], notBefore: at(2), retiredAt: at(3), expiresAt: at(40)}},
			at(10), k[1], []*signingKey{k[1], k[0]}, at(40), false},
		{"two keys that may sign: the first (oldest) entry", []keyEntry{{sk: k[0]}, {sk: k[1]}}, at(0), k[0], []*signingKey{k[0], k[1]}, time.Time{}, false},
		{"older key with a later NotBefore still wins once it may sign", []keyEntry{{sk: k[0], notBefore: at(2)}, {sk: k[1], notBefore: at(1)}},
			at(1), k[1], []*signingKey{k[1], k[0]}, at(2), false},
		{"older key with a later NotBefore at NotBefore", []keyEntry{{sk: k[0], notBefore: at(2)}, {sk: k[1], notBefore: at(1)}},
			at(2), k[0], []*signingKey{k[0], k[1]}, time.Time{}, false},
		{"only a future key", []keyEntry{{sk: k[2], notBefore: at(5)}}, at(0), nil, nil, time.Time{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ks, err := deriveKeySet(tc.entries, tc.now, 1)
			if err != nil {
				t.Fatal(err)
			}
			if tc.noSnapshot {
				if ks != nil {
					t.Fatalf("snapshot with active %s", ks.active.kid)
				}
				return
			}
			if ks.active != tc.active || !ks.changeAt.Equal(tc.changeAt) {
				t.Fatalf("active %s changeAt %v", ks.active.kid, ks.changeAt)
			}
			var doc jose.JSONWebKeySet
			if err := json.Unmarshal(ks.jwks, &doc); err != nil {
				t.Fatal(err)
			}
			if len(doc.Keys) != len(tc.published) || len(ks.byKID) != len(tc.published) {
				t.Fatalf("published %d keys, want %d", len(doc.Keys), len(tc.published))
			}
			for i, want := range tc.published {
				if doc.Keys[i].KeyID != want.kid || ks.byKID[want.kid] == nil {
					t.Fatalf("JWKS[%d] = %s, want %s", i, doc.Keys[i].KeyID, want.kid)
				}
			}
		})
	}
}

func mustP256(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
