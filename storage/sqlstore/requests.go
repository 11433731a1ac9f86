package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/nqrust/identity/storage"
)

const requestCols = `id, client_id, redirect_uri, state, scopes, resources, code_challenge,
	code_challenge_method, nonce, prompt, created_at, expires_at`

func scanRequest(row interface{ Scan(...any) error }) (*storage.AuthorizationRequest, sql.NullInt64, error) {
	var (
		r                  storage.AuthorizationRequest
		scopes, resources  string
		created, expiresAt sql.NullInt64
	)
	if err := row.Scan(&r.ID, &r.ClientID, &r.RedirectURI, &r.State, &scopes, &resources, &r.CodeChallenge,
		&r.CodeChallengeMethod, &r.Nonce, &r.Prompt, &created, &expiresAt); err != nil {
		return nil, expiresAt, err
	}
	var err error
	if r.Scopes, err = parseList(scopes); err != nil {
		return nil, expiresAt, err
	}
	if r.Resources, err = parseList(resources); err != nil {
		return nil, expiresAt, err
	}
	r.CreatedAt, r.ExpiresAt = tm(created), tm(expiresAt)
	return &r, expiresAt, nil
}

// SaveAuthorizationRequest implements [storage.AuthorizationRequestStore].
func (s *Store) SaveAuthorizationRequest(ctx context.Context, r *storage.AuthorizationRequest) error {
	if r == nil || r.ID == "" {
		return errors.New("sqlstore: authorization request without ID")
	}
	_, err := s.exec(ctx, `INSERT INTO authorization_requests (`+requestCols+`)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
		r.ID, r.ClientID, r.RedirectURI, r.State, jv(r.Scopes), jv(r.Resources), r.CodeChallenge,
		r.CodeChallengeMethod, r.Nonce, r.Prompt, tv(r.CreatedAt), tv(r.ExpiresAt))
	return err
}

// GetAuthorizationRequest implements [storage.AuthorizationRequestStore].
// An expired request is returned together with storage.ErrExpired.
func (s *Store) GetAuthorizationRequest(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	r, exp, err := scanRequest(s.db.QueryRowContext(ctx,
		`SELECT `+requestCols+` FROM authorization_requests WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlstore: authorization request: %w", storage.ErrNotFound)
	}
	if err != nil {
		return nil, s.mapErr(err)
	}
	if expired(exp, s.now()) {
		return r, fmt.Errorf("sqlstore: authorization request: %w", storage.ErrExpired)
	}
	return r, nil
}

// ConsumeAuthorizationRequest implements [storage.AuthorizationRequestStore]
// with one DELETE ... RETURNING: the row goes to exactly one caller. An
// expired request is removed too and returned with storage.ErrExpired.
func (s *Store) ConsumeAuthorizationRequest(ctx context.Context, id string) (*storage.AuthorizationRequest, error) {
	var (
		r   *storage.AuthorizationRequest
		exp sql.NullInt64
	)
	found, err := s.writeRow(ctx, `DELETE FROM authorization_requests WHERE id = $1 RETURNING `+requestCols,
		[]any{id}, func(row *sql.Row) (err error) {
			r, exp, err = scanRequest(row)
			return err
		})
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, fmt.Errorf("sqlstore: authorization request: %w", storage.ErrNotFound)
	}
	if expired(exp, s.now()) {
		return r, fmt.Errorf("sqlstore: authorization request: %w", storage.ErrExpired)
	}
	return r, nil
}
