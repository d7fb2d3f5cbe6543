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
	// Metrics counts the jobs Start's consumer handles, by outcome, and
	// the notifications and provider requests. Nil records nothing.
	Metrics *telemetry.Metrics
	// Service provides the apps' provider senders. Nil means no app has
	// credentials: every notification goes to the outbox.
	Service *Service
	// Publisher publishes send jobs; nil means the bus Start consumes.
	Publisher Publisher
	// Now returns the current time (do-not-disturb hours, log times). Nil
	// means time.Now.
	Now func() time.Time
	// Failures is told about every notification a provider refused for
	// good (the push.failed webhook event). Nil tells no one.
	Failures FailureReporter
	// Usage counts the notifications sent to a provider or recorded in
	// the outbox, for the usage report. Nil counts nothing.
	Usage UsageCounter
}

// UsageCounter counts pushes (tenant.Usage). Its methods must not block.
type UsageCounter interface{ PushSent(appID string) }

// FailureReporter is told about notifications that failed for good.
type FailureReporter interface {
	// PushFailed reports one; an error is logged, and the send job is
	// not retried for it.
	PushFailed(ctx context.Context, appID string, f Failure) error
}

// Failure is a notification a provider refused for good.
type Failure struct {
	UserID, DeviceID, Provider, ConvID string
	Seq                                int64
	// Status is StatusFailed or StatusTokenRemoved; Reason the provider's.
	Status, Reason string
	At             time.Time
}

// Worker handles the push queues. An offline job (QueueOffline) is a
// message a user did not receive on any device: the worker checks that it
// still applies, applies the user's preferences (push disabled, muted
// conversation, do-not-disturb hours), computes the badge (the user's
// unread count) and renders the notification per device locale; then, if
// the app has no provider credential, it records the notification in the
// app's outbox, and otherwise publishes one send job (QueueSend) per
// registered device. A send job sends one notification to one device
// through the app's provider, removes the device's registration when the
// provider says the token is dead, and retries with backoff (honouring
// the provider's Retry-After) on throttling, server and network errors.
// Every step is written to the app's push log.
//
// It holds no per-job state, so it is safe for concurrent use and any
// number of Workers, in any number of processes, may consume the queues.
type Worker struct {
	store   Store
	svc     *Service
	pub     Publisher
	log     *slog.Logger
	metrics *telemetry.Metrics
	now     func() time.Time
	fails   FailureReporter
	usage   UsageCounter // nil: none
}

// countPush counts a push of app for the usage report.
func (w *Worker) countPush(appID string) {
	if w.usage != nil {
		w.usage.PushSent(appID)
	}
}

// NewWorker returns a Worker on st.
func NewWorker(st Store, cfg WorkerConfig) *Worker {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return &Worker{store: st, svc: cfg.Service, pub: cfg.Publisher, log: log, metrics: cfg.Metrics, now: now, fails: cfg.Failures, usage: cfg.Usage}
}

// Handle handles one offline job; it is a bus.JobHandler. It returns nil
// once the job's notification is recorded (in the outbox, or as send jobs
// on the bus), suppressed by the user's preferences, or dropped because
// it no longer applies: its app does not exist, its user is not (or no
// longer) a member of the conversation since before the message (a
// deleted user, or a new user with a deleted user's id), the message is
// gone or recalled, or a device of the user acknowledged it meanwhile.
// Handling a job again records nothing twice: outbox entries, log entries
// and send jobs have ids derived from the job. A job that cannot be
// decoded fails with an error wrapping ErrMalformed, which retrying will
// not cure; any other error (the store's, the bus's) is temporary.
func (w *Worker) Handle(ctx context.Context, job bus.Job) error {
	j, err := decodeJob(job)
	if err != nil {
		return fmt.Errorf("offline job %s: %w", job.ID, err)
	}
	id := OfflineJobID(job.AppID, j.UserID, j.ConvID, j.Seq)
	st, reason, err := w.check(ctx, job.AppID, j)
	if err != nil {
		return fmt.Errorf("offline job %s: %w", id, err)
	}
	if reason != "" {
		w.metrics.PushNotification(telemetry.NotifDropped)
		w.log.DebugContext(ctx, "offline job dropped", "app_id", job.AppID, "job_id", id, "reason", reason)
		return nil
	}
	if err := w.notify(ctx, job.AppID, id, j, st); err != nil {
		return fmt.Errorf("offline job %s: %w", id, err)
	}
	return nil
}

