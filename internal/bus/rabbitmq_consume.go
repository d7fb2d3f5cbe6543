package bus

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// subscription is one consumer registration on one channel.
type subscription struct {
	ch         *amqp.Channel
	queue, tag string
	deliveries <-chan amqp.Delivery
}

// subscriber is what differs between the three kinds of RabbitMQ consumer:
// how they subscribe on a connection and how they serve the deliveries.
type subscriber interface {
	// subscribe declares what the consumer needs and starts consuming.
	subscribe(s *session) (*subscription, error)
	// serve handles the deliveries of sub until they end (the channel or
	// connection was lost: it returns false) or the consumer stops (true).
	serve(ctx context.Context, stop <-chan struct{}, s *session, sub *subscription) bool
	// wait returns once every handler the consumer started has returned.
	wait()
}

// startConsumer runs c until it stops and returns once it is first
// subscribed, or with the error that prevented that.
func (r *RabbitMQ) startConsumer(ctx context.Context, c subscriber) (Consumer, error) {
	hd, cctx := newHandle(ctx)
	if !r.track(hd) {
		hd.abort()
		return nil, ErrClosed
	}
	ready := make(chan error, 1)
	go r.runConsumer(cctx, hd, c, ready)
	if err := <-ready; err != nil {
		_ = hd.Wait()
		return nil, err
	}
	return hd, nil
}

// runConsumer subscribes c on the live connection and serves it, and
// subscribes again after the connection or channel is lost, until the
// consumer stops. It reports the first subscription, or what prevented it,
// on ready.
//
// Subscribing fails for good only when the broker refuses the topology
// (PRECONDITION_FAILED: a queue declared with other arguments;
// ACCESS_REFUSED); other failures are retried with backoff.
func (r *RabbitMQ) runConsumer(ctx context.Context, hd *handle, c subscriber, ready chan<- error) {
	first := true
	var err error
	defer func() {
		if first {
			if err == nil {
				err = cmp.Or(ctx.Err(), ErrClosed)
			}
			ready <- err
			err = nil
		}
		c.wait()
		r.untrack(hd)
		hd.finish(err)
	}()
	delay := r.cfg.MinReconnectDelay
	for {
		s, serr := r.sessionOr(ctx, hd.stop)
		if serr != nil { // ctx ended or the bus closed: a stop, unless never started
			if first {
				err = serr
			}
			return
		}
		sub, serr := c.subscribe(s)
		if serr != nil {
			s.forget() // a queue may have gone: declare again
			if isPermanent(serr) {
				err = fmt.Errorf("subscribe: %w", brokerError(serr))
				return
			}
			r.log.Warn("rabbitmq subscribe failed", "err", brokerError(serr), "retry_in", delay)
			select {
			case <-time.After(jitter(delay)):
			case <-s.lost:
			case <-hd.stop:
				return
			case <-ctx.Done():
				return
			}
			delay = min(2*delay, r.cfg.MaxReconnectDelay)
			continue
		}
		if first {
			ready <- nil
			first = false
		}
		delay = r.cfg.MinReconnectDelay
		if c.serve(ctx, hd.stop, s, sub) {
			return
		}
	}
}

// isPermanent reports whether a subscription error will not go away by
// retrying: the broker refused a declaration with PRECONDITION_FAILED or
// ACCESS_REFUSED.
func isPermanent(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && (ae.Code == amqp.PreconditionFailed || ae.Code == amqp.AccessRefused)
}

// drain cancels the subscription and returns the deliveries already sent
// ahead to the broker, so that they go to another consumer.
func drain(sub *subscription) {
	if err := sub.ch.Cancel(sub.tag, false); err != nil {
		return // the channel is gone, and the deliveries with it
	}
	for d := range sub.deliveries {
		_ = d.Nack(false, true)
	}
}

// jobConsumer consumes a work queue: up to opts.Concurrency handlers at a
// time, each delivery acknowledged after its verdict is carried out.
type jobConsumer struct {
	r        *RabbitMQ
	queue    string
	h        JobHandler
	opts     ConsumeOptions
	slots    chan struct{} // one per running handler, across channels
	handlers sync.WaitGroup
}

// Consume implements Bus. The consumer's channel has a prefetch of
// opts.Concurrency and acknowledges manually: see the package documentation
// for what happens to a job after its handler returns.
func (r *RabbitMQ) Consume(ctx context.Context, queue string, h JobHandler, opts ConsumeOptions) (Consumer, error) {
	if err := checkName("queue", queue); err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	r.delays.add(queue, opts.backoffs()...)
	c := &jobConsumer{r: r, queue: queue, h: h, opts: opts, slots: make(chan struct{}, opts.Concurrency)}
	return r.startConsumer(ctx, c)
}

