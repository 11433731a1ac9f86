package memory

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/nqrust/identity/metadata"
	"github.com/nqrust/identity/storage"
)

// The benchmarks measure one operation against a store holding 1k or 1M
// records of the kind. The operations go to a working set of 1,000 of those
// records picked at random, as real traffic does: a code is redeemed
// seconds after it was issued, and the clients and sessions active at any
// moment are a small part of all that are stored. What is measured is then
// the store's own cost as it grows (maps, indexes, expiry heaps, garbage
// collection of a larger heap), which must stay flat: the 1M figures
// should be within 1.5x of the 1k ones. (Before the store kept its records
// without Go pointers, see layout.go, they were 2.2 to 3 times, nearly all
// of it the collector marking a million records' worth of small objects.
// What is left at 1M is mostly cache and TLB misses: a rotation inserts
// its successor into a million-entry index.) Spreading the keys over all 1M
// records would measure memory latency instead: on a shared two-core
// machine even a bare Go map lookup of a random key costs 20x more at 1M
// than at 1k.
//
// Next to wall time each benchmark reports cpu-ns/op, the process CPU time
// (collector included) per operation, which a busy neighbour does not
// inflate.

var benchSizes = []struct {
	name string
	n    int
}{{"entries=1k", 1_000}, {"entries=1M", 1_000_000}}

// benchHash returns a distinct hash per (tag, i) without hashing, so that
// minting one inside a timed loop costs nothing.
func benchHash(tag byte, i int) storage.Hash {
	var h storage.Hash
	h[0] = tag
	binary.LittleEndian.PutUint64(h[1:], uint64(i))
	h[31] = 0x5a
	return h
}

// cpuMeter accumulates process CPU time while the benchmark timer runs.
type cpuMeter struct {
	total, since time.Duration
	ops          int
}

func (m *cpuMeter) start() { m.since = processCPU() }
func (m *cpuMeter) stop()  { m.total += processCPU() - m.since }

// report adds cpu-ns/op to the benchmark's output.
func (m *cpuMeter) report(b *testing.B) {
	if m.ops > 0 && m.total > 0 {
		b.ReportMetric(float64(m.total.Nanoseconds())/float64(m.ops), "cpu-ns/op")
	}
}

// workingSet is how many distinct records the operations touch.
const workingSet = 1000

// sample returns workingSet of xs (all of them if there are fewer), in
// random order.
func sample[T any](seed uint64, xs []T) []T {
	r := rand.New(rand.NewPCG(seed, seed))
	n := min(workingSet, len(xs))
	out := make([]T, n)
	for i, j := range r.Perm(len(xs))[:n] {
		out[i] = xs[j]
	}
	return out
}

func BenchmarkConsumeCode(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			ctx := context.Background()
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			s := New(Options{Clock: func() time.Time { return now }})
			hashes := make([]storage.Hash, size.n)
			for i := range hashes {
				hashes[i] = benchHash('c', i)
				c := &storage.AuthorizationCode{
					Hash: hashes[i], GrantID: fmt.Sprint("grant-", i), ClientID: "client",
					RedirectURI: "http://127.0.0.1:33418/", CodeChallenge: "challenge", CodeChallengeMethod: "S256",
					Subject: "alice", Scopes: []string{"openid", "mcp:tools"}, Resources: []string{"https://mcp.example.com/mcp"},
					IssuedAt: now, ExpiresAt: now.Add(time.Duration(1+i%600) * time.Second),
				}
				if err := s.SaveCode(ctx, c); err != nil {
					b.Fatal(err)
				}
			}
			order := sample(1, hashes)
			// Collect the setup garbage now, so no collection started by the
			// setup is charged to the operations.
			runtime.GC()
			b.ReportAllocs()
			var cpu cpuMeter
			cpu.start()
			i := 0
			for b.Loop() {
				if i == len(order) {
					// The working set is used up: make it unused again, off the clock.
					cpu.stop()
					b.StopTimer()
					for _, h := range order {
						s.grants.codes.at(s.grants.findCode(h)).used = false
					}
					i = 0
					b.StartTimer()
					cpu.start()
				}
				if _, err := s.ConsumeCode(ctx, order[i]); err != nil {
					b.Fatal(err)
				}
				i++
			}
			cpu.stop()
			cpu.ops = b.N
			cpu.report(b)
		})
	}
}

