package sqlstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nqrust/identity/storage"
)

const clientCols = `id, kind, metadata, secret_hash, secret_expires_at, registration_token_hash,
	created_at, updated_at, expires_at, first_used_at`

func clientArgs(c *storage.Client) ([]any, error) {
	md := c.Metadata
	// A stored client never holds a secret in clear text, whatever the
	// caller left in the metadata.
	md.ClientSecret, md.RegistrationAccessToken = "", ""
	b, err := json.Marshal(&md)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: client metadata: %w", err)
	}
	return []any{
		c.ID, int64(c.Kind), string(b), hv(c.SecretHash), tv(c.SecretExpiresAt), hv(c.RegistrationTokenHash),
		tv(c.CreatedAt), tv(c.UpdatedAt), tv(c.ExpiresAt), tv(c.FirstUsedAt),
	}, nil
}

func scanClient(row interface{ Scan(...any) error }) (*storage.Client, sql.NullInt64, error) {
	var (
		c                                      storage.Client
		kind                                   int64
		md                                     string
		secret, regToken                       sql.NullString
		secretExp, created, updated, exp, used sql.NullInt64
	)
	if err := row.Scan(&c.ID, &kind, &md, &secret, &secretExp, &regToken, &created, &updated, &exp, &used); err != nil {
		return nil, exp, err
	}
	c.Kind = storage.ClientKind(kind)
	if err := json.Unmarshal([]byte(md), &c.Metadata); err != nil {
		return nil, exp, fmt.Errorf("sqlstore: client %q metadata: %w", c.ID, err)
	}
	var err error
	if c.SecretHash, err = parseHash(secret); err != nil {
		return nil, exp, err
	}
	if c.RegistrationTokenHash, err = parseHash(regToken); err != nil {
		return nil, exp, err
	}
	c.SecretExpiresAt, c.CreatedAt, c.UpdatedAt = tm(secretExp), tm(created), tm(updated)
	c.ExpiresAt, c.FirstUsedAt = tm(exp), tm(used)
	return &c, exp, nil
}

// CreateClient implements [storage.ClientStore]. With a limit, the count
// and the insert are one statement; on PostgreSQL, where READ COMMITTED
// would let two such statements count the same rows, an advisory lock per
// kind serializes them.
func (s *Store) CreateClient(ctx context.Context, c *storage.Client, limit int) error {
	if c == nil || c.ID == "" {
		return errors.New("sqlstore: client without ID")
	}
	args, err := clientArgs(c)
	if err != nil {
		return err
	}
	if limit <= 0 {
		_, err := s.exec(ctx, `INSERT INTO clients (`+clientCols+`)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`, args...)
		return err
	}
	args = append(args, micros(s.now()), int64(limit))
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockKeys(ctx, tx, false, kindLock(c.Kind)); err != nil {
			return err
		}
		// The casts give PostgreSQL the parameter types it cannot infer in
		// a SELECT list; SQLite accepts them as no-ops.
		res, err := tx.ExecContext(ctx, `INSERT INTO clients (`+clientCols+`)
		SELECT CAST($1 AS TEXT), CAST($2 AS BIGINT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS BIGINT),
			CAST($6 AS TEXT), CAST($7 AS BIGINT), CAST($8 AS BIGINT), CAST($9 AS BIGINT), CAST($10 AS BIGINT)
		WHERE (SELECT count(*) FROM clients WHERE kind = $2 AND (expires_at IS NULL OR expires_at > $11)) < $12`, args...)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("sqlstore: %s clients: %w", c.Kind, storage.ErrLimitReached)
		}
		return nil
	})
}

// GetClient implements [storage.ClientStore]. An expired client is
// returned together with storage.ErrExpired.
func (s *Store) GetClient(ctx context.Context, id string) (*storage.Client, error) {
	c, exp, err := scanClient(s.db.QueryRowContext(ctx, `SELECT `+clientCols+` FROM clients WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: client: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	if expired(exp, s.now()) {
		return c, fmt.Errorf("sqlstore: client: %w", storage.ErrExpired)
	}
	return c, nil
}

// UpdateClient implements [storage.ClientStore]. It replaces every column
// but the ID, except that a stored first_used_at is kept, and expires_at
// then stays NULL: the right-hand sides read the row as it was before the
// statement, so a concurrent MarkClientUsed is either seen or comes after.
func (s *Store) UpdateClient(ctx context.Context, c *storage.Client) error {
	if c == nil {
		return errors.New("sqlstore: nil client")
	}
	args, err := clientArgs(c)
	if err != nil {
		return err
	}
	n, err := s.exec(ctx, `UPDATE clients SET kind = $2, metadata = $3, secret_hash = $4, secret_expires_at = $5,
		registration_token_hash = $6, created_at = $7, updated_at = $8,
		expires_at = CASE WHEN first_used_at IS NULL THEN CAST($9 AS BIGINT) END,
		first_used_at = COALESCE(first_used_at, CAST($10 AS BIGINT))
	WHERE id = $1`, args...)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: client: %w", storage.ErrNotFound)
	}
	return nil
}

// DeleteClient implements [storage.ClientStore].
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	n, err := s.exec(ctx, "DELETE FROM clients WHERE id = $1", id)
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: client: %w", storage.ErrNotFound)
	}
	return nil
}

// MarkClientUsed implements [storage.ClientStore].
func (s *Store) MarkClientUsed(ctx context.Context, id string, at time.Time) error {
	n, err := s.exec(ctx, `UPDATE clients SET first_used_at = COALESCE(first_used_at, $2), expires_at = NULL
	WHERE id = $1`, id, micros(at))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: client: %w", storage.ErrNotFound)
	}
	return nil
}

// CountClients implements [storage.ClientStore].
func (s *Store) CountClients(ctx context.Context, kind storage.ClientKind) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM clients
	WHERE kind = $1 AND (expires_at IS NULL OR expires_at > $2)`, int64(kind), micros(s.now())).Scan(&n)
	if err != nil {
		return 0, s.mapErr(err)
	}
	return n, nil
}
