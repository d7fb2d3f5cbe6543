package bustest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
)

var jobTests = []test{
	{"PublishConsume", testPublishConsume},
	{"QueuesSeparate", testQueuesSeparate},
	{"RetryBackoff", testRetryBackoff},
	{"RetryAfter", testRetryAfter},
	{"RetryIn", testRetryIn},
	{"DeadLetters", testDeadLetters},
	{"Abandoned", testAbandoned},
	{"AbandonedBounded", testAbandonedBounded},
	{"GracefulClose", testGracefulClose},
	{"HandlerTimeout", testHandlerTimeout},
	{"Headers", testHeaders},
	{"Concurrency", testConcurrency},
	{"QueueDepth", testQueueDepth},
}

// testPublishConsume publishes a job and consumes it once, with every field
// intact; a job published without an id gets one.
func testPublishConsume(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	want := job("j1", "app-a")
	publish(t, b, "work", want, bus.Job{AppID: "app-a", Type: "no-id"})
	rec := newRecorder()
	c := consume(t, ctx, b, "work", rec.handler(nil), fast)
	got := rec.waitN(t, 2)
	if got[0].job.ID != want.ID { // handlers run concurrently: either may come first
		got[0], got[1] = got[1], got[0]
	}
	if g := got[0].job; !sameJob(g, want) || g.Attempt != 1 || g.LastError != "" {
		t.Errorf("delivery of %s = %+v, want %+v with Attempt 1 and no LastError", want.ID, g, want)
	}
	if g := got[1].job; g.ID == "" || g.ID == want.ID || g.Type != "no-id" || g.Attempt != 1 {
		t.Errorf("delivery of the job without id = %+v, want a generated id, Type no-id, Attempt 1", g)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Consumer.Close() = %v", err)
	}
	// Acknowledged jobs do not come back: a new consumer sees only the
	// marker published after them.
	publish(t, b, "work", job("marker", "app-a"))
	consume(t, ctx, b, "work", rec.handler(nil), fast)
	got = rec.waitN(t, 3)
	if len(got) != 3 || got[2].job.ID != "marker" {
		t.Errorf("deliveries after reconsuming = %v, want [j1 <generated> marker]", ids(got))
	}
}

// testQueuesSeparate checks that a consumer sees only its own queue.
func testQueuesSeparate(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	publish(t, b, "q1", job("a1", "app"), job("a2", "app"))
	publish(t, b, "q2", job("b1", "app"))
	r1, r2 := newRecorder(), newRecorder()
	consume(t, ctx, b, "q2", r2.handler(nil), fast)
	consume(t, ctx, b, "q1", r1.handler(nil), fast)
	r1.waitN(t, 2)
	r2.waitN(t, 1)
	publish(t, b, "q2", job("b2", "app"))
	got2 := r2.waitN(t, 2)
	got1, _ := r1.snapshot()
	if g := ids(got1); !sameSet(g, []string{"a1", "a2"}) {
		t.Errorf("q1 consumer got %v, want [a1 a2]", g)
	}
	if g := ids(got2); !sameSet(g, []string{"b1", "b2"}) {
		t.Errorf("q2 consumer got %v, want [b1 b2]", g)
	}
}

// testRetryBackoff fails a job twice: it comes back with Attempt counted,
// the previous error, and at least the backoff between attempts.
func testRetryBackoff(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	opts := bus.ConsumeOptions{Concurrency: 2, MaxAttempts: 5, MinBackoff: 40 * time.Millisecond, MaxBackoff: time.Second}
	want := job("r1", "app-a")
	publish(t, b, "work", want)
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(func(j bus.Job) error {
		if j.Attempt < 3 {
			return fmt.Errorf("boom %d", j.Attempt)
		}
		return nil
	}), opts)
	got := rec.waitN(t, 3)
	for i, d := range got {
		wantErr := ""
		if i > 0 {
			wantErr = fmt.Sprintf("boom %d", i)
		}
		if !sameJob(d.job, want) || d.job.Attempt != i+1 || d.job.LastError != wantErr {
			t.Errorf("delivery %d = %+v, want %+v with Attempt %d, LastError %q", i, d.job, want, i+1, wantErr)
		}
	}
	for i, min := range []time.Duration{40 * time.Millisecond, 80 * time.Millisecond} {
		if gap := got[i+1].at.Sub(got[i].at); gap < min {
			t.Errorf("attempt %d came %v after attempt %d, want at least the backoff %v", i+2, gap, i+1, min)
		}
	}
	if dl, err := b.DeadLetters(ctx, "work", 10); err != nil || len(dl) != 0 {
		t.Errorf("DeadLetters(work) = %v, %v, want none", dl, err)
	}
}

