package cimd_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nqrust/identity/cimd"
	"github.com/nqrust/identity/internal/safehttp"
)

func wantErr(t *testing.T, err error, class cimd.Class, reason string) *cimd.Error {
	t.Helper()
	var ce *cimd.Error
	if !errors.As(err, &ce) {
		t.Fatalf("got %v (%T), want cimd %v %q", err, err, class, reason)
	}
	if ce.Class != class || ce.Reason != reason {
		t.Fatalf("got %v %q (%v), want %v %q", ce.Class, ce.Reason, err, class, reason)
	}
	return ce
}

func TestResolveVSCode(t *testing.T) {
	s := newSite(t)
	s.json(vscodeID, encode(t, vscodeDoc()), "Cache-Control", "no-store, no-cache, max-age=0")
	clk := newClock()
	r := s.resolver(t, clk, cimd.Options{})
	d, err := r.Resolve(bg, vscodeID)
	if err != nil {
		t.Fatal(err)
	}
	if d.ClientID != vscodeID || d.Metadata.ClientName != "Visual Studio Code" || d.Metadata.TokenEndpointAuthMethod != "none" {
		t.Fatalf("document %+v", d.Metadata)
	}
	// no-store/no-cache/max-age=0 still yields the minimum cache time.
	if got := d.ExpiresAt.Sub(d.FetchedAt); got != cimd.DefaultMinCacheTime {
		t.Fatalf("lifetime %v", got)
	}
	if !d.FetchedAt.Equal(clk.Now()) {
		t.Fatal("FetchedAt does not come from the clock")
	}
	h := s.lastHeader(vscodeID)
	if h.Get("Accept") != "application/json" || h.Get("Accept-Encoding") != "gzip" {
		t.Fatalf("request headers %v", h)
	}
	// Loopback redirect on any port, exact otherwise.
	for u, want := range map[string]bool{
		"http://127.0.0.1:33418/":         true,
		"http://127.0.0.1:51234/":         true,
		"http://127.0.0.1/":               true,
		"https://vscode.dev/redirect":     true,
		"http://127.0.0.1:51234/callback": false,
		"http://localhost:33418/":         false,
		"https://vscode.dev/redirect/":    false,
		"https://vscode.dev:443/redirect": false,
	} {
		if d.RedirectURIAllowed(u) != want {
			t.Errorf("RedirectURIAllowed(%q) = %v", u, !want)
		}
	}
	if !d.Has("client_name") || d.Has("logo_uri") {
		t.Fatal("Has")
	}
	// Cached: a second resolve does not fetch, and returns the same value.
	d2, err := r.Resolve(bg, vscodeID)
	if err != nil || d2 != d || s.hitsFor(vscodeID) != 1 {
		t.Fatalf("second resolve: %v, hits %d", err, s.hitsFor(vscodeID))
	}
	// StorageClient is a private copy.
	c := d.StorageClient()
	c.Metadata.RedirectURIs[0] = "changed"
	if d.Metadata.RedirectURIs[0] != "http://127.0.0.1:33418/" || c.ID != vscodeID || c.ExpiresAt != d.ExpiresAt {
		t.Fatal("StorageClient shares state with the cached document")
	}
}

