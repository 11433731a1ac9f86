package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
	"github.com/nqrust/identity/storage/sqlstore"
)

// openedStore is the store with what the start-up message says about it.
type openedStore struct {
	storage.Store
	// describe is the start-up line, e.g. "sqlite:demo.db (key secret in demo.db.key-secret, created now)".
	describe string
	// ephemeral is true for the in-memory store.
	ephemeral bool
	close     func() error
}

// openStore opens the -store value: "memory", "sqlite:FILE",
// "postgres:DSN" or "postgres://…". A durable store needs a key
// encryption secret for the signing keys it holds: -key-secret /
// NQ_KEY_SECRET, or, for SQLite, a random one kept in FILE.key-secret
// (created with mode 0600 on first start).
func openStore(ctx context.Context, spec, keySecret string, log *slog.Logger) (*openedStore, error) {
	switch {
	case spec == "memory":
		return &openedStore{
			Store:     memory.New(memory.Options{}),
			describe:  "memory (clients, grants and keys are lost when the server stops)",
			ephemeral: true,
			close:     func() error { return nil },
		}, nil
	case strings.HasPrefix(spec, "sqlite:"), strings.HasPrefix(spec, "postgres:"), strings.HasPrefix(spec, "postgresql:"):
	default:
		return nil, fmt.Errorf(`-store must be "memory", "sqlite:FILE" or "postgres:DSN", not %q`, spec)
	}
	var (
		secret []byte
		note   string
		err    error
	)
	switch {
	case keySecret != "":
		if secret, err = decodeKeySecret(keySecret); err != nil {
			return nil, err
		}
		note = "key secret from -key-secret/NQ_KEY_SECRET"
	case strings.HasPrefix(spec, "sqlite:"):
		file := strings.TrimPrefix(spec, "sqlite:")
		if file == "" || strings.HasPrefix(file, ":memory:") || strings.HasPrefix(file, "file:") || strings.Contains(file, "?") {
			return nil, errors.New("-store sqlite:FILE needs a plain file name (or give -key-secret)")
		}
		path := file + ".key-secret"
		var created bool
		if secret, created, err = secretFile(path); err != nil {
			return nil, err
		}
		note = "key secret in " + path
		if created {
			note += " (created now, mode 0600; keep it with the database)"
		}
	default:
		// Every node sharing a PostgreSQL database needs the same secret,
		// so a file made up on one machine would be wrong.
		return nil, errors.New("-store postgres:… needs -key-secret or NQ_KEY_SECRET (the same on every node)")
	}
	if strings.HasPrefix(spec, "postgresql:") && !strings.HasPrefix(spec, "postgresql://") {
		spec = "postgres:" + strings.TrimPrefix(spec, "postgresql:")
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	st, err := sqlstore.Open(ctx, spec, sqlstore.Options{KeyEncryptionSecret: secret, Logger: log})
	if err != nil {
		return nil, err
	}
	name := spec
	if !strings.HasPrefix(spec, "sqlite:") {
		name = "postgres" // the DSN may hold a password
	}
	return &openedStore{Store: st, describe: name + " (" + note + ")", close: st.Close}, nil
}

// decodeKeySecret accepts hex or base64 (standard or URL alphabet, padded
// or not) of at least sqlstore.MinKeyEncryptionSecret bytes. A string of
// hex digits only is read as hex, never as base64, so a short hex secret
// is refused rather than accepted as a longer base64 one.
func decodeKeySecret(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	tooShort := fmt.Errorf("the key secret must be at least %d random bytes, hex- or base64-encoded (e.g. openssl rand -hex 32)", sqlstore.MinKeyEncryptionSecret)
	if s != "" && strings.Trim(s, "0123456789abcdefABCDEF") == "" {
		if b, err := hex.DecodeString(s); err == nil && len(b) >= sqlstore.MinKeyEncryptionSecret {
			return b, nil
		}
		return nil, tooShort
	}
	decoders := []func(string) ([]byte, error){
		base64.StdEncoding.DecodeString,
		base64.RawStdEncoding.DecodeString,
		base64.URLEncoding.DecodeString,
		base64.RawURLEncoding.DecodeString,
	}
	for _, dec := range decoders {
		if b, err := dec(s); err == nil && len(b) >= sqlstore.MinKeyEncryptionSecret {
			return b, nil
		}
	}
	return nil, tooShort
}

// secretFile reads the hex secret in path, or creates one (mode 0600)
// when the file does not exist. It never overwrites a file.
func secretFile(path string) (secret []byte, created bool, err error) {
	b, err := os.ReadFile(path)
	if err == nil {
		secret, err := decodeKeySecret(string(b))
		if err != nil {
			return nil, false, fmt.Errorf("%s: %w", path, err)
		}
		return secret, false, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, false, err
	}
	secret = make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return nil, false, err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := f.WriteString(hex.EncodeToString(secret) + "\n"); err != nil {
		f.Close()
		os.Remove(path)
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return nil, false, err
	}
	return secret, true, nil
}