// testRetryAfter fails a job once with bus.RetryAfter of 700ms, longer
// than the backoff: the second attempt waits at least a whole second (the
// delay rounded up), and its LastError is the handler's error.
func testRetryAfter(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	opts := bus.ConsumeOptions{MaxAttempts: 3, MinBackoff: 20 * time.Millisecond, MaxBackoff: 5 * time.Second}
	publish(t, b, "work", job("ra1", "app-a"))
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(func(j bus.Job) error {
		if j.Attempt == 1 {
			return bus.RetryAfter(errors.New("slow down"), 700*time.Millisecond)
		}
		return nil
	}), opts)
	got := rec.waitN(t, 2)
	if gap := got[1].at.Sub(got[0].at); gap < time.Second {
		t.Errorf("attempt 2 came %v after attempt 1, want at least 1s (700ms rounded up)", gap)
	}
	if got[1].job.Attempt != 2 || got[1].job.LastError != "slow down" {
		t.Errorf("attempt 2 = Attempt %d, LastError %q, want 2, %q", got[1].job.Attempt, got[1].job.LastError, "slow down")
	}
}

// testRetryIn fails a job once with bus.RetryIn of 700ms under a backoff
// far longer than the test's wait: the second attempt comes after the
// RetryIn delay rounded up to a second, not after the backoff.
func testRetryIn(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	opts := bus.ConsumeOptions{MaxAttempts: 3, MinBackoff: time.Hour, MaxBackoff: 2 * time.Hour}
	publish(t, b, "work", job("ri1", "app-a"))
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(func(j bus.Job) error {
		if j.Attempt == 1 {
			return bus.RetryIn(errors.New("again"), 700*time.Millisecond)
		}
		return nil
	}), opts)
	got := rec.waitN(t, 2)
	if gap := got[1].at.Sub(got[0].at); gap < time.Second {
		t.Errorf("attempt 2 came %v after attempt 1, want at least 1s (700ms rounded up)", gap)
	}
	if got[1].job.Attempt != 2 || got[1].job.LastError != "again" {
		t.Errorf("attempt 2 = Attempt %d, LastError %q, want 2, %q", got[1].job.Attempt, got[1].job.LastError, "again")
	}
}

