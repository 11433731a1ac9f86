package sqlstore

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"time"

	"github.com/nqrust/identity/storage"
)

// keyEncryptionInfo binds the derived key to this one purpose, so the same
// secret used elsewhere by the host yields an unrelated key.
const keyEncryptionInfo = "nqrust-identity sqlstore signing-key encryption v1"

// newKeyAEAD derives the AES-256-GCM key that wraps stored signing keys.
func newKeyAEAD(secret []byte) (cipher.AEAD, error) {
	k, err := hkdf.Key(sha256.New, secret, nil, keyEncryptionInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: deriving key-encryption key: %w", err)
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, fmt.Errorf("sqlstore: key-encryption cipher: %w", err)
	}
	return cipher.NewGCM(block)
}

// sealKey encrypts a private key under a fresh random nonce, with the key ID
// as additional data so a ciphertext cannot be moved to another key's row.
// The result is nonce || ciphertext.
func (s *Store) sealKey(id string, private []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	out := make([]byte, ns, ns+len(private)+s.aead.Overhead())
	if _, err := io.ReadFull(s.rand, out); err != nil {
		return nil, fmt.Errorf("sqlstore: nonce for signing key: %w", err)
	}
	return s.aead.Seal(out, out[:ns], private, []byte(id)), nil
}

func (s *Store) openKey(id string, sealed []byte) ([]byte, error) {
	ns := s.aead.NonceSize()
	if len(sealed) < ns+s.aead.Overhead() {
		return nil, fmt.Errorf("%w (key %q: stored value too short)", ErrKeyDecryption, id)
	}
	private, err := s.aead.Open(nil, sealed[:ns], sealed[ns:], []byte(id))
	if err != nil {
		return nil, fmt.Errorf("%w (key %q)", ErrKeyDecryption, id)
	}
	return private, nil
}

// AddKey implements [storage.KeyStore].
func (s *Store) AddKey(ctx context.Context, k *storage.SigningKey) error {
	if k == nil || k.ID == "" {
		return fmt.Errorf("sqlstore: signing key without ID")
	}
	sealed, err := s.sealKey(k.ID, k.Private)
	if err != nil {
		return err
	}
	_, err = s.exec(ctx, `INSERT INTO signing_keys
	(id, algorithm, private_key, created_at, not_before, retired_at, expires_at)
	VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		k.ID, k.Algorithm, sealed, tv(k.CreatedAt), tv(k.NotBefore), tv(k.RetiredAt), tv(k.ExpiresAt))
	return err
}

// ListKeys implements [storage.KeyStore]. It fails with [ErrKeyDecryption]
// rather than return a key it cannot decrypt.
func (s *Store) ListKeys(ctx context.Context) ([]*storage.SigningKey, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT id, algorithm, private_key, created_at, not_before, retired_at, expires_at
	FROM signing_keys WHERE expires_at IS NULL OR expires_at > $1
	ORDER BY created_at, id`, micros(s.now()))
	if err != nil {
		return nil, s.mapErr(err)
	}
	defer rows.Close()
	var keys []*storage.SigningKey
	for rows.Next() {
		var (
			k                                     storage.SigningKey
			sealed                                []byte
			created, notBefore, retired, expiries sql.NullInt64
		)
		if err := rows.Scan(&k.ID, &k.Algorithm, &sealed, &created, &notBefore, &retired, &expiries); err != nil {
			return nil, s.mapErr(err)
		}
		if k.Private, err = s.openKey(k.ID, sealed); err != nil {
			return nil, err
		}
		k.CreatedAt, k.NotBefore, k.RetiredAt, k.ExpiresAt = tm(created), tm(notBefore), tm(retired), tm(expiries)
		keys = append(keys, &k)
	}
	if err := rows.Err(); err != nil {
		return nil, s.mapErr(err)
	}
	return keys, nil
}

// RetireKey implements [storage.KeyStore].
func (s *Store) RetireKey(ctx context.Context, id string, retiredAt, expiresAt time.Time) error {
	n, err := s.exec(ctx, "UPDATE signing_keys SET retired_at = $2, expires_at = $3 WHERE id = $1",
		id, tv(retiredAt), tv(expiresAt))
	if err != nil {
		return err
	}
	if n == 0 {
		return fmt.Errorf("sqlstore: signing key %q: %w", id, storage.ErrNotFound)
	}
	return nil
}