func (c *jobConsumer) subscribe(s *session) (*subscription, error) {
	if err := c.r.declareJobQueue(s, c.queue); err != nil {
		return nil, err
	}
	return consumeOn(s, c.r.names.work(c.queue), c.opts.Concurrency, false)
}

// consumeOn opens a channel with the given prefetch and consumes queue on
// it.
func consumeOn(s *session, queue string, prefetch int, exclusive bool) (*subscription, error) {
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Qos(prefetch, 0, false); err != nil {
		ch.Close()
		return nil, err
	}
	tag := "magpie-" + rand.Text()
	ds, err := ch.Consume(queue, tag, false, exclusive, false, false, nil)
	if err != nil {
		ch.Close()
		return nil, fmt.Errorf("consume %s: %w", queue, err)
	}
	return &subscription{ch: ch, queue: queue, tag: tag, deliveries: ds}, nil
}

func (c *jobConsumer) serve(ctx context.Context, stop <-chan struct{}, s *session, sub *subscription) bool {
	defer sub.ch.Close()
	// The handlers of this channel run under subCtx: if the channel is
	// lost, their jobs are already on their way to another consumer and
	// they can no longer be acknowledged, so they are cancelled (and their
	// verdict is "abandoned").
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	for {
		select {
		case d, ok := <-sub.deliveries:
			if !ok {
				return false // handlers still running on the lost channel finish alone
			}
			select {
			case c.slots <- struct{}{}:
			case <-stop:
				_ = d.Nack(false, true)
				return c.stop(sub, true)
			case <-ctx.Done():
				return c.stop(sub, false)
			}
			c.handlers.Go(func() {
				defer func() { <-c.slots }()
				c.handle(subCtx, s, d)
			})
		case <-stop:
			return c.stop(sub, true)
		case <-ctx.Done():
			return c.stop(sub, false)
		}
	}
}

// stop ends a subscription. Gracefully, the deliveries sent ahead go back
// at once and the running handlers finish and settle their jobs. Abruptly,
// the running handlers are being cancelled and leave their jobs
// unacknowledged; closing the channel then gives every unacknowledged
// delivery back to the broker, once, which counts it in x-delivery-count.
func (c *jobConsumer) stop(sub *subscription, graceful bool) bool {
	if graceful {
		drain(sub)
	} else {
		_ = sub.ch.Cancel(sub.tag, false)
	}
	c.handlers.Wait()
	return true
}

func (c *jobConsumer) wait() { c.handlers.Wait() }

// handle runs the handler on d and carries out the verdict. A retry is
// published to the delay queue, and a dead letter to the dead-letter
// queue, on the delivery's own connection and confirmed before d is
// acknowledged; if that fails, d goes back to the work queue instead.
func (c *jobConsumer) handle(ctx context.Context, s *session, d amqp.Delivery) {
	job, abandoned := decodeJob(d)
	published := publishedAt(d.Headers)
	var (
		v   verdict
		err error
	)
	if abandoned >= c.opts.MaxAttempts {
		v, err = dead, errors.New(abandonedText(abandoned))
	} else {
		if !published.IsZero() {
			c.r.cfg.Metrics.BusJobLag(c.queue, time.Since(published))
		}
		err = callJob(ctx, c.r.log, c.queue, c.h, job, c.opts.HandlerTimeout)
		v = judge(ctx, job, err, c.opts)
	}
	switch v {
	case ack:
		_ = d.Ack(false) // if it is lost, the job comes back: handlers are idempotent
		return
	case abandon:
		return // the channel's closing gives it back
	}
	job.LastError = errorText(err)
	if perr := c.moveTo(ctx, s, job, published, v, c.opts.retryDelay(job.Attempt, err)); perr != nil {
		c.r.log.WarnContext(ctx, "bus job requeued: retry or dead letter not stored",
			"queue", c.queue, "job_id", job.ID, "err", brokerError(perr))
		_ = d.Nack(false, true)
		return
	}
	_ = d.Ack(false)
}

// moveTo publishes job, after a failed attempt, to its delay queue (v is
// retry, for delay) or its dead-letter queue (v is dead), with its original
// publication time, and waits for the broker's confirmation, at most
// ConfirmTimeout.
func (c *jobConsumer) moveTo(ctx context.Context, s *session, job Job, published time.Time, v verdict, delay time.Duration) error {
	target := c.r.names.dead(c.queue)
	if v == retry {
		var err error
		if target, err = c.r.declareRetryQueue(s, c.queue, delay); err != nil {
			return err
		}
		job.Attempt++
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.r.cfg.ConfirmTimeout)
	defer cancel()
	return s.publish(ctx, "", target, encodeJob(job, published), true)
}

