package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
)

// A store for a single-node server: purge expired records every five
// minutes until the server shuts down, and redeem a code exactly once.
func ExampleNew() {
	ctx, shutdown := context.WithCancel(context.Background())
	defer shutdown()

	store := memory.New(memory.Options{})
	store.StartSweeper(ctx, 5*time.Minute)

	code := &storage.AuthorizationCode{
		Hash:      storage.HashOf("the-code-sent-to-the-client"),
		GrantID:   "grant-1",
		ClientID:  "client-1",
		ExpiresAt: time.Now().Add(time.Minute),
	}
	if err := store.SaveCode(ctx, code); err != nil {
		fmt.Println(err)
		return
	}

	_, err := store.ConsumeCode(ctx, storage.HashOf("the-code-sent-to-the-client"))
	fmt.Println("first redemption:", err)

	replayed, err := store.ConsumeCode(ctx, storage.HashOf("the-code-sent-to-the-client"))
	if errors.Is(err, storage.ErrAlreadyUsed) {
		// The caller revokes everything issued from the grant.
		fmt.Println("replay of a code from", replayed.GrantID)
	}
	// Output:
	// first redemption: <nil>
	// replay of a code from grant-1
}
