package sqlstore

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/nqrust/identity/storage"
)

const refreshCols = `hash, family_id, grant_id, client_id, subject, scopes, resources, auth_time,
	issued_at, expires_at, rotated_at, revoked_at`

func scanRefresh(row interface{ Scan(...any) error }) (*storage.RefreshToken, error) {
	var (
		t                                          storage.RefreshToken
		hash, scopes, resources                    string
		authTime, issued, expiry, rotated, revoked sql.NullInt64
	)
	if err := row.Scan(&hash, &t.FamilyID, &t.GrantID, &t.ClientID, &t.Subject, &scopes, &resources,
		&authTime, &issued, &expiry, &rotated, &revoked); err != nil {
		return nil, err
	}
	var err error
	if t.Hash, err = storage.ParseHash(hash); err != nil {
		return nil, err
	}
	if t.Scopes, err = parseList(scopes); err != nil {
		return nil, err
	}
	if t.Resources, err = parseList(resources); err != nil {
		return nil, err
	}
	t.AuthTime, t.IssuedAt, t.ExpiresAt = tm(authTime), tm(issued), tm(expiry)
	t.RotatedAt, t.RevokedAt = tm(rotated), tm(revoked)
	return &t, nil
}

// insertRefresh stores t unless its grant exists and is revoked, which it
// reports as storage.ErrRevoked. Without that check a token saved just
// after a concurrent RevokeGrant (say, the winner of a replayed code racing
// the loser's revocation) would outlive its grant.
func (s *Store) insertRefresh(ctx context.Context, tx *sql.Tx, t *storage.RefreshToken) error {
	res, err := tx.ExecContext(ctx, `INSERT INTO refresh_tokens (`+refreshCols+`)
	SELECT CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS TEXT),
		CAST($6 AS TEXT), CAST($7 AS TEXT), CAST($8 AS BIGINT), CAST($9 AS BIGINT), CAST($10 AS BIGINT),
		CAST($11 AS BIGINT), CAST($12 AS BIGINT)
	WHERE NOT EXISTS (SELECT 1 FROM grants WHERE id = $3 AND revoked_at IS NOT NULL)`,
		t.Hash.String(), t.FamilyID, t.GrantID, t.ClientID, t.Subject, jv(t.Scopes), jv(t.Resources),
		tv(t.AuthTime), tv(t.IssuedAt), tv(t.ExpiresAt), tv(t.RotatedAt), tv(t.RevokedAt))
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: refresh token's grant: %w", storage.ErrRevoked)
	}
	return nil
}

// SaveRefreshToken implements [storage.RefreshTokenStore]. An empty
// FamilyID is filled with a new random one.
func (s *Store) SaveRefreshToken(ctx context.Context, t *storage.RefreshToken) error {
	if t == nil || t.Hash.IsZero() {
		return errors.New("sqlstore: refresh token without hash")
	}
	if t.FamilyID == "" {
		id, err := s.newID()
		if err != nil {
			return err
		}
		t.FamilyID = id
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockKeys(ctx, tx, true, clientLock(t.ClientID), grantLock(t.GrantID)); err != nil {
			return err
		}
		return s.insertRefresh(ctx, tx, t)
	})
}