// testDeadLetters sends two poison jobs (one fails, one panics) ahead of
// good ones: the good jobs are handled meanwhile, and each poison job goes
// to the dead letters after exactly MaxAttempts attempts.
func testDeadLetters(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	opts := fast
	opts.Concurrency = 1
	poison, panicky := job("poison", "app-a"), job("panicky", "app-b")
	publish(t, b, "work", poison, panicky)
	var good []string
	for i := range 5 {
		id := fmt.Sprintf("good%d", i)
		good = append(good, id)
		publish(t, b, "work", job(id, "app-a"))
	}
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(func(j bus.Job) error {
		switch j.ID {
		case "poison":
			return fmt.Errorf("poison %d", j.Attempt)
		case "panicky":
			panic("panicky job")
		}
		return nil
	}), opts)
	rec.waitFor(t, "the good jobs", func(ds []delivery) bool {
		for _, id := range good {
			if len(of(ds, id)) == 0 {
				return false
			}
		}
		return true
	})
	var dl []bus.Job
	waitUntil(t, "two dead letters", func() bool {
		var err error
		dl, err = b.DeadLetters(ctx, "work", 10)
		if err != nil {
			t.Fatalf("DeadLetters(work) = %v", err)
		}
		return len(dl) == 2
	})
	byID := map[string]bus.Job{}
	for _, j := range dl {
		byID[j.ID] = j
	}
	if g := byID["poison"]; !sameJob(g, poison) || g.Attempt != 3 || g.LastError != "poison 3" {
		t.Errorf("dead letter poison = %+v, want %+v with Attempt 3, LastError %q", g, poison, "poison 3")
	}
	if g := byID["panicky"]; !sameJob(g, panicky) || g.Attempt != 3 || !strings.Contains(g.LastError, "panicky job") {
		t.Errorf("dead letter panicky = %+v, want %+v with Attempt 3 and the panic as LastError", g, panicky)
	}
	got, _ := rec.snapshot()
	for _, id := range []string{"poison", "panicky"} {
		var attempts []int
		for _, d := range of(got, id) {
			attempts = append(attempts, d.job.Attempt)
		}
		if !slices.Equal(attempts, []int{1, 2, 3}) {
			t.Errorf("%s handled at attempts %v, want [1 2 3]", id, attempts)
		}
	}
	for _, id := range good {
		if n := len(of(got, id)); n != 1 {
			t.Errorf("%s handled %d times, want 1", id, n)
		}
	}
	if one, err := b.DeadLetters(ctx, "work", 1); err != nil || len(one) != 1 {
		t.Errorf("DeadLetters(work, 1) = %v, %v, want one job", one, err)
	}
	// Reading dead letters does not remove them.
	if again, err := b.DeadLetters(ctx, "work", 10); err != nil || len(again) != 2 {
		t.Errorf("DeadLetters(work) again = %d jobs, %v, want 2", len(again), err)
	}
	if other, err := b.DeadLetters(ctx, "other", 10); err != nil || len(other) != 0 {
		t.Errorf("DeadLetters(other) = %v, %v, want none", other, err)
	}
}

// blocker is a handler that signals when it starts and then blocks until
// its context ends. It never blocks past its context: a bus that ran it
// again after stopping the consumer would otherwise hang the test instead
// of failing it.
func blocker(started chan<- string) bus.JobHandler {
	return func(ctx context.Context, j bus.Job) error {
		select {
		case started <- j.ID:
		case <-ctx.Done():
		}
		<-ctx.Done()
		return ctx.Err()
	}
}

// crashOnce starts a consumer whose handler blocks, waits until it holds a
// job, and stops the consumer abruptly, as a crash would.
func crashOnce(t *testing.T, b bus.Bus, queue string, opts bus.ConsumeOptions) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	started := make(chan string, 1)
	c, err := b.Consume(ctx, queue, blocker(started), opts)
	if err != nil {
		t.Fatalf("Consume(%q) = %v", queue, err)
	}
	wait(t, "the handler to start", started)
	cancel()
	if err := c.Wait(); err != nil {
		t.Errorf("Consumer.Wait() after cancel = %v, want nil", err)
	}
}

// testAbandoned stops a consumer mid-handler: the job comes back to the
// next consumer, at the same attempt.
func testAbandoned(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	want := job("a1", "app-a")
	publish(t, b, "work", want)
	crashOnce(t, b, "work", fast)
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(nil), fast)
	got := rec.waitN(t, 1)
	if g := got[0].job; !sameJob(g, want) || g.Attempt != 1 {
		t.Errorf("redelivery = %+v, want %+v at Attempt 1", g, want)
	}
}

