package messaging

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
)

func TestBatcherCommitsInOrder(t *testing.T) {
	var mu sync.Mutex
	var committed []int
	var sizes []int
	b := newBatcher(8, 1000, func(_ context.Context, in []int) ([]int, error) {
		mu.Lock()
		defer mu.Unlock()
		committed = append(committed, in...)
		sizes = append(sizes, len(in))
		out := make([]int, len(in))
		for i, v := range in {
			out[i] = v * 10
		}
		return out, nil
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	// Enqueue 100 items before the runner can commit them all: order is
	// submission order and batches never exceed maxBatch.
	var tickets []*ticket[int, int]
	for i := range 100 {
		tk, err := b.enqueue([]int{i})
		if err != nil {
			t.Fatal(err)
		}
		tickets = append(tickets, tk)
	}
	for i, tk := range tickets {
		out, err := tk.wait(context.Background())
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
	b := newBatcher(1, 2, func(_ context.Context, in []int) ([]int, error) {
		<-block
		return in, nil
	})
	if _, err := b.enqueue([]int{1, 2, 3}); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("enqueue over the bound = %v, want ErrOverloaded", err)
	}
	tk, err := b.enqueue([]int{1, 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	b.run(ctx) // stops at once: queued work fails
	if _, err := tk.wait(context.Background()); !errors.Is(err, ErrStopped) {
		t.Fatalf("wait after stop = %v, want ErrStopped", err)
	}
	if _, err := b.enqueue([]int{1}); !errors.Is(err, ErrStopped) {
		t.Fatalf("enqueue after stop = %v, want ErrStopped", err)
	}
	close(block)
}

func TestBatcherCommitError(t *testing.T) {
	boom := errors.New("disk full")
	b := newBatcher(4, 10, func(context.Context, []int) ([]int, error) { return nil, boom })
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { b.run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	if _, err := b.submitAll(context.Background(), []int{1, 2}); !errors.Is(err, boom) {
		t.Fatalf("submitAll = %v, want the commit error", err)
	}
}
