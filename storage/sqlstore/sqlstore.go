package sqlstore

import (
	"context"
	"crypto/cipher"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	// The two database/sql drivers this package speaks to. Registering them
	// is their packages' own init side effect, the database/sql convention.
	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/nqrust/identity/storage"
)

// Dialect is the SQL dialect of a database.
type Dialect int

const (
	// SQLite is SQLite 3 through modernc.org/sqlite (driver name "sqlite").
	SQLite Dialect = iota + 1
	// Postgres is PostgreSQL 13 or later through
	// github.com/jackc/pgx/v5/stdlib (driver name "pgx").
	Postgres
)

// String returns "sqlite" or "postgres".
func (d Dialect) String() string {
	switch d {
	case SQLite:
		return "sqlite"
	case Postgres:
		return "postgres"
	}
	return fmt.Sprintf("Dialect(%d)", int(d))
}

// MinKeyEncryptionSecret is the shortest accepted
// [Options.KeyEncryptionSecret], in bytes.
const MinKeyEncryptionSecret = 32

// Options configures a [Store].
type Options struct {
	// Clock returns the current time; nil means time.Now. It decides
	// expiry wherever a method takes no explicit time.
	Clock func() time.Time
	// KeyEncryptionSecret is the secret signing keys are encrypted under
	// at rest. It is required and must be at least
	// [MinKeyEncryptionSecret] bytes of high-entropy data (any bytes:
	// decode it from hex or base64 first if it is kept that way). Every
	// node sharing the database needs the same secret; losing it loses
	// the stored signing keys (but nothing else).
	KeyEncryptionSecret []byte
	// Logger receives migration and maintenance messages; nil discards.
	Logger *slog.Logger
	// Rand is the source of nonces and generated family IDs; nil means
	// crypto/rand.
	Rand io.Reader
}

// Store keeps every noun of [storage.Store] in a SQL database. It is safe
// for concurrent use, also by several processes (and, with PostgreSQL,
// several nodes) sharing one database.
type Store struct {
	db      *sql.DB
	dialect Dialect
	clock   func() time.Time
	log     *slog.Logger
	rand    io.Reader
	aead    cipher.AEAD
	ownDB   bool
	// wsem serializes this process's writers on SQLite, which allows one
	// writer at a time: queueing them here is cheaper and fairer than
	// letting them spin in SQLite's busy handler. Nil on PostgreSQL.
	wsem chan struct{}
}

var _ storage.Store = (*Store)(nil)

// Open opens the database named by dsn, applies pending migrations and
// returns a store that owns the connection pool (Close closes it).
//
// dsn is one of:
//
//	sqlite:<file>              a SQLite database file (created if missing)
//	postgres://user@host/db    a PostgreSQL URL (also postgresql://)
//	postgres:<dsn>             a PostgreSQL key=value DSN
//
// A SQLite file is opened in WAL mode with a busy timeout, foreign keys and
// immediate transactions; query parameters already in the file name are
// kept (see modernc.org/sqlite). A PostgreSQL pool is capped at 16
// connections; use [New] to configure the pool yourself.
func Open(ctx context.Context, dsn string, opts Options) (*Store, error) {
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	var (
		dialect    Dialect
		driverName string
		source     string
	)
	switch {
	case strings.HasPrefix(dsn, "sqlite:"):
		dialect, driverName = SQLite, "sqlite"
		file := strings.TrimPrefix(dsn, "sqlite:")
		if file == "" {
			return nil, errors.New("sqlstore: sqlite DSN names no file")
		}
		source = sqliteSource(file)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		dialect, driverName, source = Postgres, "pgx", dsn
	case strings.HasPrefix(dsn, "postgres:"):
		dialect, driverName, source = Postgres, "pgx", strings.TrimPrefix(dsn, "postgres:")
	default:
		// Deliberately not echoing dsn: it may carry a password.
		return nil, errors.New(`sqlstore: DSN must start with "sqlite:", "postgres:" or "postgres://"`)
	}
	db, err := sql.Open(driverName, source)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: open %s: %w", dialect, err)
	}
	switch dialect {
	case SQLite:
		if isSQLiteMemory(source) {
			// Every connection to ":memory:" is a separate database.
			db.SetMaxOpenConns(1)
		}
	case Postgres:
		db.SetMaxOpenConns(16)
		db.SetMaxIdleConns(16)
		db.SetConnMaxIdleTime(5 * time.Minute)
	}
	s, err := newStore(ctx, db, dialect, opts)
	if err != nil {
		db.Close()
		return nil, err
	}
	s.ownDB = true
	return s, nil
}

