package memory_test

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"

	"github.com/nqrust/identity/storage"
	"github.com/nqrust/identity/storage/memory"
	"github.com/nqrust/identity/storage/storagetest"
)

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T, clock func() time.Time) storage.Store {
		return memory.New(memory.Options{Clock: clock})
	})
}

func TestNewStartsNoGoroutine(t *testing.T) {
	before := runtime.NumGoroutine()
	for range 10 {
		_ = memory.New(memory.Options{SweepInterval: time.Millisecond})
	}
	if after := runtime.NumGoroutine(); after > before {
		t.Errorf("New started goroutines: %d before, %d after", before, after)
	}
}

func TestSweeperPurgesAndStops(t *testing.T) {
	clk := storagetest.NewClock(time.Time{})
	s := memory.New(memory.Options{Clock: clk.Now})
	ctx := t.Context()
	code := &storage.AuthorizationCode{Hash: storage.HashOf("c"), GrantID: "g", ExpiresAt: clk.Now().Add(time.Minute)}
	if err := s.SaveCode(ctx, code); err != nil {
		t.Fatal(err)
	}
	sweepCtx, stop := context.WithCancel(ctx)
	done := s.StartSweeper(sweepCtx, time.Millisecond)

	// Live records survive sweeps.
	time.Sleep(20 * time.Millisecond)
	if _, err := s.ConsumeCode(ctx, code.Hash); err != nil {
		t.Fatalf("sweeper touched a live code: %v", err)
	}
	clk.Advance(time.Hour)
	waitPurged(t, s, code.Hash)
	stop()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("sweeper did not stop when its context ended")
	}
}

// waitPurged polls until the code is gone, which only a purge does: before
// it, an expired code answers ErrExpired.
func waitPurged(t *testing.T, s *memory.Store, h storage.Hash) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := s.ConsumeCode(t.Context(), h)
		if errors.Is(err, storage.ErrNotFound) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sweeper did not purge the expired code: %v", err)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSweeperUsesConfiguredInterval(t *testing.T) {
	clk := storagetest.NewClock(time.Time{})
	s := memory.New(memory.Options{Clock: clk.Now, SweepInterval: time.Millisecond})
	code := &storage.AuthorizationCode{Hash: storage.HashOf("c"), GrantID: "g", ExpiresAt: clk.Now().Add(time.Minute)}
	if err := s.SaveCode(t.Context(), code); err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(t.Context())
	done := s.StartSweeper(ctx, 0)
	clk.Advance(time.Hour)
	waitPurged(t, s, code.Hash)
	stop()
	<-done
}

func TestPurgeRejectsNonPositiveLimit(t *testing.T) {
	s := memory.New(memory.Options{})
	for _, limit := range []int{0, -1} {
		if _, err := s.PurgeExpired(t.Context(), time.Now(), limit); err == nil {
			t.Errorf("PurgeExpired(limit %d) returned no error", limit)
		}
	}
}

func TestCanceledContext(t *testing.T) {
	s := memory.New(memory.Options{})
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.GetClient(ctx, "x"); !errors.Is(err, context.Canceled) {
		t.Errorf("GetClient with a canceled context: %v", err)
	}
	if _, err := s.ConsumeCode(ctx, storage.HashOf("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("ConsumeCode with a canceled context: %v", err)
	}
	if _, err := s.PurgeExpired(ctx, time.Now(), 10); !errors.Is(err, context.Canceled) {
		t.Errorf("PurgeExpired with a canceled context: %v", err)
	}
}

func TestMarkClientUsedKeepsLapsedClient(t *testing.T) {
	clk := storagetest.NewClock(time.Time{})
	s := memory.New(memory.Options{Clock: clk.Now})
	ctx := t.Context()
	c := &storage.Client{ID: "c", Kind: storage.ClientRegistered, ExpiresAt: clk.Now().Add(time.Minute)}
	if err := s.CreateClient(ctx, c, 0); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute)
	if err := s.MarkClientUsed(ctx, c.ID, clk.Now()); err != nil {
		t.Fatalf("MarkClientUsed of a lapsed, unpurged client: %v", err)
	}
	got, err := s.GetClient(ctx, c.ID)
	if err != nil || !got.ExpiresAt.IsZero() || !got.FirstUsedAt.Equal(clk.Now()) {
		t.Errorf("client after MarkClientUsed: %+v, %v", got, err)
	}
	if n, _ := s.CountClients(ctx, storage.ClientRegistered); n != 1 {
		t.Errorf("CountClients = %d, want 1", n)
	}
	if n, _ := s.PurgeExpired(ctx, clk.Now().Add(time.Hour), 10); n != 0 {
		t.Errorf("PurgeExpired deleted %d records, want the used client kept", n)
	}
}

func TestRefreshFamilyIDs(t *testing.T) {
	s := memory.New(memory.Options{})
	ctx := t.Context()
	exp := time.Now().Add(time.Hour)
	tok := &storage.RefreshToken{Hash: storage.HashOf("a"), GrantID: "g", ExpiresAt: exp}
	if err := s.SaveRefreshToken(ctx, tok); err != nil {
		t.Fatal(err)
	}
	got, err := s.GetRefreshToken(ctx, tok.Hash)
	if err != nil || got.FamilyID != tok.Hash.String() {
		t.Errorf("empty FamilyID: stored %q (%v), want the hash %q", got.FamilyID, err, tok.Hash)
	}
	dup := &storage.RefreshToken{Hash: storage.HashOf("b"), FamilyID: got.FamilyID, GrantID: "g", ExpiresAt: exp}
	if err := s.SaveRefreshToken(ctx, dup); !errors.Is(err, storage.ErrConflict) {
		t.Errorf("second first-token of one family: %v, want ErrConflict", err)
	}
}