// testAbandonedBounded abandons a job MaxAttempts times: it then goes to
// the dead letters without running again, so a job that crashes its
// consumer cannot loop forever; the job behind it is handled.
func testAbandonedBounded(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	opts := fast
	opts.Concurrency, opts.MaxAttempts = 1, 2
	crasher := job("crasher", "app-a")
	publish(t, b, "work", crasher)
	for range opts.MaxAttempts {
		crashOnce(t, b, "work", opts)
	}
	publish(t, b, "work", job("after", "app-a"))
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(nil), opts)
	rec.waitFor(t, "the job behind the crasher", func(ds []delivery) bool { return len(of(ds, "after")) == 1 })
	var dl []bus.Job
	waitUntil(t, "the crasher in the dead letters", func() bool {
		dl, _ = b.DeadLetters(ctx, "work", 10)
		return len(dl) == 1
	})
	if g := dl[0]; !sameJob(g, crasher) || g.Attempt != 1 || !strings.Contains(g.LastError, "abandoned") {
		t.Errorf("dead letter = %+v, want %+v at Attempt 1, LastError about abandonment", g, crasher)
	}
	if got, _ := rec.snapshot(); len(of(got, "crasher")) != 0 {
		t.Errorf("the crasher ran again after %d abandonments", opts.MaxAttempts)
	}
}

// testGracefulClose closes a consumer while its handler runs: Close waits
// for the handler, whose context stays alive, and acknowledges the job.
func testGracefulClose(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	publish(t, b, "work", job("g1", "app-a"))
	started, release := make(chan struct{}), make(chan struct{})
	var finished atomic.Bool
	var handlerErr error
	c := consume(t, ctx, b, "work", func(hctx context.Context, j bus.Job) error {
		close(started)
		<-release
		handlerErr = hctx.Err()
		finished.Store(true)
		return nil
	}, fast)
	wait(t, "the handler to start", started)
	closed := make(chan error, 1)
	go func() { closed <- c.Close() }()
	close(release)
	if err := wait(t, "Close", closed); err != nil {
		t.Errorf("Consumer.Close() = %v", err)
	}
	if !finished.Load() || handlerErr != nil {
		t.Errorf("after Close: handler finished %v with ctx error %v, want finished with a live ctx", finished.Load(), handlerErr)
	}
	publish(t, b, "work", job("marker", "app-a"))
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(nil), fast)
	if got := rec.waitN(t, 1); got[0].job.ID != "marker" {
		t.Errorf("after a graceful close the next consumer got %v first, want marker", ids(got))
	}
}

// testHandlerTimeout fails an attempt whose handler overruns
// HandlerTimeout; the job is retried.
func testHandlerTimeout(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	opts := fast
	opts.HandlerTimeout = 20 * time.Millisecond
	publish(t, b, "work", job("slow", "app-a"))
	rec := newRecorder()
	consume(t, ctx, b, "work", func(hctx context.Context, j bus.Job) error {
		_ = rec.handler(nil)(hctx, j)
		if j.Attempt == 1 {
			<-hctx.Done()
			return hctx.Err()
		}
		return nil
	}, opts)
	got := rec.waitN(t, 2)
	if g := got[1].job; g.Attempt != 2 || !strings.Contains(g.LastError, context.DeadlineExceeded.Error()) {
		t.Errorf("second delivery = %+v, want Attempt 2 after a deadline error", g)
	}
}

// testHeaders checks that app id, trace context and other headers arrive
// intact for jobs of several apps, on first delivery and on retry.
func testHeaders(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	want := map[string]bus.Job{}
	for i := range 3 {
		for _, app := range []string{"app-a", "app-b"} {
			j := job(fmt.Sprintf("%s-%d", app, i), app)
			want[j.ID] = j
			publish(t, b, "work", j)
		}
	}
	rec := newRecorder()
	consume(t, ctx, b, "work", rec.handler(func(j bus.Job) error {
		if j.Attempt == 1 {
			return errors.New("retry once")
		}
		return nil
	}), fast)
	got := rec.waitFor(t, "every job twice", func(ds []delivery) bool { return len(ds) >= 2*len(want) })
	for _, d := range got {
		if w, ok := want[d.job.ID]; !ok || !sameJob(d.job, w) {
			t.Errorf("delivery %+v, want %+v", d.job, w)
		}
	}
}

