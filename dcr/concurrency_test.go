package dcr_test

import (
	"net/http"
	"sync"
	"testing"

	"github.com/nqrust/identity/dcr"
)

func TestParallelRegistrationsGetDistinctIDs(t *testing.T) {
	f := newFixture(t, nil)
	const n = 200
	ids := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			rec := f.do(t, req{body: vscodeBody})
			if rec.Code != http.StatusCreated {
				t.Errorf("registration %d: %d %s", i, rec.Code, rec.Body)
				return
			}
			ids[i] = decode(t, rec).str("client_id")
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, id := range ids {
		if id == "" || seen[id] {
			t.Fatalf("client_id %q empty or issued twice", id)
		}
		seen[id] = true
	}
	if got := f.count(t); got != n {
		t.Errorf("%d clients stored, want %d", got, n)
	}
}

func TestParallelRegistrationsRespectMaxClients(t *testing.T) {
	const limit, n = 37, 200
	f := newFixture(t, func(c *dcr.Config) { c.MaxClients = limit })
	var (
		wg              sync.WaitGroup
		mu              sync.Mutex
		created, denied int
	)
	for range n {
		wg.Go(func() {
			rec := f.do(t, req{body: vscodeBody})
			mu.Lock()
			defer mu.Unlock()
			switch rec.Code {
			case http.StatusCreated:
				created++
			case http.StatusForbidden:
				denied++
			default:
				t.Errorf("unexpected status %d: %s", rec.Code, rec.Body)
			}
		})
	}
	wg.Wait()
	if created != limit || denied != n-limit {
		t.Errorf("created %d, denied %d; want %d and %d", created, denied, limit, n-limit)
	}
	if got := f.count(t); got != limit {
		t.Errorf("%d clients stored, want %d", got, limit)
	}
}
