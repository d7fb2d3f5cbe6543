package tenant

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
)

// TestHashGate checks the bound on bcrypt work: at most workers run at once,
// at most maxWaiting wait, and the rest are refused at once with ErrBusy.
func TestHashGate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		g := newHashGate(1, 1)
		ctx := t.Context()
		release := make(chan struct{})
		var ran []string
		go func() { _ = g.do(ctx, func() { ran = append(ran, "first"); <-release }) }()
		synctest.Wait() // the first runs
		second := make(chan error, 1)
		go func() { second <- g.do(ctx, func() { ran = append(ran, "second") }) }()
		synctest.Wait() // the second waits for the slot
		if err := g.do(ctx, func() { t.Error("a third check ran beside a full gate") }); !errors.Is(err, ErrBusy) {
			t.Fatalf("do with the worker busy and the queue full = %v, want ErrBusy", err)
		}
		close(release)
		if err := <-second; err != nil {
			t.Fatalf("the queued check: %v", err)
		}
		if len(ran) != 2 || ran[0] != "first" || ran[1] != "second" {
			t.Fatalf("ran %v, want [first second]", ran)
		}
		// A waiter gives up when its context ends.
		release = make(chan struct{})
		go func() { _ = g.do(ctx, func() { <-release }) }()
		synctest.Wait()
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if err := g.do(cctx, func() { t.Error("ran with a cancelled context") }); !errors.Is(err, context.Canceled) {
			t.Fatalf("do waiting with a cancelled context = %v, want context.Canceled", err)
		}
		close(release)
	})
}