// testConcurrency has many publishers and consumers (on several handles
// where the bus allows): every job is handled exactly once, and no consumer
// runs more handlers at once than its Concurrency.
func testConcurrency(t *testing.T, env Env) {
	const publishers, perPublisher, consumers = 6, 40, 3
	handles := []bus.Bus{env.Open(t)}
	if env.Concurrent {
		handles = append(handles, env.Open(t))
	}
	ctx := t.Context()
	opts := fast
	var mu sync.Mutex
	seen := map[string]int{}
	var total atomic.Int64
	var cs []bus.Consumer
	for i := range consumers {
		var running atomic.Int64
		h := func(_ context.Context, j bus.Job) error {
			n := running.Add(1)
			defer running.Add(-1)
			if n > int64(opts.Concurrency) {
				t.Errorf("consumer %d runs %d handlers at once, want at most %d", i, n, opts.Concurrency)
			}
			mu.Lock()
			seen[j.ID]++
			mu.Unlock()
			total.Add(1)
			return nil
		}
		cs = append(cs, consume(t, ctx, handles[i%len(handles)], "work", h, opts))
	}
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			b := handles[p%len(handles)]
			for i := range perPublisher {
				j := job(fmt.Sprintf("p%d-%d", p, i), "app-a")
				if err := b.Publish(ctx, "work", j); err != nil {
					t.Errorf("Publish(%s) = %v", j.ID, err)
				}
			}
		})
	}
	wg.Wait()
	const want = publishers * perPublisher
	waitUntil(t, fmt.Sprintf("%d jobs handled", want), func() bool { return total.Load() >= want })
	for _, c := range cs {
		if err := c.Close(); err != nil {
			t.Errorf("Consumer.Close() = %v", err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != want {
		t.Errorf("%d distinct jobs handled, want %d", len(seen), want)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("job %s handled %d times, want once", id, n)
		}
	}
}

// testQueueDepth checks that QueueDepth counts the jobs waiting to run, a
// job waiting for its retry included, and neither running jobs nor other
// queues; a queue never used has depth 0.
func testQueueDepth(t *testing.T, env Env) {
	b, ctx := env.Open(t), t.Context()
	depth := func(queue string) int64 {
		t.Helper()
		n, err := b.QueueDepth(ctx, queue)
		if err != nil {
			t.Fatalf("QueueDepth(%q) = %v", queue, err)
		}
		return n
	}
	if n := depth("never-used"); n != 0 {
		t.Errorf("QueueDepth(never-used) = %d, want 0", n)
	}
	publish(t, b, "depth", job("d0", "app-a"), job("d1", "app-a"), job("d2", "app-b"))
	publish(t, b, "other", job("o1", "app-a"))
	var n int64
	waitUntil(t, "depth 3", func() bool { n = depth("depth"); return n >= 3 })
	if n != 3 {
		t.Fatalf("QueueDepth(depth) = %d after 3 publishes, want 3", n)
	}
	// d0 fails its first attempt and waits a second for its retry: it still
	// counts, the jobs handled do not.
	opts := fast
	opts.MinBackoff, opts.MaxBackoff = time.Second, time.Second
	rec := newRecorder()
	consume(t, ctx, b, "depth", rec.handler(func(j bus.Job) error {
		if j.ID == "d0" && j.Attempt == 1 {
			return errors.New("later")
		}
		return nil
	}), opts)
	rec.waitFor(t, "d1, d2 and d0's first attempt", func(ds []delivery) bool {
		return len(of(ds, "d0")) >= 1 && len(of(ds, "d1")) == 1 && len(of(ds, "d2")) == 1
	})
	var waiting bool
	waitUntil(t, "d0 waiting for its retry (depth 1), or retried", func() bool {
		got, _ := rec.snapshot()
		waiting = depth("depth") == 1
		return waiting || len(of(got, "d0")) == 2
	})
	if !waiting {
		t.Errorf("QueueDepth(depth) never was 1 while d0 waited a second for its retry")
	}
	rec.waitFor(t, "d0's retry", func(ds []delivery) bool { return len(of(ds, "d0")) == 2 })
	waitUntil(t, "depth 0", func() bool { return depth("depth") == 0 })
	if n := depth("other"); n != 1 {
		t.Errorf("QueueDepth(other) = %d, want 1", n)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
