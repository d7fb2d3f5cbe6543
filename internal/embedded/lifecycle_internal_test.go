package embedded

import (
	"context"
	"testing"
	"time"
)

// TestComponentFailureIsReported: when the HTTP server fails (its listener
// closed under it), Failed closes and Shutdown returns the failure, so the
// process stops instead of running on without an API.
func TestComponentFailureIsReported(t *testing.T) {
	s, err := Start(t.Context(), Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	s.ln.Close()
	select {
	case <-s.Failed():
	case <-time.After(10 * time.Second):
		t.Fatal("Failed did not close after the HTTP server failed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err == nil {
		t.Fatal("Shutdown after a failure = nil, want the failure")
	}
}

// TestCleanShutdownIsNotAFailure: a normal Shutdown reports no failure.
func TestCleanShutdownIsNotAFailure(t *testing.T) {
	s, err := Start(t.Context(), Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), PasswordCost: 4})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v, want nil", err)
	}
	select {
	case <-s.Failed():
		t.Fatal("Failed closed by a clean shutdown")
	default:
	}
}
