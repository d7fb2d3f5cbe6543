package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// ErrNotRunning is returned by requests made after Run returned, while no
// new Run has started.
var ErrNotRunning = errors.New("magpie: client not running")

// Client is a connection to Magpie for one user on one device. Create it
// with New, start it with Run, read what happens with Next, and stop it
// with Close (or by ending Run's context). See the package documentation
// for the concurrency contract.
type Client struct {
	cfg      Config
	url      string
	log      *slog.Logger
	events   *eventQueue
	recv     *receiver
	acks     *acker
	out      *outbox
	fillWake chan struct{} // capacity 1: gaps to fill, or room again in the event queue
	pushTurn chan struct{} // capacity 1: full while a push registration request is in flight
	maxBytes atomic.Int64  // the server's content limit, from the last login

	mu      sync.Mutex // guards the fields below
	sess    *session   // the logged-in session; nil between connections
	user    string     // the user id of the last login
	changed chan struct{}
	running bool
	stopRun context.CancelCauseFunc // ends the running Run
	runDone chan struct{}           // closed when the running Run has returned
	runErr  error                   // why the last Run ended; nil while running or before the first
	loaded  bool                    // the Store's cursors were loaded
	closed  bool
	// The push registration to send after every login (nil: none), and
	// the session that accepted it (nil: none yet). Changed only by the
	// holder of pushTurn.
	device     *Device
	deviceSent *session

	rooms    rooms        // the chat rooms joined
	presence presenceSubs // the users whose presence is watched
}

// New returns a client for cfg, with defaults for the zero fields. It does
// not connect: Run does.
func New(cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.Default()
	u, _ := connectURL(cfg.URL) // checked by Validate
	c := &Client{
		cfg: cfg, url: u, log: cfg.Logger.With("device_id", cfg.DeviceID),
		acks: newAcker(), out: newOutbox(cfg.SendWindow, cfg.BackoffMin, cfg.BackoffMax),
		fillWake: make(chan struct{}, 1), pushTurn: make(chan struct{}, 1), changed: make(chan struct{}),
	}
	c.events = newEventQueue(cfg.EventBuffer)
	c.recv = newReceiver(c.events)
	c.rooms.joined = make(map[string]int64)
	return c, nil
}

// Run connects to the server and keeps the client connected until ctx
// ends, Close is called, or the server closes the connection with a
// terminal code. It reconnects with exponential backoff and jitter after
// network errors and reconnect-range close codes, asks the TokenProvider
// for a fresh token before every attempt, and after every login fetches
// what the client missed and sends the queued messages again.
//
// Run returns nil when ctx ends or Close is called, and the *CloseError
// when the server closed the connection with a terminal code: the app may
// fix the cause (a new token after token_revoked, for example) and call Run
// again; queued sends and cursors are kept. Run returns only after every
// goroutine it started has stopped. Only one Run may be active at a time.
func (c *Client) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	done, err := c.startRun(cancel)
	if err != nil {
		return err
	}
	err = c.load(ctx)
	if err == nil {
		err = c.loop(ctx)
	}
	sctx, cancelSave := context.WithTimeout(context.WithoutCancel(ctx), c.cfg.RequestTimeout)
	c.saveCursors(sctx)
	cancelSave()
	c.endRun(done, err)
	return err
}

// startRun marks the client running.
func (c *Client) startRun(stop context.CancelCauseFunc) (chan struct{}, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.closed:
		return nil, ErrClosed
	case c.running:
		return nil, ErrRunning
	}
	c.running, c.stopRun, c.runDone, c.runErr = true, stop, make(chan struct{}), nil
	return c.runDone, nil
}

// endRun marks the client stopped, releasing requests that wait for a
// connection.
func (c *Client) endRun(done chan struct{}, err error) {
	c.mu.Lock()
	c.running, c.stopRun, c.runErr = false, nil, ErrNotRunning
	if err != nil {
		c.runErr = err
	}
	c.notifyLocked()
	c.mu.Unlock()
	close(done)
}

// notifyLocked wakes the goroutines waiting for a state change. c.mu must
// be held.
func (c *Client) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

// load reads the Store's cursors, once per client.
func (c *Client) load(ctx context.Context) error {
	c.mu.Lock()
	loaded := c.loaded
	c.mu.Unlock()
	if loaded {
		return nil
	}
	cursors, err := c.cfg.Store.LoadCursors(ctx)
	if err != nil {
		return fmt.Errorf("load cursors: %w", err)
	}
	c.recv.load(cursors)
	c.acks.load(cursors)
	c.mu.Lock()
	c.loaded = true
	c.mu.Unlock()
	return nil
}

