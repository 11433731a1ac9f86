package sqlstore_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nqrust/identity/internal/pgtest"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/sqlstore"
)

type dialect struct {
	name string
	open func(t testing.TB, clock func() time.Time) (*sqlstore.Store, string)
	// driver and source open the same database directly.
	driver string
	source func(dsn string) string
}

var dialects = []dialect{
	{"SQLite", openSQLite, "sqlite", func(dsn string) string { return strings.TrimPrefix(dsn, "sqlite:") }},
	{"Postgres", openPostgres, "pgx", func(dsn string) string { return dsn }},
}

func rawDB(t testing.TB, d dialect, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open(d.driver, d.source(dsn))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func count(t testing.TB, db *sql.DB, query string, args ...any) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(t.Context(), query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func TestOptionsAreValidated(t *testing.T) {
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "x.db")
	for _, tc := range []struct {
		name   string
		secret []byte
		want   string
	}{
		{"missing", nil, "KeyEncryptionSecret is required"},
		{"short", bytes.Repeat([]byte{1}, 31), "is 31 bytes; at least 32"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{KeyEncryptionSecret: tc.secret})
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded without a usable KeyEncryptionSecret")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	// Any 32 bytes will do, including ones that are not text.
	s, err := sqlstore.Open(t.Context(), dsn, sqlstore.Options{KeyEncryptionSecret: make([]byte, 32)})
	if err != nil {
		t.Fatalf("Open with 32 zero bytes: %v", err)
	}
	s.Close()

	for _, bad := range []string{"", "mysql://x", "sqlite:", "file.db"} {
		if s, err := sqlstore.Open(t.Context(), bad, opts(nil)); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", bad)
		}
	}
	if _, err := sqlstore.New(t.Context(), nil, sqlstore.SQLite, opts(nil)); err == nil {
		t.Error("New with a nil *sql.DB succeeded")
	}
}

func TestOpenPasswordNotInError(t *testing.T) {
	t.Parallel()
	_, err := sqlstore.Open(t.Context(), "postgresx://u:hunter2@h/db", opts(nil))
	if err == nil || strings.Contains(err.Error(), "hunter2") {
		t.Fatalf("error %v: want a refusal that does not echo the DSN", err)
	}
}

func TestMigrationsAreIdempotent(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s, dsn := d.open(t, nil)
			g := &storage.Grant{ID: "g1", Subject: "alice", ClientID: "c", CreatedAt: time.Now()}
			if err := s.CreateGrant(t.Context(), g); err != nil {
				t.Fatal(err)
			}
			s.Close()
			for range 2 {
				s2, err := sqlstore.Open(t.Context(), dsn, opts(nil))
				if err != nil {
					t.Fatalf("reopening: %v", err)
				}
				if _, err := s2.GetGrant(t.Context(), "g1"); err != nil {
					t.Errorf("grant after reopening: %v", err)
				}
				s2.Close()
			}
			db := rawDB(t, d, dsn)
			if n := count(t, db, "SELECT count(*) FROM schema_migrations"); n != 1 {
				t.Errorf("schema_migrations has %d rows after three opens, want 1", n)
			}
		})
	}
}

func TestNewerSchemaIsRefused(t *testing.T) {
	t.Parallel()
	s, dsn := openSQLite(t, nil)
	s.Close()
	db := rawDB(t, dialects[0], dsn)
	if _, err := db.Exec("INSERT INTO schema_migrations (version, name, applied_at) VALUES (9999, 'future', 0)"); err != nil {
		t.Fatal(err)
	}
	_, err := sqlstore.Open(t.Context(), dsn, opts(nil))
	if err == nil || !strings.Contains(err.Error(), "newer than this build") {
		t.Fatalf("Open on a schema from a newer build: error %v", err)
	}
}

// Several nodes starting at once on a fresh database must all come up, and
// the schema must be applied exactly once.
func TestConcurrentOpen(t *testing.T) {
	t.Parallel()
	const nodes = 6
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			var dsn string
			if d.name == "Postgres" {
				dsn = pgtest.Shared(t).NewDatabase(t)
			} else {
				dsn = "sqlite:" + filepath.Join(t.TempDir(), "fresh.db")
			}
			stores := make([]*sqlstore.Store, nodes)
			errs := make([]error, nodes)
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range nodes {
				wg.Go(func() {
					<-start
					stores[i], errs[i] = sqlstore.Open(t.Context(), dsn, opts(nil))
				})
			}
			close(start)
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Errorf("node %d: %v", i, err)
					continue
				}
				defer stores[i].Close()
			}
			db := rawDB(t, d, dsn)
			if n := count(t, db, "SELECT count(*) FROM schema_migrations"); n != 1 {
				t.Errorf("schema_migrations has %d rows, want 1", n)
			}
			// Every node works on the shared schema.
			for i, s := range stores {
				if s == nil {
					continue
				}
				if err := s.ReserveJTI(t.Context(), fmt.Sprint("jti-", i), time.Now().Add(time.Hour)); err != nil {
					t.Errorf("node %d: ReserveJTI: %v", i, err)
				}
			}
		})
	}
}

