package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nqrust/identity/storage"
)

const codeCols = `hash, grant_id, client_id, redirect_uri, code_challenge, code_challenge_method, subject,
	scopes, resources, nonce, auth_time, issued_at, expires_at`

func scanCode(row interface{ Scan(...any) error }, extra ...any) (*storage.AuthorizationCode, error) {
	var (
		c                        storage.AuthorizationCode
		hash, scopes, resources  string
		authTime, issued, expiry sql.NullInt64
	)
	dest := append([]any{&hash, &c.GrantID, &c.ClientID, &c.RedirectURI, &c.CodeChallenge, &c.CodeChallengeMethod,
		&c.Subject, &scopes, &resources, &c.Nonce, &authTime, &issued, &expiry}, extra...)
	if err := row.Scan(dest...); err != nil {
		return nil, err
	}
	var err error
	if c.Hash, err = storage.ParseHash(hash); err != nil {
		return nil, err
	}
	if c.Scopes, err = parseList(scopes); err != nil {
		return nil, err
	}
	if c.Resources, err = parseList(resources); err != nil {
		return nil, err
	}
	c.AuthTime, c.IssuedAt, c.ExpiresAt = tm(authTime), tm(issued), tm(expiry)
	return &c, nil
}

// SaveCode implements [storage.CodeStore].
func (s *Store) SaveCode(ctx context.Context, c *storage.AuthorizationCode) error {
	if c == nil || c.Hash.IsZero() {
		return errors.New("sqlstore: authorization code without hash")
	}
	_, err := s.exec(ctx, `INSERT INTO codes (`+codeCols+`)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`,
		c.Hash.String(), c.GrantID, c.ClientID, c.RedirectURI, c.CodeChallenge, c.CodeChallengeMethod, c.Subject,
		jv(c.Scopes), jv(c.Resources), c.Nonce, tv(c.AuthTime), tv(c.IssuedAt), tv(c.ExpiresAt))
	return err
}

// ConsumeCode implements [storage.CodeStore]. The consuming UPDATE is one
// conditional statement, so of any number of concurrent callers exactly one
// sees its row; the others, and later callers, fall through to a read that
// tells used from expired from unknown.
func (s *Store) ConsumeCode(ctx context.Context, hash storage.Hash) (*storage.AuthorizationCode, error) {
	now := micros(s.now())
	var c *storage.AuthorizationCode
	found, err := s.writeRow(ctx, `UPDATE codes SET used_at = $2
	WHERE hash = $1 AND used_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
	RETURNING `+codeCols, []any{hash.String(), now}, func(row *sql.Row) (err error) {
		c, err = scanCode(row)
		return err
	})
	if err != nil {
		return nil, err
	}
	if found {
		return c, nil
	}
	var used sql.NullInt64
	c, err = scanCode(s.db.QueryRowContext(ctx, `SELECT `+codeCols+`, used_at FROM codes WHERE hash = $1`, hash.String()), &used)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlstore: authorization code: %w", storage.ErrNotFound)
	case err != nil:
		return nil, s.mapErr(err)
	case used.Valid:
		return c, fmt.Errorf("sqlstore: authorization code: %w", storage.ErrAlreadyUsed)
	case c.ExpiresAt.IsZero() || c.ExpiresAt.UnixMicro() > now:
		// Saved after the UPDATE looked: it did not exist for this call.
		return nil, fmt.Errorf("sqlstore: authorization code: %w", storage.ErrNotFound)
	}
	return c, fmt.Errorf("sqlstore: authorization code: %w", storage.ErrExpired)
}