// loop connects, serves the connection, and reconnects with backoff, until
// ctx ends or a terminal error.
func (c *Client) loop(ctx context.Context) error {
	bo := backoff{min: c.cfg.BackoffMin, max: c.cfg.BackoffMax}
	for {
		err := c.connect(ctx, &bo)
		if ctx.Err() != nil {
			c.events.push(Disconnected{Err: context.Cause(ctx)})
			return nil
		}
		if terminal(err) {
			c.log.WarnContext(ctx, "disconnected for good", "err", err)
			c.events.push(Disconnected{Err: err})
			return err
		}
		delay := bo.next()
		c.log.InfoContext(ctx, "disconnected", "err", err, "retry_in", delay)
		c.events.push(Disconnected{Err: err, WillRetry: true, RetryIn: delay})
		if !sleep(ctx, delay) {
			c.events.push(Disconnected{Err: context.Cause(ctx)})
			return nil
		}
	}
}

// stableSession is how long a session must last for the reconnect backoff
// to start over: a server that accepts logins and drops them at once (when
// overloaded, say) still sees the delays grow.
const stableSession = 10 * time.Second

// connect makes one connection attempt and serves the connection until it
// ends; it returns why it ended.
func (c *Client) connect(ctx context.Context, bo *backoff) error {
	tok, err := c.cfg.TokenProvider(ctx)
	if err != nil {
		return fmt.Errorf("token provider: %w", err)
	}
	s, err := c.dial(ctx, tok)
	if err != nil {
		return err
	}
	start := time.Now()
	err = c.serve(ctx, s)
	if time.Since(start) >= stableSession {
		bo.reset()
	}
	return err
}

// serve runs a logged-in session: its reader, heartbeat, filler, sender and
// acker, until one of them fails or ctx ends.
func (c *Client) serve(ctx context.Context, s *session) error {
	sctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	s.abort = cancel
	// The reader has its own context, ended after the close handshake.
	rctx, stopReader := context.WithCancel(context.WithoutCancel(ctx))
	defer stopReader()
	c.maxBytes.Store(int64(s.info.MaxMessageBytes))
	c.setSession(s)
	c.log.InfoContext(ctx, "connected", "user_id", s.info.UserID, "session_id", s.info.SessionID)
	c.events.push(Connected{Session: s.info})

	var wg sync.WaitGroup
	var readErr error // why the connection ended, as the reader saw it
	wg.Go(func() {
		readErr = s.readLoop(rctx, c)
		cancel(readErr)
	})
	// The other goroutines end the session only for failures of their own;
	// a lost connection is the reader's to report.
	wg.Go(func() {
		if err := s.heartbeat(sctx); err != nil {
			cancel(err)
		}
	})
	wg.Go(func() {
		if err := c.fillLoop(sctx, s); err != nil {
			cancel(err)
		}
	})
	wg.Go(func() {
		if err := c.sendLoop(sctx, s); err != nil {
			cancel(err)
		}
	})
	wg.Go(func() { c.ackLoop(sctx, s) })
	wg.Go(func() { c.resendDevice(sctx, s) })
	wg.Go(func() { c.rejoinRooms(sctx, s) })
	wg.Go(func() { c.resubscribePresence(sctx, s) })
	<-sctx.Done()
	c.clearSession(s)
	if ctx.Err() != nil {
		s.ws.Close(websocket.StatusNormalClosure, "client stopping")
	} else {
		s.ws.CloseNow()
	}
	stopReader()
	wg.Wait()
	var ce *CloseError
	if errors.As(readErr, &ce) {
		return readErr // the server's reason beats its consequences
	}
	return context.Cause(sctx)
}

func (c *Client) setSession(s *session) {
	c.mu.Lock()
	c.sess, c.user = s, s.info.UserID
	c.notifyLocked()
	c.mu.Unlock()
}

func (c *Client) clearSession(s *session) {
	c.mu.Lock()
	if c.sess == s {
		c.sess = nil
		c.notifyLocked()
	}
	c.mu.Unlock()
}

