package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/magpie-im/magpie/internal/telemetry"
)

var _ Bus = (*RabbitMQ)(nil)

// RabbitMQConfig configures a RabbitMQ bus. The zero value connects to a
// local broker as guest.
type RabbitMQConfig struct {
	// URL is the AMQP URI, such as amqp://user:password@host:5672/vhost.
	// Empty means amqp://guest:guest@127.0.0.1:5672/.
	URL string
	// Prefix starts the name of every exchange and queue the bus declares,
	// so that several installations (or tests) can share a vhost. It may
	// hold letters, digits, '.', '_' and '-'. Empty means "magpie".
	Prefix string
	// MinReconnectDelay is the delay before the first reconnection attempt
	// after the connection is lost; it doubles after each failed attempt up
	// to MaxReconnectDelay, with jitter. Zero means 5 * time.Millisecond.
	MinReconnectDelay time.Duration
	// MaxReconnectDelay caps the delay between reconnection attempts. Zero
	// means 1 * time.Second.
	MaxReconnectDelay time.Duration
	// DialTimeout bounds one connection attempt, handshake included. Zero
	// means 10 * time.Second.
	DialTimeout time.Duration
	// Heartbeat is the AMQP heartbeat interval, which detects a dead peer.
	// Zero means 10 * time.Second.
	Heartbeat time.Duration
	// RelayQueueExpiry is how long a node's relay queue outlives its last
	// consumer when the node stops without closing it (a crash, a lost
	// connection): long enough to ride out a reconnection, short enough
	// that a dead node's relays do not pile up. Zero means 1 * time.Minute.
	RelayQueueExpiry time.Duration
	// StreamPrefetch is the number of unacknowledged relays or broadcast
	// events the broker sends ahead to one consumer. Zero means 256.
	StreamPrefetch int
	// ConfirmTimeout bounds the wait for the broker's confirmation of a
	// retry or dead letter that a consumer publishes; past it the job goes
	// back to its queue. Zero means 30 * time.Second.
	ConfirmTimeout time.Duration
	// Logger receives operational logs. Nil discards them.
	Logger *slog.Logger
	// Metrics receives the bus's metrics: publishes, ok once the broker
	// confirmed them (magpie_bus_publishes_total), and the lag of each
	// attempt a consumer starts (magpie_bus_job_lag_seconds). Nil records
	// nothing.
	Metrics *telemetry.Metrics
}

// String describes the configuration with the URL's password redacted.
func (c RabbitMQConfig) String() string {
	return fmt.Sprintf("rabbitmq %s prefix %q", redactURL(c.URL), c.Prefix)
}

func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<unparsable url>"
	}
	return u.Redacted()
}

