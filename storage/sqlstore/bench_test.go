package sqlstore_test

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/sqlstore"
)

// benchDialects runs fn on SQLite as Open configures it for production
// (WAL, synchronous=NORMAL) and on the test PostgreSQL server (which runs
// without fsync, so its numbers leave out disk flushes).
func benchDialects(b *testing.B, fn func(b *testing.B, s *sqlstore.Store)) {
	b.Run("SQLite", func(b *testing.B) {
		s, err := sqlstore.Open(b.Context(), "sqlite:"+filepath.Join(b.TempDir(), "bench.db"), opts(nil))
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		fn(b, s)
	})
	b.Run("Postgres", func(b *testing.B) {
		s, _ := openPostgres(b, nil)
		fn(b, s)
	})
}

func BenchmarkConsumeCode(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *sqlstore.Store) {
		ctx := b.Context()
		now := time.Now()
		hashes := make([]storage.Hash, b.N)
		for i := range hashes {
			hashes[i] = storage.HashOf(fmt.Sprint("code-", i))
			c := &storage.AuthorizationCode{Hash: hashes[i], GrantID: "g", ClientID: "c", Subject: "alice",
				Scopes: []string{"openid", "mcp:tools"}, Resources: []string{"https://mcp.example.com/mcp"},
				IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.SaveCode(ctx, c); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.ConsumeCode(ctx, hashes[i]); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkRotateRefreshToken(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *sqlstore.Store) {
		ctx := b.Context()
		now := time.Now()
		tok := func(i int) *storage.RefreshToken {
			return &storage.RefreshToken{Hash: storage.HashOf(fmt.Sprint("rt-", i)), GrantID: "g", ClientID: "c",
				Subject: "alice", Scopes: []string{"openid", "offline_access"}, IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		}
		first := tok(0)
		if err := s.SaveRefreshToken(ctx, first); err != nil {
			b.Fatal(err)
		}
		nexts := make([]*storage.RefreshToken, b.N)
		for i := range nexts {
			nexts[i] = tok(i + 1)
		}
		b.ReportAllocs()
		b.ResetTimer()
		prev := first.Hash
		for i := range b.N {
			if _, err := s.RotateRefreshToken(ctx, prev, nexts[i], now, 0); err != nil {
				b.Fatal(err)
			}
			prev = nexts[i].Hash
		}
	})
}

func BenchmarkCreateClientWithLimit(b *testing.B) {
	benchDialects(b, func(b *testing.B, s *sqlstore.Store) {
		ctx := b.Context()
		now := time.Now()
		clients := make([]*storage.Client, b.N)
		for i := range clients {
			clients[i] = &storage.Client{ID: fmt.Sprint("client-", i), Kind: storage.ClientRegistered,
				CreatedAt: now, UpdatedAt: now, ExpiresAt: now.Add(time.Hour)}
			clients[i].Metadata.RedirectURIs = []string{"http://127.0.0.1/cb"}
			clients[i].Metadata.ClientName = "bench"
		}
		b.ReportAllocs()
		b.ResetTimer()
		for i := range b.N {
			if err := s.CreateClient(ctx, clients[i], 1<<30); err != nil {
				b.Fatal(err)
			}
		}
	})
}