// Real documents carry members and grants this library does not know.
func TestResolveRealClients(t *testing.T) {
	s := newSite(t)
	docs := map[string]map[string]any{
		"https://chatgpt.com/oauth/client-metadata.json": {
			"client_name":                           "ChatGPT",
			"redirect_uris":                         []string{"https://chatgpt.com/connector_platform_oauth_redirect"},
			"grant_types":                           []string{"authorization_code", "refresh_token"},
			"response_types":                        []string{"code"},
			"token_endpoint_auth_method":            "none",
			"token_endpoint_auth_methods_supported": []string{"none"},
			"scope":                                 "openid offline_access",
		},
		"https://claude.ai/oauth/mcp-oauth-client-metadata": {
			"client_name":    "Claude",
			"redirect_uris":  []string{"https://claude.ai/api/mcp/auth_callback"},
			"grant_types":    []string{"authorization_code", "refresh_token", "urn:ietf:params:oauth:grant-type:jwt-bearer"},
			"response_types": []string{"code"},
		},
		"https://lovable.dev/oauth/client.json": {
			"client_name":                 "Lovable",
			"redirect_uris":               []string{"https://lovable.dev/auth/mcp/callback"},
			"code_challenge_methods_used": []string{"S256"},
			"software_id":                 "lovable",
			"x-vendor":                    map[string]any{"nested": []any{1, "two", nil}},
		},
		vscodeID: vscodeDoc(),
	}
	r := s.resolver(t, newClock(), cimd.Options{})
	for id, m := range docs {
		m["client_id"] = id
		s.json(id, encode(t, m), "Content-Type", "application/json; charset=utf-8")
		d, err := r.Resolve(bg, id)
		if err != nil {
			t.Errorf("%s: %v", id, err)
			continue
		}
		if d.Metadata.TokenEndpointAuthMethod != "none" {
			t.Errorf("%s: auth method %q, want none (missing means public)", id, d.Metadata.TokenEndpointAuthMethod)
		}
	}
}

func TestCacheLifetime(t *testing.T) {
	date := newClock().Now()
	cases := []struct {
		name   string
		header []string
		want   time.Duration
	}{
		{"none", nil, 300 * time.Second},
		{"max-age in range", []string{"Cache-Control", "max-age=3600"}, time.Hour},
		{"max-age below min", []string{"Cache-Control", "max-age=10"}, 300 * time.Second},
		{"max-age=0", []string{"Cache-Control", "max-age=0"}, 300 * time.Second},
		{"max-age above max", []string{"Cache-Control", "max-age=999999999"}, 259200 * time.Second},
		{"s-maxage wins", []string{"Cache-Control", "max-age=600, s-maxage=1200"}, 1200 * time.Second},
		{"no-store", []string{"Cache-Control", "no-store, max-age=86400"}, 300 * time.Second},
		{"no-cache", []string{"Cache-Control", "no-cache, max-age=86400"}, 300 * time.Second},
		{"malformed ignored", []string{"Cache-Control", "max-age=1h, s-maxage=x"}, 300 * time.Second},
		{"age subtracted", []string{"Cache-Control", "max-age=3600", "Age", "600"}, 3000 * time.Second},
		{"age beyond lifetime", []string{"Cache-Control", "max-age=3600", "Age", "7200"}, 300 * time.Second},
		{"bad age ignored", []string{"Cache-Control", "max-age=3600", "Age", "-3"}, time.Hour},
		{"expires", []string{"Date", date.Format(http.TimeFormat), "Expires", date.Add(2 * time.Hour).Format(http.TimeFormat)}, 2 * time.Hour},
		{"expires with server clock skew", []string{"Date", date.Add(-24 * time.Hour).Format(http.TimeFormat), "Expires", date.Add(-22 * time.Hour).Format(http.TimeFormat)}, 2 * time.Hour},
		{"expires and age", []string{"Date", date.Format(http.TimeFormat), "Expires", date.Add(2 * time.Hour).Format(http.TimeFormat), "Age", "3600"}, time.Hour},
		{"expires invalid", []string{"Expires", "0"}, 300 * time.Second},
		{"expires past", []string{"Date", date.Format(http.TimeFormat), "Expires", date.Add(-time.Hour).Format(http.TimeFormat)}, 300 * time.Second},
		{"expires far", []string{"Date", date.Format(http.TimeFormat), "Expires", date.Add(365 * 24 * time.Hour).Format(http.TimeFormat)}, 259200 * time.Second},
		{"max-age beats expires", []string{"Cache-Control", "max-age=1800", "Expires", date.Add(10 * time.Hour).Format(http.TimeFormat)}, 1800 * time.Second},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newSite(t)
			s.json(vscodeID, encode(t, vscodeDoc()), c.header...)
			clk := newClock()
			r := s.resolver(t, clk, cimd.Options{})
			d, err := r.Resolve(bg, vscodeID)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.ExpiresAt.Sub(d.FetchedAt); got != c.want {
				t.Fatalf("lifetime %v, want %v", got, c.want)
			}
			// Fresh just before expiry, refetched at expiry.
			clk.Add(c.want - time.Second)
			if _, err := r.Resolve(bg, vscodeID); err != nil || s.hitsFor(vscodeID) != 1 {
				t.Fatalf("refetched before expiry: hits %d", s.hitsFor(vscodeID))
			}
			clk.Add(time.Second)
			if _, err := r.Resolve(bg, vscodeID); err != nil || s.hitsFor(vscodeID) != 2 {
				t.Fatalf("not refetched at expiry: hits %d", s.hitsFor(vscodeID))
			}
		})
	}
}