func TestSigningKeysEncryptedAtRest(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s, dsn := d.open(t, nil)
			private := []byte("-----PKCS8 DER stand-in, long enough to spot in a dump-----")
			now := time.Now()
			for _, id := range []string{"kid-1", "kid-2"} {
				k := &storage.SigningKey{ID: id, Algorithm: "ES256", Private: private, CreatedAt: now, NotBefore: now}
				if err := s.AddKey(t.Context(), k); err != nil {
					t.Fatal(err)
				}
			}
			db := rawDB(t, d, dsn)
			var sealed1, sealed2 []byte
			if err := db.QueryRow("SELECT private_key FROM signing_keys WHERE id = 'kid-1'").Scan(&sealed1); err != nil {
				t.Fatal(err)
			}
			if err := db.QueryRow("SELECT private_key FROM signing_keys WHERE id = 'kid-2'").Scan(&sealed2); err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(sealed1, private[:16]) {
				t.Fatal("the stored private key contains the clear text")
			}
			if want := 12 + len(private) + 16; len(sealed1) != want {
				t.Errorf("stored key is %d bytes, want nonce+ciphertext+tag = %d", len(sealed1), want)
			}
			if bytes.Equal(sealed1[:12], sealed2[:12]) {
				t.Error("two keys were sealed under the same nonce")
			}

			// Same secret, new store: the keys come back intact.
			again, err := sqlstore.Open(t.Context(), dsn, opts(nil))
			if err != nil {
				t.Fatal(err)
			}
			defer again.Close()
			keys, err := again.ListKeys(t.Context())
			if err != nil {
				t.Fatalf("ListKeys with the right secret: %v", err)
			}
			if len(keys) != 2 || !bytes.Equal(keys[0].Private, private) || !bytes.Equal(keys[1].Private, private) {
				t.Fatalf("ListKeys returned %d keys, not the stored private key", len(keys))
			}

			// Another secret: a clear error, and no key material.
			wrong := sqlstore.Options{KeyEncryptionSecret: bytes.Repeat([]byte("w"), 32)}
			other, err := sqlstore.Open(t.Context(), dsn, wrong)
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			keys, err = other.ListKeys(t.Context())
			if !errors.Is(err, sqlstore.ErrKeyDecryption) || keys != nil {
				t.Fatalf("ListKeys with the wrong secret: %d keys, error %v; want none and ErrKeyDecryption", len(keys), err)
			}
			if !strings.Contains(err.Error(), "KeyEncryptionSecret") {
				t.Errorf("error %q does not point at the secret", err)
			}

			// The key ID is authenticated: a ciphertext moved to another
			// key's row does not decrypt.
			if _, err := db.Exec("UPDATE signing_keys SET private_key = $1 WHERE id = 'kid-2'", sealed1); err != nil {
				t.Fatal(err)
			}
			if _, err := again.ListKeys(t.Context()); !errors.Is(err, sqlstore.ErrKeyDecryption) {
				t.Fatalf("ListKeys after swapping ciphertexts between keys: error %v, want ErrKeyDecryption", err)
			}
		})
	}
}

