package node

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"unicode/utf8"

	"github.com/coder/websocket"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/time/rate"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/tenant"
)

// Connection limits. The outbound queue (maxOutFrames, and
// Config.MaxOutboundBytes) bounds what a slow reader can make the node hold:
// beyond it the connection is closed with 4003 (reconnect).
const (
	loginFrameLimit = 16 << 10
	frameOverhead   = 16 << 10
	maxOutFrames    = 4096
	maxInflight     = 64
	maxFrameRate    = 200 // frames per second per connection, burst twice that
	writeTimeout    = 10 * time.Second
	closeTimeout    = 2 * time.Second
)

// conn is one client WebSocket. Its reader runs on a goroutine of its own
// (run), which owns everything else: a writer goroutine exists only while
// frames are queued, in-flight requests wait on their own goroutines (at
// most maxInflight), and a close runs on one more. The hub tracks the
// connection from accept to the end of run.
type conn struct {
	srv     *Server
	ws      *websocket.Conn
	codec   wire.Codec
	msgType websocket.MessageType
	session string
	origin  string
	addr    string // client address, for per-address limits
	pending bool   // counted in srv.pending until login; owned by the reader

	// Set by login on the reader goroutine before loggedIn is stored;
	// read-only afterwards.
	appID, userID, deviceID string
	creds                   *tenant.Credentials
	secret                  string // the app secret that signed the token
	issuedAt, expiresAt     time.Time
	connectedAt             time.Time // when the login was accepted
	sendLim                 *rate.Limiter
	expiry                  *time.Timer // closes the session when its token expires
	loggedIn                atomic.Bool

	timer    *time.Timer     // login deadline, then heartbeat deadline
	frameLim *rate.Limiter   // all frames after login, against floods
	inflight chan struct{}   // semaphore of in-flight requests
	order    messaging.Order // keeps moderated sends in frame order
	// goBack, read and written by the reader goroutine only, is the
	// client message id of a send refused because the server was
	// overloaded: every later send is refused too until it comes again.
	goBack   string
	tasks    sync.WaitGroup
	draining atomic.Bool   // shutting down: refuse new sends
	quit     chan struct{} // closed when the connection starts closing
	closed   chan struct{} // closed when the close (frame and handshake) is done
	flushed  chan struct{} // closed by the writer when a flushing close has drained the queue

	roomsMu sync.Mutex          // guards rooms
	rooms   map[string]struct{} // ids of the chat rooms joined

	mu       sync.Mutex // guards the fields below
	out      []outFrame
	outBytes int
	closing  bool // a close has started (or run has ended); no more frames
	flushing bool // the close waits for the queue to drain
	writing  bool // a writer goroutine is draining out
}

// serveConn upgrades an HTTP request to a client connection and serves it
// until it closes.
func (s *Server) serveConn(w http.ResponseWriter, r *http.Request) {
	addr := s.clientAddr(r)
	pending := s.limitedAddr(addr)
	if pending && !s.pending.add(addr) {
		s.metrics.RateLimited(telemetry.LimitLogin)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many connections from this address are waiting to log in", http.StatusTooManyRequests)
		return
	}
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: wire.Subprotocols(),
		// Origins are checked against the app's allow-list at login, when
		// the app is known.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		if pending {
			s.pending.done(addr)
		}
		return // Accept has answered the request
	}
	codec, ok := wire.CodecFor(ws.Subprotocol())
	if !ok {
		if pending {
			s.pending.done(addr)
		}
		ws.Close(websocket.StatusCode(wire.CloseUnsupportedSubprotocol), "use subprotocol magpie.v1.proto or magpie.v1.json")
		return
	}
	c := &conn{
		srv: s, ws: ws, codec: codec, session: httpx.NewID("ses_"), origin: r.Header.Get("Origin"),
		addr: addr, pending: pending,
		msgType:  websocket.MessageText,
		frameLim: rate.NewLimiter(maxFrameRate, 2*maxFrameRate),
		inflight: make(chan struct{}, maxInflight),
		quit:     make(chan struct{}),
		closed:   make(chan struct{}),
		flushed:  make(chan struct{}),
	}
	if codec.Binary() {
		c.msgType = websocket.MessageBinary
	}
	if !s.hub.track(c) {
		// Shutting down: the same Close frame and code as for connections
		// that were already open.
		c.notPending()
		c.closeAsync(wire.CloseServerShutdown, "server shutting down")
		<-c.closed
		return
	}
	// Serve on a fresh goroutine and let the HTTP handler return: the
	// hijacked connection no longer needs the request, the router's context
	// or the handler's deep stack. The hub owns the goroutine (Shutdown
	// waits for untrack).
	// The connection's context drops the upgrade request's span: the
	// connection outlives it, and its sends are not part of its trace.
	ctx := trace.ContextWithSpanContext(context.WithoutCancel(r.Context()), trace.SpanContext{})
	go func() {
		defer s.hub.untrack(c)
		c.run(ctx)
	}()
}

