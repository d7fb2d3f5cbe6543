package bustest

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/magpie-im/magpie/internal/bus"
)

var lifecycleTests = []test{
	{"Durable", testDurable},
	{"Invalid", testInvalid},
	{"Closed", testClosed},
}

// testDurable closes a handle holding pending jobs, a job waiting for its
// retry and a dead letter, and opens a new one: all of them are still
// there.
func testDurable(t *testing.T, env Env) {
	b1, ctx := env.Open(t), t.Context()
	var want []string
	for i := range 20 {
		j := job(fmt.Sprintf("d%d", i), "app-a")
		want = append(want, j.ID)
		publish(t, b1, "work", j)
	}
	// Jobs acknowledged before closing stay acknowledged.
	publish(t, b1, "done", job("acked1", "app-a"), job("acked2", "app-a"))
	acked := newRecorder()
	c := consume(t, ctx, b1, "done", acked.handler(nil), fast)
	acked.waitN(t, 2)
	if err := c.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}
	retrying, doomed := job("retrying", "app-b"), job("doomed", "app-b")
	publish(t, b1, "retry", retrying)
	publish(t, b1, "doom", doomed)
	// Fail one attempt of each, then close the consumers gracefully: the
	// retry and the dead letter are recorded before Close returns.
	opts := fast
	opts.MaxAttempts = 1
	// The handlers never block: one called again (a retry due before the
	// Close below, on a slow machine) must not hold up the graceful Close
	// forever; the checks after reopening then fail instead.
	failed := make(chan struct{}, 1)
	signal := func() {
		select {
		case failed <- struct{}{}:
		default:
		}
	}
	c = consume(t, ctx, b1, "doom", func(context.Context, bus.Job) error {
		signal()
		return errors.New("doomed")
	}, opts)
	wait(t, "the doomed job's attempt", failed)
	if err := c.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}
	opts.MaxAttempts, opts.MinBackoff = 3, 50*fast.MinBackoff
	c = consume(t, ctx, b1, "retry", func(context.Context, bus.Job) error {
		signal()
		return errors.New("fail once")
	}, opts)
	wait(t, "the retrying job's first attempt", failed)
	if err := c.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}
	closeBus(t, b1)

	b2 := env.Open(t)
	rec := newRecorder()
	consume(t, ctx, b2, "work", rec.handler(nil), fast)
	got := rec.waitN(t, len(want))
	if !sameSet(ids(got), want) {
		t.Errorf("after reopening, consumed %v, want %v", ids(got), want)
	}
	retried := newRecorder()
	consume(t, ctx, b2, "retry", retried.handler(nil), fast)
	if g := retried.waitN(t, 1)[0].job; !sameJob(g, retrying) || g.Attempt != 2 || g.LastError != "fail once" {
		t.Errorf("after reopening, retried job = %+v, want %+v at Attempt 2 after %q", g, retrying, "fail once")
	}
	publish(t, b2, "done", job("marker", "app-a"))
	consume(t, ctx, b2, "done", acked.handler(nil), fast)
	if got := acked.waitN(t, 3); got[2].job.ID != "marker" {
		t.Errorf("after reopening, acknowledged jobs came back: %v", ids(got[2:]))
	}
	dl, err := b2.DeadLetters(ctx, "doom", 10)
	if err != nil || len(dl) != 1 || !sameJob(dl[0], doomed) || dl[0].LastError != "doomed" {
		t.Errorf("after reopening, DeadLetters(doom) = %+v, %v, want %+v", dl, err, doomed)
	}
}

// testInvalid checks that malformed names and reserved headers are refused
// with ErrInvalid.
func testInvalid(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	nop := func(context.Context, bus.Job) error { return nil }
	nopMsg := func(context.Context, []byte) {}
	for _, name := range []string{"", "has space", "slash/ed", "ünïcode", string(make([]byte, 101))} {
		checks := map[string]error{
			"Publish":      b.Publish(ctx, name, job("x", "app")),
			"DeadLetters":  second(b.DeadLetters(ctx, name, 1)),
			"QueueDepth":   second(b.QueueDepth(ctx, name)),
			"Consume":      second(b.Consume(ctx, name, nop, fast)),
			"Relay":        b.Relay(ctx, name, []byte("x")),
			"ConsumeRelay": second(b.ConsumeRelay(ctx, name, nopMsg)),
		}
		for op, err := range checks {
			if !errors.Is(err, bus.ErrInvalid) {
				t.Errorf("%s(%q) = %v, want ErrInvalid", op, name, err)
			}
		}
	}
	for _, key := range []string{"", "x-death", "magpie-attempt"} {
		j := job("x", "app")
		j.Headers[key] = "v"
		if err := b.Publish(ctx, "work", j); !errors.Is(err, bus.ErrInvalid) {
			t.Errorf("Publish with header %q = %v, want ErrInvalid", key, err)
		}
	}
}

// testClosed checks that a closed bus refuses everything with ErrClosed,
// and that closing it stops its consumers.
func testClosed(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	started := make(chan string, 1)
	c := consume(t, ctx, b, "work", blocker(started), fast)
	sub, err := b.Subscribe(ctx, func(context.Context, []byte) {})
	if err != nil {
		t.Fatalf("Subscribe() = %v", err)
	}
	publish(t, b, "work", job("held", "app"))
	wait(t, "the handler to start", started)
	closeBus(t, b)
	if err := c.Wait(); err != nil {
		t.Errorf("consumer Wait() after bus Close = %v, want nil", err)
	}
	if err := sub.Wait(); err != nil {
		t.Errorf("subscriber Wait() after bus Close = %v, want nil", err)
	}
	nop := func(context.Context, bus.Job) error { return nil }
	nopMsg := func(context.Context, []byte) {}
	checks := map[string]error{
		"Publish":      b.Publish(ctx, "work", job("x", "app")),
		"DeadLetters":  second(b.DeadLetters(ctx, "work", 1)),
		"QueueDepth":   second(b.QueueDepth(ctx, "work")),
		"Consume":      second(b.Consume(ctx, "work", nop, fast)),
		"Relay":        b.Relay(ctx, "node", []byte("x")),
		"ConsumeRelay": second(b.ConsumeRelay(ctx, "node", nopMsg)),
		"Broadcast":    b.Broadcast(ctx, []byte("x")),
		"Subscribe":    second(b.Subscribe(ctx, nopMsg)),
	}
	for op, err := range checks {
		if !errors.Is(err, bus.ErrClosed) {
			t.Errorf("%s after Close = %v, want ErrClosed", op, err)
		}
	}
	// The job held by the stopped consumer was not lost.
	b2 := env.Open(t)
	rec := newRecorder()
	consume(t, ctx, b2, "work", rec.handler(nil), fast)
	if got := rec.waitN(t, 1); got[0].job.ID != "held" || got[0].job.Attempt != 1 {
		t.Errorf("after reopening got %+v, want held at Attempt 1", got[0].job)
	}
}

func second[T any](_ T, err error) error { return err }
