package bus

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Bus carries Magpie's internal traffic between processes: durable jobs for
// workers, live relays from one gateway node to another, and control events
// broadcast to every node. Local implements it in one process; RabbitMQ
// implements it on a broker for cluster mode. Both pass bustest.Run.
//
// A Bus is safe for concurrent use.
type Bus interface {
	// Publish adds job to the work queue named queue and returns once the
	// job is durable (committed to SQLite; confirmed by a RabbitMQ quorum
	// queue). Empty job.ID is replaced by a random id; job.Attempt and
	// job.LastError are ignored. A nil error means the job will be handled
	// at least once; an error means it may or may not have been stored, so
	// a caller that retries the publish may create a duplicate, which
	// handlers absorb (they are idempotent).
	Publish(ctx context.Context, queue string, job Job) error

	// Consume starts handling the jobs of queue, at most opts.Concurrency at
	// a time, and returns once it is consuming. A job is acknowledged only
	// after h returns nil. When h fails, the job comes back after a backoff
	// with Attempt increased; after opts.MaxAttempts failed attempts it goes
	// to the queue's dead letters (see DeadLetters) and the jobs behind it
	// go on. Cancelling ctx stops the consumer abruptly: running handlers
	// see their ctx cancelled and their jobs come back to the queue at once,
	// without counting as attempts. Consumer.Close stops it gracefully.
	Consume(ctx context.Context, queue string, h JobHandler, opts ConsumeOptions) (Consumer, error)

	// DeadLetters returns up to limit jobs of queue that exhausted their
	// attempts, oldest first, each with the Attempt and LastError of its
	// last failure. It reads without removing them.
	DeadLetters(ctx context.Context, queue string, limit int) ([]Job, error)

	// QueueDepth returns the number of jobs of queue waiting to run: ready,
	// or waiting for the delay before a retry. Jobs a handler is running
	// and dead letters are not counted. A queue never used has depth 0.
	QueueDepth(ctx context.Context, queue string) (int64, error)

	// Relay sends msg to the node nodeID (see ConsumeRelay). Relays are not
	// durable: a relay to a node that is gone, or lost in a broker outage, is
	// dropped silently; the recipient client recovers it when it syncs.
	Relay(ctx context.Context, nodeID string, msg []byte) error

	// ConsumeRelay starts delivering the relays sent to nodeID to h, one at a
	// time and in order, and returns once relays to nodeID are being
	// received. The node's queue goes away when its consumer is closed, or,
	// on a broker, a while after its process died.
	ConsumeRelay(ctx context.Context, nodeID string, h MessageHandler) (Consumer, error)

	// Broadcast sends event to every subscriber (see Subscribe), including
	// those in this process, and returns once the bus accepted it.
	Broadcast(ctx context.Context, event []byte) error

	// Subscribe starts delivering broadcast events to h, one at a time and in
	// order, and returns once subscribed: every event broadcast after
	// Subscribe returns reaches h, except, on a broker, those broadcast
	// while this process was disconnected from it. After such a
	// disconnection h is called once with a nil msg, before the events
	// that follow it: the subscriber should resynchronise whatever the
	// lost events would have changed (drop caches, re-check sessions).
	Subscribe(ctx context.Context, h MessageHandler) (Consumer, error)

	// Close stops every consumer abruptly (as if their contexts were
	// cancelled), waits for them, and releases the bus. Calls after Close
	// fail with ErrClosed.
	Close() error
}

// Job is a unit of durable work.
//
// Delivery is at least once: a job may be handled more than once (a
// consumer stopped, or its connection lost, after the handler's side effect
// but before the acknowledgement; a publish retried after an ambiguous
// failure). Handlers must therefore be idempotent, keyed on ID.
type Job struct {
	// ID identifies the job across redeliveries. Empty on Publish means a
	// random id.
	ID string
	// AppID is the app the job belongs to; empty for operator-level work.
	AppID string
	// Type tells the handler what Body holds.
	Type string
	// Body is the payload, opaque to the bus.
	Body []byte
	// Headers carry metadata across the bus, such as the W3C trace context
	// under HeaderTraceparent. Keys starting with "x-" or "magpie-" are
	// reserved for the bus: Publish refuses them, and the bus's own
	// (such as the publication time, headerPublished) never reach handlers
	// or DeadLetters.
	Headers map[string]string
	// Attempt is set by the bus: 1 on the first delivery, one more after
	// each failed attempt. A redelivery after an abandoned delivery (the
	// consumer stopped mid-handler) keeps the same Attempt.
	Attempt int
	// LastError is set by the bus: the error of the previous failed attempt
	// (on retries and dead letters), empty on the first attempt.
	LastError string
}