// run serves the connection and returns when every goroutine it started
// (writers, in-flight requests, close) has finished.
func (c *conn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c.ws.SetReadLimit(loginFrameLimit)
	c.timer = time.AfterFunc(c.srv.cfg.LoginTimeout, c.deadlinePassed)
	defer c.timer.Stop()
	c.readLoop(ctx)
	c.notPending()
	if c.expiry != nil {
		c.expiry.Stop()
	}
	// From here on nothing starts a goroutine: this one owns the end.
	c.mu.Lock()
	closing := c.closing
	c.closing = true
	c.mu.Unlock()
	if closing {
		<-c.closed // let the Close frame and close handshake finish
	}
	if c.loggedIn.Load() {
		c.srv.hub.unregister(c)
	}
	cancel()
	c.ws.CloseNow() // ends a writer blocked on a dead peer
	c.tasks.Wait()
}

// notPending uncounts the connection from its address's sockets waiting to
// log in, once. Only the reader goroutine calls it.
func (c *conn) notPending() {
	if c.pending {
		c.pending = false
		c.srv.pending.done(c.addr)
	}
}

func (c *conn) deadlinePassed() {
	if c.loggedIn.Load() {
		c.closeAsync(wire.CloseHeartbeatTimeout, "no frame within 2.5 heartbeat intervals")
	} else {
		c.closeAsync(wire.CloseLoginTimeout, "no login within the deadline")
	}
}

func (c *conn) readLoop(ctx context.Context) {
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return
		}
		c.srv.metrics.FramesIn(1)
		if c.loggedIn.Load() {
			c.timer.Reset(c.srv.heartbeatTimeout())
		}
		f, err := wire.Decode(c.codec, data, len(data))
		switch {
		case errors.Is(err, wire.ErrEmpty):
			// A body this server does not know (a newer client's, say).
			c.reply(wire.ErrorFrame(f.GetId(), wire.CodeInvalidFrame, "frame has no body this server knows"))
			continue
		case errors.Is(err, wire.ErrUnknownField):
			// JSON names a field this server does not know: refuse the
			// request rather than act on part of it, as for an unknown
			// body; the frame itself was sound.
			c.reply(wire.ErrorFrame(f.GetId(), wire.CodeInvalidFrame, truncateReason(err.Error())))
			continue
		case err != nil:
			// A frame we cannot parse means the client is broken; the
			// connection state can no longer be trusted.
			c.closeAsync(wire.CloseProtocolError, err.Error())
			return
		case f.GetId() == 0:
			// Id 0 marks the server's pushes; a reply to it could not be
			// told from one.
			c.reply(wire.ErrorFrame(0, wire.CodeInvalidFrame, "request id 0 is reserved for pushes; number requests from 1"))
			continue
		}
		if !c.loggedIn.Load() {
			if code, reason := c.beforeLogin(ctx, f); code != 0 {
				c.closeAsync(code, reason)
				return
			}
			continue
		}
		c.handle(ctx, f)
	}
}

