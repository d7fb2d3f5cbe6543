package bus

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// session is one AMQP connection and the channels shared on it. When the
// connection is lost the session is over: the supervisor dials a new one,
// and everyone holding the old one moves to the new one.
type session struct {
	conn   *amqp.Connection
	sock   net.Conn         // the TCP socket under conn; a test hook closes it
	closes chan *amqp.Error // the connection's close notification
	lost   chan struct{}    // closed by the supervisor once the connection is gone

	mu       sync.Mutex    // guards the following
	pub      *amqp.Channel // confirm mode: every publish goes through it
	admin    *amqp.Channel // declarations
	declared map[string]struct{}
}

// errChannelClosed is returned for a publish whose channel closed before
// the broker confirmed it.
var errChannelClosed = errors.New("rabbitmq: channel closed before the publish was confirmed")

// errStopped is returned to a consumer that was closed while it waited for
// a connection.
var errStopped = errors.New("consumer stopped")

// errNacked is returned for a publish the broker refused to take.
var errNacked = errors.New("rabbitmq: broker refused the message (nack)")

// dial opens a connection.
func (r *RabbitMQ) dial() (*session, error) {
	if hook := r.dialHook.Load(); hook != nil {
		if err := (*hook)(); err != nil {
			return nil, err
		}
	}
	var sock net.Conn
	dial := amqp.DefaultDial(r.cfg.DialTimeout)
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("magpie-bus")
	conn, err := amqp.DialConfig(r.cfg.URL, amqp.Config{
		Heartbeat:  r.cfg.Heartbeat,
		Locale:     "en_US",
		Properties: props,
		Dial: func(network, addr string) (net.Conn, error) {
			c, err := dial(network, addr)
			sock = c
			return c, err
		},
	})
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redactURL(r.cfg.URL), brokerError(err))
	}
	return &session{
		conn: conn, sock: sock, lost: make(chan struct{}),
		closes:   conn.NotifyClose(make(chan *amqp.Error, 1)),
		declared: map[string]struct{}{},
	}, nil
}

// setSession installs s as the live connection, or, with s nil, records
// that there is none and why.
func (r *RabbitMQ) setSession(s *session, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case s != nil && r.sess == nil:
		close(r.ready)
	case s == nil && r.sess != nil:
		r.ready = make(chan struct{})
	}
	r.sess, r.lastErr = s, err
}

// supervise keeps the bus connected until Close: when the connection is
// lost it dials again after a delay that starts at MinReconnectDelay and
// doubles after each failure up to MaxReconnectDelay, with jitter. The
// delay starts over once a connection has lasted MaxReconnectDelay, so a
// connection that keeps dying at once is not redialled in a tight loop.
func (r *RabbitMQ) supervise(s *session) {
	defer close(r.supervised)
	delay := r.cfg.MinReconnectDelay
	for {
		began := time.Now()
		var cause *amqp.Error
		select {
		case cause = <-s.closes:
		case <-r.stop:
			r.setSession(nil, ErrClosed)
			s.conn.Close()
			close(s.lost)
			return
		}
		err := errors.New("connection closed")
		if cause != nil {
			err = brokerError(cause)
		}
		r.setSession(nil, err)
		close(s.lost)
		r.log.Warn("rabbitmq connection lost", "err", err)
		if time.Since(began) >= r.cfg.MaxReconnectDelay {
			delay = r.cfg.MinReconnectDelay
		}
		for s = nil; s == nil; {
			select {
			case <-time.After(jitter(delay)):
			case <-r.stop:
				return
			}
			delay = min(2*delay, r.cfg.MaxReconnectDelay)
			if s, err = r.dial(); err != nil {
				r.setSession(nil, err)
				r.log.Warn("rabbitmq reconnect failed", "err", err, "retry_in", delay)
			}
		}
		r.setSession(s, nil)
		r.log.Info("rabbitmq reconnected")
	}
}