func (c RabbitMQConfig) withDefaults() RabbitMQConfig {
	if c.URL == "" {
		c.URL = "amqp://guest:guest@127.0.0.1:5672/"
	}
	if c.Prefix == "" {
		c.Prefix = "magpie"
	}
	if c.MinReconnectDelay <= 0 {
		c.MinReconnectDelay = 5 * time.Millisecond
	}
	if c.MaxReconnectDelay <= 0 {
		c.MaxReconnectDelay = time.Second
	}
	c.MaxReconnectDelay = max(c.MaxReconnectDelay, c.MinReconnectDelay)
	if c.DialTimeout <= 0 {
		c.DialTimeout = 10 * time.Second
	}
	if c.Heartbeat <= 0 {
		c.Heartbeat = 10 * time.Second
	}
	if c.RelayQueueExpiry <= 0 {
		c.RelayQueueExpiry = time.Minute
	}
	if c.StreamPrefetch <= 0 {
		c.StreamPrefetch = 256
	}
	if c.ConfirmTimeout <= 0 {
		c.ConfirmTimeout = 30 * time.Second
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

// RabbitMQ is the cluster mode's Bus, on a RabbitMQ broker (3.10 or later).
// See the package documentation for its topology, retries and recovery.
//
// A RabbitMQ is safe for concurrent use. It holds one AMQP connection,
// shared by publishers (one confirm-mode channel) and consumers (a channel
// each), and replaces it when it is lost.
type RabbitMQ struct {
	cfg    RabbitMQConfig
	log    *slog.Logger
	names  names
	topo   topology
	delays retryDelays

	stop       chan struct{} // closed by Close: the supervisor stops
	supervised chan struct{} // closed when the supervisor returned
	dialHook   atomic.Pointer[func() error]

	mu        sync.Mutex // guards the following
	closed    bool
	sess      *session      // the live connection; nil while reconnecting
	ready     chan struct{} // closed while sess is set
	lastErr   error         // why the last connection or attempt failed
	consumers map[*handle]struct{}
}

// OpenRabbitMQ connects to the broker and returns the bus; the connection is
// then kept up, reconnecting whenever it is lost, until Close. It fails if
// the first connection attempt fails.
func OpenRabbitMQ(ctx context.Context, cfg RabbitMQConfig) (*RabbitMQ, error) {
	cfg = cfg.withDefaults()
	if err := checkName("prefix", cfg.Prefix); err != nil {
		return nil, err
	}
	r := &RabbitMQ{
		cfg: cfg, log: cfg.Logger, names: names{cfg.Prefix},
		stop: make(chan struct{}), supervised: make(chan struct{}),
		ready: make(chan struct{}), consumers: map[*handle]struct{}{},
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s, err := r.dial()
	if err != nil {
		return nil, err
	}
	r.setSession(s, nil)
	go r.supervise(s)
	return r, nil
}

// names derives the broker's names from the prefix. Each kind has a name
// space of its own, so no queue name can stand for another kind's.
type names struct{ prefix string }

func (n names) work(q string) string { return n.prefix + ".job." + q }
func (n names) dead(q string) string { return n.prefix + ".dead." + q }
func (n names) retry(q string, d time.Duration) string {
	return fmt.Sprintf("%s.retry.%dms.%s", n.prefix, d.Milliseconds(), q)
}
func (n names) relayExchange() string        { return n.prefix + ".relay" }
func (n names) node(id string) string        { return n.prefix + ".node." + id }
func (n names) broadcastExchange() string    { return n.prefix + ".broadcast" }
func (n names) broadcastQueuePrefix() string { return n.prefix + ".sub." }

// topology records the queues and exchanges this bus declared, so that a
// test can delete them.
type topology struct {
	mu        sync.Mutex // guards the following
	queues    map[string]struct{}
	exchanges map[string]struct{}
}

func (t *topology) add(queue, exchange string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.queues == nil {
		t.queues, t.exchanges = map[string]struct{}{}, map[string]struct{}{}
	}
	if queue != "" {
		t.queues[queue] = struct{}{}
	}
	if exchange != "" {
		t.exchanges[exchange] = struct{}{}
	}
}

// retryDelays records, per job queue, the delays whose delay queues
// QueueDepth counts: every backoff of this bus's consumers of the queue,
// and every delay it declared a queue for. (AMQP cannot list queues.)
type retryDelays struct {
	mu sync.Mutex // guards m
	m  map[string]map[time.Duration]struct{}
}

func (r *retryDelays) add(queue string, ds ...time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]map[time.Duration]struct{}{}
	}
	if r.m[queue] == nil {
		r.m[queue] = map[time.Duration]struct{}{}
	}
	for _, d := range ds {
		r.m[queue][d] = struct{}{}
	}
}

// of returns the delays recorded for queue, shortest first.
func (r *retryDelays) of(queue string) []time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Sorted(maps.Keys(r.m[queue]))
}