// beforeLogin handles a frame of a connection that has not logged in. It
// returns a close code to end the connection.
func (c *conn) beforeLogin(ctx context.Context, f *magpiev1.Frame) (wire.CloseCode, string) {
	l := f.GetLogin()
	if l == nil {
		c.reply(wire.ErrorFrame(f.GetId(), wire.CodeNotLoggedIn, "the first frame must be login"))
		return 0, ""
	}
	// Login goes deep (token checks, the store's SQLite calls): run it on a
	// short-lived goroutine so that the reader's stack, which lives as long
	// as the connection, stays small.
	var code wire.CloseCode
	var reason string
	done := make(chan struct{})
	c.tasks.Go(func() {
		defer close(done)
		ctx, span := c.loginSpan(ctx)
		code, reason = c.login(ctx, l)
		c.endLogin(span, code)
	})
	<-done
	if code != 0 {
		c.srv.metrics.Login(code.String())
		return code, reason
	}
	c.srv.metrics.Login("ok")
	c.notPending()
	c.ws.SetReadLimit(c.frameLimit())
	c.timer.Reset(c.srv.heartbeatTimeout())
	c.reply(&magpiev1.Frame{Id: f.GetId(), Body: &magpiev1.Frame_LoginResult{LoginResult: &magpiev1.LoginResult{
		UserId: c.userID, SessionId: c.session, ServerTimeMs: c.srv.now().UnixMilli(),
		HeartbeatIntervalMs: c.srv.cfg.HeartbeatInterval.Milliseconds(),
		MaxMessageBytes:     int64(c.creds.Limits.MaxMessageBytes),
	}}})
	return 0, ""
}

// frameLimit is the largest frame accepted after login: the largest message
// content, with room for JSON escaping and the envelope.
func (c *conn) frameLimit() int64 {
	n := int64(c.creds.Limits.MaxMessageBytes)
	if !c.codec.Binary() {
		n *= 6 // \u00XX escapes
	}
	return n + frameOverhead
}

// reply queues a frame for the writer.
func (c *conn) reply(f *magpiev1.Frame) {
	b, err := c.codec.Marshal(f)
	if err != nil {
		c.srv.log.Error("encode frame", "err", err, "conn_id", c.session)
		return
	}
	c.queue(b)
}

// outFrame is an encoded frame waiting for the writer.
type outFrame struct {
	b []byte
	// merge marks a binary push (id 0) of a kind that merges: a Deliver
	// or a RoomMessages. Consecutive ones of the same kind are written as
	// one WebSocket message: concatenated protobuf encodings of the same
	// oneof message field merge, so the client decodes a single Deliver
	// (or RoomMessages) holding all their messages, in order.
	merge mergeKind
}

// mergeKind says whether, and with which frames, a queued frame merges.
type mergeKind uint8

const (
	mergeNone mergeKind = iota
	mergeDeliver
	mergeRoom
)

// maxMerged bounds a WebSocket message made of merged Deliver frames (a
// single larger frame is still written alone).
const maxMerged = 1 << 20

// queue adds an encoded reply or push to the outbound queue (see queueFrame).
func (c *conn) queue(b []byte) bool { return c.queueFrame(outFrame{b: b}) }

// queueFrame adds an encoded frame to the outbound queue, starting a writer
// if none is running: an idle connection holds no writer goroutine. A
// connection whose queue is full is closed (slow consumer) and queueFrame
// reports false.
func (c *conn) queueFrame(f outFrame) bool {
	b := f.b
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.out) >= maxOutFrames || c.outBytes+len(b) > c.srv.cfg.MaxOutboundBytes {
		c.mu.Unlock()
		c.closeAsync(wire.CloseSlowConsumer, "outbound queue full")
		return false
	}
	c.out = append(c.out, f)
	c.outBytes += len(b)
	c.startWriterLocked()
	c.mu.Unlock()
	return true
}

// startWriterLocked starts a writer unless one is running. c.mu must be
// held, and c.closing must have been false when the frame was queued or
// the close started (run's final Wait comes after).
func (c *conn) startWriterLocked() {
	if c.writing {
		return
	}
	c.writing = true
	c.tasks.Go(c.writeLoop)
}

