// Package groupcommit batches concurrent work into group commits: callers
// submit items and wait, one runner goroutine commits everything that queued
// up while the previous commit ran in one call (one transaction, one bulk
// write), and hands each caller its own result. The messaging core commits
// messages and delivery acks through it; the gateway commits request nonces.
package groupcommit

import (
	"context"
	"errors"
	"sync"
	"time"
)

// ErrOverloaded is returned when a commit queue is full. It is temporary:
// the caller retries with backoff.
var ErrOverloaded = errors.New("groupcommit: overloaded, retry later")

// ErrStopped is returned for work submitted after Run returned, and for
// work still queued then.
var ErrStopped = errors.New("groupcommit: stopped")

// Batcher is a group committer. Callers submit items and wait; one runner
// goroutine takes everything that queued up while the previous commit ran
// (at most maxBatch items at a time), commits it in one call, and hands each
// caller its result. Items are committed in submission order.
//
// The queue is bounded by maxQueue; when it is full, Enqueue fails at once
// with ErrOverloaded. A Batcher is safe for concurrent use; Run must be
// running for submitted work to complete.
type Batcher[In, Out any] struct {
	// commit commits items and returns, per item, its result or its error:
	// a batch may partly succeed (one store call per app).
	commit func(ctx context.Context, items []In) ([]Out, []error)
	// After runs on the runner for the items that committed, in order,
	// before their submitters are told; may be nil. It may keep the
	// slices, but must not change them: the submitters' results are read
	// from the same.
	After func(items []In, outs []Out)
	// MaxWait, when positive, bounds the queue by time as well as by
	// length: once batches of measureFrom items or more have shown how
	// fast the commits go, work that would wait longer than MaxWait
	// behind what is queued is refused with ErrOverloaded (a queue
	// shorter than four times measureFrom is never refused this way). Set
	// it before Run.
	MaxWait time.Duration
	// Now returns the current time; nil means time.Now. Set it before Run.
	Now      func() time.Time
	maxBatch int
	maxQueue int
	// measureFrom is the smallest batch whose commit time measures the
	// rate: one that size was taken from a backed-up queue. It is
	// maxBatch, or measureBatch if that is smaller, so that a large
	// maxBatch (which lets a backed-up queue commit at once) does not
	// leave the rate unmeasured, nor the MaxWait bound off until four
	// batches of it are queued.
	measureFrom int

	mu      sync.Mutex // guards pending, stopped and rate
	pending []waiter[In, Out]
	// spare is an empty buffer for pending, kept by the runner from a
	// batch it finished; nil when there is none.
	spare   []waiter[In, Out]
	stopped bool
	// rate is how many items a second batches of measureFrom or more
	// commit (a moving average); zero until one was measured.
	rate float64
	// room is closed, and replaced, whenever the runner takes a batch off
	// the queue: EnqueueWait waits on it.
	room chan struct{}
	wake chan struct{} // capacity 1: there is pending work
}

type waiter[In, Out any] struct {
	in   In
	done chan result[Out] // capacity 1; nil for work enqueued with EnqueueFunc
	then *callback[Out]   // the EnqueueFunc this item belongs to, else nil
	i    int              // the item's index in then.outs
}

// callback gathers the results of the items of one EnqueueFunc and calls
// its function once the last one is in. Only the runner touches it.
type callback[Out any] struct {
	outs []Out
	err  error // the first item's error, if any
	left int
	fn   func([]Out, error)
}

// finish hands the item its result: on its channel, or to its callback.
// The runner calls it.
func (w *waiter[In, Out]) finish(r result[Out]) {
	t := w.then
	if t == nil {
		w.done <- r
		return
	}
	if r.err != nil && t.err == nil {
		t.err = r.err
	}
	t.outs[w.i] = r.out
	if t.left--; t.left > 0 {
		return
	}
	if t.err != nil {
		t.fn(nil, t.err)
		return
	}
	t.fn(t.outs, nil)
}

type result[Out any] struct {
	out Out
	err error
}

// measureBatch is the batch size from which commits measure the rate
// (measureFrom).
const measureBatch = 256

// New returns a Batcher that commits at most maxBatch items per commit call
// and queues at most maxQueue; set After, if wanted, before Run.
func New[In, Out any](maxBatch, maxQueue int, commit func(context.Context, []In) ([]Out, []error)) *Batcher[In, Out] {
	return &Batcher[In, Out]{commit: commit, maxBatch: maxBatch, maxQueue: maxQueue, measureFrom: min(maxBatch, measureBatch),
		wake: make(chan struct{}, 1), room: make(chan struct{})}
}

