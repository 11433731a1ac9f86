package dcr_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/nqrust/identity/dcr"
	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// paddedBody returns a valid registration body of exactly n bytes, with
// extra members (such as a client_id for an update) put first.
func paddedBody(n int, extra string) string {
	head := `{` + extra + `"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","x-pad":"`
	const tail = `"}`
	return head + strings.Repeat("p", n-len(head)-len(tail)) + tail
}

// nestedBody returns a valid registration body whose deepest value sits
// depth levels down (the object itself is level 1).
func nestedBody(depth int, extra string) string {
	return `{` + extra + `"redirect_uris":["http://127.0.0.1/cb"],"token_endpoint_auth_method":"none","x":` +
		strings.Repeat("[", depth-1) + strings.Repeat("]", depth-1) + `}`
}

// TestLimitBody proves the body bounds of registration and update: at the
// bound the request is served, past it the answer is 400
// invalid_client_metadata and nothing is stored or changed.
func TestLimitBody(t *testing.T) {
	tests := []struct {
		name   string
		body   func(extra string) string
		status int
		desc   string
	}{
		{"size at MaxBodyBytes", func(e string) string { return paddedBody(dcr.MaxBodyBytes, e) }, 201, ""},
		{"size over MaxBodyBytes", func(e string) string { return paddedBody(dcr.MaxBodyBytes+1, e) }, 400, "exceeds"},
		{"nesting at 32", func(e string) string { return nestedBody(32, e) }, 201, ""},
		{"nesting at 33", func(e string) string { return nestedBody(33, e) }, 400, "deeper"},
	}
	for _, tt := range tests {
		t.Run("register "+tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			rec := f.do(t, req{body: tt.body("")})
			if tt.status == 201 {
				if rec.Code != 201 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				return
			}
			assertError(t, rec, tt.status, "invalid_client_metadata", tt.desc)
			if n := f.count(t); n != 0 {
				t.Fatalf("%d clients stored", n)
			}
		})
		t.Run("update "+tt.name, func(t *testing.T) {
			f := newFixture(t, nil)
			m := f.mustRegister(t, inspectorBody, nil)
			id := m.str("client_id")
			before, err := f.store.GetClient(context.Background(), id)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Second)
			rec := f.do(t, req{method: http.MethodPut, path: itemPath(m), body: tt.body(`"client_id":"` + id + `",`),
				headers: bearer(m.str("registration_access_token"))})
			if tt.status == 201 {
				if rec.Code != 200 {
					t.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
				return
			}
			assertError(t, rec, tt.status, "invalid_client_metadata", tt.desc)
			after, err := f.store.GetClient(context.Background(), id)
			if err != nil || !after.UpdatedAt.Equal(before.UpdatedAt) {
				t.Fatalf("refused update changed the client: %+v, %v", after, err)
			}
		})
	}
}

// TestLimitAccessTokenLength proves the bound on initial and registration
// access tokens: a token of maxTokenLength (512) bytes is looked up (and
// is unknown), a longer one is refused as malformed without a lookup.
func TestLimitAccessTokenLength(t *testing.T) {
	f := newFixture(t, func(c *dcr.Config) {
		c.Authenticated = &dcr.Policy{Name: "partners", TrustedHosts: []string{"*"}, RateLimit: rate.Inf}
	})
	rec := f.do(t, req{body: inspectorBody, headers: bearer(strings.Repeat("A", 512))})
	assertError(t, rec, 401, "invalid_token", "not valid")
	rec = f.do(t, req{body: inspectorBody, headers: bearer(strings.Repeat("A", 513))})
	assertError(t, rec, 401, "invalid_token", "malformed")
	m := f.mustRegister(t, inspectorBody, nil)
	rec = f.do(t, req{method: http.MethodGet, path: itemPath(m), headers: bearer("a." + strings.Repeat("A", 511))})
	assertError(t, rec, 401, "invalid_token", "malformed")
	if n := f.count(t); n != 1 {
		t.Fatalf("%d clients stored", n)
	}
}

// countingStore counts client lookups.
type countingStore struct {
	*memory.Store
	gets atomic.Int32
}