func TestCustomClamp(t *testing.T) {
	s := newSite(t)
	s.json(vscodeID, encode(t, vscodeDoc()), "Cache-Control", "max-age=5")
	r := s.resolver(t, newClock(), cimd.Options{MinCacheTime: time.Minute, MaxCacheTime: 2 * time.Minute})
	d, err := r.Resolve(bg, vscodeID)
	if err != nil || d.ExpiresAt.Sub(d.FetchedAt) != time.Minute {
		t.Fatalf("%v %v", d, err)
	}
	if _, err := cimd.NewResolver(cimd.Options{MinCacheTime: time.Hour, MaxCacheTime: time.Minute}); err == nil {
		t.Fatal("min > max accepted")
	}
	if _, err := cimd.NewResolver(cimd.Options{MaxBytes: -1}); err == nil {
		t.Fatal("negative MaxBytes accepted")
	}
}

func TestRevalidation(t *testing.T) {
	s := newSite(t)
	var (
		mu      sync.Mutex
		status  = 200
		version = "v1"
	)
	doc := encode(t, vscodeDoc())
	s.handle(vscodeID, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		st, v := status, version
		mu.Unlock()
		etag := `"` + v + `"`
		w.Header().Set("Cache-Control", "max-age=600")
		w.Header().Set("ETag", etag)
		w.Header().Set("Last-Modified", "Sun, 01 Mar 2026 10:00:00 GMT")
		if r.Header.Get("If-None-Match") == etag && st == 200 {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		if st != 200 {
			w.WriteHeader(st)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(doc))
	})
	clk := newClock()
	r := s.resolver(t, clk, cimd.Options{})
	d1, err := r.Resolve(bg, vscodeID)
	if err != nil {
		t.Fatal(err)
	}
	if d1.ETag != `"v1"` || d1.LastModified != "Sun, 01 Mar 2026 10:00:00 GMT" {
		t.Fatalf("validators %q %q", d1.ETag, d1.LastModified)
	}
	if h := s.lastHeader(vscodeID); h.Get("If-None-Match") != "" || h.Get("If-Modified-Since") != "" {
		t.Fatal("conditional headers on the first fetch")
	}
	clk.Add(10 * time.Minute)
	d2, err := r.Resolve(bg, vscodeID)
	if err != nil {
		t.Fatal(err)
	}
	h := s.lastHeader(vscodeID)
	if h.Get("If-None-Match") != `"v1"` || h.Get("If-Modified-Since") != "Sun, 01 Mar 2026 10:00:00 GMT" {
		t.Fatalf("revalidation headers %v", h)
	}
	if s.hitsFor(vscodeID) != 2 {
		t.Fatalf("hits %d", s.hitsFor(vscodeID))
	}
	// 304: same content, lifetime extended from now.
	if d2.Metadata.ClientName != d1.Metadata.ClientName || !d2.FetchedAt.Equal(clk.Now()) || d2.ExpiresAt.Sub(clk.Now()) != 10*time.Minute {
		t.Fatalf("after 304: fetched %v expires %v", d2.FetchedAt, d2.ExpiresAt)
	}
	if d1.ExpiresAt.Equal(d2.ExpiresAt) {
		t.Fatal("the cached document was changed in place or not extended")
	}
	// Within the new lifetime: no fetch.
	clk.Add(5 * time.Minute)
	if _, err := r.Resolve(bg, vscodeID); err != nil || s.hitsFor(vscodeID) != 2 {
		t.Fatal("refetched within the extended lifetime")
	}
	// A new version answers 200 with a new ETag.
	mu.Lock()
	version = "v2"
	mu.Unlock()
	clk.Add(5 * time.Minute)
	d3, err := r.Resolve(bg, vscodeID)
	if err != nil || d3.ETag != `"v2"` || d3 == d2 {
		t.Fatalf("new version: %v %v", d3, err)
	}
	// The document disappears: the cached copy is dropped at once.
	mu.Lock()
	status = 404
	mu.Unlock()
	clk.Add(10 * time.Minute)
	_, err = r.Resolve(bg, vscodeID)
	wantErr(t, err, cimd.ClassTransport, cimd.ReasonFetchStatus)
	if r.Len() != 0 {
		t.Fatal("a document that is gone stayed cached")
	}
}

