package integration_test

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/nqrust/identity/authz"
	"github.com/nqrust/identity/storage"
)

// TestTwoNodesFlow: the authorization request on node A, the code
// exchange on node B, the refresh on node A, with x/oauth2 (PKCE S256 and
// resource). Both nodes publish one identical JWKS, and every token
// verifies against either. Reuse detection works across nodes: replaying
// the rotated refresh token on B kills the family and the grant for A too.
func TestTwoNodesFlow(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a, b := twoNodes(t, clk, nil)
	ctx := t.Context()

	rawA, ksA := jwks(t, a)
	rawB, _ := jwks(t, b)
	if len(ksA.Keys) != 1 || !jsonEqual(rawA, rawB) {
		t.Fatalf("nodes sharing a store publish different JWKS:\nA: %s\nB: %s", rawA, rawB)
	}

	cfg := oauthConfig(publicID)
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, a, a, cfg, verifier)
	tok, err := cfg.Exchange(withClient(ctx, b), code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	if err != nil {
		t.Fatalf("code from node A exchanged on node B: %v", err)
	}
	if tok.AccessToken == "" || tok.RefreshToken == "" {
		t.Fatalf("token response %+v", tok)
	}
	kid1 := mustVerifyEverywhere(t, tok.AccessToken, clk.Now(), a, b)
	if kid1 != ksA.Keys[0].KeyID {
		t.Fatalf("signed with kid %q, published %q", kid1, ksA.Keys[0].KeyID)
	}
	for _, n := range []*node{a, b} {
		if m := introspect(t, n, tok.AccessToken); m["active"] != true || m["sub"] != subject || m["client_id"] != publicID {
			t.Fatalf("node %s introspects the access token from B as %v", n.name, m)
		}
	}

	refreshed, err := cfg.TokenSource(withClient(ctx, a), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
	if err != nil {
		t.Fatalf("refresh token from node B refreshed on node A: %v", err)
	}
	if refreshed.RefreshToken == "" || refreshed.RefreshToken == tok.RefreshToken || refreshed.AccessToken == tok.AccessToken {
		t.Fatalf("refresh on A did not rotate: %+v", refreshed)
	}
	if kid := mustVerifyEverywhere(t, refreshed.AccessToken, clk.Now(), a, b); kid != kid1 {
		t.Fatalf("node A signs with %q, node B signed with %q", kid, kid1)
	}

	// The rotated token comes back on the other node.
	if r := postToken(ctx, b, refreshForm(publicID, tok.RefreshToken), "", ""); r.status != 400 || r.Error != "invalid_grant" {
		t.Fatalf("rotated refresh token replayed on B: %d %s %s", r.status, r.Error, r.Description)
	}
	if r := postToken(ctx, a, refreshForm(publicID, refreshed.RefreshToken), "", ""); r.status != 400 || r.Error != "invalid_grant" {
		t.Fatalf("successor after reuse detected on the other node: %d %s", r.status, r.Error)
	}
	for _, n := range []*node{a, b} {
		if m := introspect(t, n, refreshed.AccessToken); m["active"] != false {
			t.Fatalf("node %s: access token of a grant revoked on B introspects as %v", n.name, m)
		}
	}

	// The interaction, too, may land on another node than the
	// authorization request: the parked request is in the database.
	verifier = oauth2.GenerateVerifier()
	code = authorize(t, b, a, cfg, verifier)
	if r := postToken(ctx, b, codeForm(publicID, code, verifier), "", ""); r.status != 200 || r.RefreshToken == "" {
		t.Fatalf("request parked on B, approved on A, exchanged on B: %d %s %s", r.status, r.Error, r.Description)
	}
}

// TestTwoNodesRegisteredClient: a client registered (RFC 7591) on node A
// authorizes on node B, exchanges on A and is managed (RFC 7592) on B.
func TestTwoNodesRegisteredClient(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a, b := twoNodes(t, clk, withRegistration)
	ctx := t.Context()
	reg := register(t, a, `{"client_name":"two-node client","redirect_uris":["`+callback+`"],
		"grant_types":["authorization_code","refresh_token"],"token_endpoint_auth_method":"none"}`)

	cfg := oauthConfig(reg.ClientID)
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, b, b, cfg, verifier)
	tok, err := cfg.Exchange(withClient(ctx, a), code, oauth2.VerifierOption(verifier), oauth2.SetAuthURLParam("resource", resource))
	if err != nil {
		t.Fatalf("client registered on A, authorized on B, exchanged on A: %v", err)
	}
	mustVerifyEverywhere(t, tok.AccessToken, clk.Now(), a, b)

	got := readRegistration(t, b, reg)
	if got.ClientID != reg.ClientID || got.ClientName != "two-node client" {
		t.Fatalf("RFC 7592 read on B: %+v", got)
	}
}