// A refresh token saved for a grant that was revoked meanwhile must not
// outlive it: the code-replay race (winner saving its first token while the
// loser revokes the grant) would otherwise leave a live token behind.
func TestSaveRefreshTokenForRevokedGrant(t *testing.T) {
	t.Parallel()
	for _, d := range dialects {
		t.Run(d.name, func(t *testing.T) {
			t.Parallel()
			s, _ := d.open(t, nil)
			ctx := t.Context()
			now := time.Now()
			g := &storage.Grant{ID: "g", Subject: "alice", ClientID: "c", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.CreateGrant(ctx, g); err != nil {
				t.Fatal(err)
			}
			if err := s.RevokeGrant(ctx, g.ID, now); err != nil {
				t.Fatal(err)
			}
			tok := &storage.RefreshToken{Hash: storage.HashOf("rt"), GrantID: g.ID, ClientID: "c", Subject: "alice",
				IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := s.SaveRefreshToken(ctx, tok); !errors.Is(err, storage.ErrRevoked) {
				t.Fatalf("SaveRefreshToken for a revoked grant: error %v, want ErrRevoked", err)
			}
			if _, err := s.GetRefreshToken(ctx, tok.Hash); !errors.Is(err, storage.ErrNotFound) {
				t.Fatalf("refused token was stored: %v", err)
			}
			// Family IDs are generated when the caller leaves them empty.
			tok.GrantID = "unknown-grant"
			if err := s.SaveRefreshToken(ctx, tok); err != nil {
				t.Fatal(err)
			}
			if tok.FamilyID == "" {
				t.Error("SaveRefreshToken left FamilyID empty")
			}
		})
	}
}

func TestNewOnCallersPool(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "own.db")
	db, err := sql.Open("sqlite", file+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	s, err := sqlstore.New(t.Context(), db, sqlstore.SQLite, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ReserveJTI(t.Context(), "j", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Ping(); err != nil {
		t.Fatalf("Close closed the caller's pool: %v", err)
	}
}

func TestSQLiteUnavailable(t *testing.T) {
	t.Parallel()
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "no-such-dir", "x.db")
	_, err := sqlstore.Open(t.Context(), dsn, opts(nil))
	if !errors.Is(err, storage.ErrUnavailable) {
		t.Fatalf("Open in a missing directory: error %v, want ErrUnavailable", err)
	}
}

// When PostgreSQL goes away every method answers ErrUnavailable (the
// authorization server turns that into 503), and when it comes back the
// same store works again without being reopened.
func TestPostgresUnavailable(t *testing.T) {
	t.Parallel()
	cluster := pgtest.NewCluster(t)
	dsn := cluster.NewDatabase(t)
	s, err := sqlstore.Open(t.Context(), dsn, opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	if err := s.CreateGrant(ctx, &storage.Grant{ID: "g", Subject: "alice", ClientID: "c", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}

	if err := cluster.Stop(); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func(context.Context) error{
		"GetGrant": func(ctx context.Context) error { _, err := s.GetGrant(ctx, "g"); return err },
		"ConsumeCode": func(ctx context.Context) error {
			_, err := s.ConsumeCode(ctx, storage.HashOf("c"))
			return err
		},
		"RotateRefreshToken": func(ctx context.Context) error {
			_, err := s.RotateRefreshToken(ctx, storage.HashOf("r"), &storage.RefreshToken{Hash: storage.HashOf("n")}, now, 0)
			return err
		},
		"RevokeGrant": func(ctx context.Context) error { return s.RevokeGrant(ctx, "g", now) },
		"ReserveJTI":  func(ctx context.Context) error { return s.ReserveJTI(ctx, "j", now.Add(time.Hour)) },
	}
	for name, call := range calls {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := call(cctx)
		cancel()
		if !errors.Is(err, storage.ErrUnavailable) {
			t.Errorf("%s with the database down: error %v, want ErrUnavailable", name, err)
		}
	}

	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	// Pooled connections died with the server; the pool notices on first
	// use and dials again, so at most one call per pooled connection may
	// still fail.
	var lastErr error
	for failed := range 20 {
		if _, lastErr = s.GetGrant(ctx, "g"); lastErr == nil {
			t.Logf("recovered after %d failed calls", failed)
			break
		}
		if !errors.Is(lastErr, storage.ErrUnavailable) {
			t.Fatalf("GetGrant after restart: %v", lastErr)
		}
	}
	if lastErr != nil {
		t.Fatalf("GetGrant never recovered after restart: %v", lastErr)
	}
	if err := s.ReserveJTI(ctx, "after-restart", now.Add(time.Hour)); err != nil {
		t.Fatalf("write after restart: %v", err)
	}
}

// An in-memory SQLite database lives in one connection; the store must
// keep using that one.
func TestSQLiteInMemory(t *testing.T) {
	t.Parallel()
	s, err := sqlstore.Open(t.Context(), "sqlite::memory:", opts(nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	now := time.Now()
	if err := s.SaveCode(ctx, &storage.AuthorizationCode{Hash: storage.HashOf("c"), GrantID: "g", IssuedAt: now, ExpiresAt: now.Add(time.Minute)}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.ConsumeCode(ctx, storage.HashOf("c")) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, storage.ErrAlreadyUsed) {
			t.Errorf("ConsumeCode: %v", err)
		}
	}
	if ok != 1 {
		t.Errorf("%d callers consumed the code, want 1", ok)
	}
}
