package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nqrust/identity/storage"
)

const grantCols = `id, subject, client_id, scopes, resources, auth_time, created_at, expires_at, revoked_at`

func scanGrant(row interface{ Scan(...any) error }) (*storage.Grant, error) {
	var (
		g                                 storage.Grant
		scopes, resources                 string
		authTime, created, exp, revokedAt sql.NullInt64
	)
	if err := row.Scan(&g.ID, &g.Subject, &g.ClientID, &scopes, &resources, &authTime, &created, &exp, &revokedAt); err != nil {
		return nil, err
	}
	var err error
	if g.Scopes, err = parseList(scopes); err != nil {
		return nil, err
	}
	if g.Resources, err = parseList(resources); err != nil {
		return nil, err
	}
	g.AuthTime, g.CreatedAt, g.ExpiresAt, g.RevokedAt = tm(authTime), tm(created), tm(exp), tm(revokedAt)
	return &g, nil
}

// CreateGrant implements [storage.GrantStore].
func (s *Store) CreateGrant(ctx context.Context, g *storage.Grant) error {
	if g == nil || g.ID == "" {
		return errors.New("sqlstore: grant without ID")
	}
	_, err := s.exec(ctx, `INSERT INTO grants (`+grantCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		g.ID, g.Subject, g.ClientID, jv(g.Scopes), jv(g.Resources), tv(g.AuthTime), tv(g.CreatedAt),
		tv(g.ExpiresAt), tv(g.RevokedAt))
	return err
}

// GetGrant implements [storage.GrantStore].
func (s *Store) GetGrant(ctx context.Context, id string) (*storage.Grant, error) {
	g, err := scanGrant(s.db.QueryRowContext(ctx, `SELECT `+grantCols+` FROM grants WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: grant: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	if !g.RevokedAt.IsZero() {
		return g, fmt.Errorf("sqlstore: grant: %w", storage.ErrRevoked)
	}
	if !g.ExpiresAt.IsZero() && !s.now().Before(g.ExpiresAt) {
		return g, fmt.Errorf("sqlstore: grant: %w", storage.ErrExpired)
	}
	return g, nil
}

// RevokeGrant implements [storage.GrantStore] in one transaction: the
// grant, every refresh token issued from it, and its unused codes.
func (s *Store) RevokeGrant(ctx context.Context, id string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockKeys(ctx, tx, false, grantLock(id)); err != nil {
			return err
		}
		atv := micros(at)
		if _, err := tx.ExecContext(ctx, "UPDATE grants SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", id, atv); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = $2 WHERE grant_id = $1 AND revoked_at IS NULL", id, atv); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM codes WHERE grant_id = $1 AND used_at IS NULL", id)
		return err
	})
}

// RevokeClientGrants implements [storage.GrantStore]: every grant of the
// client and everything issued from them, in one transaction.
func (s *Store) RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockKeys(ctx, tx, false, clientLock(clientID)); err != nil {
			return err
		}
		atv := micros(at)
		if _, err := tx.ExecContext(ctx, "UPDATE grants SET revoked_at = $2 WHERE client_id = $1 AND revoked_at IS NULL", clientID, atv); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE refresh_tokens SET revoked_at = $2
		WHERE revoked_at IS NULL AND (client_id = $1 OR grant_id IN (SELECT id FROM grants WHERE client_id = $1))`,
			clientID, atv); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM codes
		WHERE used_at IS NULL AND (client_id = $1 OR grant_id IN (SELECT id FROM grants WHERE client_id = $1))`, clientID)
		return err
	})
}

// ListGrants implements [storage.GrantStore].
func (s *Store) ListGrants(ctx context.Context, subject string) ([]*storage.Grant, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+grantCols+` FROM grants
	WHERE subject = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
	ORDER BY created_at DESC, id DESC`, subject, micros(s.now()))
	if err != nil {
		return nil, s.mapErr(err)
	}
	defer rows.Close()
	var gs []*storage.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, s.mapErr(err)
		}
		gs = append(gs, g)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(err)
	}
	return gs, nil
}