// TestTwoNodesCodeRace: 100 redemptions of one code, split across both
// nodes, start together. Exactly one may succeed; every other one is
// invalid_grant; and because the others are valid replays by the same
// client, the grant is revoked afterwards (authz: "a second valid
// redemption by the same client revokes the grant the first one
// produced"), on both nodes.
func TestTwoNodesCodeRace(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a, b := twoNodes(t, clk, nil)
	ctx := t.Context()
	const racers = 100

	// race redeems one code from clientID with racers goroutines and
	// returns the successful replies.
	race := func(t *testing.T, clientID string) []tokenReply {
		cfg := oauthConfig(clientID)
		verifier := oauth2.GenerateVerifier()
		code := authorize(t, a, a, cfg, verifier)
		replies := raceNodes(ctx, a, b, racers, func(ctx context.Context, n *node, _ int) tokenReply {
			return postToken(ctx, n, codeForm(clientID, code, verifier), "", "")
		})
		var won []tokenReply
		for _, r := range replies {
			switch {
			case r.status == 200:
				won = append(won, r)
			case r.status != 400 || r.Error != "invalid_grant":
				t.Fatalf("a racing redemption got %d %q (%s), want 200 or 400 invalid_grant", r.status, r.Error, r.Description)
			}
		}
		if len(won) > 1 {
			t.Fatalf("%d redemptions of one code succeeded", len(won))
		}
		// Whoever won, the replays revoked the grant: the subject has no
		// live grant left (every round's grant is revoked by its replays).
		live, err := b.srv.ListGrants(ctx, subject)
		if err != nil {
			t.Fatal(err)
		}
		if len(live) != 0 {
			t.Fatalf("%d grants still live after a replayed code, first %+v", len(live), live[0])
		}
		return won
	}

	// A client without refresh tokens stores nothing after winning, so
	// exactly one redemption succeeds, and its access token dies with the
	// grant.
	t.Run("access token only", func(t *testing.T) {
		for round := range 3 {
			won := race(t, noRefreshID)
			if len(won) != 1 {
				t.Fatalf("round %d: %d of %d redemptions succeeded, want exactly 1", round, len(won), racers)
			}
			grantRevoked(t, a, won[0].AccessToken)
			for _, n := range []*node{a, b} {
				if m := introspect(t, n, won[0].AccessToken); m["active"] != false {
					t.Fatalf("round %d: node %s: the winner's access token is still active after the replays: %v", round, n.name, m)
				}
			}
		}
	})

	// With a refresh token the winner stores it after the code is spent;
	// a replay that revoked the grant in between makes that store fail
	// (sqlstore refuses a refresh token for a revoked grant), and then no
	// one gets tokens, which authz accepts as the safe outcome. Whoever
	// won, nothing usable is left.
	t.Run("with refresh token", func(t *testing.T) {
		winners := 0
		for round := range 3 {
			won := race(t, publicID)
			winners += len(won)
			for _, w := range won {
				grantRevoked(t, a, w.AccessToken)
				if w.RefreshToken == "" {
					t.Fatalf("round %d: the winner got no refresh token", round)
				}
				for _, n := range []*node{a, b} {
					if r := postToken(ctx, n, refreshForm(publicID, w.RefreshToken), "", ""); r.status != 400 || r.Error != "invalid_grant" {
						t.Fatalf("round %d: node %s: the winner's refresh token works after the replays: %d %s", round, n.name, r.status, r.Error)
					}
					if m := introspect(t, n, w.AccessToken); m["active"] != false {
						t.Fatalf("round %d: node %s: the winner's access token is active after the replays: %v", round, n.name, m)
					}
				}
			}
		}
		t.Logf("%d of 3 races had a winner (0 is allowed when a replay revokes the grant first)", winners)
	})
}