// quorum returns the arguments of a quorum queue that dead-letters to
// target through the default exchange, at least once: the broker keeps a
// message until the target queue confirmed it.
func quorum(target string) amqp.Table {
	args := amqp.Table{"x-queue-type": "quorum"}
	if target != "" {
		args["x-dead-letter-exchange"] = ""
		args["x-dead-letter-routing-key"] = target
		args["x-dead-letter-strategy"] = "at-least-once"
		args["x-overflow"] = "reject-publish" // required by at-least-once
	}
	return args
}

// declareJobQueue declares queue's work queue and dead-letter queue.
func (r *RabbitMQ) declareJobQueue(s *session, queue string) error {
	work, dead := r.names.work(queue), r.names.dead(queue)
	return s.declare("job:"+queue, func(ch *amqp.Channel) error {
		r.topo.add(dead, "")
		if _, err := ch.QueueDeclare(dead, true, false, false, false, quorum("")); err != nil {
			return fmt.Errorf("declare queue %s: %w", dead, err)
		}
		r.topo.add(work, "")
		if _, err := ch.QueueDeclare(work, true, false, false, false, quorum(dead)); err != nil {
			return fmt.Errorf("declare queue %s: %w", work, err)
		}
		return nil
	})
}

// declareRetryQueue declares the delay queue that holds queue's jobs for d
// and then dead-letters them back to the work queue.
func (r *RabbitMQ) declareRetryQueue(s *session, queue string, d time.Duration) (string, error) {
	name := r.names.retry(queue, d)
	r.delays.add(queue, d)
	return name, s.declare("queue:"+name, func(ch *amqp.Channel) error {
		args := quorum(r.names.work(queue))
		args["x-message-ttl"] = d.Milliseconds()
		r.topo.add(name, "")
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			return fmt.Errorf("declare queue %s: %w", name, err)
		}
		return nil
	})
}

func (r *RabbitMQ) declareExchange(s *session, name, kind string) error {
	return s.declare("exchange:"+name, func(ch *amqp.Channel) error {
		r.topo.add("", name)
		if err := ch.ExchangeDeclare(name, kind, true, false, false, false, nil); err != nil {
			return fmt.Errorf("declare exchange %s: %w", name, err)
		}
		return nil
	})
}

// Publish implements Bus. It waits for a connection as long as ctx allows,
// publishes the job as a persistent message to its quorum queue and waits
// for the broker's confirmation. A publish cut off by a lost connection is
// sent again once reconnected.
func (r *RabbitMQ) Publish(ctx context.Context, queue string, job Job) error {
	job, err := prepareJob(queue, job)
	if err != nil {
		return err
	}
	msg := encodeJob(job, time.Now())
	declare := func(s *session) error { return r.declareJobQueue(s, queue) }
	err = r.publish(ctx, declare, "", r.names.work(queue), msg, true)
	r.cfg.Metrics.BusPublish(queue, err == nil)
	if err != nil {
		return fmt.Errorf("publish job to %s: %w", queue, err)
	}
	return nil
}

// Relay implements Bus. It publishes msg, not persistent and unconfirmed, to
// the relay exchange with the node id as routing key; the broker drops it
// if that node has no queue. During an outage it waits for a connection as
// long as ctx allows: callers on a hot path pass a short deadline.
func (r *RabbitMQ) Relay(ctx context.Context, nodeID string, msg []byte) error {
	if err := checkName("node id", nodeID); err != nil {
		return err
	}
	ex := r.names.relayExchange()
	declare := func(s *session) error { return r.declareExchange(s, ex, amqp.ExchangeDirect) }
	if err := r.publish(ctx, declare, ex, nodeID, amqp.Publishing{Body: msg, DeliveryMode: amqp.Transient}, false); err != nil {
		return fmt.Errorf("relay to %s: %w", nodeID, err)
	}
	return nil
}