func TestStaleIfError(t *testing.T) {
	s := newSite(t)
	var status atomic.Int32
	status.Store(200)
	doc := encode(t, vscodeDoc())
	s.handle(vscodeID, func(w http.ResponseWriter, r *http.Request) {
		if st := int(status.Load()); st != 200 {
			w.WriteHeader(st)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(doc))
	})
	clk := newClock()
	r := s.resolver(t, clk, cimd.Options{StaleIfError: time.Hour})
	d1, err := r.Resolve(bg, vscodeID)
	if err != nil {
		t.Fatal(err)
	}
	status.Store(503)
	clk.Add(5*time.Minute + time.Second)
	d2, err := r.Resolve(bg, vscodeID)
	if err != nil || d2 != d1 {
		t.Fatalf("stale document not served on 503: %v", err)
	}
	// Beyond the stale window the error surfaces.
	clk.Add(time.Hour)
	_, err = r.Resolve(bg, vscodeID)
	wantErr(t, err, cimd.ClassTransport, cimd.ReasonFetchStatus)
	// A 404 is a statement about the document, not an outage: no stale use.
	s2 := newSite(t)
	s2.handle(vscodeID, func(w http.ResponseWriter, r *http.Request) {
		if st := int(status.Load()); st != 200 {
			w.WriteHeader(st)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(doc))
	})
	status.Store(200)
	clk2 := newClock()
	r2 := s2.resolver(t, clk2, cimd.Options{StaleIfError: time.Hour})
	if _, err := r2.Resolve(bg, vscodeID); err != nil {
		t.Fatal(err)
	}
	status.Store(404)
	clk2.Add(5*time.Minute + time.Second)
	_, err = r2.Resolve(bg, vscodeID)
	wantErr(t, err, cimd.ClassTransport, cimd.ReasonFetchStatus)
}

func TestSingleFlight(t *testing.T) {
	s := newSite(t)
	release := make(chan struct{})
	doc := encode(t, vscodeDoc())
	s.handle(vscodeID, func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(doc))
	})
	r := s.resolver(t, newClock(), cimd.Options{})
	const n = 1000
	var (
		wg      sync.WaitGroup
		started sync.WaitGroup
		failed  atomic.Int32
		docs    sync.Map
	)
	started.Add(n)
	for range n {
		wg.Go(func() {
			started.Done()
			d, err := r.Resolve(bg, vscodeID)
			if err != nil {
				failed.Add(1)
				return
			}
			docs.Store(d, true)
		})
	}
	started.Wait()
	time.Sleep(50 * time.Millisecond) // let the callers pile up on the flight
	close(release)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d callers failed", failed.Load())
	}
	if got := s.hitsFor(vscodeID); got != 1 {
		t.Fatalf("%d upstream fetches for %d concurrent first requests, want 1", got, n)
	}
	count := 0
	docs.Range(func(any, any) bool { count++; return true })
	if count != 1 {
		t.Fatalf("%d distinct documents returned", count)
	}
}