// streamConsumer consumes relays or broadcast events: one handler call at
// a time, in order, each delivery acknowledged after it.
type streamConsumer struct {
	r    *RabbitMQ
	kind string // "relay" or "broadcast", for logs
	h    MessageHandler
	// declare declares the consumer's queue on s and returns its name and
	// whether it is exclusive to this connection.
	declare func(s *session) (string, bool, error)
	// closed, if set, runs after a graceful stop.
	closed func(s *session, queue string)
	// subscribed counts the subscriptions so far; owned by runConsumer.
	subscribed int
}

// ConsumeRelay implements Bus. The node's queue, bound to the relay
// exchange with the node id as routing key, is durable but not persistent
// and expires RelayQueueExpiry after its last consumer left; a graceful
// Close deletes it at once.
func (r *RabbitMQ) ConsumeRelay(ctx context.Context, nodeID string, h MessageHandler) (Consumer, error) {
	if err := checkName("node id", nodeID); err != nil {
		return nil, err
	}
	ex, queue := r.names.relayExchange(), r.names.node(nodeID)
	c := &streamConsumer{r: r, kind: "relay", h: h}
	c.declare = func(s *session) (string, bool, error) {
		if err := r.declareExchange(s, ex, amqp.ExchangeDirect); err != nil {
			return "", false, err
		}
		return queue, false, s.declare("queue:"+queue, func(ch *amqp.Channel) error {
			r.topo.add(queue, "")
			// Classic, even where the vhost's default queue type is quorum:
			// a relay queue needs no replication.
			args := amqp.Table{"x-queue-type": "classic", "x-expires": r.cfg.RelayQueueExpiry.Milliseconds()}
			if _, err := ch.QueueDeclare(queue, true, false, false, false, args); err != nil {
				return fmt.Errorf("declare queue %s: %w", queue, err)
			}
			return ch.QueueBind(queue, nodeID, ex, false, nil)
		})
	}
	c.closed = func(s *session, queue string) {
		ch, err := s.conn.Channel()
		if err != nil {
			return
		}
		defer ch.Close()
		// If another consumer of this node still uses it, the broker refuses
		// and the queue stays.
		if _, err := ch.QueueDelete(queue, true, false, false); err == nil {
			s.mu.Lock()
			delete(s.declared, "queue:"+queue)
			s.mu.Unlock()
		}
	}
	return r.startConsumer(ctx, c)
}

// Subscribe implements Bus. Each subscriber has an exclusive, auto-deleted
// queue bound to the fanout exchange; after a reconnection it gets a new
// one, so events broadcast while it was disconnected are lost to it.
func (r *RabbitMQ) Subscribe(ctx context.Context, h MessageHandler) (Consumer, error) {
	ex := r.names.broadcastExchange()
	c := &streamConsumer{r: r, kind: "broadcast", h: h}
	c.declare = func(s *session) (string, bool, error) {
		if err := r.declareExchange(s, ex, amqp.ExchangeFanout); err != nil {
			return "", false, err
		}
		queue := r.names.broadcastQueuePrefix() + rand.Text()
		ch, err := s.conn.Channel()
		if err != nil {
			return "", false, err
		}
		defer ch.Close()
		if _, err := ch.QueueDeclare(queue, false, true, true, false, nil); err != nil {
			return "", false, fmt.Errorf("declare queue %s: %w", queue, err)
		}
		return queue, true, ch.QueueBind(queue, "", ex, false, nil)
	}
	return r.startConsumer(ctx, c)
}

func (c *streamConsumer) subscribe(s *session) (*subscription, error) {
	queue, exclusive, err := c.declare(s)
	if err != nil {
		return nil, err
	}
	sub, err := consumeOn(s, queue, c.r.cfg.StreamPrefetch, exclusive)
	if err == nil {
		c.subscribed++
	}
	return sub, err
}

func (c *streamConsumer) serve(ctx context.Context, stop <-chan struct{}, s *session, sub *subscription) bool {
	defer sub.ch.Close()
	if c.kind == "broadcast" && c.subscribed > 1 {
		// A new queue: what was broadcast in between is lost to this
		// subscriber, which is told so (see Bus.Subscribe).
		callMessage(ctx, c.r.log, c.kind, c.h, nil)
	}
	for {
		select {
		case d, ok := <-sub.deliveries:
			if !ok {
				return false
			}
			callMessage(ctx, c.r.log, c.kind, c.h, d.Body)
			_ = d.Ack(false)
		case <-stop:
			drain(sub)
			if c.closed != nil {
				c.closed(s, sub.queue)
			}
			return true
		case <-ctx.Done():
			return true
		}
	}
}

func (c *streamConsumer) wait() {}