func BenchmarkRotateRefresh(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			ctx := context.Background()
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			s := New(Options{Clock: func() time.Time { return now }})
			hashes := make([]storage.Hash, size.n)
			for i := range hashes {
				hashes[i] = benchHash('r', i)
				t := &storage.RefreshToken{
					Hash: hashes[i], FamilyID: fmt.Sprint("family-", i), GrantID: fmt.Sprint("grant-", i),
					ClientID: "client", Subject: "alice",
					Scopes: []string{"openid", "offline_access"}, Resources: []string{"https://mcp.example.com/mcp"},
					IssuedAt: now, ExpiresAt: now.Add(time.Duration(1+i%(30*24*60)) * time.Minute),
				}
				if err := s.SaveRefreshToken(ctx, t); err != nil {
					b.Fatal(err)
				}
			}
			order := sample(2, hashes)
			next := &storage.RefreshToken{
				GrantID: "grant", ClientID: "client", Subject: "alice",
				Scopes: []string{"openid", "offline_access"}, Resources: []string{"https://mcp.example.com/mcp"},
				IssuedAt: now, ExpiresAt: now.Add(30 * 24 * time.Hour),
			}
			successors := make([]storage.Hash, 0, len(order))
			// Collect the setup garbage now, so no collection started by the
			// setup is charged to the operations.
			runtime.GC()
			b.ReportAllocs()
			var cpu cpuMeter
			cpu.start()
			i, minted := 0, 0
			for b.Loop() {
				if i == len(order) {
					// Undo the pass off the clock: unrotate, drop successors.
					cpu.stop()
					b.StopTimer()
					t := &s.grants
					for k, h := range order {
						t.tokens.at(t.findToken(h)).rotated = ptime{}
						t.dropToken(t.findToken(successors[k]))
					}
					successors = successors[:0]
					i = 0
					b.StartTimer()
					cpu.start()
				}
				next.Hash = benchHash('n', minted)
				minted++
				if _, err := s.RotateRefreshToken(ctx, order[i], next, now, 0); err != nil {
					b.Fatal(err)
				}
				successors = append(successors, next.Hash)
				i++
			}
			cpu.stop()
			cpu.ops = b.N
			cpu.report(b)
		})
	}
}

func BenchmarkGetClient(b *testing.B) {
	for _, size := range benchSizes {
		b.Run(size.name, func(b *testing.B) {
			ctx := context.Background()
			now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
			s := New(Options{Clock: func() time.Time { return now }})
			ids := make([]string, size.n)
			for i := range ids {
				ids[i] = fmt.Sprintf("client-%08d-a1b2c3d4", i)
				c := &storage.Client{
					ID: ids[i], Kind: storage.ClientRegistered,
					Metadata: metadata.Client{
						ClientID:                ids[i],
						RedirectURIs:            []string{"http://127.0.0.1:33418/", "https://vscode.dev/redirect"},
						TokenEndpointAuthMethod: "none",
						GrantTypes:              []string{"authorization_code", "refresh_token"},
						ResponseTypes:           []string{"code"},
						ClientName:              "Visual Studio Code",
						ApplicationType:         "native",
					},
					CreatedAt: now, UpdatedAt: now,
					ExpiresAt: now.Add(time.Duration(1+i%1440) * time.Minute),
				}
				if err := s.CreateClient(ctx, c, 0); err != nil {
					b.Fatal(err)
				}
			}
			order := sample(3, ids)
			// Collect the setup garbage now, so no collection started by the
			// setup is charged to the operations.
			runtime.GC()
			b.ReportAllocs()
			var cpu cpuMeter
			cpu.start()
			i := 0
			for b.Loop() {
				if _, err := s.GetClient(ctx, order[i]); err != nil {
					b.Fatal(err)
				}
				if i++; i == len(order) {
					i = 0
				}
			}
			cpu.stop()
			cpu.ops = b.N
			cpu.report(b)
		})
	}
}