func TestCanceledCallerDoesNotFailOthers(t *testing.T) {
	s := newSite(t)
	release := make(chan struct{})
	doc := encode(t, vscodeDoc())
	s.handle(vscodeID, func(w http.ResponseWriter, r *http.Request) {
		<-release
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(doc))
	})
	r := s.resolver(t, newClock(), cimd.Options{})
	ctx, cancel := context.WithCancel(bg)
	firstErr := make(chan error, 1)
	go func() {
		_, err := r.Resolve(ctx, vscodeID)
		firstErr <- err
	}()
	// Wait until the first caller's fetch reached the server.
	for s.hitsFor(vscodeID) == 0 {
		time.Sleep(time.Millisecond)
	}
	second := make(chan error, 1)
	go func() {
		_, err := r.Resolve(bg, vscodeID)
		second <- err
	}()
	cancel()
	err := <-firstErr
	wantErr(t, err, cimd.ClassTransport, cimd.ReasonCanceled)
	if !errors.Is(err, context.Canceled) {
		t.Fatal("canceled error does not wrap context.Canceled")
	}
	close(release)
	if err := <-second; err != nil {
		t.Fatalf("the first caller's cancellation failed the second: %v", err)
	}
	if s.hitsFor(vscodeID) != 1 {
		t.Fatalf("hits %d", s.hitsFor(vscodeID))
	}
}

func TestLRUBound(t *testing.T) {
	s := newSite(t)
	const size = 20
	r := s.resolver(t, newClock(), cimd.Options{CacheSize: size})
	for i := range size * 10 {
		id := fmt.Sprintf("https://example.com/clients/%d.json", i)
		s.json(id, encode(t, docFor(id)))
		if _, err := r.Resolve(bg, id); err != nil {
			t.Fatal(err)
		}
		if r.Len() > size {
			t.Fatalf("cache holds %d > %d documents", r.Len(), size)
		}
	}
	if r.Len() != size {
		t.Fatalf("cache holds %d, want %d", r.Len(), size)
	}
	// The most recent are cached, the oldest were evicted.
	last := fmt.Sprintf("https://example.com/clients/%d.json", size*10-1)
	first := "https://example.com/clients/0.json"
	r.Resolve(bg, last)
	r.Resolve(bg, first)
	if s.hitsFor(last) != 1 || s.hitsFor(first) != 2 {
		t.Fatalf("hits last %d first %d", s.hitsFor(last), s.hitsFor(first))
	}
}

// TestLRURecency checks that a cache hit counts as a use: with the cache
// full, the document resolved least recently is evicted, not the one
// fetched first.
func TestLRURecency(t *testing.T) {
	s := newSite(t)
	r := s.resolver(t, newClock(), cimd.Options{CacheSize: 3})
	id := func(n string) string { return "https://example.com/clients/" + n + ".json" }
	for _, n := range []string{"a", "b", "c", "d"} {
		s.json(id(n), encode(t, docFor(id(n))))
	}
	for _, n := range []string{"a", "b", "c", "a", "d"} {
		if _, err := r.Resolve(bg, id(n)); err != nil {
			t.Fatal(err)
		}
	}
	// a was used after b and c, so d replaced b.
	for _, n := range []string{"a", "c", "d", "b"} {
		if _, err := r.Resolve(bg, id(n)); err != nil {
			t.Fatal(err)
		}
	}
	for n, want := range map[string]int{"a": 1, "c": 1, "d": 1, "b": 2} {
		if got := s.hitsFor(id(n)); got != want {
			t.Errorf("%s fetched %d times, want %d", n, got, want)
		}
	}
}

