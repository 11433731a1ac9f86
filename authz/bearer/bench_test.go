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
