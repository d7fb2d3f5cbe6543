package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"slices"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// Queues and job types of webhook deliveries.
const (
	// QueueEvents carries JobEvents jobs: batches of an app's events, which
	// the worker stores and turns into one delivery job per endpoint.
	QueueEvents = "webhook"
	// QueueDelivery carries JobDeliver jobs: one event to one endpoint,
	// retried on the worker's schedule.
	QueueDelivery = "webhook-delivery"

	JobEvents  = "webhook.events"
	JobDeliver = "webhook.deliver"
)

// ErrMalformed marks a job that cannot be decoded; retrying will not cure
// it.
var ErrMalformed = errors.New("malformed webhook job")

// eventsJob is the body of a JobEvents job.
type eventsJob struct {
	Events []jobEvent `json:"events"`
}

type jobEvent struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	At      time.Time       `json:"at"`
	Payload json.RawMessage `json:"payload"`
}

// deliverJob is the body of a JobDeliver job.
type deliverJob struct {
	EventID   string `json:"event_id"`
	WebhookID string `json:"webhook_id"`
}

// UsageCounter counts webhook deliveries (tenant.Usage). Its methods must
// not block.
type UsageCounter interface{ WebhookDelivered(appID string) }

// Store is what the webhook component needs of the store.
type Store interface {
	GetApp(ctx context.Context, id string) (store.App, error)
	App(appID string) store.AppStore
}

// WorkerConfig configures a Worker. The zero value is usable.
type WorkerConfig struct {
	// Logger receives a warning per delivery that goes to the dead letters
	// and per endpoint disabled. Nil discards them.
	Logger *slog.Logger
	// Metrics counts deliveries by outcome and their latency. Nil records
	// nothing.
	Metrics *telemetry.Metrics
	// Usage counts delivery attempts for the usage report. Nil counts
	// nothing.
	Usage UsageCounter
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
	// Policy says where deliveries may connect (see package ssrf); the
	// zero value refuses loopback and private addresses.
	Policy ssrf.Policy
	// Transport, if set, replaces the transport built from Policy (tests).
	Transport http.RoundTripper
	// Timeout bounds one delivery attempt, answer included. Zero means 5
	// seconds.
	Timeout time.Duration
	// RetryWindow is how long a delivery is retried before it goes to the
	// dead letters. Zero means 24 hours.
	RetryWindow time.Duration
	// MinRetry is the delay before the first retry; each later one doubles
	// it, up to MaxRetry, each plus a random jitter of 0 to 3/8 of it.
	// Zero means 5 seconds (MinRetry) and 1 hour (MaxRetry).
	MinRetry, MaxRetry time.Duration
	// DisableAfter and DisableFailures disable an endpoint automatically
	// once all its deliveries have failed for DisableAfter and at least
	// DisableFailures times in a row. Zero means 24 hours and 20 failures.
	DisableAfter    time.Duration
	DisableFailures int
	// Concurrency is how many deliveries run at once. Zero means 32.
	Concurrency int
}

func (c WorkerConfig) withDefaults() WorkerConfig {
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Second
	}
	if c.RetryWindow <= 0 {
		c.RetryWindow = 24 * time.Hour
	}
	if c.MinRetry <= 0 {
		c.MinRetry = 5 * time.Second
	}
	if c.MaxRetry <= 0 {
		c.MaxRetry = time.Hour
	}
	c.MaxRetry = max(c.MaxRetry, c.MinRetry)
	if c.DisableAfter <= 0 {
		c.DisableAfter = 24 * time.Hour
	}
	if c.DisableFailures <= 0 {
		c.DisableFailures = 20
	}
	if c.Concurrency <= 0 {
		c.Concurrency = 32
	}
	return c
}

// base returns the retry delay after failed attempt n before jitter.
func (c WorkerConfig) base(n int) time.Duration {
	d := c.MinRetry
	for i := 1; i < n && d < c.MaxRetry; i++ {
		d *= 2
	}
	return min(d, c.MaxRetry)
}

// maxAttempts is the number of attempts whose retry delays (before
// jitter) add up to RetryWindow.
func (c WorkerConfig) maxAttempts() int {
	var total time.Duration
	n := 1
	for total < c.RetryWindow && n < 1000 {
		total += c.base(n)
		n++
	}
	return n
}

// delay returns the jittered delay after failed attempt n, at least floor
// (the receiver's Retry-After) and at most 1.5 MaxRetry. The jitter is one
// of four steps (0, 1/8, 2/8, 3/8 of the delay): on a broker every
// distinct delay takes a delay queue, so a few steps keep them few while
// spreading an endpoint's retries.
func (c WorkerConfig) delay(n int, floor time.Duration) time.Duration {
	b := c.base(n)
	d := b + b*time.Duration(rand.IntN(4))/8
	return min(max(d, floor), c.MaxRetry*3/2)
}

