package authz

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// orderedKeyStore is one node's view of a shared store that holds the
// node's AddKey until the previous node has read the keys after adding
// its own, and until every node has found the store empty: the order in
// which nodes starting together can interleave that leaves every node
// with a different snapshot.
type orderedKeyStore struct {
	storage.Store
	allListed <-chan struct{} // closed when every node has read the empty store
	listed    func()          // reports this node's first read
	prevDone  <-chan struct{} // closed when the previous node read after adding; nil for the first
	done      chan struct{}   // closed when this node read after adding
	reads     int
	added     bool
}

func (s *orderedKeyStore) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	keys, err := s.Store.ListKeys(ctx)
	s.reads++
	if s.reads == 1 {
		s.listed()
	}
	if s.added && s.reads == 2 {
		close(s.done)
	}
	return keys, err
}

func (s *orderedKeyStore) AddKey(ctx context.Context, k *storage.SigningKey) error {
	for _, ch := range []<-chan struct{}{s.allListed, s.prevDone} {
		if ch == nil {
			continue
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.added = true
	return s.Store.AddKey(ctx, k)
}

// startNodes starts n servers at once on st, each through wrap, and
// returns them in order.
func startNodes(t *testing.T, n int, clk *fakeClock, wrap func(i int) storage.Store) []*keyNode {
	t.Helper()
	nodes := make([]*keyNode, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cfg := testConfig()
			cfg.Issuer = "https://as.example.com"
			cfg.Store = wrap(i)
			cfg.Clock = clk.Now
			srv, err := New(cfg)
			if err != nil {
				errs[i] = err
				return
			}
			t.Cleanup(srv.background.Wait)
			nodes[i] = &keyNode{t: t, srv: srv}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("node %d: %v", i, err)
		}
	}
	return nodes
}

// checkOneSigningKey asserts that every node signs with the same key and
// that each token is in every node's JWKS right away, without a reload.
func checkOneSigningKey(t *testing.T, nodes []*keyNode) {
	t.Helper()
	jwks := make([]map[string]bool, len(nodes))
	for j, n := range nodes {
		jwks[j], _ = n.jwks()
	}
	var first string
	for i, n := range nodes {
		_, kid := n.sign()
		if i == 0 {
			first = kid
		} else if kid != first {
			t.Errorf("node %d signs with %s, node 0 with %s", i, kid, first)
		}
		for j := range nodes {
			if !jwks[j][kid] {
				t.Errorf("node %d signs with %s, which node %d does not publish (it publishes %v)", i, kid, j, jwks[j])
			}
		}
	}
}

// TestStartupOnEmptyStoreOneSigningKey: nodes that start together on an
// empty store each add a key, in the worst order (each node reads the keys
// before the next one adds its own, so each sees one key more). They all
// sign with one key, and a token from any node verifies against every
// node's JWKS at once. The extra keys stay published.
func TestStartupOnEmptyStoreOneSigningKey(t *testing.T) {
	const n = 4
	clk := &fakeClock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
	shared := memory.New(memory.Options{Clock: clk.Now})
	allListed := make(chan struct{})
	var mu sync.Mutex
	pending := n
	listed := func() {
		mu.Lock()
		defer mu.Unlock()
		if pending--; pending == 0 {
			close(allListed)
		}
	}
	views := make([]*orderedKeyStore, n)
	for i := range views {
		views[i] = &orderedKeyStore{Store: shared, allListed: allListed, listed: listed, done: make(chan struct{})}
		if i > 0 {
			views[i].prevDone = views[i-1].done
		}
	}
	nodes := startNodes(t, n, clk, func(i int) storage.Store { return views[i] })
	stored, err := shared.ListKeys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(stored) != n {
		t.Fatalf("%d keys stored, want one per node (%d): the interleaving did not happen", len(stored), n)
	}
	checkOneSigningKey(t, nodes)
	if _, kid := nodes[n-1].sign(); kid != stored[0].ID {
		t.Fatalf("nodes sign with %s, want the oldest key %s", kid, stored[0].ID)
	}
	if kids, _ := nodes[n-1].jwks(); len(kids) != n {
		t.Fatalf("the last node publishes %d keys, want all %d", len(kids), n)
	}
}

// TestConcurrentStartupOneSigningKey starts many nodes at once on an empty
// store, in whatever order the scheduler picks.
func TestConcurrentStartupOneSigningKey(t *testing.T) {
	for range 5 {
		clk := &fakeClock{t: time.Date(2026, 8, 1, 12, 0, 0, 0, time.UTC)}
		shared := memory.New(memory.Options{Clock: clk.Now})
		nodes := startNodes(t, 8, clk, func(int) storage.Store { return shared })
		checkOneSigningKey(t, nodes)
	}
}