// waitSession returns the logged-in session, other than dead, waiting for
// one until ctx ends or Run returns.
func (c *Client) waitSession(ctx context.Context, dead *session) (*session, error) {
	for {
		c.mu.Lock()
		s, changed, closed, runErr := c.sess, c.changed, c.closed, c.runErr
		c.mu.Unlock()
		switch {
		case closed:
			return nil, ErrClosed
		case s != nil && s != dead:
			return s, nil
		case runErr != nil:
			return nil, runErr
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// request sends a request and returns its reply. It waits for a connection,
// sends the request again on the next connection if the connection drops,
// and retries timeouts and retryable errors with backoff, until ctx ends.
// Use it only for idempotent requests.
func (c *Client) request(ctx context.Context, f *magpiev1.Frame) (*magpiev1.Frame, error) {
	_, r, err := c.requestOn(ctx, f)
	return r, err
}

// requestOn is request, and also returns the session of the last attempt
// (nil if none).
func (c *Client) requestOn(ctx context.Context, f *magpiev1.Frame) (*session, *magpiev1.Frame, error) {
	var dead *session
	for retry := 0; ; {
		s, err := c.waitSession(ctx, dead)
		if err != nil {
			return nil, nil, err
		}
		r, err := s.call(ctx, f)
		switch {
		case err == nil || ctx.Err() != nil || !retryable(err):
			return s, r, err
		case errors.Is(err, errConnLost):
			dead = s
			continue
		}
		if !sleep(ctx, retryDelay(c.cfg.BackoffMin, c.cfg.BackoffMax, retry)) {
			return s, nil, ctx.Err()
		}
		retry++
	}
}

// Next returns the next event, waiting until one happens or ctx ends. It
// returns every Message exactly once, in seq order within a conversation;
// a Message returned by Next counts as received: its cursor is reported to
// the server (DeliverAck) and saved to the Store. After Close, Next returns
// the events still queued, then ErrClosed.
//
// Call Next from one goroutine to see the events in order.
func (c *Client) Next(ctx context.Context) (Event, error) {
	ev, room, err := c.events.next(ctx)
	if m, ok := ev.(Message); ok {
		c.acks.handed(m.ConvID, m.Seq)
	}
	if room {
		// The queue refused messages and has drained: queue those held in
		// memory, and let the filler fetch the others.
		c.recv.advanceAll()
		signal(c.fillWake)
	}
	return ev, err
}

// Stats are counters of a client, for monitoring.
type Stats struct {
	// QueuedEvents is the number of events waiting for Next.
	QueuedEvents int
	// DroppedEvents counts the receipts and connection events dropped
	// because the event queue was full.
	DroppedEvents uint64
	// PendingSends is the number of messages not yet acknowledged.
	PendingSends int
	// Connected is set while a session is logged in.
	Connected bool
}

// Stats returns the client's counters.
func (c *Client) Stats() Stats {
	queued, dropped := c.events.stats()
	c.mu.Lock()
	connected := c.sess != nil
	c.mu.Unlock()
	return Stats{QueuedEvents: queued, DroppedEvents: dropped, PendingSends: c.out.pending(), Connected: connected}
}

// Close stops the client: it ends Run and waits for it to return, fails
// the queued sends with ErrClosed, and makes Next return ErrClosed once the
// queued events are read. Close is idempotent.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	stop, done := c.stopRun, c.runDone
	c.notifyLocked()
	c.mu.Unlock()
	if stop != nil {
		stop(ErrClosed)
		<-done
	}
	c.out.close(ErrClosed)
	c.events.close()
	return nil
}

// onDeliver implements pusher.
func (c *Client) onDeliver(s *session, msgs []*magpiev1.Message) {
	if c.recv.add(toMessages(msgs, s.info.UserID)) {
		signal(c.fillWake)
	}
}

// onReceipt implements pusher.
func (c *Client) onReceipt(s *session, r *magpiev1.Receipt) {
	c.recv.receipt(toReceipt(r), s.info.UserID)
}

// onTyping implements pusher: a typing signal is an event, dropped rather
// than queued when the app is far behind.
func (c *Client) onTyping(_ *session, t *magpiev1.TypingEvent) {
	c.events.push(Typing{ConvID: t.GetConvId(), UserID: t.GetUserId(), Typing: t.GetTyping(), At: time.UnixMilli(t.GetAtMs())})
}

// SetTyping tells the other members of a conversation that the user is
// typing (typing true; send it again every few seconds while the user
// types) or stopped. It is an ephemeral signal: delivered to their online
// devices as a Typing event, never stored; groups of more than 100 members
// get none. It waits for a connection until ctx ends.
func (c *Client) SetTyping(ctx context.Context, convID string, typing bool) error {
	if convID == "" {
		return errors.New("magpie: set typing: empty conversation id")
	}
	_, err := c.request(ctx, &magpiev1.Frame{Body: &magpiev1.Frame_Typing{Typing: &magpiev1.Typing{ConvId: convID, Typing: typing}}})
	return err
}

// onServerError implements pusher.
func (c *Client) onServerError(s *session, e *magpiev1.Error) {
	c.log.Warn("server error", "code", e.GetCode(), "message", e.GetMessage(), "session_id", s.info.SessionID)
}