func (s *Store) newID() (string, error) {
	var b [16]byte
	if _, err := io.ReadFull(s.rand, b[:]); err != nil {
		return "", fmt.Errorf("sqlstore: random ID: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// GetRefreshToken implements [storage.RefreshTokenStore].
func (s *Store) GetRefreshToken(ctx context.Context, hash storage.Hash) (*storage.RefreshToken, error) {
	t, err := scanRefresh(s.db.QueryRowContext(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1`, hash.String()))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: refresh token: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	if !t.RevokedAt.IsZero() {
		return t, fmt.Errorf("sqlstore: refresh token: %w", storage.ErrRevoked)
	}
	if !t.ExpiresAt.IsZero() && !s.now().Before(t.ExpiresAt) {
		return t, fmt.Errorf("sqlstore: refresh token: %w", storage.ErrExpired)
	}
	return t, nil
}

// RotateRefreshToken implements [storage.RefreshTokenStore]. It returns
// the old token (with RotatedAt set). Exactly one caller's conditional
// UPDATE finds the old token unrotated; the successor is inserted in the
// same transaction. See lockKeys for how this stays atomic with respect to
// a concurrent revocation on PostgreSQL.
func (s *Store) RotateRefreshToken(ctx context.Context, old storage.Hash, next *storage.RefreshToken, now time.Time, grace time.Duration) (*storage.RefreshToken, error) {
	if next == nil || next.Hash.IsZero() {
		return nil, errors.New("sqlstore: successor refresh token without hash")
	}
	nowv := micros(now)
	var tok *storage.RefreshToken
	err := s.tx(ctx, func(tx *sql.Tx) error {
		tok = nil
		if s.dialect == Postgres {
			// The client and grant of a token never change, so reading them
			// before taking the locks is safe.
			var clientID, grantID string
			err := tx.QueryRowContext(ctx, "SELECT client_id, grant_id FROM refresh_tokens WHERE hash = $1", old.String()).Scan(&clientID, &grantID)
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrNotFound)
			}
			if err != nil {
				return err
			}
			if err := s.lockKeys(ctx, tx, true, clientLock(clientID), grantLock(grantID)); err != nil {
				return err
			}
		}
		t, err := scanRefresh(tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET rotated_at = $2
		WHERE hash = $1 AND rotated_at IS NULL AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > $2)
		RETURNING `+refreshCols, old.String(), nowv))
		switch {
		case err == nil:
			tok = t
			return s.insertSuccessor(ctx, tx, t, next)
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		t, err = scanRefresh(tx.QueryRowContext(ctx, `SELECT `+refreshCols+` FROM refresh_tokens WHERE hash = $1`, old.String()))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrNotFound)
		}
		if err != nil {
			return err
		}
		tok = t
		isExpired := !t.ExpiresAt.IsZero() && t.ExpiresAt.UnixMicro() <= nowv
		switch {
		case !t.RevokedAt.IsZero():
			return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrRevoked)
		case t.RotatedAt.IsZero() && isExpired:
			return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrExpired)
		case t.RotatedAt.IsZero():
			// Unreachable unless the clock moved between the two
			// statements; report it as the lost race it is.
			return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrAlreadyUsed)
		case grace <= 0 || now.Sub(t.RotatedAt) >= grace:
			return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrAlreadyUsed)
		case isExpired:
			return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrExpired)
		}
		// Within the grace period: rotate again from the same token. The
		// no-op UPDATE re-checks the token under its row lock, so a
		// revocation that committed meanwhile wins.
		graceStart := nowv - grace.Microseconds()
		t, err = scanRefresh(tx.QueryRowContext(ctx, `UPDATE refresh_tokens SET rotated_at = rotated_at
		WHERE hash = $1 AND revoked_at IS NULL AND rotated_at > $2
		RETURNING `+refreshCols, old.String(), graceStart))
		if errors.Is(err, sql.ErrNoRows) {
			return fmt.Errorf("sqlstore: refresh token: %w", storage.ErrRevoked)
		}
		if err != nil {
			return err
		}
		tok = t
		return s.insertSuccessor(ctx, tx, t, next)
	})
	if err != nil {
		if isSentinel(err) && !errors.Is(err, storage.ErrConflict) && !errors.Is(err, storage.ErrUnavailable) {
			return tok, err
		}
		return nil, err
	}
	return tok, nil
}

func (s *Store) insertSuccessor(ctx context.Context, tx *sql.Tx, old, next *storage.RefreshToken) error {
	next.FamilyID = old.FamilyID
	return s.insertRefresh(ctx, tx, next)
}

// RevokeRefreshFamily implements [storage.RefreshTokenStore].
func (s *Store) RevokeRefreshFamily(ctx context.Context, familyID string, at time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			var grantID string
			err := tx.QueryRowContext(ctx, "SELECT grant_id FROM refresh_tokens WHERE family_id = $1 LIMIT 1", familyID).Scan(&grantID)
			if errors.Is(err, sql.ErrNoRows) {
				return nil // nothing to revoke
			}
			if err != nil {
				return err
			}
			if err := s.lockKeys(ctx, tx, false, grantLock(grantID)); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
			familyID, micros(at))
		return err
	})
}
