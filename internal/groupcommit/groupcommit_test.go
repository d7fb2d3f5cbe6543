package groupcommit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestBatcherCommitsInOrder(t *testing.T) {
	var mu sync.Mutex
	var committed []int
	var sizes []int
	b := New(8, 1000, func(_ context.Context, in []int) ([]int, []error) {
		mu.Lock()
		defer mu.Unlock()
		committed = append(committed, in...)
		sizes = append(sizes, len(in))
		out := make([]int, len(in))
		for i, v := range in {
			out[i] = v * 10
		}
		return out, make([]error, len(in))
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	// Enqueue 100 items before the runner can commit them all: order is
	// submission order and batches never exceed maxBatch.
	var tickets []*Ticket[int, int]
	for i := range 100 {
		tk, err := b.Enqueue([]int{i})
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, tk)
	}
	for i, tk := range tickets {
		out, err := tk.Wait(context.Background())
		if err != nil || out[0] != i*10 {
			t.Fatalf("ticket %d = %v, %v", i, out, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.IsSorted(committed) || len(committed) != 100 {
		t.Fatalf("committed out of order: %v", committed)
	}
	if slices.Max(sizes) > 8 {
		t.Fatalf("batch sizes %v exceed 8", sizes)
	}
}

func TestBatcherOverloadAndStop(t *testing.T) {
	block := make(chan struct{})
	b := New(1, 2, func(_ context.Context, in []int) ([]int, []error) {
		<-block
		return in, make([]error, len(in))
	})
	if _, err := b.Enqueue([]int{1, 2, 3}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("enqueue over the bound = %v, want ErrOverloaded", err)
	}
	tk, err := b.Enqueue([]int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.Run(ctx) // stops at once: queued work fails
	if _, err := tk.Wait(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("wait after stop = %v, want ErrStopped", err)
	}
	if _, err := b.Enqueue([]int{1}); !errors.Is(err, ErrStopped) {
		t.Fatalf("enqueue after stop = %v, want ErrStopped", err)
	}
	close(block)
}

func TestBatcherPartialFailure(t *testing.T) {
	boom := errors.New("disk full")
	// Odd items fail; even ones commit and alone reach after.
	b := New(4, 10, func(_ context.Context, in []int) ([]int, []error) {
		errs := make([]error, len(in))
		for i, v := range in {
			if v%2 == 1 {
				errs[i] = boom
			}
		}
		return in, errs
	})
	var afterSaw []int
	b.After = func(in, out []int) { afterSaw = append(afterSaw, out...) }
	tk, err := b.Enqueue([]int{0, 1, 2})
	if err != nil {
		t.Fatal(err)
	}
	b.drainOnce(context.Background())
	for i, done := range tk.dones {
		r := <-done
		if (i%2 == 1) != errors.Is(r.err, boom) {
			t.Fatalf("item %d: err %v", i, r.err)
		}
	}
	if fmt.Sprint(afterSaw) != "[0 2]" {
		t.Fatalf("after saw %v, want [0 2]", afterSaw)
	}
}

// gatedBatcher returns a Batcher with the given MaxWait whose every commit
// waits for a value on gate, then moves the Batcher's clock on by step.
func gatedBatcher(maxBatch, maxQueue int, step, maxWait time.Duration) (*Batcher[int, int], chan struct{}) {
	var mu sync.Mutex
	now := time.Unix(0, 0)
	gate := make(chan struct{})
	b := New(maxBatch, maxQueue, func(_ context.Context, in []int) ([]int, []error) {
		<-gate
		mu.Lock()
		now = now.Add(step)
		mu.Unlock()
		return make([]int, len(in)), make([]error, len(in))
	})
	b.MaxWait = maxWait
	b.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	return b, gate
}

// TestBatcherMaxWait: once a full batch has shown the commit rate, work
// that would wait longer than MaxWait is refused, and RetryAfter says how
// long the queue takes to drain.
func TestBatcherMaxWait(t *testing.T) {
	// 10 items per 100 ms: 100 a second.
	b, gate := gatedBatcher(10, 10_000, 100*time.Millisecond, time.Second)
	if got := b.RetryAfter(); got != 100*time.Millisecond {
		t.Fatalf("RetryAfter before any measure = %v, want the 100 ms default", got)
	}
	// Before a full batch is measured only the length bound applies.
	first, err := b.Enqueue(make([]int, 10))
	if err != nil {
		t.Fatal(err)
	}
	for range 500 {
		if _, err := b.Enqueue([]int{1}); err != nil {
			t.Fatalf("Enqueue before a measure: %v", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.Run(ctx) })
	defer func() { close(gate); cancel(); wg.Wait() }()
	gate <- struct{}{} // the first full batch commits: 100 a second
	if _, err := first.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// The runner now waits in the next commit; 490 or 500 are queued, more
	// than a second's worth.
	if _, err := b.Enqueue([]int{2}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Enqueue past MaxWait = %v, want ErrOverloaded", err)
	}
	if got := b.RetryAfter(); got != 2*time.Second {
		t.Fatalf("RetryAfter = %v, want the 2 s cap", got)
	}
	// Drain to under a second's worth: accepted again.
	for {
		b.mu.Lock()
		n := len(b.pending)
		b.mu.Unlock()
		if n < 100 {
			break
		}
		gate <- struct{}{}
	}
	if _, err := b.Enqueue([]int{3}); err != nil {
		t.Fatalf("Enqueue once drained: %v", err)
	}
}

// TestBatcherEnqueueWait: work refused for a full queue waits for the
// runner to make room, up to the wait.
func TestBatcherEnqueueWait(t *testing.T) {
	gate := make(chan struct{})
	b := New(1, 1, func(_ context.Context, in []int) ([]int, []error) {
		<-gate
		return make([]int, len(in)), make([]error, len(in))
	})
	first, err := b.Enqueue([]int{1}) // the queue is full
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.EnqueueWait(context.Background(), []int{2}, time.Millisecond); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("EnqueueWait with no room made = %v, want ErrOverloaded", err)
	}
	cctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := b.EnqueueWait(cctx, []int{2}, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("EnqueueWait with its context ended = %v", err)
	}
	done := make(chan error, 1)
	go func() {
		tk, err := b.EnqueueWait(context.Background(), []int{2}, time.Hour)
		if err == nil {
			_, err = tk.Wait(context.Background())
		}
		done <- err
	}()
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.Run(ctx) })
	defer func() { stop(); wg.Wait() }()
	close(gate) // the runner takes item 1 off the queue: room for item 2
	if _, err := first.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("EnqueueWait once room was made: %v", err)
	}
}

// TestBatcherMaxWaitLargeBatches: with a maxBatch larger than
// measureBatch, a commit of measureBatch items or more measures the rate,
// and the MaxWait bound applies from four times measureBatch queued, not
// from four (rare) full batches.
func TestBatcherMaxWaitLargeBatches(t *testing.T) {
	// 300 items in 100 ms: 3,000 a second.
	b, gate := gatedBatcher(4096, 100_000, 100*time.Millisecond, 100*time.Millisecond)
	first, err := b.Enqueue(make([]int, 300))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.Run(ctx) })
	// The gate opens before the wait: after a failure below, the runner
	// may hold a commit at the gate.
	defer func() { close(gate); cancel(); wg.Wait() }()
	gate <- struct{}{}
	if _, err := first.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 1,100 queued would wait about 370 ms at 3,000 a second.
	if _, err := b.Enqueue(make([]int, 4*measureBatch+76)); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("Enqueue past MaxWait = %v, want ErrOverloaded", err)
	}
	// Under four times measureBatch, the time bound does not apply.
	if _, err := b.Enqueue(make([]int, 4*measureBatch)); err != nil {
		t.Fatalf("Enqueue of four measure batches: %v", err)
	}
}

