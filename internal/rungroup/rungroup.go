// Package rungroup runs the long-lived components of a Magpie process (the
// HTTP server, the messaging core, bus consumers, maintenance loops) so
// that one component's failure stops the process cleanly instead of
// leaving the others running as if all was well.
package rungroup

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
)

// Group runs components until Stop. A component that returns an error, or
// returns before Stop without one, has failed: Failed closes and Err
// reports the first failure. It is safe for concurrent use.
type Group struct {
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	stopping atomic.Bool

	mu     sync.Mutex // guards err
	err    error
	failed chan struct{}
}

// New returns a group whose components run with a context derived from
// ctx without its cancellation (Stop ends them, not the caller's ctx).
func New(ctx context.Context) *Group {
	g := &Group{failed: make(chan struct{})}
	g.ctx, g.cancel = context.WithCancel(context.WithoutCancel(ctx))
	return g
}

// Context returns the context the components run with: it ends at Stop.
// Use it for work that must outlive the call that starts it, such as a
// bus consumer started before the group's components.
func (g *Group) Context() context.Context { return g.ctx }

// Go runs one component until the group stops. run must return when its
// ctx ends.
func (g *Group) Go(name string, run func(ctx context.Context) error) {
	g.wg.Go(func() {
		err := run(g.ctx)
		switch {
		case err != nil:
			g.fail(fmt.Errorf("%s: %w", name, err))
		case g.ctx.Err() == nil && !g.stopping.Load():
			g.fail(fmt.Errorf("%s stopped unexpectedly", name))
		}
	})
}

// Stopping marks the start of a graceful stop: components that return
// from now on (an HTTP server after Shutdown) have not failed.
func (g *Group) Stopping() { g.stopping.Store(true) }

// Stop cancels every component's context, waits for them, and returns the
// first failure, if any.
func (g *Group) Stop() error {
	g.stopping.Store(true)
	g.cancel()
	g.wg.Wait()
	return g.Err()
}

// Failed returns a channel closed when a component has failed.
func (g *Group) Failed() <-chan struct{} { return g.failed }

// Err returns the first failure, or nil.
func (g *Group) Err() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *Group) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.err == nil {
		g.err = err
		close(g.failed)
	}
}
