package cimd

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"
)

// BenchmarkResolveCacheHit resolves fresh cached documents with 10,000
// documents in the cache (issue 10: at most 300 ns and no allocation). The
// resolver uses the real clock, so one monotonic clock read is on the
// measured path. cpu-ns/op is the thread CPU time per hit, which a busy
// neighbour does not inflate.
func BenchmarkResolveCacheHit(b *testing.B) { benchHit(b, nil) }

// BenchmarkResolveCacheHitFixedClock is the same with an injected clock,
// isolating the cache from the cost of reading the system clock.
func BenchmarkResolveCacheHitFixedClock(b *testing.B) {
	now := time.Now()
	benchHit(b, func() time.Time { return now })
}

func benchHit(b *testing.B, clock func() time.Time) {
	const n = 10000
	now := time.Now()
	r, err := NewResolver(Options{CacheSize: n, Clock: clock})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("https://client-%d.example.com/oauth/client-metadata.json", i)
		r.cache(ids[i], &Document{ClientID: ids[i], FetchedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	ctx := context.Background()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := threadCPU()
	i := 0
	for b.Loop() {
		if _, err := r.Resolve(ctx, ids[i]); err != nil {
			b.Fatal(err)
		}
		i++
		if i == n {
			i = 0
		}
	}
	if c := threadCPU() - c0; c > 0 {
		b.ReportMetric(float64(c)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkRatioCacheHitVsMap is the cache hit next to its floor, a bare
// Go map lookup of the same 10,000 keys (no lock, no clock, no expiry),
// in alternating batches of 1,000 so that both see the same machine load.
// It reports both in thread CPU time and wall time, and their ratio.
func BenchmarkRatioCacheHitVsMap(b *testing.B) {
	const n, batch = 10000, 1000
	r, err := NewResolver(Options{CacheSize: n})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	bare := make(map[string]*Document, n)
	exp := time.Now().Add(time.Hour)
	for i := range ids {
		ids[i] = fmt.Sprintf("https://client-%d.example.com/oauth/client-metadata.json", i)
		d := &Document{ClientID: ids[i], ExpiresAt: exp}
		r.cache(ids[i], d)
		bare[ids[i]] = d
	}
	ctx := context.Background()
	var sink *Document
	hit := func(lo int) {
		for _, id := range ids[lo : lo+batch] {
			d, err := r.Resolve(ctx, id)
			if err != nil {
				b.Fatal(err)
			}
			sink = d
		}
	}
	lookup := func(lo int) {
		for _, id := range ids[lo : lo+batch] {
			sink = bare[id]
		}
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var cpuHit, cpuMap, wallHit, wallMap time.Duration
	measure := func(f func(int), lo int, cpu, wall *time.Duration) {
		c0, w0 := threadCPU(), time.Now()
		f(lo)
		*wall += time.Since(w0)
		*cpu += threadCPU() - c0
	}
	b.ReportAllocs()
	batches, lo := 0, 0
	for b.Loop() {
		if batches%2 == 0 {
			measure(hit, lo, &cpuHit, &wallHit)
			measure(lookup, lo, &cpuMap, &wallMap)
		} else {
			measure(lookup, lo, &cpuMap, &wallMap)
			measure(hit, lo, &cpuHit, &wallHit)
		}
		batches++
		if lo += batch; lo == n {
			lo = 0
		}
	}
	_ = sink
	ops := float64(batches * batch)
	if ops == 0 || wallMap == 0 {
		return
	}
	b.ReportMetric(float64(wallHit)/ops, "hit-ns")
	b.ReportMetric(float64(wallMap)/ops, "map-ns")
	if cpuMap > 0 {
		b.ReportMetric(float64(cpuHit)/ops, "hit-cpu-ns")
		b.ReportMetric(float64(cpuMap)/ops, "map-cpu-ns")
		b.ReportMetric(float64(cpuHit)/float64(cpuMap), "cpu-ratio")
	}
	b.ReportMetric(float64(wallHit)/float64(wallMap), "wall-ratio")
}

// BenchmarkResolveCacheHitParallel is the same under concurrency, from
// GOMAXPROCS goroutines; cpu-ns/op is the process CPU time per hit.
func BenchmarkResolveCacheHitParallel(b *testing.B) {
	const n = 10000
	r, err := NewResolver(Options{CacheSize: n})
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	exp := time.Now().Add(time.Hour)
	for i := range ids {
		ids[i] = fmt.Sprintf("https://client-%d.example.com/oauth/client-metadata.json", i)
		r.cache(ids[i], &Document{ClientID: ids[i], ExpiresAt: exp})
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	c0 := processCPU()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := r.Resolve(ctx, ids[i]); err != nil {
				b.Error(err)
				return
			}
			i = (i + 7) % n
		}
	})
	if c := processCPU() - c0; c > 0 {
		b.ReportMetric(float64(c)/float64(b.N), "cpu-ns/op")
	}
}

// BenchmarkValidateClientIDURL measures the URL rules on a miss.
func BenchmarkValidateClientIDURL(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := ValidateClientIDURL("https://vscode.dev/oauth/client-metadata.json", false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCacheControl measures the header parser.
func BenchmarkParseCacheControl(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ParseCacheControl(`public, max-age=3600, s-maxage=600, no-cache="Set-Cookie", stale-while-revalidate=30`)
	}
}
