//go:build linux

package bearer

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"golang.org/x/sys/unix"
)

func threadCPU() time.Duration {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts)
	return time.Duration(ts.Nano())
}

// BenchmarkRatioFirstSeenVsBare runs a bare go-jose ES256 verification and
// a full middleware request with the cache off (signature verified every
// time) alternately, one of each per iteration, and reports both costs in
// thread CPU time and in wall time, with their ratios. Separate
// benchmarks run minutes apart on a shared machine drift by tens of
// percent; interleaving, and CPU time of the benchmark's own thread, keep
// the ratio meaningful there.
func BenchmarkRatioFirstSeenVsBare(b *testing.B) {
	es, tok, v := benchSetup(b, true)
	pub := es.pub.Key
	algs := []jose.SignatureAlgorithm{jose.ES256}
	bare := func() {
		jws, err := jose.ParseSignedCompact(tok, algs)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := jws.Verify(pub); err != nil {
			b.Fatal(err)
		}
	}
	var ok bool
	h := Middleware(v, Options{ResourceMetadataURL: testPRM, Scopes: []string{"mcp:read"}})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, ok = TokenInfoFromContext(r.Context()) }))
	r := httptest.NewRequest(http.MethodPost, testResource, http.NoBody)
	r.Header.Set("Authorization", "Bearer "+tok)
	r.Header.Set("Content-Type", "application/json")
	w := &discardWriter{h: http.Header{}}
	mw := func() {
		ok = false
		h.ServeHTTP(w, r)
		if !ok {
			b.Fatal("token refused")
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpuBare, cpuMW, wallBare, wallMW time.Duration
	n := 0
	measure := func(f func(), cpu, wall *time.Duration) {
		c0, w0 := threadCPU(), time.Now()
		f()
		*wall += time.Since(w0)
		*cpu += threadCPU() - c0
	}
	b.ReportAllocs()
	for b.Loop() {
		if n%2 == 0 {
			measure(bare, &cpuBare, &wallBare)
			measure(mw, &cpuMW, &wallMW)
		} else {
			measure(mw, &cpuMW, &wallMW)
			measure(bare, &cpuBare, &wallBare)
		}
		n++
	}
	if n == 0 || cpuBare == 0 || wallBare == 0 {
		return
	}
	b.ReportMetric(float64(cpuBare)/float64(n), "bare-cpu-ns")
	b.ReportMetric(float64(cpuMW)/float64(n), "mw-cpu-ns")
	b.ReportMetric(float64(cpuMW)/float64(cpuBare), "cpu-ratio")
	b.ReportMetric(float64(wallMW)/float64(wallBare), "wall-ratio")
}