// TestTwoNodesRefreshRace: 50 refreshes of one refresh token, split across
// both nodes, start together.
func TestTwoNodesRefreshRace(t *testing.T) {
	t.Parallel()
	const racers = 50

	// Without a grace period exactly one rotation succeeds; every other
	// attempt is reuse (or arrives after the reuse revoked the family) and
	// gets invalid_grant; the winner's new refresh token and access token
	// die with the family and grant.
	t.Run("strict", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		a, b := twoNodes(t, clk, nil)
		ctx := t.Context()
		rt := initialRefreshToken(t, a)
		replies := raceNodes(ctx, a, b, racers, func(ctx context.Context, n *node, _ int) tokenReply {
			return postToken(ctx, n, refreshForm(publicID, rt), "", "")
		})
		var won []tokenReply
		for _, r := range replies {
			switch {
			case r.status == 200:
				won = append(won, r)
			case r.status != 400 || r.Error != "invalid_grant":
				t.Fatalf("a racing refresh got %d %q (%s), want 200 or 400 invalid_grant", r.status, r.Error, r.Description)
			}
		}
		if len(won) != 1 {
			t.Fatalf("%d of %d parallel refreshes succeeded, want exactly 1", len(won), racers)
		}
		grantRevoked(t, b, won[0].AccessToken)
		for _, n := range []*node{a, b} {
			if r := postToken(ctx, n, refreshForm(publicID, won[0].RefreshToken), "", ""); r.status != 400 || r.Error != "invalid_grant" {
				t.Fatalf("node %s: the winner's refresh token survived the reuse: %d %s", n.name, r.status, r.Error)
			}
			if m := introspect(t, n, won[0].AccessToken); m["active"] != false {
				t.Fatalf("node %s: the winner's access token is active after reuse: %v", n.name, m)
			}
		}
	})

	// With RefreshGracePeriod every refresh within the period succeeds
	// (the previous token "may be used again for this long after it
	// rotated"), each with its own new refresh token; nothing is revoked.
	// Once the period is over, the old token is reuse again and kills the
	// family and the grant.
	t.Run("grace", func(t *testing.T) {
		t.Parallel()
		clk := newClock()
		const grace = 30 * time.Second
		a, b := twoNodes(t, clk, func(c *authz.Config) { c.RefreshGracePeriod = grace })
		ctx := t.Context()
		rt := initialRefreshToken(t, a)
		replies := raceNodes(ctx, a, b, racers, func(ctx context.Context, n *node, _ int) tokenReply {
			return postToken(ctx, n, refreshForm(publicID, rt), "", "")
		})
		seen := map[string]bool{}
		for _, r := range replies {
			if r.status != 200 || r.RefreshToken == "" {
				t.Fatalf("a refresh within the grace period got %d %q (%s)", r.status, r.Error, r.Description)
			}
			if seen[r.RefreshToken] || r.RefreshToken == rt {
				t.Fatal("two parallel refreshes got the same refresh token")
			}
			seen[r.RefreshToken] = true
		}
		for _, n := range []*node{a, b} {
			if m := introspect(t, n, replies[len(replies)-1].AccessToken); m["active"] != true {
				t.Fatalf("node %s: a refresh within the grace period revoked the grant: %v", n.name, m)
			}
		}
		// A successor is an ordinary refresh token.
		next := postToken(ctx, b, refreshForm(publicID, replies[0].RefreshToken), "", "")
		if next.status != 200 {
			t.Fatalf("successor of a grace refresh: %d %s %s", next.status, next.Error, next.Description)
		}

		clk.Advance(grace)
		if r := postToken(ctx, a, refreshForm(publicID, rt), "", ""); r.status != 400 || r.Error != "invalid_grant" {
			t.Fatalf("old refresh token after the grace period: %d %s", r.status, r.Error)
		}
		for _, n := range []*node{a, b} {
			if r := postToken(ctx, n, refreshForm(publicID, next.RefreshToken), "", ""); r.status != 400 || r.Error != "invalid_grant" {
				t.Fatalf("node %s: family member after reuse past the grace period: %d %s", n.name, r.status, r.Error)
			}
			if m := introspect(t, n, next.AccessToken); m["active"] != false {
				t.Fatalf("node %s: access token after reuse past the grace period: %v", n.name, m)
			}
		}
	})
}

