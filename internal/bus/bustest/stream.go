package bustest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
)

var relayTests = []test{
	{"ToNode", testRelayToNode},
	{"NodeGone", testRelayNodeGone},
}

var broadcastTests = []test{
	{"EverySubscriber", testBroadcast},
}

// inbox records the messages a MessageHandler sees.
type inbox struct {
	mu      sync.Mutex
	msgs    []string
	changed chan struct{}
}

func newInbox() *inbox { return &inbox{changed: make(chan struct{})} }

func (in *inbox) handler(_ context.Context, msg []byte) {
	in.mu.Lock()
	in.msgs = append(in.msgs, string(msg))
	close(in.changed)
	in.changed = make(chan struct{})
	in.mu.Unlock()
}

func (in *inbox) snapshot() ([]string, <-chan struct{}) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return slices.Clone(in.msgs), in.changed
}

// waitN waits for at least n messages and returns them all.
func (in *inbox) waitN(t *testing.T, who string, n int) []string {
	t.Helper()
	timeout := time.After(waitTimeout)
	for {
		got, changed := in.snapshot()
		if len(got) >= n {
			return got
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out after %v waiting for %d messages to %s; got %q", waitTimeout, n, who, got)
		}
	}
}

// twoHandles returns two handles on env's bus: separate ones (two
// processes) where the bus allows it, else the same one twice.
func twoHandles(t *testing.T, env Env) (bus.Bus, bus.Bus) {
	a := env.Open(t)
	if env.Concurrent {
		return a, env.Open(t)
	}
	return a, a
}

func msgs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%d", prefix, i)
	}
	return out
}

func relayAll(t *testing.T, b bus.Bus, node string, ms []string) {
	t.Helper()
	for _, m := range ms {
		if err := b.Relay(t.Context(), node, []byte(m)); err != nil {
			t.Fatalf("Relay(%q, %q) = %v", node, m, err)
		}
	}
}

func consumeRelay(t *testing.T, b bus.Bus, node string, in *inbox) bus.Consumer {
	t.Helper()
	c, err := b.ConsumeRelay(t.Context(), node, in.handler)
	if err != nil {
		t.Fatalf("ConsumeRelay(%q) = %v", node, err)
	}
	t.Cleanup(func() { closeConsumer(t, c) })
	return c
}

// testRelayToNode relays to two nodes (consumed by two processes where the
// bus has them): each node gets its own messages only, in order; a relay to
// an unknown node is dropped without error.
func testRelayToNode(t *testing.T, env Env) {
	a, b := twoHandles(t, env)
	in1, in2 := newInbox(), newInbox()
	consumeRelay(t, a, "node-1", in1)
	consumeRelay(t, b, "node-2", in2)
	to1, to2 := msgs("to-1", 10), msgs("to-2", 5)
	relayAll(t, b, "node-1", to1[:5])
	relayAll(t, a, "node-2", to2)
	relayAll(t, b, "node-1", to1[5:])
	relayAll(t, a, "node-unknown", []string{"lost"})
	if got := in1.waitN(t, "node-1", len(to1)); !slices.Equal(got, to1) {
		t.Errorf("node-1 got %q, want %q", got, to1)
	}
	if got := in2.waitN(t, "node-2", len(to2)); !slices.Equal(got, to2) {
		t.Errorf("node-2 got %q, want %q", got, to2)
	}
	// Nothing else arrives: a marker relayed last is the next message.
	relayAll(t, a, "node-1", []string{"marker"})
	if got := in1.waitN(t, "node-1", len(to1)+1); got[len(to1)] != "marker" {
		t.Errorf("node-1 got %q after its messages, want only marker", got[len(to1):])
	}
}

// testRelayNodeGone closes a node's consumer: its queue goes away, so
// relays sent meanwhile are dropped and a new consumer of that node id
// starts empty.
func testRelayNodeGone(t *testing.T, env Env) {
	a, b := twoHandles(t, env)
	old := newInbox()
	c := consumeRelay(t, a, "node-1", old)
	relayAll(t, b, "node-1", []string{"before"})
	old.waitN(t, "node-1", 1)
	if err := c.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}
	relayAll(t, b, "node-1", []string{"while gone"})
	fresh := newInbox()
	consumeRelay(t, a, "node-1", fresh)
	relayAll(t, b, "node-1", []string{"after"})
	if got := fresh.waitN(t, "node-1", 1); got[0] != "after" {
		t.Errorf("new consumer of node-1 got %q first, want %q", got[0], "after")
	}
	if got, _ := old.snapshot(); len(got) != 1 {
		t.Errorf("closed consumer got %q, want only %q", got, "before")
	}
}

// testBroadcast has subscribers on two processes (where the bus has them):
// every subscriber gets every event broadcast after it subscribed, in the
// order of each publisher; a closed subscriber gets nothing more.
func testBroadcast(t *testing.T, env Env) {
	a, b := twoHandles(t, env)
	ctx := t.Context()
	subscribe := func(h bus.Bus, in *inbox) bus.Consumer {
		c, err := h.Subscribe(ctx, in.handler)
		if err != nil {
			t.Fatalf("Subscribe() = %v", err)
		}
		t.Cleanup(func() { closeConsumer(t, c) })
		return c
	}
	broadcast := func(h bus.Bus, events []string) {
		for _, e := range events {
			if err := h.Broadcast(ctx, []byte(e)); err != nil {
				t.Fatalf("Broadcast(%q) = %v", e, err)
			}
		}
	}
	ins := []*inbox{newInbox(), newInbox(), newInbox()}
	first := subscribe(a, ins[0])
	subscribe(a, ins[1])
	subscribe(b, ins[2])
	fromA, fromB := msgs("a", 5), msgs("b", 5)
	broadcast(a, fromA)
	broadcast(b, fromB)
	for i, in := range ins {
		got := in.waitN(t, fmt.Sprintf("subscriber %d", i), 10)
		if !slices.Equal(only(got, "a-"), fromA) || !slices.Equal(only(got, "b-"), fromB) || len(got) != 10 {
			t.Errorf("subscriber %d got %q, want %q and %q, each in order", i, got, fromA, fromB)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}
	late := newInbox()
	subscribe(b, late)
	broadcast(a, []string{"late"})
	if got := late.waitN(t, "the late subscriber", 1); !slices.Equal(got, []string{"late"}) {
		t.Errorf("late subscriber got %q, want only the event after it subscribed", got)
	}
	for i, in := range ins[1:] {
		if got := in.waitN(t, fmt.Sprintf("subscriber %d", i+1), 11); got[10] != "late" {
			t.Errorf("subscriber %d got %q last, want late", i+1, got[10])
		}
	}
	if got, _ := ins[0].snapshot(); len(got) != 10 {
		t.Errorf("closed subscriber got %d events, want the 10 before it closed", len(got))
	}
}

// only returns the messages starting with prefix.
func only(ms []string, prefix string) []string {
	var out []string
	for _, m := range ms {
		if len(m) >= len(prefix) && m[:len(prefix)] == prefix {
			out = append(out, m)
		}
	}
	return out
}
