package sqlstore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/sqlstore"
)

// Open a SQLite store, park an authorization code and consume it twice: the
// second attempt is recognised as a replay.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "sqlstore-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	// In production, load the secret from a secret manager; every node
	// sharing the database needs the same one.
	secret := make([]byte, 32)
	rand.Read(secret)

	st, err := sqlstore.Open(ctx, "sqlite:"+filepath.Join(dir, "identity.db"), sqlstore.Options{
		KeyEncryptionSecret: secret,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()

	now := time.Now()
	code := &storage.AuthorizationCode{
		Hash:      storage.HashOf("the code handed to the client"),
		GrantID:   "grant-1",
		ClientID:  "https://client.example.com/metadata.json",
		Subject:   "alice",
		IssuedAt:  now,
		ExpiresAt: now.Add(time.Minute),
	}
	if err := st.SaveCode(ctx, code); err != nil {
		log.Fatal(err)
	}

	got, err := st.ConsumeCode(ctx, storage.HashOf("the code handed to the client"))
	fmt.Println("first use:", got.Subject, err)

	got, err = st.ConsumeCode(ctx, storage.HashOf("the code handed to the client"))
	fmt.Println("replay:", errors.Is(err, storage.ErrAlreadyUsed), "of grant", got.GrantID)
	// Output:
	// first use: alice <nil>
	// replay: true of grant grant-1
}