// New returns a store on a pool the caller opened with the "sqlite" or
// "pgx" driver, after applying pending migrations. Close does not close db.
//
// For SQLite, open db with at least a busy timeout and WAL mode, for
// example "file.db?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)";
// [Open] does this for you. For PostgreSQL, keep the pool below the
// server's max_connections.
func New(ctx context.Context, db *sql.DB, dialect Dialect, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("sqlstore: nil *sql.DB")
	}
	if dialect != SQLite && dialect != Postgres {
		return nil, fmt.Errorf("sqlstore: unknown dialect %v", dialect)
	}
	if err := checkOptions(opts); err != nil {
		return nil, err
	}
	return newStore(ctx, db, dialect, opts)
}

func checkOptions(opts Options) error {
	if len(opts.KeyEncryptionSecret) == 0 {
		return errors.New("sqlstore: Options.KeyEncryptionSecret is required: signing keys are encrypted at rest under it")
	}
	if n := len(opts.KeyEncryptionSecret); n < MinKeyEncryptionSecret {
		return fmt.Errorf("sqlstore: Options.KeyEncryptionSecret is %d bytes; at least %d random bytes are required to encrypt signing keys at rest", n, MinKeyEncryptionSecret)
	}
	return nil
}

func newStore(ctx context.Context, db *sql.DB, dialect Dialect, opts Options) (*Store, error) {
	aead, err := newKeyAEAD(opts.KeyEncryptionSecret)
	if err != nil {
		return nil, err
	}
	s := &Store{
		db:      db,
		dialect: dialect,
		clock:   opts.Clock,
		log:     opts.Logger,
		rand:    opts.Rand,
		aead:    aead,
	}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if dialect == SQLite {
		s.wsem = make(chan struct{}, 1)
	}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Close releases the connection pool if [Open] created it.
func (s *Store) Close() error {
	if s.ownDB {
		return s.db.Close()
	}
	return nil
}

// sqliteSource adds this package's connection settings to a file name,
// leaving any the caller already chose.
func sqliteSource(file string) string {
	want := [][2]string{
		{"_busy_timeout", "10000"},
		{"_journal_mode", "WAL"},
		{"_foreign_keys", "1"},
		{"_synchronous", "NORMAL"},
		{"_txlock", "immediate"},
	}
	base, query, _ := strings.Cut(file, "?")
	q, err := url.ParseQuery(query)
	if err != nil {
		return file // let the driver report it
	}
	var b strings.Builder
	b.WriteString(base)
	sep := "?"
	if query != "" {
		b.WriteString("?" + query)
		sep = "&"
	}
	for _, kv := range want {
		if q.Has(kv[0]) {
			continue
		}
		if kv[0] == "_journal_mode" && isSQLiteMemory(file) {
			continue // WAL does not apply to in-memory databases
		}
		b.WriteString(sep + kv[0] + "=" + kv[1])
		sep = "&"
	}
	return b.String()
}

func isSQLiteMemory(source string) bool {
	base, query, _ := strings.Cut(source, "?")
	return base == ":memory:" || base == "file::memory:" || strings.Contains(query, "mode=memory")
}

// lockWrite takes this process's SQLite write slot; a no-op on PostgreSQL.
func (s *Store) lockWrite(ctx context.Context) (unlock func(), err error) {
	if s.wsem == nil {
		return func() {}, nil
	}
	select {
	case s.wsem <- struct{}{}:
		return func() { <-s.wsem }, nil
	case <-ctx.Done():
		return nil, s.mapErr(ctx.Err())
	}
}

// exec runs one writing statement.
func (s *Store) exec(ctx context.Context, query string, args ...any) (int64, error) {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return 0, err
	}
	defer unlock()
	res, err := s.db.ExecContext(ctx, query, args...)
	if err != nil {
		return 0, s.mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, s.mapErr(err)
	}
	return n, nil
}