func TestErrorsNotCached(t *testing.T) {
	s := newSite(t)
	var broken atomic.Bool
	broken.Store(true)
	good := encode(t, vscodeDoc())
	bad := encode(t, with(vscodeDoc(), "client_secret", "s3cret"))
	s.handle(vscodeID, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "max-age=86400")
		if broken.Load() {
			w.Write([]byte(bad))
			return
		}
		w.Write([]byte(good))
	})
	clk := newClock()
	r := s.resolver(t, clk, cimd.Options{})
	_, err := r.Resolve(bg, vscodeID)
	wantErr(t, err, cimd.ClassDocument, cimd.ReasonClientSecret)
	if r.Len() != 0 {
		t.Fatal("an invalid document was cached")
	}
	// The failure is remembered briefly, so it is not fetched again...
	_, err = r.Resolve(bg, vscodeID)
	wantErr(t, err, cimd.ClassDocument, cimd.ReasonClientSecret)
	if s.hitsFor(vscodeID) != 1 {
		t.Fatalf("failed client_id fetched again within the negative cache time: %d", s.hitsFor(vscodeID))
	}
	// ...but only briefly, whatever the response's Cache-Control said.
	broken.Store(false)
	clk.Add(cimd.DefaultNegativeCacheTime)
	d, err := r.Resolve(bg, vscodeID)
	if err != nil || d == nil || s.hitsFor(vscodeID) != 2 {
		t.Fatalf("after the negative cache time: %v, hits %d", err, s.hitsFor(vscodeID))
	}

	// With the negative cache disabled every request fetches.
	s2 := newSite(t)
	r2 := s2.resolver(t, clk, cimd.Options{NegativeCacheTime: -1})
	for range 3 {
		_, err := r2.Resolve(bg, vscodeID)
		wantErr(t, err, cimd.ClassTransport, cimd.ReasonFetchStatus)
	}
	if s2.hitsFor(vscodeID) != 3 {
		t.Fatalf("hits %d", s2.hitsFor(vscodeID))
	}
	// Forget drops a remembered failure.
	_, _ = r.Resolve(bg, "https://example.com/none.json")
	r.Forget("https://example.com/none.json")
	_, _ = r.Resolve(bg, "https://example.com/none.json")
	if s.hitsFor("https://example.com/none.json") != 2 {
		t.Fatal("Forget did not drop the remembered failure")
	}
}

