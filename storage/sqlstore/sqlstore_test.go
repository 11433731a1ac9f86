package sqlstore_test

import (
	"database/sql"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nqrust/identity/internal/pgtest"
	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/sqlstore"
	"github.com/nqrust/identity/storage/storagetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// testSecret is a fixed key-encryption secret; tests need no real entropy.
var testSecret = []byte(strings.Repeat("k", sqlstore.MinKeyEncryptionSecret))

func opts(clock func() time.Time) sqlstore.Options {
	return sqlstore.Options{Clock: clock, KeyEncryptionSecret: testSecret}
}

// openSQLite opens a store on a new database file in t's temporary
// directory and closes it at the end of t.
func openSQLite(t testing.TB, clock func() time.Time) (*sqlstore.Store, string) {
	t.Helper()
	// No fsync: the tests exercise logic, not durability, and share the
	// disk with everything else a CI machine runs.
	dsn := "sqlite:" + filepath.Join(t.TempDir(), "identity.db") + "?_synchronous=OFF"
	s, err := sqlstore.Open(t.Context(), dsn, opts(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

// openPostgres opens a store on a new database of the package's shared
// server.
func openPostgres(t testing.TB, clock func() time.Time) (*sqlstore.Store, string) {
	t.Helper()
	dsn := pgtest.Shared(t).NewDatabase(t)
	s, err := sqlstore.Open(t.Context(), dsn, opts(clock))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, dsn
}

func TestConformanceSQLite(t *testing.T) {
	t.Parallel()
	storagetest.Run(t, func(t *testing.T, clock func() time.Time) storage.Store {
		s, _ := openSQLite(t, clock)
		return s
	})
}

// allTables are emptied between conformance subtests on PostgreSQL, which
// is much faster than a database per subtest.
const allTables = "clients, authorization_requests, grants, codes, refresh_tokens, signing_keys, initial_access_tokens, consents, replay"

func TestConformancePostgres(t *testing.T) {
	t.Parallel()
	dsn := pgtest.Shared(t).NewDatabase(t)
	admin, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() })
	storagetest.Run(t, func(t *testing.T, clock func() time.Time) storage.Store {
		s, err := sqlstore.Open(t.Context(), dsn, opts(clock))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		// DELETE beats TRUNCATE on tables this small.
		for table := range strings.SplitSeq(allTables, ", ") {
			if _, err := admin.ExecContext(t.Context(), "DELETE FROM "+table); err != nil {
				t.Fatal(err)
			}
		}
		return s
	})
}