// TestBatcherEnqueueFunc: work enqueued with a callback gets all its
// results at once, after After, even when it spans batches; the first
// error if any failed; ErrStopped if the runner stopped first; and no call
// at all when it was refused.
func TestBatcherEnqueueFunc(t *testing.T) {
	boom := errors.New("disk full")
	b := New(2, 10, func(_ context.Context, in []int) ([]int, []error) {
		out, errs := make([]int, len(in)), make([]error, len(in))
		for i, v := range in {
			out[i] = v * 10
			if v < 0 {
				errs[i] = boom
			}
		}
		return out, errs
	})
	var log []string
	b.After = func(in, _ []int) { log = append(log, fmt.Sprint("after ", in)) }
	record := func(name string) func([]int, error) {
		return func(outs []int, err error) { log = append(log, fmt.Sprint(name, " ", outs, " ", err)) }
	}
	ctx := context.Background()
	if err := b.EnqueueFunc(ctx, []int{1, 2, 3}, 0, record("a")); err != nil {
		t.Fatal(err)
	}
	if err := b.EnqueueFunc(ctx, []int{4, -5, -6}, 0, record("b")); err != nil {
		t.Fatal(err)
	}
	if err := b.EnqueueFunc(ctx, make([]int, 5), 0, record("refused")); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("enqueue over the bound = %v, want ErrOverloaded", err)
	}
	for b.drainOnce(ctx) {
	}
	if err := b.EnqueueFunc(ctx, []int{7}, 0, record("c")); err != nil {
		t.Fatal(err)
	}
	stopped, cancel := context.WithCancel(ctx)
	cancel()
	b.Run(stopped)
	want := []string{
		"after [1 2]", "after [3 4]", "a [10 20 30] <nil>", "after []", "b [] disk full",
		"c [] " + ErrStopped.Error(),
	}
	if !slices.Equal(log, want) {
		t.Fatalf("calls:\n%q\nwant\n%q", log, want)
	}
	if err := b.EnqueueFunc(ctx, []int{8}, 0, record("late")); !errors.Is(err, ErrStopped) {
		t.Fatalf("enqueue after stop = %v, want ErrStopped", err)
	}
}
