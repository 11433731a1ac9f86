package storagetest_test

import (
	"fmt"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/storagetest"
)

// A store under test reads the time from a Clock, so a test can move past
// an expiry without sleeping.
func ExampleClock() {
	clk := storagetest.NewClock(time.Time{})
	expires := clk.Now().Add(time.Minute)
	clk.Advance(time.Minute)
	fmt.Println("expired:", !clk.Now().Before(expires))
	// Output: expired: true
}

// Diff compares records the way the suite does: times at microsecond
// precision, nil and empty lists alike.
func ExampleDiff() {
	at := storagetest.Epoch
	stored := &storage.Grant{ID: "g", Scopes: []string{}, CreatedAt: at.Add(300 * time.Nanosecond)}
	want := &storage.Grant{ID: "g", CreatedAt: at}
	fmt.Println(storagetest.Diff(stored, want))
	want.Subject = "alice"
	fmt.Println(storagetest.Diff(stored, want))
	// Output:
	// []
	// [Subject: , want alice]
}
