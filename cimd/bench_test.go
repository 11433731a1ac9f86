package cimd

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// BenchmarkResolveCacheHit resolves fresh cached documents with 10,000
// documents in the cache (issue 10: at most 300 ns and no allocation). The
// resolver uses the real clock, so one time.Now is on the measured path.
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
		r.docs.Add(ids[i], &Document{ClientID: ids[i], FetchedAt: now, ExpiresAt: now.Add(time.Hour)})
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
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
}

// BenchmarkResolveCacheHitParallel is the same under concurrency.
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
		r.docs.Add(ids[i], &Document{ClientID: ids[i], ExpiresAt: exp})
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := r.Resolve(ctx, ids[i]); err != nil {
				b.Fatal(err)
			}
			i = (i + 7) % n
		}
	})
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
