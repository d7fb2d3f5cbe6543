package bus

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sync"
	"time"
)

// handle is the Consumer both implementations return. The goroutine that
// runs a consumer calls finish once it and every handler it started have
// returned.
type handle struct {
	abort    context.CancelFunc // cancels the consumer's context: abrupt stop
	stop     chan struct{}      // closed by Close: graceful stop
	stopOnce sync.Once
	done     chan struct{} // closed by finish
	err      error         // written before done is closed
}

// newHandle returns a handle and the consumer's context, which abort
// cancels.
func newHandle(ctx context.Context) (*handle, context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	return &handle{abort: cancel, stop: make(chan struct{}), done: make(chan struct{})}, ctx
}

func (h *handle) Close() error {
	h.stopOnce.Do(func() { close(h.stop) })
	return h.Wait()
}

func (h *handle) Wait() error {
	<-h.done
	return h.err
}

func (h *handle) finish(err error) {
	h.err = err
	h.abort()
	close(h.done)
}

// verdict is what becomes of a delivered job once its handler returned.
type verdict int

const (
	ack     verdict = iota // handled: remove it
	retry                  // failed: try again after a backoff
	dead                   // failed its last attempt: to the dead letters
	abandon                // the consumer stopped mid-handler: back at once
)

// judge decides what becomes of job: consumerCtx is the consumer's context
// (not the handler's, which a HandlerTimeout may have ended), err what the
// handler returned.
func judge(consumerCtx context.Context, job Job, err error, opts ConsumeOptions) verdict {
	switch {
	case err == nil:
		return ack
	case consumerCtx.Err() != nil:
		return abandon
	case job.Attempt >= opts.MaxAttempts:
		return dead
	default:
		return retry
	}
}

// callJob runs h on job with the handler timeout, turning a panic into an
// error (its stack is logged, since the error cannot hold it).
func callJob(ctx context.Context, log *slog.Logger, queue string, h JobHandler, job Job, timeout time.Duration) (err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	defer func() {
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "bus job handler panicked", "queue", queue, "job_id", job.ID,
				"app_id", job.AppID, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
			err = fmt.Errorf("handler panicked: %v", r)
		}
	}()
	return h(ctx, job)
}

// callMessage runs h on msg, logging a panic instead of crashing the
// process: a relay or broadcast is not retried.
func callMessage(ctx context.Context, log *slog.Logger, kind string, h MessageHandler, msg []byte) {
	defer func() {
		if r := recover(); r != nil {
			log.ErrorContext(ctx, "bus message handler panicked", "kind", kind,
				"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	h(ctx, msg)
}

// abandonedText is the LastError of a job dead-lettered because its
// deliveries kept being abandoned.
func abandonedText(n int) string {
	return fmt.Sprintf("abandoned %d times without a verdict (the consumer stopped or crashed mid-handler)", n)
}

// stopAll stops the consumers of a closing bus: it aborts them all, so that
// they stop taking work and give back what they hold, then waits for each.
func stopAll(hds []*handle) {
	for _, hd := range hds {
		hd.abort()
	}
	for _, hd := range hds {
		_ = hd.Wait()
	}
}
