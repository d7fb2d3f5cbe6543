package push

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// Store is what a Worker needs of the store; store.Store provides it.
type Store interface {
	GetApp(ctx context.Context, id string) (store.App, error)
	App(appID string) store.AppStore
}

// WorkerConfig configures a Worker. The zero value is usable.
type WorkerConfig struct {
	// Logger receives a debug record per job recorded or dropped, and a
	// warning per job that goes to the dead letters. Nil discards them.
	Logger *slog.Logger
	// Metrics counts the jobs Start's consumer handles, by outcome. Nil
	// records nothing.
	Metrics *telemetry.Metrics
}

// Worker handles offline jobs: it records each in its app's push outbox.
// It holds no state of its own, so it is safe for concurrent use and any
// number of Workers, in any number of processes, may consume one queue.
type Worker struct {
	store   Store
	log     *slog.Logger
	metrics *telemetry.Metrics
}

// NewWorker returns a Worker that records into st.
func NewWorker(st Store, cfg WorkerConfig) *Worker {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Worker{store: st, log: log, metrics: cfg.Metrics}
}

// Handle handles one offline job; it is a bus.JobHandler. It returns nil
// once the job's notification is in the outbox (recorded by this call or an
// earlier one) or the job is dropped because it no longer applies: its app
// does not exist, its user is not (or no longer) a member of the
// conversation since before the message (a deleted user, or a new user with
// a deleted user's id), or the message is gone or recalled. The entry's
// id is OfflineJobID of the job's app and body, the id the Notifier gives
// the job, so a job published again under another id is still recorded
// once. A job that cannot be decoded fails with an error wrapping
// ErrMalformed, which retrying will not cure; any other error (the
// store's) is temporary.
func (w *Worker) Handle(ctx context.Context, job bus.Job) error {
	j, err := decodeJob(job)
	if err != nil {
		return fmt.Errorf("offline job %s: %w", job.ID, err)
	}
	id := OfflineJobID(job.AppID, j.UserID, j.ConvID, j.Seq)
	reason, err := w.check(ctx, job.AppID, j)
	if err != nil {
		return fmt.Errorf("offline job %s: %w", id, err)
	}
	if reason != "" {
		w.log.DebugContext(ctx, "offline job dropped", "app_id", job.AppID, "job_id", id, "reason", reason)
		return nil
	}
	added, err := w.store.App(job.AppID).AddOutbox(ctx, store.OutboxEntry{
		ID: id, UserID: j.UserID, ConvID: j.ConvID, Seq: j.Seq, SenderID: j.SenderID,
		Type: j.Type, Preview: j.Preview, CreatedAt: j.CreatedAt,
	})
	switch {
	case errors.Is(err, store.ErrNotFound): // deleted since check
		w.log.DebugContext(ctx, "offline job dropped", "app_id", job.AppID, "job_id", id, "reason", "user deleted")
	case err != nil:
		return fmt.Errorf("offline job %s: %w", id, err)
	default:
		w.log.DebugContext(ctx, "offline notification recorded", "app_id", job.AppID, "job_id", id, "again", !added)
	}
	return nil
}

// decodeJob checks a job's metadata and decodes its body.
func decodeJob(job bus.Job) (OfflineJob, error) {
	switch {
	case job.Type != JobType:
		return OfflineJob{}, fmt.Errorf("%w: type %q, want %q", ErrMalformed, job.Type, JobType)
	case job.AppID == "":
		return OfflineJob{}, fmt.Errorf("%w: no app id", ErrMalformed)
	}
	return DecodeOffline(job.Body)
}

// check returns why the job no longer applies, or "" if it does.
func (w *Worker) check(ctx context.Context, appID string, j OfflineJob) (string, error) {
	if _, err := w.store.GetApp(ctx, appID); errors.Is(err, store.ErrNotFound) {
		return "unknown app", nil
	} else if err != nil {
		return "", err
	}
	a := w.store.App(appID)
	uc, err := a.GetUserConversation(ctx, j.UserID, j.ConvID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "not a member", nil
	case err != nil:
		return "", err
	case uc.FirstSeq > j.Seq:
		return "joined after the message", nil
	}
	msg, err := a.GetMessage(ctx, j.ConvID, j.Seq)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return "message gone", nil
	case err != nil:
		return "", err
	case !msg.RecalledAt.IsZero():
		return "message recalled", nil
	}
	return "", nil
}