func gzipped(t *testing.T, b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

// TestDocumentAndTransportRules covers the refusals Resolve itself makes.
func TestDocumentAndTransportRules(t *testing.T) {
	s := newSite(t)
	base := "https://example.com/c/"
	type tc struct {
		name   string
		serve  http.HandlerFunc
		body   string
		class  cimd.Class
		reason string
	}
	jsonBody := func(m map[string]any) string { return encode(t, m) }
	id := func(name string) string { return base + name + ".json" }
	d := func(name string, kv ...any) string { return jsonBody(with(docFor(id(name)), kv...)) }
	bigName := strings.Repeat("x", 5000)
	cases := []tc{
		{name: "array", body: `[{"client_id":"x"}]`, class: cimd.ClassDocument, reason: cimd.ReasonNotJSONObject},
		{name: "string", body: `"hello"`, class: cimd.ClassDocument, reason: cimd.ReasonNotJSONObject},
		{name: "null", body: `null`, class: cimd.ClassDocument, reason: cimd.ReasonNotJSONObject},
		{name: "invalid", body: `{"client_id":`, class: cimd.ClassDocument, reason: cimd.ReasonNotJSONObject},
		{name: "trailing", body: `{} {}`, class: cimd.ClassDocument, reason: cimd.ReasonNotJSONObject},
		{name: "noid", body: d("noid", "client_id", nil), class: cimd.ClassDocument, reason: cimd.ReasonNoClientID},
		{name: "mismatch", body: d("mismatch", "client_id", id("other")), class: cimd.ClassDocument, reason: cimd.ReasonClientIDMismatch},
		{name: "slash", body: d("slash", "client_id", id("slash")+"/"), class: cimd.ClassDocument, reason: cimd.ReasonClientIDMismatch},
		{name: "case", body: d("case", "client_id", strings.ToUpper(id("case"))), class: cimd.ClassDocument, reason: cimd.ReasonClientIDMismatch},
		{name: "port", body: d("port", "client_id", strings.Replace(id("port"), "example.com", "example.com:443", 1)), class: cimd.ClassDocument, reason: cimd.ReasonClientIDMismatch},
		{name: "secret", body: d("secret", "client_secret", "x"), class: cimd.ClassDocument, reason: cimd.ReasonClientSecret},
		{name: "emptysecret", body: d("emptysecret", "client_secret", ""), class: cimd.ClassDocument, reason: cimd.ReasonClientSecret},
		{name: "secretexp", body: d("secretexp", "client_secret_expires_at", 0), class: cimd.ClassDocument, reason: cimd.ReasonClientSecret},
		{name: "basic", body: d("basic", "token_endpoint_auth_method", "client_secret_basic"), class: cimd.ClassDocument, reason: cimd.ReasonSharedSecretAuth},
		{name: "post", body: d("post", "token_endpoint_auth_method", "client_secret_post"), class: cimd.ClassDocument, reason: cimd.ReasonSharedSecretAuth},
		{name: "jwt", body: d("jwt", "token_endpoint_auth_method", "client_secret_jwt"), class: cimd.ClassDocument, reason: cimd.ReasonSharedSecretAuth},
		{name: "privjwk", body: d("privjwk", "token_endpoint_auth_method", "private_key_jwt", "jwks", map[string]any{"keys": []any{map[string]any{
			"kty": "EC", "crv": "P-256", "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
			"d": "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}}}), class: cimd.ClassDocument, reason: cimd.ReasonPrivateKeys},
		{name: "symjwk", body: d("symjwk", "jwks", map[string]any{"keys": []any{map[string]any{"kty": "oct", "k": "c2VjcmV0"}}}), class: cimd.ClassDocument, reason: cimd.ReasonPrivateKeys},
		{name: "noredirect", body: d("noredirect", "redirect_uris", nil), class: cimd.ClassDocument, reason: cimd.ReasonNoRedirectURIs},
		{name: "emptyredirect", body: d("emptyredirect", "redirect_uris", []string{}), class: cimd.ClassDocument, reason: cimd.ReasonNoRedirectURIs},
		{name: "jsredirect", body: d("jsredirect", "redirect_uris", []string{"javascript:alert(1)"}), class: cimd.ClassDocument, reason: cimd.ReasonInvalidMetadata},
		{name: "httpredirect", body: d("httpredirect", "redirect_uris", []string{"http://example.com/cb"}), class: cimd.ClassDocument, reason: cimd.ReasonInvalidMetadata},
		{name: "implicit", body: d("implicit", "grant_types", []string{"implicit"}), class: cimd.ClassDocument, reason: cimd.ReasonInvalidMetadata},
		{name: "tokenresp", body: d("tokenresp", "response_types", []string{"token"}), class: cimd.ClassDocument, reason: cimd.ReasonInvalidMetadata},
		{name: "wrongtype", body: d("wrongtype", "redirect_uris", "https://example.com/cb"), class: cimd.ClassDocument, reason: cimd.ReasonInvalidMetadata},
		{name: "dup", body: `{"client_id":"` + id("dup") + `","client_id":"` + id("dup") + `","redirect_uris":["https://example.com/cb"]}`, class: cimd.ClassDocument, reason: cimd.ReasonInvalidMetadata},
		{name: "httplogo", body: d("httplogo", "logo_uri", "http://example.com/logo.png"), class: cimd.ClassDocument, reason: cimd.ReasonInvalidMetadata},
		{name: "big", body: d("big", "client_name", bigName), class: cimd.ClassTransport, reason: cimd.ReasonFetchTooLarge},
		{name: "html", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(d("html")))
		}, class: cimd.ClassTransport, reason: cimd.ReasonFetchContentType},
		{name: "notype", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			w.Write([]byte(d("notype")))
		}, class: cimd.ClassTransport, reason: cimd.ReasonFetchContentType},
		{name: "bomb", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Encoding", "gzip")
			w.Write(gzipped(t, append([]byte(`{"client_name":"`), make([]byte, 1<<20)...)))
		}, class: cimd.ClassTransport, reason: cimd.ReasonFetchTooLarge},
		{name: "redirect", serve: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, id("gzip"), http.StatusFound)
		}, class: cimd.ClassTransport, reason: cimd.ReasonFetchRedirect},
		{name: "permanent", serve: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, id("gzip"), http.StatusPermanentRedirect)
		}, class: cimd.ClassTransport, reason: cimd.ReasonFetchRedirect},
		{name: "missing", class: cimd.ClassTransport, reason: cimd.ReasonFetchStatus},
		{name: "servererror", serve: func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "boom", 500)
		}, class: cimd.ClassTransport, reason: cimd.ReasonFetchStatus},
		{name: "created", serve: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(201)
			w.Write([]byte(d("created")))
		}, class: cimd.ClassTransport, reason: cimd.ReasonFetchStatus},
	}
	for _, c := range cases {
		switch {
		case c.serve != nil:
			s.handle(id(c.name), c.serve)
		case c.body != "":
			s.json(id(c.name), c.body)
		}
	}
	// A gzip-encoded valid document is fine (and is the redirect target).
	gz := gzipped(t, []byte(d("gzip")))
	s.handle(id("gzip"), func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(gz)
	})
	r := s.resolver(t, newClock(), cimd.Options{})
	if _, err := r.Resolve(bg, id("gzip")); err != nil {
		t.Fatalf("gzip document: %v", err)
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := r.Resolve(bg, id(c.name))
			ce := wantErr(t, err, c.class, c.reason)
			if ce.ClientID != id(c.name) {
				t.Fatalf("ClientID %q", ce.ClientID)
			}
			if strings.Contains(err.Error(), bigName[:100]) {
				t.Fatal("error leaks the document")
			}
		})
	}
	if s.hitsFor(id("gzip")) != 1 {
		t.Fatal("a redirect was followed")
	}
	// A null member counts as absent.
	s.json(id("nullsecret"), strings.Replace(d("nullsecret", "client_secret", "SENTINEL"), `"SENTINEL"`, "null", 1))
	if _, err := r.Resolve(bg, id("nullsecret")); err != nil {
		t.Fatalf("null client_secret: %v", err)
	}
}