// consumeOptions are the delivery queue's: attempts for RetryWindow,
// delays from delay.
func (c WorkerConfig) consumeOptions() bus.ConsumeOptions {
	return bus.ConsumeOptions{
		Concurrency: c.Concurrency, MaxAttempts: c.maxAttempts(),
		MinBackoff: c.MinRetry, MaxBackoff: c.MaxRetry*3/2 + time.Second,
		HandlerTimeout: c.Timeout + 30*time.Second,
	}
}

// Worker handles the webhook queues: it stores each event (for replay),
// fans it out to the app's enabled endpoints that subscribed to its type,
// and delivers it to each, signed, with retries on its own schedule and a
// log of every attempt; it disables an endpoint that keeps failing and
// reports that as an event. It holds no per-job state: any number of
// Workers, in any number of processes, may consume the queues.
type Worker struct {
	store  Store
	keys   Sealer
	pub    Publisher
	cfg    WorkerConfig
	client *http.Client
}

// Publisher publishes jobs; bus.Bus is one.
type Publisher interface {
	Publish(ctx context.Context, queue string, job bus.Job) error
}

// NewWorker returns a Worker on st, opening endpoint secrets with keys.
func NewWorker(st Store, keys Sealer, cfg WorkerConfig) *Worker {
	cfg = cfg.withDefaults()
	client := cfg.Policy.Client(cfg.Timeout)
	if cfg.Transport != nil {
		client.Transport = cfg.Transport
	} else {
		t := client.Transport.(*http.Transport)
		t.MaxIdleConnsPerHost = cfg.Concurrency
	}
	return &Worker{store: st, keys: keys, cfg: cfg, client: client}
}

// Start consumes the webhook queues of b until ctx ends or the returned
// consumer is closed.
func (w *Worker) Start(ctx context.Context, b bus.Bus) (bus.Consumer, error) {
	w.pub = b
	evOpts := bus.ConsumeOptions{Concurrency: 4, MaxAttempts: 10, MinBackoff: time.Second, MaxBackoff: time.Minute}
	w.cfg.Metrics.Queue(QueueEvents)
	w.cfg.Metrics.Queue(QueueDelivery)
	ev, err := b.Consume(ctx, QueueEvents, w.handler(QueueEvents, evOpts.MaxAttempts, w.HandleEvents), evOpts)
	if err != nil {
		return nil, fmt.Errorf("consume %s: %w", QueueEvents, err)
	}
	dOpts := w.cfg.consumeOptions()
	dl, err := b.Consume(ctx, QueueDelivery, w.handler(QueueDelivery, dOpts.MaxAttempts, w.HandleDelivery), dOpts)
	if err != nil {
		_ = ev.Close()
		return nil, fmt.Errorf("consume %s: %w", QueueDelivery, err)
	}
	return &consumers{ev, dl}, nil
}

// handler wraps h with its consumer span and the job metrics.
func (w *Worker) handler(queue string, maxAttempts int, h bus.JobHandler) bus.JobHandler {
	return func(ctx context.Context, job bus.Job) error {
		ctx, span := telemetry.StartSpan(telemetry.Extract(ctx, job.Headers), "process "+queue,
			trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("magpie.app_id", job.AppID), attribute.Int("magpie.attempt", job.Attempt)))
		defer span.End()
		err := h(ctx, job)
		switch {
		case err == nil:
			w.cfg.Metrics.BusJob(queue, telemetry.JobOK)
		case job.Attempt >= maxAttempts && ctx.Err() == nil:
			span.SetStatus(codes.Error, "dead-lettered")
			w.cfg.Metrics.BusJob(queue, telemetry.JobDeadLetter)
			w.cfg.Logger.WarnContext(ctx, "webhook job goes to the dead letters",
				"queue", queue, "app_id", job.AppID, "job_id", job.ID, "attempt", job.Attempt, "err", err)
		default:
			span.RecordError(err)
			w.cfg.Metrics.BusJob(queue, telemetry.JobRetry)
		}
		return err
	}
}

