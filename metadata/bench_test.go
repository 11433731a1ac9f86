package metadata

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

// BenchmarkRatioMetadataGETVsStatic is a GET of authorization server
// metadata next to its floor, a handler that only sets Content-Type and
// writes the same bytes, in alternating batches so that both see the same
// machine load. It reports both in thread CPU time and wall time, and
// their ratio.
func BenchmarkRatioMetadataGETVsStatic(b *testing.B) {
	const batch = 1000
	h, err := AuthorizationServerHandler(goodAS())
	if err != nil {
		b.Fatal(err)
	}
	body, err := json.Marshal(goodAS())
	if err != nil {
		b.Fatal(err)
	}
	static := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	r := httptest.NewRequest(http.MethodGet, "/.well-known/oauth-authorization-server", nil)
	w := &discardWriter{h: make(http.Header, 8)}
	run := func(h http.Handler) func() {
		return func() {
			for range batch {
				clear(w.h)
				h.ServeHTTP(w, r)
			}
		}
	}
	get, floor := run(h), run(static)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpuGet, cpuFloor, wallGet, wallFloor time.Duration
	measure := func(f func(), cpu, wall *time.Duration) {
		c0, w0 := threadCPU(), time.Now()
		f()
		*wall += time.Since(w0)
		*cpu += threadCPU() - c0
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if n%2 == 0 {
			measure(get, &cpuGet, &wallGet)
			measure(floor, &cpuFloor, &wallFloor)
		} else {
			measure(floor, &cpuFloor, &wallFloor)
			measure(get, &cpuGet, &wallGet)
		}
		n++
	}
	ops := float64(n * batch)
	if ops == 0 || wallFloor == 0 {
		return
	}
	b.ReportMetric(float64(wallGet)/ops, "get-ns")
	b.ReportMetric(float64(wallFloor)/ops, "static-ns")
	if cpuFloor > 0 {
		b.ReportMetric(float64(cpuGet)/ops, "get-cpu-ns")
		b.ReportMetric(float64(cpuFloor)/ops, "static-cpu-ns")
		b.ReportMetric(float64(cpuGet)/float64(cpuFloor), "cpu-ratio")
	}
	b.ReportMetric(float64(wallGet)/float64(wallFloor), "wall-ratio")
}
