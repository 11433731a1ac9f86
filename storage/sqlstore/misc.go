package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/nqrust/identity/storage"
)

// SaveInitialAccessToken implements [storage.InitialAccessTokenStore].
func (s *Store) SaveInitialAccessToken(ctx context.Context, t *storage.InitialAccessToken) error {
	if t == nil || t.Hash.IsZero() {
		return errors.New("sqlstore: initial access token without hash")
	}
	_, err := s.exec(ctx, `INSERT INTO initial_access_tokens (hash, policy, expires_at, remaining_uses, created_at)
	VALUES ($1, $2, $3, $4, $5)`, t.Hash.String(), t.Policy, tv(t.ExpiresAt), int64(t.RemainingUses), tv(t.CreatedAt))
	return err
}

func scanIAT(row interface{ Scan(...any) error }) (*storage.InitialAccessToken, error) {
	var (
		t                storage.InitialAccessToken
		hash             string
		remaining        int64
		expires, created sql.NullInt64
	)
	if err := row.Scan(&hash, &t.Policy, &expires, &remaining, &created); err != nil {
		return nil, err
	}
	var err error
	if t.Hash, err = storage.ParseHash(hash); err != nil {
		return nil, err
	}
	t.ExpiresAt, t.RemainingUses, t.CreatedAt = tm(expires), int(remaining), tm(created)
	return &t, nil
}

// UseInitialAccessToken implements [storage.InitialAccessTokenStore] with
// one conditional decrement, so concurrent callers never spend more uses
// than the token has.
func (s *Store) UseInitialAccessToken(ctx context.Context, hash storage.Hash) (*storage.InitialAccessToken, error) {
	now := micros(s.now())
	var t *storage.InitialAccessToken
	found, err := s.writeRow(ctx, `UPDATE initial_access_tokens SET remaining_uses = remaining_uses - 1
	WHERE hash = $1 AND remaining_uses > 0 AND (expires_at IS NULL OR expires_at > $2)
	RETURNING hash, policy, expires_at, remaining_uses + 1, created_at`,
		[]any{hash.String(), now}, func(row *sql.Row) (err error) {
			t, err = scanIAT(row)
			return err
		})
	if err != nil {
		return nil, err
	}
	if found {
		return t, nil
	}
	t, err = scanIAT(s.db.QueryRowContext(ctx, `SELECT hash, policy, expires_at, remaining_uses, created_at
	FROM initial_access_tokens WHERE hash = $1`, hash.String()))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlstore: initial access token: %w", storage.ErrNotFound)
	case err != nil:
		return nil, s.mapErr(err)
	case !t.ExpiresAt.IsZero() && t.ExpiresAt.UnixMicro() <= now:
		return t, fmt.Errorf("sqlstore: initial access token: %w", storage.ErrExpired)
	}
	return t, fmt.Errorf("sqlstore: initial access token: %w", storage.ErrAlreadyUsed)
}

// SaveConsent implements [storage.ConsentStore].
func (s *Store) SaveConsent(ctx context.Context, c *storage.Consent) error {
	if c == nil {
		return errors.New("sqlstore: nil consent")
	}
	_, err := s.exec(ctx, `INSERT INTO consents (subject, client_id, scopes, resources, created_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $6)
	ON CONFLICT (subject, client_id) DO UPDATE SET scopes = excluded.scopes, resources = excluded.resources,
		created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.Subject, c.ClientID, jv(c.Scopes), jv(c.Resources), tv(c.CreatedAt), tv(c.ExpiresAt))
	return err
}

// GetConsent implements [storage.ConsentStore]. An expired decision is
// returned together with storage.ErrExpired.
func (s *Store) GetConsent(ctx context.Context, subject, clientID string) (*storage.Consent, error) {
	var (
		c                 = storage.Consent{Subject: subject, ClientID: clientID}
		scopes, resources string
		created, exp      sql.NullInt64
	)
	err := s.db.QueryRowContext(ctx, `SELECT scopes, resources, created_at, expires_at FROM consents
	WHERE subject = $1 AND client_id = $2`, subject, clientID).Scan(&scopes, &resources, &created, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: consent: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	if c.Scopes, err = parseList(scopes); err != nil {
		return nil, err
	}
	if c.Resources, err = parseList(resources); err != nil {
		return nil, err
	}
	c.CreatedAt, c.ExpiresAt = tm(created), tm(exp)
	if expired(exp, s.now()) {
		return &c, fmt.Errorf("sqlstore: consent: %w", storage.ErrExpired)
	}
	return &c, nil
}

// RevokeConsent implements [storage.ConsentStore].
func (s *Store) RevokeConsent(ctx context.Context, subject, clientID string) error {
	_, err := s.exec(ctx, "DELETE FROM consents WHERE subject = $1 AND client_id = $2", subject, clientID)
	return err
}

// ReserveJTI implements [storage.ReplayStore] with one upsert: a new key is
// inserted, an expired one is taken over, a live one is left alone and
// reported as used.
func (s *Store) ReserveJTI(ctx context.Context, key string, expiresAt time.Time) error {
	n, err := s.exec(ctx, `INSERT INTO replay (id, expires_at) VALUES ($1, $2)
	ON CONFLICT (id) DO UPDATE SET expires_at = excluded.expires_at WHERE replay.expires_at <= $3`,
		key, micros(expiresAt), micros(s.now()))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: jti: %w", storage.ErrAlreadyUsed)
	}
	return nil
}

// purgeTargets lists each table with a lifetime and the key its rows are
// deleted by.
var purgeTargets = []struct{ table, key string }{
	{"replay", "id"},
	{"authorization_requests", "id"},
	{"codes", "hash"},
	{"refresh_tokens", "hash"},
	{"grants", "id"},
	{"consents", "subject, client_id"},
	{"initial_access_tokens", "hash"},
	{"clients", "id"},
	{"signing_keys", "id"},
}

// PurgeExpired implements [storage.Purger]. Each table is cleared in a
// bounded DELETE keyed by a LIMITed subselect, so a large backlog never
// becomes one long lock.
func (s *Store) PurgeExpired(ctx context.Context, now time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	nowv := micros(now)
	total := 0
	for _, t := range purgeTargets {
		if total >= limit {
			break
		}
		key := t.key
		if t.key != "id" && t.key != "hash" {
			key = "(" + t.key + ")"
		}
		n, err := s.exec(ctx, `DELETE FROM `+t.table+` WHERE `+key+` IN (
		SELECT `+t.key+` FROM `+t.table+` WHERE expires_at IS NOT NULL AND expires_at <= $1 LIMIT $2)`,
			nowv, int64(limit-total))
		if err != nil {
			return total, err
		}
		total += int(n)
	}
	if total > 0 {
		s.log.DebugContext(ctx, "sqlstore: purged expired records", "count", total)
	}
	return total, nil
}