// Broadcast implements Bus. It publishes event to the fanout exchange and
// waits for the broker's confirmation that every subscriber's queue has it.
func (r *RabbitMQ) Broadcast(ctx context.Context, event []byte) error {
	ex := r.names.broadcastExchange()
	declare := func(s *session) error { return r.declareExchange(s, ex, amqp.ExchangeFanout) }
	if err := r.publish(ctx, declare, ex, "", amqp.Publishing{Body: event, DeliveryMode: amqp.Transient}, true); err != nil {
		return fmt.Errorf("broadcast: %w", err)
	}
	return nil
}

// Ping reports whether the bus is connected to the broker, waiting for a
// connection as long as ctx allows (a readiness check).
func (r *RabbitMQ) Ping(ctx context.Context) error {
	_, err := r.session(ctx)
	return err
}

// DeadLetters implements Bus. It takes up to limit messages from the
// dead-letter queue without acknowledging them and closes its channel, which
// puts them back in order. Messages another reader holds at that moment are
// not listed. A queue that was never used has no dead-letter queue yet, and
// none is created.
func (r *RabbitMQ) DeadLetters(ctx context.Context, queue string, limit int) ([]Job, error) {
	if err := checkName("queue", queue); err != nil {
		return nil, err
	}
	s, err := r.session(ctx)
	if err != nil {
		return nil, err
	}
	if limit <= 0 {
		return nil, nil
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("list dead letters of %s: %w", queue, brokerError(err))
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(r.names.dead(queue), true, false, false, false, nil); err != nil {
		var ae *amqp.Error
		if errors.As(err, &ae) && ae.Code == amqp.NotFound {
			return nil, nil
		}
		return nil, fmt.Errorf("list dead letters of %s: %w", queue, brokerError(err))
	}
	var jobs []Job
	for len(jobs) < limit {
		d, ok, err := ch.Get(r.names.dead(queue), false)
		if err != nil {
			return nil, fmt.Errorf("list dead letters of %s: %w", queue, brokerError(err))
		}
		if !ok {
			break
		}
		job, _ := decodeJob(d)
		jobs = append(jobs, job)
	}
	return jobs, nil
}

// QueueDepth implements Bus: the ready messages of the work queue and of
// the delay queues this bus knows of (see retryDelays), read with passive
// declarations, which create nothing. A queue that does not exist counts
// 0. ctx bounds the wait for a connection and is checked between queues.
func (r *RabbitMQ) QueueDepth(ctx context.Context, queue string) (int64, error) {
	if err := checkName("queue", queue); err != nil {
		return 0, err
	}
	s, err := r.session(ctx)
	if err != nil {
		return 0, err
	}
	names := []string{r.names.work(queue)}
	for _, d := range r.delays.of(queue) {
		names = append(names, r.names.retry(queue, d))
	}
	var ch *amqp.Channel
	defer func() {
		if ch != nil {
			ch.Close()
		}
	}()
	var n int64
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return 0, fmt.Errorf("queue depth of %s: %w", queue, err)
		}
		if ch == nil {
			if ch, err = s.conn.Channel(); err != nil {
				return 0, fmt.Errorf("queue depth of %s: %w", queue, brokerError(err))
			}
		}
		q, err := ch.QueueDeclarePassive(name, true, false, false, false, nil)
		if err != nil {
			var ae *amqp.Error
			if !errors.As(err, &ae) || ae.Code != amqp.NotFound {
				return 0, fmt.Errorf("queue depth of %s: %w", queue, brokerError(err))
			}
			ch.Close() // the broker closed it: the next queue needs another
			ch = nil
			continue
		}
		n += int64(q.Messages)
	}
	return n, nil
}

// Close implements Bus: it stops the consumers, which return their
// unfinished jobs to the broker, then closes the connection.
func (r *RabbitMQ) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return ErrClosed
	}
	r.closed = true
	hds := slices.Collect(maps.Keys(r.consumers))
	r.mu.Unlock()
	stopAll(hds)
	close(r.stop)
	<-r.supervised
	return nil
}

