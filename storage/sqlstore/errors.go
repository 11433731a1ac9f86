package sqlstore

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/nqrust/identity/storage"
)

// ErrKeyDecryption means a stored signing key could not be decrypted: the
// store was opened with a different Options.KeyEncryptionSecret than the
// one the key was stored under, or the row was altered.
var ErrKeyDecryption = errors.New("sqlstore: signing key cannot be decrypted; is Options.KeyEncryptionSecret the one the keys were stored under?")

// mapErr turns driver errors into the storage sentinels callers act on:
// unique violations into storage.ErrConflict and lost or refused
// connections into storage.ErrUnavailable. The driver error stays in the
// chain for logs; callers must not show it to clients.
func (s *Store) mapErr(err error) error {
	switch {
	case err == nil:
		return nil
	case isSentinel(err):
		return err
	case isUniqueViolation(err):
		return fmt.Errorf("sqlstore: %w", storage.ErrConflict)
	case isUnavailable(err):
		return fmt.Errorf("sqlstore: %w: %w", storage.ErrUnavailable, err)
	}
	return fmt.Errorf("sqlstore: %w", err)
}

func isSentinel(err error) bool {
	for _, e := range []error{
		storage.ErrNotFound, storage.ErrAlreadyUsed, storage.ErrConflict,
		storage.ErrExpired, storage.ErrRevoked, storage.ErrLimitReached,
		storage.ErrUnavailable, ErrKeyDecryption,
	} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		c := se.Code()
		return c == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY || c == sqlite3.SQLITE_CONSTRAINT_UNIQUE
	}
	return false
}

func isUnavailable(err error) bool {
	if errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) ||
		errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) {
		return true
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch {
		case len(pe.Code) == 5 && pe.Code[:2] == "08": // connection exception
			return true
		case pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03": // shutting down, crashed, starting up
			return true
		case pe.Code == "53300": // too many connections
			return true
		}
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_IOERR,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_FULL, sqlite3.SQLITE_PROTOCOL:
			return true
		}
	}
	return false
}

// isRetryable reports errors after which a PostgreSQL transaction may simply
// run again: serialization failures and deadlocks.
func isRetryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}
