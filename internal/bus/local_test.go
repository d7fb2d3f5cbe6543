package bus_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/bus/bustest"
)

func openLocal(t *testing.T, path string, cfg bus.LocalConfig) *bus.Local {
	t.Helper()
	b, err := bus.OpenLocal(t.Context(), path, cfg)
	if err != nil {
		t.Fatalf("OpenLocal(%q) = %v", path, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

func TestLocal(t *testing.T) {
	bustest.Run(t, func(t *testing.T) bustest.Env {
		path := filepath.Join(t.TempDir(), "bus.db")
		return bustest.Env{Open: func(t *testing.T) bus.Bus { return openLocal(t, path, bus.LocalConfig{}) }}
	})
}

// TestLocalQueueFull checks that Publish refuses jobs beyond MaxQueueLen,
// and accepts them again once the backlog drains.
func TestLocalQueueFull(t *testing.T) {
	ctx := t.Context()
	b := openLocal(t, filepath.Join(t.TempDir(), "bus.db"), bus.LocalConfig{MaxQueueLen: 2})
	for range 2 {
		if err := b.Publish(ctx, "work", bus.Job{}); err != nil {
			t.Fatalf("Publish() = %v", err)
		}
	}
	if err := b.Publish(ctx, "work", bus.Job{}); !errors.Is(err, bus.ErrFull) {
		t.Fatalf("Publish() beyond MaxQueueLen = %v, want ErrFull", err)
	}
	if err := b.Publish(ctx, "other", bus.Job{}); err != nil {
		t.Errorf("Publish() to another queue = %v, want nil", err)
	}
	done := make(chan struct{}, 2)
	c, err := b.Consume(ctx, "work", func(context.Context, bus.Job) error { done <- struct{}{}; return nil }, bus.ConsumeOptions{})
	if err != nil {
		t.Fatalf("Consume() = %v", err)
	}
	defer c.Close()
	for range 2 {
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatal("the queued jobs were not consumed")
		}
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}
	if err := b.Publish(ctx, "work", bus.Job{}); err != nil {
		t.Errorf("Publish() after the backlog drained = %v, want nil", err)
	}
}

func TestOpenLocalNeedsFile(t *testing.T) {
	for _, path := range []string{"", ":memory:"} {
		if _, err := bus.OpenLocal(t.Context(), path, bus.LocalConfig{}); err == nil {
			t.Errorf("OpenLocal(%q) = nil error, want one", path)
		}
	}
}