func (c *countingStore) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c.gets.Add(1)
	return c.Store.GetClient(ctx, id)
}

// TestLimitClientIDInPath proves the bound on the client_id taken from a
// configuration URI: up to 128 bytes it is looked up, beyond it the answer
// is the same 401 without touching the store.
func TestLimitClientIDInPath(t *testing.T) {
	cs := &countingStore{}
	f := newFixture(t, func(c *dcr.Config) {
		cs.Store = c.Store.(*memory.Store)
		c.Store = cs
	})
	m := f.mustRegister(t, inspectorBody, nil)
	rat := m.str("registration_access_token")
	for _, tt := range []struct {
		n       int
		lookups int32
	}{{128, 1}, {129, 0}} {
		before := cs.gets.Load()
		rec := f.do(t, req{method: http.MethodGet, path: "/register/" + strings.Repeat("c", tt.n), headers: bearer(rat)})
		assertError(t, rec, 401, "invalid_token", "not valid for this client")
		if got := cs.gets.Load() - before; got != tt.lookups {
			t.Fatalf("client_id of %d bytes: %d store lookups, want %d", tt.n, got, tt.lookups)
		}
	}
}

// TestLimitQuotedInput proves that client input quoted in an error
// description is cut short: a 10 KB Origin header or redirect URI does not
// come back whole.
func TestLimitQuotedInput(t *testing.T) {
	f := newFixture(t, nil)
	long := "https://evil.example/" + strings.Repeat("x", 10000)
	rec := f.do(t, req{body: inspectorBody, headers: map[string]string{"Origin": long}})
	assertError(t, rec, 403, "access_denied", "not an allowed registration web origin")
	if d := decode(t, rec).str("error_description"); len(d) > 300 {
		t.Fatalf("description of %d bytes quotes the whole Origin", len(d))
	}
	rec = f.do(t, req{body: `{"redirect_uris":["` + long + `#"]}`})
	assertError(t, rec, 400, "invalid_redirect_uri", "")
	if d := decode(t, rec).str("error_description"); len(d) > 300 {
		t.Fatalf("description of %d bytes quotes the whole redirect URI", len(d))
	}
}

// TestLimitAuthorizationHeaders proves that exactly one Authorization
// header is read: two are refused before any token is looked up.
func TestLimitAuthorizationHeaders(t *testing.T) {
	f := newFixture(t, nil)
	m := f.mustRegister(t, inspectorBody, nil)
	rat := m.str("registration_access_token")
	r := httptestRequest(http.MethodGet, itemPath(m), "")
	r.Header["Authorization"] = []string{"Bearer " + rat, "Bearer " + rat}
	rec := serve(f, r)
	assertError(t, rec, 401, "invalid_token", "more than one Authorization header")
}

// TestLimitMetadataMembers proves that the client metadata limits of
// package metadata apply to registration: one redirect URI too many is
// refused and nothing is stored.
func TestLimitMetadataMembers(t *testing.T) {
	f := newFixture(t, nil)
	uris := func(n int) string {
		return `["http://127.0.0.1/cb` + strings.Repeat(`","http://127.0.0.1/cb`, n-1) + `"]`
	}
	body := func(n int) string {
		return `{"token_endpoint_auth_method":"none","redirect_uris":` + uris(n) + `}`
	}
	if rec := f.do(t, req{body: body(metadata.MaxRedirectURIs)}); rec.Code != 201 {
		t.Fatalf("%d redirect URIs: %d %s", metadata.MaxRedirectURIs, rec.Code, rec.Body)
	}
	rec := f.do(t, req{body: body(metadata.MaxRedirectURIs + 1)})
	assertError(t, rec, 400, "invalid_redirect_uri", "at most")
	if n := f.count(t); n != 1 {
		t.Fatalf("%d clients stored, want 1", n)
	}
}

func httptestRequest(method, path, body string) *http.Request {
	r := httptest.NewRequest(method, "https://as.example.com"+path, strings.NewReader(body))
	r.RemoteAddr = localCaller
	return r
}

func serve(f *fixture, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	f.h.ServeHTTP(rec, r)
	return rec
}