// track registers a consumer for Close to stop; it reports false once the
// bus is closed.
func (r *RabbitMQ) track(hd *handle) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.consumers[hd] = struct{}{}
	return true
}

func (r *RabbitMQ) untrack(hd *handle) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.consumers, hd)
}

// Message headers the bus sets, besides headerPublished (an integer of
// Unix milliseconds); Job.Headers may not use the "magpie-" or "x-"
// prefixes.
const (
	hdrAppID   = "magpie-app-id"
	hdrAttempt = "magpie-attempt"
	hdrError   = "magpie-error"
)

// encodeJob turns a job into a persistent message: the id and type in the
// message properties, the app id, attempt, last error, publication time
// (unless zero) and the job's headers (trace context included) in the
// message headers.
func encodeJob(job Job, published time.Time) amqp.Publishing {
	h := amqp.Table{hdrAppID: job.AppID, hdrAttempt: int64(job.Attempt)}
	if !published.IsZero() {
		h[headerPublished] = published.UnixMilli()
	}
	if job.LastError != "" {
		h[hdrError] = job.LastError
	}
	for k, v := range job.Headers {
		h[k] = v
	}
	return amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		MessageId:    job.ID,
		Type:         job.Type,
		Timestamp:    time.Now(),
		Headers:      h,
		Body:         job.Body,
	}
}

// decodeJob turns a delivery back into a job, and returns how many times
// the broker redelivered this message after a consumer gave it back
// without a verdict (x-delivery-count, counted by quorum queues).
func decodeJob(d amqp.Delivery) (Job, int) {
	job := Job{ID: d.MessageId, Type: d.Type, Body: d.Body, Attempt: 1}
	var abandoned int
	for k, v := range d.Headers {
		switch k {
		case hdrAppID:
			job.AppID, _ = v.(string)
		case hdrAttempt:
			job.Attempt = max(1, toInt(v))
		case hdrError:
			job.LastError, _ = v.(string)
		case "x-delivery-count":
			abandoned = toInt(v)
		default:
			s, ok := v.(string)
			if !ok || len(k) >= 2 && k[:2] == "x-" || len(k) >= 7 && k[:7] == "magpie-" {
				continue
			}
			if job.Headers == nil {
				job.Headers = map[string]string{}
			}
			job.Headers[k] = s
		}
	}
	if job.LastError == "" {
		if reason := deathReason(d.Headers); reason != "" {
			job.LastError = "dead-lettered by the broker: " + reason
		}
	}
	return job, abandoned
}

// publishedAt returns the publication time a job's message carries, or the
// zero time if it has none (a message from before the bus stamped it).
func publishedAt(h amqp.Table) time.Time {
	ms, ok := h[headerPublished].(int64)
	if !ok {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}

// deathReason returns the reason of the latest dead-lettering recorded in
// the x-death header, or "" if there is none. The bus dead-letters jobs
// itself; the broker does so only when a queue limit it enforces (such as
// a quorum queue's delivery limit) was hit.
func deathReason(h amqp.Table) string {
	deaths, _ := h["x-death"].([]any)
	if len(deaths) == 0 {
		return ""
	}
	last, _ := deaths[0].(amqp.Table)
	reason, _ := last["reason"].(string)
	if reason == "expired" { // a retry delay running out: not a death
		return ""
	}
	return reason
}

func toInt(v any) int {
	switch n := v.(type) {
	case int64:
		return int(n)
	case int32:
		return int(n)
	case int16:
		return int(n)
	case int8:
		return int(n)
	case int:
		return n
	case uint8:
		return int(n)
	case uint16:
		return int(n)
	case uint32:
		return int(n)
	}
	return 0
}

// brokerError flattens an error holding an amqp091 error into a plain one
// with the same text, so that no driver type leaks out of the package;
// other errors pass unchanged.
func brokerError(err error) error {
	var ae *amqp.Error
	if errors.As(err, &ae) {
		return errors.New(err.Error())
	}
	return err
}