// jitter returns a random duration in [d/2, d).
func jitter(d time.Duration) time.Duration {
	if d < 2 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// session returns the live connection, waiting for one as long as ctx
// allows.
func (r *RabbitMQ) session(ctx context.Context) (*session, error) {
	return r.sessionOr(ctx, nil)
}

// sessionOr is session that also gives up, with errStopped, once stop is
// closed (a consumer closed while waiting for the broker).
func (r *RabbitMQ) sessionOr(ctx context.Context, stop <-chan struct{}) (*session, error) {
	for {
		r.mu.Lock()
		s, ready, closed := r.sess, r.ready, r.closed
		r.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case s != nil:
			return s, nil
		}
		select {
		case <-ready:
		case <-r.stop:
			return nil, ErrClosed
		case <-stop:
			return nil, errStopped
		case <-ctx.Done():
			r.mu.Lock()
			lastErr := r.lastErr
			r.mu.Unlock()
			return nil, fmt.Errorf("%w: %w (last error: %w)", ErrUnavailable, ctx.Err(), lastErr)
		}
	}
}

// publish sends msg on the live connection after declare (if not nil) ran
// on it, and with confirm waits for the broker's confirmation. It waits for
// a connection as long as ctx allows, and sends again on the next
// connection a message whose connection was lost before it was confirmed
// (a duplicate if the broker did take it: delivery is at least once).
//
// A failed write closes the connection asynchronously, so a failure on a
// connection that still looks alive is retried a few times with backoff:
// by then the connection is known lost, or the failure was the channel's
// alone (the broker closed it) and is returned.
func (r *RabbitMQ) publish(ctx context.Context, declare func(*session) error, exchange, key string, msg amqp.Publishing, confirm bool) error {
	const softRetries = 3
	delay := r.cfg.MinReconnectDelay
	for soft := 0; ; {
		s, err := r.session(ctx)
		if err != nil {
			return err
		}
		if declare != nil {
			err = declare(s)
		}
		if err == nil {
			err = s.publish(ctx, exchange, key, msg, confirm)
		}
		switch {
		case err == nil:
			return nil
		case errors.Is(err, errNacked) || ctx.Err() != nil:
			return brokerError(err)
		case s.conn.IsClosed():
			soft, delay = 0, r.cfg.MinReconnectDelay
			select {
			case <-s.lost:
				continue
			case <-ctx.Done():
			}
		case soft < softRetries:
			soft++
			select {
			case <-time.After(jitter(delay)):
				delay *= 2
				continue
			case <-s.lost:
				continue
			case <-ctx.Done():
			}
		default:
			return brokerError(err)
		}
		return fmt.Errorf("%w: %w (connection lost: %w)", ErrUnavailable, ctx.Err(), brokerError(err))
	}
}

// publish sends msg on the session's publishing channel and with confirm
// waits for the broker's confirmation.
func (s *session) publish(ctx context.Context, exchange, key string, msg amqp.Publishing, confirm bool) error {
	ch, err := s.pubChannel()
	if err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, key, false, false, msg)
	if err != nil || !confirm {
		return err
	}
	ok, err := dc.WaitContext(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("unconfirmed: %w", err)
	case ok:
		return nil
	case ch.IsClosed():
		return errChannelClosed
	default:
		return errNacked
	}
}

// pubChannel returns the publishing channel, opening it if needed. A
// channel the broker closed may have been closed for a missing queue or
// exchange, so the declarations are forgotten and made again.
func (s *session) pubChannel() (*amqp.Channel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.pub != nil && !s.pub.IsClosed() {
		return s.pub, nil
	}
	if s.pub != nil {
		clear(s.declared)
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		ch.Close()
		return nil, err
	}
	s.pub = ch
	return ch, nil
}

// declare runs fn once per key and connection, on the session's
// declaration channel. A failed declaration closes that channel; the next
// call opens another.
func (s *session) declare(key string, fn func(*amqp.Channel) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.declared[key]; ok {
		return nil
	}
	if s.admin == nil || s.admin.IsClosed() {
		ch, err := s.conn.Channel()
		if err != nil {
			return err
		}
		s.admin = ch
	}
	if err := fn(s.admin); err != nil {
		return err
	}
	s.declared[key] = struct{}{}
	return nil
}

// forget drops the record of what was declared on the session, so that it
// is declared again: after a failure that may mean a queue was deleted.
func (s *session) forget() {
	s.mu.Lock()
	defer s.mu.Unlock()
	clear(s.declared)
}