// SubmitAll queues ins together, in order, and waits for all their commits.
func (b *Batcher[In, Out]) SubmitAll(ctx context.Context, ins []In) ([]Out, error) {
	t, err := b.Enqueue(ins)
	if err != nil {
		return nil, err
	}
	return t.Wait(ctx)
}

// Ticket is a claim on the results of enqueued items.
type Ticket[In, Out any] struct {
	dones []chan result[Out]
}

// Enqueue queues ins together, in order, without waiting.
func (b *Batcher[In, Out]) Enqueue(ins []In) (*Ticket[In, Out], error) {
	t := newTicket[In, Out](len(ins))
	if err := b.push(ins, t.dones, nil); err != nil {
		return nil, err
	}
	return t, nil
}

// newTicket returns a ticket for n items, a channel each.
func newTicket[In, Out any](n int) *Ticket[In, Out] {
	t := &Ticket[In, Out]{dones: make([]chan result[Out], n)}
	for i := range t.dones {
		t.dones[i] = make(chan result[Out], 1)
	}
	return t
}

// push queues ins, their results going to dones or, if dones is nil, to
// then; or refuses them.
func (b *Batcher[In, Out]) push(ins []In, dones []chan result[Out], then *callback[Out]) error {
	b.mu.Lock()
	switch {
	case b.stopped:
		b.mu.Unlock()
		return ErrStopped
	case len(b.pending)+len(ins) > b.maxQueue, b.tooSlow(len(b.pending) + len(ins)):
		b.mu.Unlock()
		return ErrOverloaded
	}
	for i, in := range ins {
		w := waiter[In, Out]{in: in, then: then, i: i}
		if dones != nil {
			w.done = dones[i]
		}
		b.pending = append(b.pending, w)
	}
	b.mu.Unlock()
	select {
	case b.wake <- struct{}{}:
	default:
	}
	return nil
}

// WouldRefuse reports whether Enqueue of n items would be refused now with
// ErrOverloaded: the queue would pass its bound, or the items would wait
// longer than MaxWait. It queues nothing: callers that will enqueue
// later (after a round trip) ask it first, to refuse early.
func (b *Batcher[In, Out]) WouldRefuse(n int) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.stopped && (len(b.pending)+n > b.maxQueue || b.tooSlow(len(b.pending)+n))
}

// tooSlow reports whether n queued items would wait longer than MaxWait.
// b.mu must be held.
func (b *Batcher[In, Out]) tooSlow(n int) bool {
	return b.MaxWait > 0 && b.rate > 0 && n > 4*b.measureFrom &&
		float64(n) > b.rate*b.MaxWait.Seconds()
}

// RetryAfter estimates how long the work queued now takes to commit: a
// hint for callers refused with ErrOverloaded, between 20 ms and 2 s.
func (b *Batcher[In, Out]) RetryAfter() time.Duration {
	b.mu.Lock()
	n, rate := len(b.pending), b.rate
	b.mu.Unlock()
	if rate <= 0 {
		return 100 * time.Millisecond
	}
	d := time.Duration(float64(n) / rate * float64(time.Second))
	return min(max(d, 20*time.Millisecond), 2*time.Second)
}

func (b *Batcher[In, Out]) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// EnqueueWait is Enqueue, except that work refused with ErrOverloaded
// waits up to wait for the runner to make room, and is tried again each
// time it does; ErrOverloaded once wait has passed.
func (b *Batcher[In, Out]) EnqueueWait(ctx context.Context, ins []In, wait time.Duration) (*Ticket[In, Out], error) {
	t := newTicket[In, Out](len(ins))
	if err := b.pushWait(ctx, ins, t.dones, nil, wait); err != nil {
		return nil, err
	}
	return t, nil
}

// EnqueueFunc is EnqueueWait for a caller that does not wait for the
// commits: once all of ins are committed, fn gets their results, or the
// first error among them. fn runs on the runner goroutine, after After:
// it must not block. If EnqueueFunc returns an error, nothing was queued
// and fn is never called.
func (b *Batcher[In, Out]) EnqueueFunc(ctx context.Context, ins []In, wait time.Duration, fn func([]Out, error)) error {
	t := &callback[Out]{outs: make([]Out, len(ins)), left: len(ins), fn: fn}
	return b.pushWait(ctx, ins, nil, t, wait)
}