// HeaderTraceparent is the Headers key of the W3C trace context.
const HeaderTraceparent = "traceparent"

// headerPublished is the reserved header under which both implementations
// store a job's publication time, in Unix milliseconds, so that the lag of
// every attempt, retries included, is measured from the original publish
// (magpie_bus_job_lag_seconds).
const headerPublished = "magpie-published"

// JobHandler handles one job. Returning nil acknowledges it; an error
// schedules a retry. It must honour ctx and be idempotent.
type JobHandler func(ctx context.Context, job Job) error

// MessageHandler handles one relay or broadcast message. msg must not be
// modified or kept after the handler returns. Handlers run one at a time per
// consumer, so a slow handler delays the messages behind it.
type MessageHandler func(ctx context.Context, msg []byte)

// Consumer is a running consumer started by Consume, ConsumeRelay or
// Subscribe. It runs until its context is cancelled, Close is called, the
// bus is closed, or it fails.
type Consumer interface {
	// Close stops the consumer gracefully: no new deliveries start, running
	// handlers finish with their context intact and their jobs are
	// acknowledged (or retried). It then waits like Wait. To bound the
	// wait, cancel the consumer's context.
	Close() error
	// Wait blocks until the consumer has stopped and every handler it started
	// has returned. It returns nil when the consumer was stopped by its
	// context, by Close or by the bus closing, and otherwise the error that
	// stopped it.
	Wait() error
}

// ConsumeOptions tunes Consume. The zero value is usable.
type ConsumeOptions struct {
	// Concurrency is the number of handlers that may run at once, and on a
	// broker the number of unacknowledged jobs prefetched. Zero means 8.
	Concurrency int
	// MaxAttempts is the number of failed attempts after which a job goes
	// to the dead letters. It also bounds abandoned deliveries: a job whose
	// handler was interrupted MaxAttempts times in one attempt (a consumer
	// that keeps stopping or crashing on it) goes to the dead letters
	// without running again. Zero means 5.
	MaxAttempts int
	// MinBackoff is the delay before the second attempt; each further
	// attempt waits twice as long as the one before, up to MaxBackoff. Zero
	// means 1 * time.Second.
	MinBackoff time.Duration
	// MaxBackoff caps the delay between attempts. Zero means 5 * time.Minute.
	MaxBackoff time.Duration
	// HandlerTimeout bounds one handler call; a handler that overruns fails
	// with its context's deadline error and is retried. Zero means no limit.
	HandlerTimeout time.Duration
}

func (o ConsumeOptions) withDefaults() ConsumeOptions {
	if o.Concurrency <= 0 {
		o.Concurrency = 8
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = 5
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 5 * time.Minute
	}
	o.MaxBackoff = max(o.MaxBackoff, o.MinBackoff)
	return o
}

// backoff returns the delay after failed attempt n (1-based): MinBackoff
// doubled n-1 times, capped at MaxBackoff, in whole milliseconds (RabbitMQ
// names a delay queue by it). There is no jitter: on a broker every distinct
// delay needs a queue of its own.
func (o ConsumeOptions) backoff(n int) time.Duration {
	d := o.MinBackoff
	for i := 1; i < n && d < o.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, o.MaxBackoff).Truncate(time.Millisecond)
}

// backoffs returns the distinct delays of backoff, shortest first: the
// delays a consumer with these options may wait before a retry, besides
// those a RetryAfter asks for.
func (o ConsumeOptions) backoffs() []time.Duration {
	var ds []time.Duration
	for n := 1; n <= 64; n++ {
		d := o.backoff(n)
		if len(ds) == 0 || d != ds[len(ds)-1] {
			ds = append(ds, d)
		}
		if d >= o.MaxBackoff.Truncate(time.Millisecond) {
			break
		}
	}
	return ds
}

// RetryAfter returns err marked with the delay its job should wait before
// the next attempt, for a handler whose failure names one (a provider's
// Retry-After): the bus waits the longer of d and its backoff, rounded up
// to a whole second (on a broker every distinct delay takes a queue, so
// delays are kept few) and capped at MaxBackoff. The attempt counts as a
// failed one. A nil err stays nil.
func RetryAfter(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d}
}

