package node

import (
	"context"
	"testing"
	"time"
)

// stuckPublisher is a publisher whose store does not answer: each publish
// waits for its context.
type stuckPublisher struct{ calls chan string }

func (p stuckPublisher) PublishPresence(ctx context.Context, _, userID string, _ bool, _ time.Time) error {
	p.calls <- userID
	<-ctx.Done()
	return ctx.Err()
}

// A shutdown does not wait publishTimeout for each queued presence change
// when the publisher does not answer: it cancels the one in flight and
// drops the rest once its context ends.
func TestShutdownDropsStuckPresenceChanges(t *testing.T) {
	h := NewHub(nil, nil)
	pub := stuckPublisher{calls: make(chan string, 10)}
	h.PublishPresence(pub)
	at := time.Now()
	for _, u := range []string{"u1", "u2", "u3"} {
		h.publishPresence(userKey{"app", u}, false, at)
	}
	if got := <-pub.calls; got != "u1" {
		t.Fatalf("first publish for %q, want u1", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the shutdown's time is up
	done := make(chan error, 1)
	go func() { done <- h.Shutdown(ctx) }()
	select {
	case <-done:
	case <-time.After(publishTimeout / 2):
		t.Fatal("Shutdown waited for a publisher that does not answer")
	}
	select {
	case u := <-pub.calls:
		t.Fatalf("%s was published after the shutdown gave up", u)
	default:
	}
	h.subs.mu.Lock()
	defer h.subs.mu.Unlock()
	if len(h.subs.queue) != 0 || h.subs.publishing {
		t.Fatalf("queue %d, publishing %v after the shutdown", len(h.subs.queue), h.subs.publishing)
	}
}