// pushWait is push, waiting up to wait for room.
func (b *Batcher[In, Out]) pushWait(ctx context.Context, ins []In, dones []chan result[Out], then *callback[Out], wait time.Duration) error {
	err := b.push(ins, dones, then)
	if !errors.Is(err, ErrOverloaded) || wait <= 0 {
		return err // the usual case: one lock, no timer
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		// Take the room signal first, then try again: a batch taken in
		// between closes this very signal, so no wake-up is missed.
		b.mu.Lock()
		room := b.room
		b.mu.Unlock()
		if err := b.push(ins, dones, then); !errors.Is(err, ErrOverloaded) {
			return err
		}
		select {
		case <-room:
		case <-timer.C:
			return ErrOverloaded
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Wait returns the results of the ticket's items once all are committed.
func (t *Ticket[In, Out]) Wait(ctx context.Context) ([]Out, error) {
	outs := make([]Out, len(t.dones))
	for i, done := range t.dones {
		select {
		case r := <-done:
			if r.err != nil {
				return nil, r.err
			}
			outs[i] = r.out
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return outs, nil
}

// committed returns the items of a batch that committed, and their
// results: ins and outs themselves when all did.
func committed[In, Out any](ins []In, outs []Out, errs []error) ([]In, []Out) {
	failed := 0
	for _, err := range errs {
		if err != nil {
			failed++
		}
	}
	if failed == 0 {
		return ins, outs
	}
	okIns, okOuts := make([]In, 0, len(ins)-failed), make([]Out, 0, len(ins)-failed)
	for i := range ins {
		if errs[i] == nil {
			okIns, okOuts = append(okIns, ins[i]), append(okOuts, outs[i])
		}
	}
	return okIns, okOuts
}

// Run commits batches until ctx ends, then fails what is still queued with
// ErrStopped.
func (b *Batcher[In, Out]) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
		case <-b.wake:
		}
		if ctx.Err() != nil {
			b.stop()
			return
		}
		for b.drainOnce(ctx) {
		}
	}
}

// stop refuses new work and fails what is queued with ErrStopped.
func (b *Batcher[In, Out]) stop() {
	b.mu.Lock()
	b.stopped = true
	rest := b.pending
	b.pending = nil
	close(b.room)
	b.room = make(chan struct{})
	b.mu.Unlock()
	for _, w := range rest {
		w.finish(result[Out]{err: ErrStopped})
	}
}

// measure folds a measured batch's commit time into the rate.
func (b *Batcher[In, Out]) measure(n int, took time.Duration) {
	if took <= 0 {
		took = time.Microsecond
	}
	r := float64(n) / took.Seconds()
	b.mu.Lock()
	if b.rate == 0 {
		b.rate = r
	} else {
		b.rate += (r - b.rate) / 8
	}
	b.mu.Unlock()
}

// drainOnce commits up to maxBatch pending items and reports whether more
// are pending.
func (b *Batcher[In, Out]) drainOnce(ctx context.Context) bool {
	b.mu.Lock()
	n := min(len(b.pending), b.maxBatch)
	if n == 0 {
		b.mu.Unlock()
		return false
	}
	var batch []waiter[In, Out]
	if n == len(b.pending) {
		// The usual case: take the whole queue, and queue what comes next
		// in the spare buffer.
		batch, b.pending, b.spare = b.pending, b.spare[:0], nil
	} else {
		batch = make([]waiter[In, Out], n)
		copy(batch, b.pending[:n])
		rest := copy(b.pending, b.pending[n:])
		clear(b.pending[rest:]) // drop references to committed items
		b.pending = b.pending[:rest]
	}
	more := len(b.pending) > 0
	close(b.room)
	b.room = make(chan struct{})
	b.mu.Unlock()
	ins := make([]In, n)
	for i, w := range batch {
		ins[i] = w.in
	}
	// The commit runs without the caller's context: once a batch is taken
	// it is committed or failed, whoever stops waiting.
	start := b.now()
	outs, errs := b.commit(context.WithoutCancel(ctx), ins)
	if n >= b.measureFrom {
		b.measure(n, b.now().Sub(start))
	}
	if b.After != nil {
		b.After(committed(ins, outs, errs))
	}
	for i, w := range batch {
		w.finish(result[Out]{out: outs[i], err: errs[i]})
	}
	if b.spare == nil && cap(batch) <= 2*b.maxBatch {
		clear(batch) // drop references to committed items
		b.spare = batch[:0]
	}
	return more
}
