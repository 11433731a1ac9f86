package sqlstore

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/nqrust/identity/storage"
)

//go:embed migrations
var migrationFiles embed.FS

type migration struct {
	version int64
	name    string
	stmts   []string
}

// migrations returns the dialect's migrations in version order. Files are
// named NNNN_description.sql; statements end with ";" at the end of a line.
func migrations(d Dialect) ([]migration, error) {
	dir := "migrations/" + d.String()
	entries, err := fs.ReadDir(migrationFiles, dir)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: migrations for %s: %w", d, err)
	}
	var ms []migration
	for _, e := range entries {
		name := e.Name()
		num, _, ok := strings.Cut(name, "_")
		v, err := strconv.ParseInt(num, 10, 64)
		if !ok || err != nil || v <= 0 || !strings.HasSuffix(name, ".sql") {
			return nil, fmt.Errorf("sqlstore: badly named migration %s", name)
		}
		b, err := migrationFiles.ReadFile(path.Join(dir, name))
		if err != nil {
			return nil, err
		}
		ms = append(ms, migration{version: v, name: name, stmts: splitStatements(string(b))})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i := 1; i < len(ms); i++ {
		if ms[i].version == ms[i-1].version {
			return nil, fmt.Errorf("sqlstore: two migrations numbered %d", ms[i].version)
		}
	}
	return ms, nil
}

// splitStatements splits a migration on semicolons that end a line, after
// dropping "--" comment lines. The migrations hold no procedural code, so
// this is all the parsing they need, and it keeps every driver on the
// one-statement-per-Exec path.
func splitStatements(src string) []string {
	var stmts []string
	var cur strings.Builder
	for line := range strings.Lines(src) {
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "--") {
			continue
		}
		cur.WriteString(line)
		if strings.HasSuffix(t, ";") {
			stmts = append(stmts, strings.TrimSuffix(strings.TrimSpace(cur.String()), ";"))
			cur.Reset()
		}
	}
	if rest := strings.TrimSpace(cur.String()); rest != "" {
		stmts = append(stmts, rest)
	}
	return stmts
}

// migrationLockID serializes schema changes of every node on PostgreSQL.
var migrationLockID = lockID("schema-migrations")

// migrate applies pending migrations in one transaction. Concurrent
// openers queue on a lock (PostgreSQL advisory lock, SQLite BEGIN
// IMMEDIATE) and then find the work done, so the schema is applied once.
func (s *Store) migrate(ctx context.Context) error {
	ms, err := migrations(s.dialect)
	if err != nil {
		return err
	}
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return s.migrateErr(err)
	}
	defer conn.Close()

	// On SQLite a raw BEGIN IMMEDIATE takes the write lock before the first
	// read, whatever _txlock the caller's DSN chose.
	begin := "BEGIN"
	if s.dialect == SQLite {
		begin = "BEGIN IMMEDIATE"
	}
	if _, err := conn.ExecContext(ctx, begin); err != nil {
		return s.migrateErr(err)
	}
	committed := false
	defer func() {
		if !committed {
			// The caller's context may be done; the rollback must still run
			// so the connection goes back to the pool clean.
			_, _ = conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	}()
	applied, err := s.applyMigrations(ctx, conn, ms)
	if err != nil {
		return s.migrateErr(err)
	}
	if _, err := conn.ExecContext(ctx, "COMMIT"); err != nil {
		return s.migrateErr(err)
	}
	committed = true
	for _, m := range applied {
		s.log.InfoContext(ctx, "sqlstore: applied migration", "dialect", s.dialect.String(), "version", m.version, "name", m.name)
	}
	return nil
}

func (s *Store) applyMigrations(ctx context.Context, conn *sql.Conn, ms []migration) ([]migration, error) {
	if s.dialect == Postgres {
		if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLockID); err != nil {
			return nil, err
		}
	}
	if _, err := conn.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    BIGINT PRIMARY KEY,
	name       TEXT NOT NULL,
	applied_at BIGINT NOT NULL
)`); err != nil {
		return nil, err
	}
	var current int64
	if err := conn.QueryRowContext(ctx, "SELECT COALESCE(MAX(version), 0) FROM schema_migrations").Scan(&current); err != nil {
		return nil, err
	}
	if latest := ms[len(ms)-1].version; current > latest {
		return nil, fmt.Errorf("database schema is at version %d, newer than this build knows (%d); upgrade this node", current, latest)
	}
	var applied []migration
	for _, m := range ms {
		if m.version <= current {
			continue
		}
		for _, stmt := range m.stmts {
			if _, err := conn.ExecContext(ctx, stmt); err != nil {
				return nil, fmt.Errorf("migration %s: %w", m.name, err)
			}
		}
		if _, err := conn.ExecContext(ctx,
			"INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
			m.version, m.name, micros(s.now())); err != nil {
			return nil, fmt.Errorf("migration %s: %w", m.name, err)
		}
		applied = append(applied, m)
	}
	return applied, nil
}

func (s *Store) migrateErr(err error) error {
	if isUnavailable(err) {
		return fmt.Errorf("sqlstore: migrating %s schema: %w: %w", s.dialect, storage.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlstore: migrating %s schema: %w", s.dialect, err)
}