// jobState is what check read of a job that applies.
type jobState struct {
	app store.App
	uc  store.UserConversation
	msg store.Message
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

// check returns why the job no longer applies, or "" and what it read if
// it does.
func (w *Worker) check(ctx context.Context, appID string, j OfflineJob) (jobState, string, error) {
	var st jobState
	var err error
	if st.app, err = w.store.GetApp(ctx, appID); errors.Is(err, store.ErrNotFound) {
		return st, "unknown app", nil
	} else if err != nil {
		return st, "", err
	}
	a := w.store.App(appID)
	st.uc, err = a.GetUserConversation(ctx, j.UserID, j.ConvID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return st, "not a member", nil
	case err != nil:
		return st, "", err
	case st.uc.FirstSeq > j.Seq:
		return st, "joined after the message", nil
	case st.uc.DeliveredSeq >= j.Seq:
		return st, "delivered meanwhile", nil
	}
	st.msg, err = a.GetMessage(ctx, j.ConvID, j.Seq)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return st, "message gone", nil
	case err != nil:
		return st, "", err
	case !st.msg.RecalledAt.IsZero():
		return st, "message recalled", nil
	}
	return st, "", nil
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

// withDefaults fills the zero fields of o from d.
func withDefaults(o, d bus.ConsumeOptions) bus.ConsumeOptions {
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

// SendConsumeOptions returns the options Start uses for QueueSend:
// Concurrency 32 (a send waits on the provider), MaxAttempts 8 with
// MinBackoff 1s and MaxBackoff 5 minutes (a provider outage of about ten
// minutes is ridden out; a Retry-After longer than 5 minutes is cut to
// it), HandlerTimeout 30s.
func SendConsumeOptions() bus.ConsumeOptions {
	return bus.ConsumeOptions{
		Concurrency:    32,
		MaxAttempts:    8,
		MinBackoff:     time.Second,
		MaxBackoff:     5 * time.Minute,
		HandlerTimeout: 30 * time.Second,
	}
}

// Start starts consuming QueueOffline (with Handle) and QueueSend (with
// HandleSend) from b and returns once it is consuming both; the zero
// fields of opts take the values of ConsumeOptions for the offline queue,
// and sendOpts's those of SendConsumeOptions. Send jobs are published to
// b unless the config named a Publisher. The consumers run until ctx is
// cancelled (abruptly: running jobs come back to the queue), they are
// closed (gracefully), or b closes; see bus.Bus.Consume. A job that fails
// its last attempt is logged as a warning, since the bus moves it to the
// dead letters silently.
func (w *Worker) Start(ctx context.Context, b bus.Bus, opts bus.ConsumeOptions) (bus.Consumer, error) {
	return w.StartWith(ctx, b, opts, bus.ConsumeOptions{})
}

// StartWith is Start with the send queue's options.
func (w *Worker) StartWith(ctx context.Context, b bus.Bus, opts, sendOpts bus.ConsumeOptions) (bus.Consumer, error) {
	opts = withDefaults(opts, ConsumeOptions())
	sendOpts = withDefaults(sendOpts, SendConsumeOptions())
	if w.pub == nil {
		w.pub = b
	}
	w.metrics.PushProviders(ProviderAPNs, ProviderFCM)
	off, err := b.Consume(ctx, QueueOffline, w.handler(QueueOffline, opts, w.Handle), opts)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", QueueOffline, err)
	}
	send := func(ctx context.Context, job bus.Job) error { return w.HandleSend(ctx, job, sendOpts.MaxAttempts) }
	snd, err := b.Consume(ctx, QueueSend, w.handler(QueueSend, sendOpts, send), sendOpts)
	if err != nil {
		_ = off.Close()
		return nil, fmt.Errorf("consume %s: %w", QueueSend, err)
	}
	return &consumers{off, snd}, nil
}

// handler wraps h with its consumer span, metrics and dead-letter log.
func (w *Worker) handler(queue string, opts bus.ConsumeOptions, h bus.JobHandler) bus.JobHandler {
	w.metrics.Queue(queue)
	return func(ctx context.Context, job bus.Job) error {
		ctx, span := w.startSpan(ctx, queue, job)
		defer span.End()
		err := h(ctx, job)
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "push job failed")
		}
		switch {
		case err == nil:
			w.metrics.BusJob(queue, telemetry.JobOK)
		case job.Attempt >= opts.MaxAttempts && ctx.Err() == nil:
			w.metrics.BusJob(queue, telemetry.JobDeadLetter)
			w.log.WarnContext(ctx, "push job goes to the dead letters",
				"queue", queue, "app_id", job.AppID, "job_id", job.ID, "attempt", job.Attempt, "err", err)
		default:
			// Retried, or, when ctx ended, back to the queue at once.
			w.metrics.BusJob(queue, telemetry.JobRetry)
		}
		return err
	}
}

// consumers is the pair of consumers Start starts, as one.
type consumers struct{ off, send bus.Consumer }

func (c *consumers) Close() error {
	return errors.Join(c.off.Close(), c.send.Close())
}

// Wait returns once both consumers stopped. When one stops with an error
// the other is closed, so that the worker fails as a whole.
func (c *consumers) Wait() error {
	errs := make(chan error, 2)
	for _, x := range []bus.Consumer{c.off, c.send} {
		go func() {
			err := x.Wait()
			if err != nil {
				_ = c.off.Close()
				_ = c.send.Close()
			}
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// startSpan starts the consumer span of a job, a child of the producer
// span its traceparent header names. With tracing off it returns ctx and a
// span that does nothing.
func (w *Worker) startSpan(ctx context.Context, queue string, job bus.Job) (context.Context, trace.Span) {
	if !telemetry.TracingOn() {
		return telemetry.StartSpan(ctx, "")
	}
	ctx = telemetry.Extract(ctx, job.Headers)
	return telemetry.StartSpan(ctx, "process "+queue, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.operation.type", "process"),
			attribute.String("messaging.destination.name", queue), attribute.String("messaging.message.id", job.ID),
			attribute.Int("messaging.magpie.attempt", job.Attempt)))
}

// Run consumes the push queues from b, as Start does, until ctx ends, then
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
		return fmt.Errorf("push worker: %w", err)
	}
	return nil
}