// writeLoop writes queued frames in order until the queue is empty, then
// exits. Consecutive Deliver (or RoomMessages) pushes go out as one WebSocket message (one
// write instead of one per frame). Each write has its own deadline; run's
// CloseNow ends a blocked one.
func (c *conn) writeLoop() {
	var merged []byte
	for {
		c.mu.Lock()
		batch := c.out
		c.out, c.outBytes = nil, 0
		if len(batch) == 0 {
			c.writing = false
			done := c.flushing
			c.mu.Unlock()
			if done {
				close(c.flushed)
			}
			return
		}
		c.mu.Unlock()
		for i := 0; i < len(batch); i++ {
			msg := batch[i].b
			if kind := batch[i].merge; kind != mergeNone {
				merged = append(merged[:0], msg...)
				for i+1 < len(batch) && batch[i+1].merge == kind && len(merged)+len(batch[i+1].b) <= maxMerged {
					i++
					merged = append(merged, batch[i].b...)
				}
				msg = merged
			}
			if !c.write(msg) {
				return
			}
		}
		c.srv.metrics.FramesOut(len(batch))
	}
}

// write writes one WebSocket message; on failure it closes the connection,
// marks the writer stopped and reports false.
func (c *conn) write(msg []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	err := c.ws.Write(ctx, c.msgType, msg)
	cancel()
	if err == nil {
		return true
	}
	c.closeAsync(wire.CloseSlowConsumer, "write failed")
	c.mu.Lock()
	c.writing = false
	c.mu.Unlock()
	return false
}

// closeAsync sends a Close frame and closes the WebSocket with code, once,
// without blocking the caller. Frames still queued are dropped.
func (c *conn) closeAsync(code wire.CloseCode, reason string) { c.startClose(code, reason, false) }

// closeFlushed queues a Close frame behind the frames already queued, lets
// the writer deliver them all, then closes the WebSocket with code.
func (c *conn) closeFlushed(code wire.CloseCode, reason string) { c.startClose(code, reason, true) }

func (c *conn) startClose(code wire.CloseCode, reason string, flush bool) {
	reason = truncateReason(reason)
	b, err := c.codec.Marshal(&magpiev1.Frame{Body: &magpiev1.Frame_Close{Close: &magpiev1.Close{
		Code: int32(code), Reason: reason,
	}}})
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	flush = flush && err == nil
	if flush {
		c.flushing = true
		c.out = append(c.out, outFrame{b: b})
		c.startWriterLocked()
	} else {
		c.out = nil
	}
	c.mu.Unlock()
	close(c.quit)
	if code == wire.CloseSlowConsumer {
		// The socket is not draining, so neither would a Close frame:
		// drop the connection at once.
		c.ws.CloseNow()
		close(c.closed)
		return
	}
	// Owned by run, which waits for c.closed once the reader stops.
	go func() {
		defer close(c.closed)
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		if flush {
			select {
			case <-c.flushed:
			case <-ctx.Done():
			}
		} else if err == nil {
			_ = c.ws.Write(ctx, c.msgType, b)
		}
		_ = c.ws.Close(websocket.StatusCode(code), reason)
	}()
}

// truncateReason cuts a close reason to the 123 bytes a WebSocket close
// frame allows, on a UTF-8 boundary.
func truncateReason(s string) string {
	const maxReason = 123
	if len(s) <= maxReason {
		return s
	}
	s = s[:maxReason]
	for len(s) > 0 && !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// shutdown drains the connection for a server shutdown: no new sends are
// accepted, in-flight ones finish and are acknowledged, everything queued
// is written, and the connection is closed with 4000 (reconnect).
func (c *conn) shutdown(ctx context.Context) {
	c.draining.Store(true)
	for range maxInflight { // hold every slot: nothing is in flight
		select {
		case c.inflight <- struct{}{}:
		case <-ctx.Done():
			c.closeAsync(wire.CloseServerShutdown, "server shutting down")
			return
		case <-c.quit:
			return
		}
	}
	c.closeFlushed(wire.CloseServerShutdown, "server shutting down")
}