// TestTwoNodesKeyRotation: keys live in the shared store. A rotation on
// node A publishes the new key on both nodes before either signs with it,
// both switch to it at the same instant, and the retired key keeps
// verifying on both until its last token has expired.
func TestTwoNodesKeyRotation(t *testing.T) {
	t.Parallel()
	clk := newClock()
	a, b := twoNodes(t, clk, nil)
	ctx := t.Context()

	_, ks := jwks(t, a)
	k1 := ks.Keys[0].KeyID
	t1 := serviceToken(t, a)
	if kid := mustVerifyEverywhere(t, t1, clk.Now(), a, b); kid != k1 {
		t.Fatalf("first token signed with %q, want %q", kid, k1)
	}

	if err := a.srv.RotateKey(ctx); err != nil {
		t.Fatal(err)
	}
	// Node B learns about the new key on its next reload; simulate the
	// periodic reload instead of waiting for it.
	if err := b.srv.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	rawA, ksA := jwks(t, a)
	rawB, _ := jwks(t, b)
	if !jsonEqual(rawA, rawB) {
		t.Fatalf("JWKS differ after the rotation:\nA: %s\nB: %s", rawA, rawB)
	}
	var k2 string
	for _, k := range ksA.Keys {
		if k.KeyID != k1 {
			k2 = k.KeyID
		}
	}
	if k2 == "" || len(ksA.Keys) != 2 {
		t.Fatalf("after RotateKey the JWKS should publish the old and the new key: %v", kids(ksA))
	}
	// Published ahead: neither node signs with the new key yet.
	for _, n := range []*node{a, b} {
		if kid := mustVerifyEverywhere(t, serviceToken(t, n), clk.Now(), a, b); kid != k1 {
			t.Fatalf("node %s signs with %q during the publication delay, want the old key %q", n.name, kid, k1)
		}
	}

	// After the publication delay both nodes sign with the new key, without
	// another reload: the switch time is part of the key they already hold.
	clk.Advance(authz.DefaultKeyPublicationDelay + time.Second)
	for _, n := range []*node{a, b} {
		if kid := mustVerifyEverywhere(t, serviceToken(t, n), clk.Now(), a, b); kid != k2 {
			t.Fatalf("node %s signs with %q after the publication delay, want %q", n.name, kid, k2)
		}
	}
	// The token signed by the retired key still verifies on both nodes.
	mustVerifyEverywhere(t, t1, clk.Now(), a, b)

	// The retired key disappears once its tokens have expired.
	clk.Advance(authz.DefaultAccessTokenLifetime + 2*time.Minute)
	for _, n := range []*node{a, b} {
		if err := n.srv.ReloadKeys(ctx); err != nil {
			t.Fatal(err)
		}
		if _, ks := jwks(t, n); len(ks.Key(k1)) != 0 || len(ks.Key(k2)) != 1 {
			t.Fatalf("node %s publishes %v after the retired key %s expired", n.name, kids(ks), k1)
		}
	}
}

// raceNodes runs n calls of fn at once, even ones on node a and odd ones on
// node b, and returns their replies.
func raceNodes(ctx context.Context, a, b *node, n int, fn func(context.Context, *node, int) tokenReply) []tokenReply {
	replies := make([]tokenReply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		target := a
		if i%2 == 1 {
			target = b
		}
		wg.Go(func() {
			<-start
			replies[i] = fn(ctx, target, i)
		})
	}
	close(start)
	wg.Wait()
	return replies
}

func codeForm(clientID, code, verifier string) url.Values {
	return url.Values{
		"grant_type":    {"authorization_code"},
		"client_id":     {clientID},
		"code":          {code},
		"code_verifier": {verifier},
		"redirect_uri":  {callback},
		"resource":      {resource},
	}
}

func refreshForm(clientID, rt string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "client_id": {clientID}, "refresh_token": {rt}}
}

// initialRefreshToken runs a flow on n and returns the refresh token.
func initialRefreshToken(t *testing.T, n *node) string {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	code := authorize(t, n, n, oauthConfig(publicID), verifier)
	r := postToken(t.Context(), n, codeForm(publicID, code, verifier), "", "")
	if r.status != 200 || r.RefreshToken == "" {
		t.Fatalf("initial exchange: %d %s %s", r.status, r.Error, r.Description)
	}
	return r.RefreshToken
}

// serviceToken is a client_credentials token from n.
func serviceToken(t *testing.T, n *node) string {
	t.Helper()
	r := postToken(t.Context(), n, url.Values{"grant_type": {"client_credentials"}, "resource": {resource}}, serviceID, serviceSecret)
	if r.status != 200 {
		t.Fatalf("node %s: client_credentials: %d %s %s", n.name, r.status, r.Error, r.Description)
	}
	return r.AccessToken
}

// grantRevoked checks, in the store, that the grant of an access token
// (its jti is "<grant id>.<random>") is revoked.
func grantRevoked(t *testing.T, n *node, accessToken string) {
	t.Helper()
	_, ks := jwks(t, n)
	_, c, err := verifyJWT(ks, accessToken, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	grantID, _, ok := strings.Cut(c.ID, ".")
	if !ok {
		t.Fatalf("jti %q names no grant", c.ID)
	}
	g, err := n.store.GetGrant(t.Context(), grantID)
	if errors.Is(err, storage.ErrRevoked) {
		return
	}
	if err != nil {
		t.Fatalf("grant %s: %v", grantID, err)
	}
	if g.RevokedAt.IsZero() {
		t.Fatalf("grant %s is not revoked", grantID)
	}
}
