// Package sqlstore keeps the authorization server's state in SQL: SQLite
// for a single node that must survive restarts, PostgreSQL for several
// nodes sharing one database. One [Store] implements every interface of
// [storage.Store] and passes [github.com/nqrust/identity/storage/storagetest]
// on both.
//
// # Opening
//
// SQLite (pure Go, modernc.org/sqlite; no cgo):
//
//	st, err := sqlstore.Open(ctx, "sqlite:/var/lib/identity/identity.db", sqlstore.Options{
//		KeyEncryptionSecret: secret, // ≥ 32 random bytes, same on every node
//	})
//
// PostgreSQL (github.com/jackc/pgx/v5/stdlib), as a URL or a key=value DSN:
//
//	st, err := sqlstore.Open(ctx, "postgres://identity@db.internal/identity?sslmode=verify-full", opts)
//	st, err := sqlstore.Open(ctx, "postgres:host=/run/postgresql dbname=identity", opts)
//
// Or bring a pool you configured yourself with [New]:
//
//	db, _ := sql.Open("pgx", dsn)
//	db.SetMaxOpenConns(50)
//	st, err := sqlstore.New(ctx, db, sqlstore.Postgres, opts)
//
// Open and New apply the embedded schema migrations before returning. They
// run in one transaction under a lock (pg_advisory_xact_lock on PostgreSQL,
// BEGIN IMMEDIATE on SQLite) and are recorded in schema_migrations, so any
// number of nodes may start at once and the schema is applied once. A node
// refuses a database whose schema is newer than it knows.
//
// # Atomic transitions
//
// Every transition the security model depends on is decided by one
// conditional statement, never by reading in Go and writing back:
// consuming a code is UPDATE ... WHERE used_at IS NULL RETURNING, spending
// an initial access token is a conditional decrement, reserving a jti is an
// upsert that only takes over an expired row, and rotating a refresh token
// is a conditional UPDATE on rotated_at followed, in the same transaction,
// by the successor's INSERT. Revoking a grant (or all of a client's grants,
// or a family) is one transaction. On PostgreSQL, where READ COMMITTED lets
// a concurrent transaction's new rows escape a running UPDATE, rotations
// and revocations additionally order themselves through transaction-scoped
// advisory locks per grant and per client, and CreateClient's count limit
// through one per client kind; on SQLite the database's single writer gives
// the same order, and this process's writers queue in Go instead of
// spinning on SQLITE_BUSY.
//
// As the storage contract requires, SaveRefreshToken (and the successor of
// a rotation) is refused with storage.ErrRevoked when the token's grant is
// stored and revoked, so a token saved just after a concurrent revocation
// cannot outlive its grant.
//
// # Data at rest
//
// Codes, tokens and secrets arrive as digests and are stored as such.
// Signing keys are the one secret stored: their PKCS #8 bytes are sealed
// with AES-256-GCM under a key derived by HKDF-SHA-256 from
// Options.KeyEncryptionSecret, with a random nonce per key and the key ID
// as additional data. A store opened with another secret fails to list
// them with [ErrKeyDecryption] instead of returning garbage.
//
// Times are kept as Unix microseconds (UTC), a zero time as NULL; string
// lists and client metadata as JSON.
//
// # Errors
//
// Methods return the storage sentinels: unique violations become
// storage.ErrConflict, and refused or lost connections, server shutdown,
// exhausted connection slots, deadlines and SQLite I/O or lock failures
// wrap storage.ErrUnavailable (the authorization server answers 503
// server_error). The driver's error stays in the chain for logging; it
// must not reach clients. The pool reconnects by itself once the database
// is back.
//
// # Housekeeping
//
// Nothing runs in the background. Call [Store.PurgeExpired] periodically;
// it deletes in bounded batches, table by table, never a consumed code or a
// rotated token before it expires (replays must still be recognised).
package sqlstore
