package bearer

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// The benchmarks share one ES256 token, valid for an hour of real time.
func benchSetup(b *testing.B, disableCache bool) (*testKey, string, *Verifier) {
	b.Helper()
	es := newTestKey("es", jose.ES256)
	tok := mint(b, es, claimsAt(time.Now()), mintOpt{})
	v, err := NewVerifier(Config{
		Issuer:       testIssuer,
		Resource:     testResource,
		Keys:         StaticKeys(keySet(es)),
		DisableCache: disableCache,
	})
	if err != nil {
		b.Fatal(err)
	}
	return es, tok, v
}

// discardWriter is a ResponseWriter that keeps nothing, so the benchmarks
// measure the middleware rather than a recorder.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

func benchMiddleware(b *testing.B, disableCache bool) {
	_, tok, v := benchSetup(b, disableCache)
	var ok bool
	h := Middleware(v, Options{
		ResourceMetadataURL: testPRM,
		Scopes:              []string{"mcp:read"},
	})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, ok = TokenInfoFromContext(r.Context())
	}))
	r := httptest.NewRequest(http.MethodPost, testResource, http.NoBody)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	h.ServeHTTP(w, r)
	if !ok {
		b.Fatal("token refused")
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		ok = false
		h.ServeHTTP(w, r)
		if !ok {
			b.Fatal("token refused")
		}
	}
}

// BenchmarkBareES256Verify is the floor: go-jose parse plus signature
// verification of the same token, nothing else.
func BenchmarkBareES256Verify(b *testing.B) {
	es, tok, _ := benchSetup(b, true)
	pub := es.pub.Key
	algs := []jose.SignatureAlgorithm{jose.ES256}
	b.ReportAllocs()
	for b.Loop() {
		jws, err := jose.ParseSignedCompact(tok, algs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGoJoseMapClaims is the naive path: parse, verify, decode the
// claims into a map.
func BenchmarkGoJoseMapClaims(b *testing.B) {
	es, tok, _ := benchSetup(b, true)
	pub := es.pub.Key
	algs := []jose.SignatureAlgorithm{jose.ES256}
	b.ReportAllocs()
	for b.Loop() {
		jws, err := jose.ParseSignedCompact(tok, algs)
		if err != nil {
			b.Fatal(err)
		}
		payload, err := jws.Verify(pub)
		if err != nil {
			b.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(payload, &m); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifierFirstSeen is Verify alone, without the cache.
func BenchmarkVerifierFirstSeen(b *testing.B) {
	_, tok, v := benchSetup(b, true)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMiddlewareFirstSeen is a full request through the middleware
// with the cache off, so every request verifies the signature.
func BenchmarkMiddlewareFirstSeen(b *testing.B) { benchMiddleware(b, true) }

// BenchmarkMiddlewareRepeated is a full request through the middleware
// for a token already in the cache.
func BenchmarkMiddlewareRepeated(b *testing.B) { benchMiddleware(b, false) }

// BenchmarkRatioRepeatedVsFirstSeen runs the middleware for a cached token
// (repeated) and with the cache off (first seen) in alternating batches,
// and reports for each the per-request wall time of its fastest batch
// alongside the mean. On a shared machine the mean is inflated by whatever
// else runs; a batch that ran without being preempted shows the cost
// itself, so the ratio of the fastest batches ("min-ratio", issue 10 wants
// at least 50) holds under load. The batches are a few hundred
// microseconds, shorter than a scheduler time slice.
func BenchmarkRatioRepeatedVsFirstSeen(b *testing.B) {
	const repeatedBatch, firstBatch = 64, 2
	handler := func(disableCache bool) func() {
		_, tok, v := benchSetup(b, disableCache)
		var ok bool
		h := Middleware(v, Options{ResourceMetadataURL: testPRM, Scopes: []string{"mcp:read"}})(
			http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, ok = TokenInfoFromContext(r.Context()) }))
		r := httptest.NewRequest(http.MethodPost, testResource, http.NoBody)
		r.Header.Set("Authorization", "Bearer "+tok)
		r.Header.Set("Content-Type", "application/json")
		w := &discardWriter{h: http.Header{}}
		return func() {
			ok = false
			h.ServeHTTP(w, r)
			if !ok {
				b.Fatal("token refused")
			}
		}
	}
	repeated, first := handler(false), handler(true)
	repeated() // the first request caches the token
	var sumRep, sumFirst time.Duration
	minRep, minFirst := time.Duration(1<<62), time.Duration(1<<62)
	batch := func(f func(), n int, sum, best *time.Duration) {
		t0 := time.Now()
		for range n {
			f()
		}
		d := time.Since(t0)
		*sum += d
		*best = min(*best, d/time.Duration(n))
	}
	b.ReportAllocs()
	iters := 0
	for b.Loop() {
		batch(repeated, repeatedBatch, &sumRep, &minRep)
		batch(first, firstBatch, &sumFirst, &minFirst)
		iters++
	}
	if iters == 0 || sumRep == 0 {
		return
	}
	meanRep := float64(sumRep) / float64(iters*repeatedBatch)
	meanFirst := float64(sumFirst) / float64(iters*firstBatch)
	b.ReportMetric(float64(minRep), "repeated-min-ns")
	b.ReportMetric(float64(minFirst), "first-min-ns")
	b.ReportMetric(meanRep, "repeated-mean-ns")
	b.ReportMetric(meanFirst, "first-mean-ns")
	b.ReportMetric(float64(minFirst)/float64(minRep), "min-ratio")
	b.ReportMetric(meanFirst/meanRep, "mean-ratio")
}