func TestTransportClasses(t *testing.T) {
	s := newSite(t)
	s.handle("https://vscode.dev/slow.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"client_id":`))
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	r := s.resolver(t, newClock(), cimd.Options{Timeout: 150 * time.Millisecond})
	start := time.Now()
	_, err := r.Resolve(bg, "https://vscode.dev/slow.json")
	wantErr(t, err, cimd.ClassTransport, cimd.ReasonFetchTimeout)
	if time.Since(start) > 2*time.Second {
		t.Fatal("timeout not applied")
	}
	var se *safehttp.Error
	if !errors.As(err, &se) || se.Kind != safehttp.KindTimeout {
		t.Fatalf("cause %v", err)
	}
	for id, reason := range map[string]string{
		"https://loop.vscode.dev/c.json":     cimd.ReasonFetchBlocked,
		"https://internal.vscode.dev/c.json": cimd.ReasonFetchBlocked,
		"https://meta.vscode.dev/c.json":     cimd.ReasonFetchBlocked,
		"https://mapped.vscode.dev/c.json":   cimd.ReasonFetchBlocked,
		"https://127.0.0.1/c.json":           cimd.ReasonFetchBlocked,
		"https://[::1]/c.json":               cimd.ReasonFetchBlocked,
		"https://unknown.example/c.json":     cimd.ReasonFetchFailed,
	} {
		_, err := r.Resolve(bg, id)
		wantErr(t, err, cimd.ClassTransport, reason)
	}
	for _, ap := range s.srv.Dialed() {
		if ap.Addr().String() != publicAddr {
			t.Fatalf("dialled %v", ap)
		}
	}
	// http client IDs need AllowHTTP.
	_, err = r.Resolve(bg, "http://vscode.dev/c.json")
	wantErr(t, err, cimd.ClassURL, cimd.ReasonHTTPNotAllowed)
}

func TestDefaultClientRefusesLoopback(t *testing.T) {
	// No HTTPClient given: the built-in safe client must refuse a
	// loopback document server unless AllowLoopback is set.
	r, err := cimd.NewResolver(cimd.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(bg, "https://127.0.0.1:1/c.json")
	ce := wantErr(t, err, cimd.ClassTransport, cimd.ReasonFetchBlocked)
	var se *safehttp.Error
	if !errors.As(ce, &se) || se.Category != safehttp.CatLoopback {
		t.Fatalf("cause %v", ce.Err)
	}
	r, err = cimd.NewResolver(cimd.Options{AllowLoopback: true, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_, err = r.Resolve(bg, "https://127.0.0.1:1/c.json")
	wantErr(t, err, cimd.ClassTransport, cimd.ReasonFetchFailed) // connection refused, not blocked
}
