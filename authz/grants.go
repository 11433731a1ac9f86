package authz

import (
	"context"
	"errors"

	"github.com/nqrust/identity/storage"
)

// ListGrants returns the live grants of a subject, newest first, so that a
// host can show users which clients hold access (OAuth 2.1 §7.9).
func (s *Server) ListGrants(ctx context.Context, subject string) ([]*storage.Grant, error) {
	return s.store.ListGrants(ctx, subject)
}

// RevokeGrant revokes a grant with its refresh tokens and unused codes; its
// access tokens introspect as inactive from now on. Revoking an unknown or
// already revoked grant is not an error.
func (s *Server) RevokeGrant(ctx context.Context, grantID string) error {
	err := s.store.RevokeGrant(ctx, grantID, s.now())
	if errors.Is(err, storage.ErrNotFound) {
		return nil
	}
	return err
}

// RevokeClientGrants revokes every grant of a client, for example before
// deleting it.
func (s *Server) RevokeClientGrants(ctx context.Context, clientID string) error {
	return s.store.RevokeClientGrants(ctx, clientID, s.now())
}

// RevokeSubjectClientGrants revokes every live grant the subject gave the
// client, with their refresh tokens and unused codes, for "revoke access"
// screens: the next authorization asks the user again (unless the host
// remembers consent elsewhere, such as authz/consent's Handler.Revoke).
// Grants of the subject to other clients, and of other subjects to this
// client, stay. A grant created while this runs may survive it.
func (s *Server) RevokeSubjectClientGrants(ctx context.Context, subject, clientID string) error {
	if subject == "" || clientID == "" {
		return errors.New("authz: RevokeSubjectClientGrants needs a subject and a client_id")
	}
	grants, err := s.store.ListGrants(ctx, subject)
	if err != nil {
		return err
	}
	now := s.now()
	for _, g := range grants {
		if g.ClientID != clientID || g.Subject != subject {
			continue
		}
		if err := s.store.RevokeGrant(ctx, g.ID, now); err != nil && !errors.Is(err, storage.ErrNotFound) {
			return err
		}
	}
	return nil
}