// HandleEvents stores a batch of an app's events and publishes one
// delivery job per event and subscribed endpoint. Handling it again
// publishes the same delivery jobs again (receivers dedup by webhook-id).
func (w *Worker) HandleEvents(ctx context.Context, job bus.Job) error {
	var j eventsJob
	if job.Type != JobEvents || job.AppID == "" || json.Unmarshal(job.Body, &j) != nil {
		return fmt.Errorf("%w: events job %s", ErrMalformed, job.ID)
	}
	a := w.store.App(job.AppID)
	hooks, err := a.ListWebhooks(ctx)
	if err != nil {
		return fmt.Errorf("events job %s: %w", job.ID, err)
	}
	for _, ev := range j.Events {
		var targets []string
		for _, h := range hooks {
			if subscribed(h, ev.Type) {
				targets = append(targets, h.ID)
			}
		}
		if len(targets) == 0 {
			continue
		}
		if err := a.PutWebhookEvent(ctx, store.WebhookEvent{ID: ev.ID, Type: ev.Type, Payload: ev.Payload, CreatedAt: ev.At}); err != nil {
			return fmt.Errorf("events job %s: %w", job.ID, err)
		}
		for _, id := range targets {
			if err := w.publishDelivery(ctx, job.AppID, ev.ID, id, ev.ID+"."+id); err != nil {
				return fmt.Errorf("events job %s: %w", job.ID, err)
			}
		}
	}
	return nil
}

// subscribed reports whether endpoint h takes events of type typ.
func subscribed(h store.Webhook, typ string) bool {
	return h.Kind == store.WebhookEvents && h.Enabled && (len(h.Events) == 0 || slices.Contains(h.Events, typ))
}

// publishDelivery publishes the delivery of event eventID to endpoint
// webhookID as job jobID.
func (w *Worker) publishDelivery(ctx context.Context, appID, eventID, webhookID, jobID string) error {
	body, err := json.Marshal(deliverJob{EventID: eventID, WebhookID: webhookID})
	if err != nil {
		return fmt.Errorf("encode delivery: %w", err)
	}
	return w.pub.Publish(ctx, QueueDelivery, bus.Job{ID: jobID, AppID: appID, Type: JobDeliver, Body: body,
		Headers: telemetry.Inject(ctx, nil)})
}

// HandleDelivery makes one attempt to deliver one event to one endpoint
// and logs it. It returns nil once delivered, or when there is nothing to
// deliver (the endpoint was deleted or disabled, the event expired); a
// failure returns an error that retries the job after the worker's
// jittered delay, or, at the last attempt, sends it to the dead letters.
func (w *Worker) HandleDelivery(ctx context.Context, job bus.Job) error {
	var d deliverJob
	if job.Type != JobDeliver || job.AppID == "" || json.Unmarshal(job.Body, &d) != nil || d.EventID == "" || d.WebhookID == "" {
		return fmt.Errorf("%w: delivery job %s", ErrMalformed, job.ID)
	}
	a := w.store.App(job.AppID)
	h, err := a.GetWebhook(ctx, d.WebhookID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("delivery %s: %w", job.ID, err)
	}
	if !h.Enabled {
		return nil
	}
	ev, err := a.GetWebhookEvent(ctx, d.EventID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("delivery %s: %w", job.ID, err)
	}
	now := w.cfg.Now().UTC()
	secrets, err := openSecrets(w.keys, job.AppID, h, now)
	if err != nil {
		return fmt.Errorf("delivery %s: %w", job.ID, err)
	}
	r := post(ctx, w.client, h.URL, secrets, ev.ID, ev.Payload, now, 0)
	if ctx.Err() != nil && r.err != nil {
		return ctx.Err() // the worker is stopping: the job comes back, not an attempt
	}
	dead := r.err != nil && job.Attempt >= w.cfg.maxAttempts()
	if err := w.record(ctx, job, h, ev, r, dead, now); err != nil {
		return fmt.Errorf("delivery %s: %w", job.ID, err)
	}
	if r.err == nil {
		return nil
	}
	if dead {
		return r.err
	}
	return bus.RetryIn(r.err, w.cfg.delay(job.Attempt, r.retryIn))
}