// RetryIn returns err marked with the exact delay its job should wait
// before the next attempt, in place of the consumer's backoff: for a
// handler that runs its own retry schedule (webhook deliveries, with
// jitter). The delay is rounded up to a whole second (on a broker every
// distinct delay takes a queue, so a schedule should use few of them) and
// capped at MaxBackoff. The attempt counts as a failed one. A nil err
// stays nil.
func RetryIn(err error, d time.Duration) error {
	if err == nil {
		return nil
	}
	return &retryAfterError{err: err, after: d, exact: true}
}

type retryAfterError struct {
	err   error
	after time.Duration
	exact bool // RetryIn: after replaces the backoff
}

func (e *retryAfterError) Error() string { return e.err.Error() }
func (e *retryAfterError) Unwrap() error { return e.err }

// retryDelay returns the delay after failed attempt n whose handler
// returned err: the backoff, or longer if err carries a RetryAfter, or
// the delay of a RetryIn.
func (o ConsumeOptions) retryDelay(n int, err error) time.Duration {
	d := o.backoff(n)
	var ra *retryAfterError
	if !errors.As(err, &ra) {
		return d
	}
	after := min((ra.after + time.Second - 1).Truncate(time.Second), o.MaxBackoff)
	if ra.exact {
		return max(after, time.Second)
	}
	return max(d, after)
}

var (
	// ErrClosed is returned by every method of a closed Bus.
	ErrClosed = errors.New("bus: closed")
	// ErrInvalid is returned for a malformed queue name, node id or header.
	ErrInvalid = errors.New("bus: invalid argument")
	// ErrUnavailable is returned when the broker cannot be reached before
	// the context ends. It is temporary.
	ErrUnavailable = errors.New("bus: broker unavailable")
	// ErrFull is returned when a queue's backlog is at its limit. It is
	// temporary: retry with backoff.
	ErrFull = errors.New("bus: queue full")
)

// maxNameLen bounds queue names and node ids, so that the derived broker
// names stay under AMQP's 255 bytes.
const maxNameLen = 100

// checkName reports whether name is usable as a queue name or node id:
// 1 to 100 ASCII letters, digits, '.', '_' or '-'.
func checkName(kind, name string) error {
	if name == "" || len(name) > maxNameLen {
		return fmt.Errorf("%w: %s %q must be 1 to %d characters", ErrInvalid, kind, name, maxNameLen)
	}
	for _, c := range []byte(name) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
		if !ok {
			return fmt.Errorf("%w: %s %q may hold only letters, digits, '.', '_' and '-'", ErrInvalid, kind, name)
		}
	}
	return nil
}

// prepareJob checks job for Publish and returns it ready to store: an id, no
// bus-set fields.
func prepareJob(queue string, job Job) (Job, error) {
	if err := checkName("queue", queue); err != nil {
		return Job{}, err
	}
	for k := range job.Headers {
		if k == "" || strings.HasPrefix(k, "x-") || strings.HasPrefix(k, "magpie-") {
			return Job{}, fmt.Errorf("%w: header %q is empty or reserved", ErrInvalid, k)
		}
	}
	if job.ID == "" {
		job.ID = rand.Text()
	}
	job.Attempt, job.LastError = 1, ""
	return job, nil
}

// maxErrorLen bounds LastError, which is stored with the job.
const maxErrorLen = 1024

func errorText(err error) string {
	s := err.Error()
	if len(s) > maxErrorLen {
		s = strings.ToValidUTF8(s[:maxErrorLen], "")
	}
	return s
}

// QueueDepths returns a function that reads the depth of each of queues
// from b (see Bus.QueueDepth), all within timeout, for
// telemetry.Metrics.CountQueueDepth to call at each scrape. A queue whose
// depth cannot be read (the broker is unreachable) is logged and left out,
// so that its series goes missing rather than reading 0.
func QueueDepths(b Bus, timeout time.Duration, log *slog.Logger, queues ...string) func(context.Context) map[string]int64 {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context) map[string]int64 {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		depths := make(map[string]int64, len(queues))
		for _, q := range queues {
			n, err := b.QueueDepth(ctx, q)
			if err != nil {
				log.WarnContext(ctx, "bus queue depth not read", "queue", q, "err", err)
				continue
			}
			depths[q] = n
		}
		return depths
	}
}