// writeRow runs one writing statement with RETURNING and scans its row.
// It reports false when the statement matched no row.
func (s *Store) writeRow(ctx context.Context, query string, args []any, scan func(*sql.Row) error) (bool, error) {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return false, err
	}
	defer unlock()
	err = scan(s.db.QueryRowContext(ctx, query, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, s.mapErr(err)
	}
	return true, nil
}

// tx runs fn in a write transaction: BEGIN IMMEDIATE on SQLite (through
// Open's DSN; New's callers get this process's writers serialized), READ
// COMMITTED plus advisory locks taken by fn on PostgreSQL. fn returns a
// storage sentinel or a driver error; either rolls back.
func (s *Store) tx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	unlock, err := s.lockWrite(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	for attempt := 0; ; attempt++ {
		err = s.tryTx(ctx, fn)
		if err == nil || attempt >= 4 || !isRetryable(err) {
			return s.mapErr(err)
		}
		s.log.DebugContext(ctx, "sqlstore: retrying transaction", "attempt", attempt+1, "err", err)
	}
}

func (s *Store) tryTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// lockKeys takes PostgreSQL transaction-scoped advisory locks; on SQLite the
// write transaction already excludes every other writer.
//
// The protocol: a rotation holds its client's and its grant's keys shared;
// revoking a grant or a family holds the grant's key exclusively, revoking
// a client's grants holds the client's key exclusively. A revocation
// therefore sees every successor a concurrent rotation inserted, and a
// rotation that starts after a revocation sees it. Nobody waits for a
// second key while holding an exclusive one, so this cannot deadlock.
func (s *Store) lockKeys(ctx context.Context, tx *sql.Tx, shared bool, keys ...string) error {
	if s.dialect != Postgres {
		return nil
	}
	fn := "pg_advisory_xact_lock"
	if shared {
		fn = "pg_advisory_xact_lock_shared"
	}
	// One round trip for all keys; PostgreSQL evaluates the select list
	// left to right, so the keys are taken in the order given.
	var q strings.Builder
	args := make([]any, len(keys))
	q.WriteString("SELECT ")
	for i, k := range keys {
		if i > 0 {
			q.WriteString(", ")
		}
		fmt.Fprintf(&q, "%s($%d)", fn, i+1)
		args[i] = lockID(k)
	}
	_, err := tx.ExecContext(ctx, q.String(), args...)
	return err
}

// lockID maps a lock name to PostgreSQL's 64-bit advisory lock space. A
// collision only makes two unrelated operations wait for each other.
func lockID(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("nqrust-identity/"))
	h.Write([]byte(name))
	return int64(h.Sum64())
}

func grantLock(id string) string           { return "grant:" + id }
func clientLock(id string) string          { return "client:" + id }
func kindLock(k storage.ClientKind) string { return fmt.Sprintf("client-kind:%d", int(k)) }

// now returns the store clock's time.
func (s *Store) now() time.Time { return s.clock() }

// Times are kept as Unix microseconds; the zero time is NULL.

func tv(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UnixMicro()
}

func micros(t time.Time) int64 { return t.UnixMicro() }

func tm(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return time.UnixMicro(n.Int64).UTC()
}

// expired reports whether a lifetime ending at exp (zero = never) is over
// at now.
func expired(exp sql.NullInt64, now time.Time) bool {
	return exp.Valid && exp.Int64 <= now.UnixMicro()
}

// hv stores a digest; the zero digest (no secret) is NULL.
func hv(h storage.Hash) any {
	if h.IsZero() {
		return nil
	}
	return h.String()
}

func parseHash(s sql.NullString) (storage.Hash, error) {
	if !s.Valid || s.String == "" {
		return storage.Hash{}, nil
	}
	return storage.ParseHash(s.String)
}

// String lists are stored as JSON so that nil and empty survive the round
// trip distinctly.
func jv(list []string) string {
	b, _ := json.Marshal(list) // a []string always marshals
	return string(b)
}

func parseList(s string) ([]string, error) {
	if s == "" || s == "null" {
		return nil, nil
	}
	var list []string
	if err := json.Unmarshal([]byte(s), &list); err != nil {
		return nil, fmt.Errorf("sqlstore: malformed list column: %w", err)
	}
	return list, nil
}