// ConsumeOptions returns the options Start uses for the fields its caller
// leaves zero:
//
//   - Concurrency 16: a job is a few store round trips, so workers wait on
//     the store rather than the CPU.
//   - MaxAttempts 6, MinBackoff 1s, MaxBackoff 1 minute: a store outage of
//     about half a minute is ridden out (1+2+4+8+16 s between attempts);
//     beyond that, a notification is stale and goes to the dead letters,
//     where the console shows it and from which it can be replayed.
//   - HandlerTimeout 30s: a job stuck on the store is retried rather than
//     holding a slot, well below RabbitMQ's consumer timeout.
func ConsumeOptions() bus.ConsumeOptions {
	return bus.ConsumeOptions{
		Concurrency:    16,
		MaxAttempts:    6,
		MinBackoff:     time.Second,
		MaxBackoff:     time.Minute,
		HandlerTimeout: 30 * time.Second,
	}
}

// withDefaults fills the zero fields of o from ConsumeOptions.
func withDefaults(o bus.ConsumeOptions) bus.ConsumeOptions {
	d := ConsumeOptions()
	if o.Concurrency <= 0 {
		o.Concurrency = d.Concurrency
	}
	if o.MaxAttempts <= 0 {
		o.MaxAttempts = d.MaxAttempts
	}
	if o.MinBackoff <= 0 {
		o.MinBackoff = d.MinBackoff
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = d.MaxBackoff
	}
	if o.HandlerTimeout <= 0 {
		o.HandlerTimeout = d.HandlerTimeout
	}
	return o
}

// Start starts consuming QueueOffline from b with Handle and returns once
// it is consuming; the zero fields of opts take the values of
// ConsumeOptions. The consumer runs until ctx is cancelled (abruptly:
// running jobs come back to the queue), it is closed (gracefully), or b
// closes; see bus.Bus.Consume. A job that fails its last attempt is logged
// as a warning, since the bus moves it to the dead letters silently.
func (w *Worker) Start(ctx context.Context, b bus.Bus, opts bus.ConsumeOptions) (bus.Consumer, error) {
	opts = withDefaults(opts)
	w.metrics.Queue(QueueOffline)
	h := func(ctx context.Context, job bus.Job) error {
		ctx, span := w.startSpan(ctx, job)
		defer span.End()
		err := w.Handle(ctx, job)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "offline job failed")
		}
		switch {
		case err == nil:
			w.metrics.BusJob(QueueOffline, telemetry.JobOK)
		case job.Attempt >= opts.MaxAttempts && ctx.Err() == nil:
			w.metrics.BusJob(QueueOffline, telemetry.JobDeadLetter)
			w.log.WarnContext(ctx, "offline job goes to the dead letters",
				"app_id", job.AppID, "job_id", job.ID, "attempt", job.Attempt, "err", err)
		default:
			// Retried, or, when ctx ended, back to the queue at once.
			w.metrics.BusJob(QueueOffline, telemetry.JobRetry)
		}
		return err
	}
	c, err := b.Consume(ctx, QueueOffline, h, opts)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", QueueOffline, err)
	}
	return c, nil
}

// startSpan starts the consumer span of a job, a child of the producer
// span its traceparent header names. With tracing off it returns ctx and a
// span that does nothing.
func (w *Worker) startSpan(ctx context.Context, job bus.Job) (context.Context, trace.Span) {
	if !telemetry.TracingOn() {
		return telemetry.StartSpan(ctx, "")
	}
	ctx = telemetry.Extract(ctx, job.Headers)
	return telemetry.StartSpan(ctx, "process "+QueueOffline, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", QueueOffline), attribute.String("messaging.message.id", job.ID),
			attribute.Int("messaging.magpie.attempt", job.Attempt)))
}

// Run consumes QueueOffline from b, as Start does, until ctx ends, then
// stops gracefully: no new job starts, running jobs finish (within
// opts.HandlerTimeout) and are acknowledged. It returns nil after a stop
// by ctx or by b closing, and otherwise the error that stopped the
// consumer.
func (w *Worker) Run(ctx context.Context, b bus.Bus, opts bus.ConsumeOptions) error {
	c, err := w.Start(context.WithoutCancel(ctx), b, opts)
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = c.Close()
		if werr := <-done; err == nil {
			err = werr
		}
	}
	if err != nil {
		return fmt.Errorf("consume %s: %w", QueueOffline, err)
	}
	return nil
}