// record logs an attempt, updates the endpoint's failure state and
// disables it when it has failed for long enough.
func (w *Worker) record(ctx context.Context, job bus.Job, h store.Webhook, ev store.WebhookEvent, r result, dead bool, now time.Time) error {
	at := store.WebhookAttempt{ID: attemptID(job.ID, job.Attempt, now), WebhookID: h.ID, EventID: ev.ID, EventType: ev.Type,
		Attempt: job.Attempt, Outcome: store.AttemptSucceeded, Status: r.status, Response: r.snippet, Latency: r.latency, At: now.Truncate(time.Millisecond)}
	outcome := telemetry.WebhookSucceeded
	switch {
	case dead:
		at.Outcome, at.Error, outcome = store.AttemptDead, r.err.Error(), telemetry.WebhookDead
	case r.err != nil:
		at.Outcome, at.Error, outcome = store.AttemptFailed, r.err.Error(), telemetry.WebhookRetry
	}
	w.cfg.Metrics.WebhookDelivery(outcome, r.latency)
	if w.cfg.Usage != nil {
		w.cfg.Usage.WebhookDelivered(job.AppID)
	}
	a := w.store.App(job.AppID)
	if err := a.AddWebhookAttempts(ctx, []store.WebhookAttempt{at}); err != nil {
		return err
	}
	upd, err := a.RecordWebhookResult(ctx, h.ID, r.err == nil, now.Truncate(time.Millisecond))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if r.err != nil && upd.Enabled && upd.Failures >= w.cfg.DisableFailures && now.Sub(upd.FailingSince) >= w.cfg.DisableAfter {
		return w.disable(ctx, job.AppID, upd, now)
	}
	return nil
}

// attemptID is a time-ordered id for attempt n of delivery job jobID.
func attemptID(jobID string, n int, at time.Time) string {
	h := sha256.Sum256(fmt.Appendf(nil, "%s\x00%d", jobID, n))
	return fmt.Sprintf("%013x%s", at.UnixMilli(), hex.EncodeToString(h[:8]))
}

// disable turns a failing endpoint off and reports it with a
// webhook.endpoint.disabled event to the app's other endpoints.
func (w *Worker) disable(ctx context.Context, appID string, h store.Webhook, now time.Time) error {
	reason := fmt.Sprintf("every delivery failed for %s (%d in a row)", now.Sub(h.FailingSince).Round(time.Second), h.Failures)
	h.Enabled, h.DisabledReason, h.UpdatedAt = false, reason, now.Truncate(time.Millisecond)
	err := w.store.App(appID).UpdateWebhook(ctx, h)
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil // changed meanwhile: the next failure decides again
	} else if err != nil {
		return err
	}
	w.cfg.Metrics.WebhookDisabled()
	w.cfg.Logger.WarnContext(ctx, "webhook endpoint disabled", "app_id", appID, "webhook_id", h.ID, "failures", h.Failures)
	ev := NewEvent(appID, EventEndpointDisabled, h.ID+"@"+h.FailingSince.Format(time.RFC3339Nano), now, EndpointDisabledData{
		WebhookID: h.ID, URL: h.URL, Reason: reason, Failures: h.Failures, FailingSince: h.FailingSince, At: now,
	})
	return publishEvents(ctx, w.pub, appID, []Event{ev})
}

// publishEvents publishes one JobEvents job with evs.
func publishEvents(ctx context.Context, pub Publisher, appID string, evs []Event) error {
	j := eventsJob{Events: make([]jobEvent, 0, len(evs))}
	for _, ev := range evs {
		p, err := ev.Payload(appID)
		if err != nil {
			return err
		}
		j.Events = append(j.Events, jobEvent{ID: ev.ID, Type: ev.Type, At: ev.At, Payload: p})
	}
	return publishJob(ctx, pub, appID, j)
}

// consumers is the pair of consumers Start starts, as one.
type consumers struct{ events, delivery bus.Consumer }

func (c *consumers) Close() error { return errors.Join(c.events.Close(), c.delivery.Close()) }

// Wait returns once both consumers stopped; when one stops with an error
// the other is closed, so that the worker fails as a whole.
func (c *consumers) Wait() error {
	errs := make(chan error, 2)
	for _, x := range []bus.Consumer{c.events, c.delivery} {
		go func() {
			err := x.Wait()
			if err != nil {
				_ = c.Close()
			}
			errs <- err
		}()
	}
	return errors.Join(<-errs, <-errs)
}

// Options are an installation's webhook settings, shared by the processes
// of both modes (set from flags).
type Options struct {
	// Policy says where webhook requests (deliveries, hooks) may connect,
	// and which endpoint URLs are accepted.
	Policy ssrf.Policy
	// RetryWindow, MinRetry and MaxRetry set the delivery retry schedule
	// (see WorkerConfig); zero takes WorkerConfig's defaults.
	RetryWindow, MinRetry, MaxRetry time.Duration
	// PresenceDebounce holds user.offline back this long, so that a quick
	// reconnect reports nothing. Zero means 5 seconds.
	PresenceDebounce time.Duration
}

// WorkerConfig returns the worker configuration of o.
func (o Options) WorkerConfig(log *slog.Logger, m *telemetry.Metrics) WorkerConfig {
	return WorkerConfig{Logger: log, Metrics: m, Policy: o.Policy, RetryWindow: o.RetryWindow, MinRetry: o.MinRetry, MaxRetry: o.MaxRetry}
}
