package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp/websocket"
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
	closeTimeout    = 2 * time.Second
)

// writeTimeout is how long output may wait for a client that does not read
// it (see stallCheck); a variable for the tests.
var writeTimeout = 10 * time.Second

// conn is one client WebSocket. Its frames are served by onFrame, in
// order and one at a time, on the goroutine that read them (see socket.go):
// an idle connection has no goroutine. Its queued frames are written by
// the flushers (flush.go), in-flight requests wait on their own goroutines
// (at most maxInflight), and a close runs on one more. When the socket
// closes, end releases the connection. The hub tracks the connection from
// accept to the end of end.
type conn struct {
	srv     *Server
	ws      *websocket.Conn
	codec   wire.Codec
	msgType websocket.MessageType
	session string
	origin  string
	addr    string // client address, for per-address limits

	// ctx is the connection's context, for the requests it serves: the
	// frame handlers run on short-lived goroutines that have no context
	// of their own. cancel ends it when the connection ends.
	ctx    context.Context
	cancel context.CancelFunc

	// readMu is held while a frame is served (and while the connection
	// is set up and ended): it keeps frames in order and guards the
	// fields below, which only frame handlers use.
	readMu  sync.Mutex
	pending bool // counted in srv.pending until login
	stopped bool // no more frames are served: a close has started, or the connection ended
	// goBack is the client message id of a send refused because the
	// server was overloaded: every later send is refused too until it
	// comes again.
	goBack string
	// refusals counts the connection's sends the commit queue refused in a
	// row (a send it took resets it); hint is the retry hint told with the
	// last refusal (see overloaded).
	refusals int
	hint     time.Duration

	// Set by login before loggedIn is stored; read-only afterwards.
	appID, userID, deviceID string
	creds                   *tenant.Credentials
	secret                  string // the app secret that signed the token
	issuedAt, expiresAt     time.Time
	connectedAt             time.Time // when the login was accepted
	sendLim                 *rate.Limiter
	expiry                  *time.Timer // closes the session when its token expires
	loggedIn                atomic.Bool

	timer     *time.Timer     // login deadline, then heartbeat deadline
	frameLim  *rate.Limiter   // all frames after login, against floods
	inflight  chan struct{}   // semaphore of in-flight requests
	order     messaging.Order // keeps moderated sends in frame order
	tasks     sync.WaitGroup
	draining  atomic.Bool   // shutting down: refuse new sends
	sentClose atomic.Bool   // a WebSocket Close frame has been written
	tooBig    atomic.Bool   // a message over the read limit came: the bytes after it are dropped
	written   atomic.Uint64 // writes of output to the socket, by the engine (see stallCheck)
	quit      chan struct{} // closed when the connection starts closing
	closed    chan struct{} // closed when the close (frame and handshake) is done
	flushed   chan struct{} // closed by flushBatch when a flushing close has drained the queue
	gone      chan struct{} // closed when the socket has closed

	roomsMu sync.Mutex          // guards rooms
	rooms   map[string]struct{} // ids of the chat rooms joined

	mu       sync.Mutex // guards the fields below
	out      []outFrame
	outBytes int
	closing  bool // a close has started (or the connection ended); no more frames
	flushing bool // the close waits for the queue to drain
	writing  bool // scheduled with the flushers (or being written): out drains
	// lazyArmed: the connection waits in the flushers' lazy line (only
	// lazy frames were queued since it was last written).
	lazyArmed bool
	stall     *time.Timer // runs stallCheck writeTimeout after the last batch written
	seen      uint64      // written, when the last batch ended or stallCheck last looked
}

// serveConn upgrades an HTTP request to a client connection, hands its
// socket to the event loop and returns.
func (s *Server) serveConn(w http.ResponseWriter, r *http.Request) {
	addr := s.clientAddr(r)
	pending := s.limitedAddr(addr)
	if pending && !s.pending.add(addr) {
		s.metrics.RateLimited(telemetry.LimitLogin)
		w.Header().Set("Retry-After", "1")
		http.Error(w, "too many connections from this address are waiting to log in", http.StatusTooManyRequests)
		return
	}
	if err := s.ws.start(); err != nil {
		if pending {
			s.pending.done(addr)
		}
		if errors.Is(err, errEngineStopped) {
			s.refuseShutdown(w, r)
			return
		}
		s.log.ErrorContext(r.Context(), "accept websocket", "err", err)
		http.Error(w, "not accepting connections", http.StatusServiceUnavailable)
		return
	}
	c := &conn{
		srv: s, session: httpx.NewID("ses_"), origin: r.Header.Get("Origin"),
		addr: addr, pending: pending,
		frameLim: rate.NewLimiter(maxFrameRate, 2*maxFrameRate),
		inflight: make(chan struct{}, maxInflight),
		quit:     make(chan struct{}),
		closed:   make(chan struct{}),
		flushed:  make(chan struct{}),
		gone:     make(chan struct{}),
	}
	// The connection's context drops the upgrade request's span: the
	// connection outlives it, and its sends are not part of its trace.
	c.ctx, c.cancel = context.WithCancel(trace.ContextWithSpanContext(context.WithoutCancel(r.Context()), trace.SpanContext{}))
	// Frames that arrive before the connection is set up wait for it.
	c.readMu.Lock()
	defer c.readMu.Unlock()
	subprotocol := chooseSubprotocol(r, wire.Subprotocols())
	// Tracked before the client can see the upgrade: a Shutdown that
	// begins once it has waits for this connection's close.
	s.hub.track(c)
	// The 101 response carries the headers set so far (X-Request-Id), and
	// announces a login carried by the request, so that the client waits
	// for its LoginResult instead of sending a Login.
	hl := headerLogin(r)
	if hl != nil {
		w.Header().Set("Magpie-Login", "headers")
	}
	u := s.ws.upgrader(c, subprotocol)
	// The 101 of a login by headers goes out with the connection's first
	// write, the LoginResult (or a Close frame), in one segment: a write
	// on loopback costs about 6 µs (docs/benchmarks.md, "A login's
	// socket writes").
	u.DeferResponse = hl != nil
	ws, err := u.UpgradeAndTransferConnToPoller(hijackUnwrapper{w}, r, w.Header())
	if err != nil {
		// The upgrader has answered the request (or closed the socket).
		c.notPending()
		c.stopped = true
		c.cancel()
		s.hub.untrack(c)
		return
	}
	c.ws = ws
	ws.SetSession(c) // for the engine's count of writes (see newWSEngine)
	if nc, ok := ws.Conn.(*nbio.Conn); ok {
		nc.OnData(func(nc *nbio.Conn, data []byte) { c.onData(ws, nc, data) })
	}
	codec, ok := wire.CodecFor(subprotocol)
	if !ok {
		c.notPending()
		c.stopped = true
		c.mu.Lock()
		c.closing = true
		c.mu.Unlock()
		close(c.quit)
		go func() {
			defer close(c.closed)
			c.closeHandshake(wire.CloseUnsupportedSubprotocol, "use subprotocol magpie.v1.proto or magpie.v1.json")
		}()
		return
	}
	c.codec = codec
	c.msgType = websocket.TextMessage
	if codec.Binary() {
		c.msgType = websocket.BinaryMessage
	}
	if !s.hub.ready(c) {
		// Shutting down: the same Close frame and code as for connections
		// that were already open.
		c.notPending()
		c.stopped = true
		c.closeAsync(wire.CloseServerShutdown, "server shutting down")
		return
	}
	c.timer = time.AfterFunc(s.cfg.LoginTimeout, c.deadlinePassed)
	if hl != nil {
		// Frames the client sends meanwhile wait for the login (readMu).
		if code, reason := c.logIn(c.ctx, 0, hl); code != 0 {
			c.stopped = true
			c.notPending()
			c.closeAsync(code, reason)
		}
	}
}

// hijackUnwrapper gives the upgrader the TCP connection under one that
// the front handed to net/http (see unwrapFrontConn).
type hijackUnwrapper struct{ http.ResponseWriter }

func (w hijackUnwrapper) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	hj, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("the response writer cannot hijack its connection")
	}
	c, rw, err := hj.Hijack()
	if err != nil {
		return nil, nil, err
	}
	return unwrapFrontConn(c), rw, nil
}

// headerLogin returns the login an upgrade request carries, or nil: a
// bearer token in Authorization, with the Login frame's other fields in
// Magpie-Device-Id, Magpie-Platform and Magpie-Sdk-Version. A client that
// can set request headers saves the Login frame's round trip.
func headerLogin(r *http.Request) *magpiev1.Login {
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	if !strings.EqualFold(scheme, "bearer") {
		return nil // none, or another scheme (a proxy's, say)
	}
	return &magpiev1.Login{
		Token:      strings.TrimSpace(tok),
		DeviceId:   r.Header.Get("Magpie-Device-Id"),
		Platform:   r.Header.Get("Magpie-Platform"),
		SdkVersion: r.Header.Get("Magpie-Sdk-Version"),
	}
}

// refuseShutdown answers an upgrade that comes after the event loop has
// stopped (the server has shut down) with the Close frame and code that
// the connections open then got: the socket is upgraded and closed on the
// request's goroutine.
func (s *Server) refuseShutdown(w http.ResponseWriter, r *http.Request) {
	subprotocol := chooseSubprotocol(r, wire.Subprotocols())
	u := websocket.NewUpgrader()
	u.Engine = s.ws.eng
	u.CheckOrigin = func(*http.Request) bool { return true }
	if subprotocol != "" {
		u.Subprotocols = []string{subprotocol}
	}
	u.KeepaliveTime = 0
	u.BlockingModAsyncWrite = false
	ws, err := u.UpgradeWithoutHandlingReadForConnFromSTDServer(w, r, nil)
	if err != nil {
		return // the upgrader has answered the request
	}
	const reason = "server shutting down"
	if codec, ok := wire.CodecFor(subprotocol); ok {
		if b, err := codec.Marshal(&magpiev1.Frame{Body: &magpiev1.Frame_Close{Close: &magpiev1.Close{
			Code: int32(wire.CloseServerShutdown), Reason: reason,
		}}}); err == nil {
			typ := websocket.TextMessage
			if codec.Binary() {
				typ = websocket.BinaryMessage
			}
			_ = ws.WriteMessage(typ, b)
		}
	}
	_ = ws.WriteClose(int(wire.CloseServerShutdown), reason)
	_ = ws.Close()
}

// end releases a connection whose socket has closed, once every goroutine
// it started (writers, in-flight requests, close) has finished. It runs on
// a goroutine of its own, started by the socket's close.
func (c *conn) end() {
	c.mu.Lock()
	closing := c.closing
	c.closing = true
	c.mu.Unlock()
	close(c.gone)
	if closing {
		<-c.closed // let the close goroutine finish
	}
	c.cancel() // ends the requests in flight, and a handler waiting for room
	c.readMu.Lock()
	c.stopped = true
	c.notPending()
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.expiry != nil {
		c.expiry.Stop()
	}
	c.readMu.Unlock()
	if c.loggedIn.Load() {
		c.srv.hub.unregister(c)
	}
	c.tasks.Wait()
	c.mu.Lock()
	if c.stall != nil { // no writer starts any more: the connection is closing
		c.stall.Stop()
	}
	c.mu.Unlock()
	c.srv.hub.untrack(c)
}

// notPending uncounts the connection from its address's sockets waiting to
// log in, once. c.readMu must be held.
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

// onData parses bytes read from the socket, serving the messages they
// complete. A message over the read limit is answered with a Close frame
// (1009) by the parser; the bytes after it are dropped while the client
// answers, and the socket is closed closeTimeout later at most. Any other
// parse error closes the socket at once.
func (c *conn) onData(ws *websocket.Conn, nc *nbio.Conn, data []byte) {
	if c.tooBig.Load() {
		return
	}
	err := ws.Parse(data)
	switch {
	case err == nil:
	case errors.Is(err, websocket.ErrMessageTooLarge), errors.Is(err, websocket.ErrControlMessageTooBig):
		if c.tooBig.Swap(true) {
			return
		}
		c.sentClose.Store(true)
		time.AfterFunc(closeTimeout, func() { _ = nc.Close() })
	default:
		_ = nc.CloseWithError(err)
	}
}

// onFrame serves one WebSocket message, unless the connection has stopped
// serving frames.
func (c *conn) onFrame(data []byte) {
	c.readMu.Lock()
	defer c.readMu.Unlock()
	if c.stopped {
		return
	}
	if !c.serveFrame(data) {
		// Closing: the socket no longer waits to log in.
		c.stopped = true
		c.notPending()
	}
}

// serveFrame serves one WebSocket message; it reports false when the
// connection is closing and serves no more frames. c.readMu must be held.
func (c *conn) serveFrame(data []byte) bool {
	ctx := c.ctx
	c.srv.metrics.FramesIn(1)
	if c.loggedIn.Load() {
		c.timer.Reset(c.srv.heartbeatTimeout())
	}
	f, err := wire.Decode(c.codec, data, len(data))
	switch {
	case errors.Is(err, wire.ErrEmpty):
		// A body this server does not know (a newer client's, say).
		c.reply(wire.ErrorFrame(f.GetId(), wire.CodeInvalidFrame, "frame has no body this server knows"))
		return true
	case errors.Is(err, wire.ErrUnknownField):
		// JSON names a field this server does not know: refuse the
		// request rather than act on part of it, as for an unknown
		// body; the frame itself was sound.
		c.reply(wire.ErrorFrame(f.GetId(), wire.CodeInvalidFrame, truncateReason(err.Error())))
		return true
	case err != nil:
		// A frame we cannot parse means the client is broken; the
		// connection state can no longer be trusted.
		c.closeAsync(wire.CloseProtocolError, err.Error())
		return false
	case f.GetId() == 0:
		// Id 0 marks the server's pushes; a reply to it could not be
		// told from one.
		c.reply(wire.ErrorFrame(0, wire.CodeInvalidFrame, "request id 0 is reserved for pushes; number requests from 1"))
		return true
	}
	if !c.loggedIn.Load() {
		if code, reason := c.beforeLogin(ctx, f); code != 0 {
			c.closeAsync(code, reason)
			return false
		}
		return true
	}
	c.handle(ctx, f)
	return true
}

// beforeLogin handles a frame of a connection that has not logged in. It
// returns a close code to end the connection.
func (c *conn) beforeLogin(ctx context.Context, f *magpiev1.Frame) (wire.CloseCode, string) {
	l := f.GetLogin()
	if l == nil {
		c.reply(wire.ErrorFrame(f.GetId(), wire.CodeNotLoggedIn, "the first frame must be login"))
		return 0, ""
	}
	return c.logIn(ctx, f.GetId(), l)
}

// logIn serves a login, from a Login frame with request id id or from the
// upgrade request's headers (id 0), and answers it with a LoginResult. It
// returns a close code to end the connection. It runs on a socket reader,
// which read the frame or runs the upgrade (see Server.ServeHTTP).
func (c *conn) logIn(ctx context.Context, id uint64, l *magpiev1.Login) (wire.CloseCode, string) {
	ctx, span := c.loginSpan(ctx)
	code, reason := c.login(ctx, l)
	c.endLogin(span, code)
	if code != 0 {
		c.srv.metrics.Login(code.String())
		return code, reason
	}
	c.srv.metrics.Login("ok")
	c.notPending()
	c.ws.MessageLengthLimit = c.frameLimit()
	c.timer.Reset(c.srv.heartbeatTimeout())
	c.reply(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_LoginResult{LoginResult: &magpiev1.LoginResult{
		UserId: c.userID, SessionId: c.session, ServerTimeMs: c.srv.now().UnixMilli(),
		HeartbeatIntervalMs: c.srv.cfg.HeartbeatInterval.Milliseconds(),
		MaxMessageBytes:     int64(c.creds.Limits.MaxMessageBytes),
	}}})
	return 0, ""
}

// frameLimit is the largest frame accepted after login: the largest message
// content, with room for JSON escaping and the envelope.
func (c *conn) frameLimit() int {
	n := c.creds.Limits.MaxMessageBytes
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
	// lazy marks a frame nobody waits on (a delivery or read receipt, the
	// Ok to a DeliverAck) or that may wait a little (a message to a large
	// group, messaging.Delivery.Bulk): queued alone, it waits up to
	// lazyDelay for other output to the connection, and goes out in the
	// same socket write as that (see flushers.later).
	lazy bool
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

// replyLazy queues a reply nobody waits on (outFrame.lazy).
func (c *conn) replyLazy(f *magpiev1.Frame) {
	b, err := c.codec.Marshal(f)
	if err != nil {
		c.srv.log.Error("encode frame", "err", err, "conn_id", c.session)
		return
	}
	c.queueFrame(outFrame{b: b, lazy: true})
}

// queueFrame adds an encoded frame to the outbound queue, scheduling the
// connection with the flushers unless it is already. A
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
	if c.out == nil {
		c.out = getOutQueue()
	}
	c.out = append(c.out, f)
	c.outBytes += len(b)
	switch {
	case !f.lazy:
		c.startWriterLocked()
	case !c.writing && !c.lazyArmed:
		c.lazyArmed = true
		c.srv.ws.flush.later(c)
	}
	c.mu.Unlock()
	return true
}

// flushLazy schedules the connection's output with the flushers if lazy
// frames still wait (no other output took them along). The flushers call
// it at most lazyDelay after its first lazy frame was queued (flushers.later).
func (c *conn) flushLazy() {
	c.mu.Lock()
	c.lazyArmed = false
	if !c.closing && len(c.out) > 0 {
		c.startWriterLocked()
	}
	c.mu.Unlock()
}

// startWriterLocked schedules the connection's output with the flushers
// unless it is scheduled. c.mu must be held, and c.closing must have been
// false when the frame was queued or the close started (end's Wait comes
// after).
func (c *conn) startWriterLocked() {
	if c.writing {
		return
	}
	c.writing = true
	c.tasks.Add(1)
	c.srv.ws.flush.add(c)
}

// flushBatch writes the frames queued for the connection in one go, and
// reports whether more were queued meanwhile (the connection stays
// scheduled); if not, or if the write failed, the connection's writer is
// done. Consecutive Deliver (or RoomMessages) pushes go out as one
// WebSocket message (one write instead of one per frame). Writes do not
// block: what the socket does not take at once waits in the engine, which
// closes the connection when that passes Config.MaxOutboundBytes; and
// stallCheck closes it when output waits and none of it has reached the
// socket for writeTimeout. out and merged are the caller's buffers, and
// returned grown.
func (c *conn) flushBatch(out, merged []byte) ([]byte, []byte, bool) {
	c.mu.Lock()
	batch := c.out
	c.out, c.outBytes = nil, 0
	c.mu.Unlock()
	out = out[:0]
	writes := 0
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
		out = appendWSFrame(out, c.msgType, msg)
		if len(out) >= maxWriteChunk || i+1 == len(batch) {
			if !c.write(out) {
				c.tasks.Done()
				return out, merged, false
			}
			writes++
			out = out[:0]
		}
	}
	n := len(batch)
	if n > 0 {
		c.srv.metrics.FramesOut(n, writes)
	}
	putOutQueue(batch)
	c.mu.Lock()
	if n > 0 {
		c.seen = c.written.Load()
		if c.stall == nil {
			c.stall = time.AfterFunc(writeTimeout, c.stallCheck)
		} else {
			c.stall.Reset(writeTimeout)
		}
	}
	if len(c.out) > 0 {
		c.mu.Unlock()
		return out, merged, true
	}
	c.writing = false
	done := c.flushing
	c.mu.Unlock()
	if done {
		close(c.flushed)
	}
	c.tasks.Done()
	return out, merged, false
}

// stallCheck runs writeTimeout after the last batch was written, and
// closes the connection if output is still waiting for the client then and
// none has reached the socket since the last look: a client that reads,
// however slowly, is looked at again writeTimeout later. The engine
// closes a socket whose write deadline passes with output waiting, and a
// write of nothing clears the deadline when none is.
func (c *conn) stallCheck() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.writing {
		return // the writer checks again after its batch
	}
	if w := c.written.Load(); w != c.seen {
		c.seen = w
		c.stall.Reset(writeTimeout)
		return
	}
	_ = c.ws.SetWriteDeadline(time.Now().Add(time.Millisecond))
	_, _ = c.ws.Conn.Write(nil)
}

// maxWriteChunk bounds the encoded frames the writer joins into one
// socket write.
const maxWriteChunk = 64 << 10

// outQueues holds outbound queues (conn.out) between bursts: a
// connection takes one when a frame is queued to it with none waiting,
// and its writer gives it back once the frames are written, so that an
// idle connection holds none and a busy one does not grow a new one for
// every burst (in a 1,000-member group at 250,000 deliveries/s, that
// growth was over a quarter of what the server allocated).
var outQueues = sync.Pool{New: func() any { return new([]outFrame) }}

func getOutQueue() []outFrame { return (*outQueues.Get().(*[]outFrame))[:0] }

// putOutQueue returns q to outQueues, emptied, unless a burst made it
// longer than maxPooledOutFrames.
func putOutQueue(q []outFrame) {
	if cap(q) == 0 || cap(q) > maxPooledOutFrames {
		return
	}
	clear(q) // holds no frame's bytes
	q = q[:0]
	outQueues.Put(&q)
}

const maxPooledOutFrames = 1024

// writeBufs holds the writers' buffers between bursts, so that an idle
// connection holds none and a busy one does not allocate its own each time
// its writer starts.
var writeBufs = sync.Pool{New: func() any { return new([]byte) }}

func getWriteBuf() []byte { return (*writeBufs.Get().(*[]byte))[:0] }

// putWriteBuf returns b to writeBufs, unless a burst made it bigger than
// a write chunk is.
func putWriteBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 2*maxWriteChunk {
		return
	}
	b = b[:0]
	writeBufs.Put(&b)
}

// appendWSFrame appends msg to dst as one unmasked, unfragmented WebSocket
// data frame of type typ, as a server sends it (RFC 6455 section 5.2).
func appendWSFrame(dst []byte, typ websocket.MessageType, msg []byte) []byte {
	dst = append(dst, 0x80|byte(typ)) // FIN, opcode
	switch n := len(msg); {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xffff:
		dst = append(dst, 126)
		dst = binary.BigEndian.AppendUint16(dst, uint16(n))
	default:
		dst = append(dst, 127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	return append(dst, msg...)
}

// write writes encoded WebSocket frames (appendWSFrame) to the socket in
// one call: the frames of a batch cost one system call, not one each. The
// engine's own writes (control frames) are whole frames too, each one
// call under the socket's lock, so none lands inside these. On failure it
// closes the connection, marks the writer stopped and reports false.
func (c *conn) write(frames []byte) bool {
	_, err := c.ws.Conn.Write(frames)
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
		_ = c.ws.Close()
		close(c.closed)
		return
	}
	// Owned by end, which waits for c.closed once the socket has closed.
	go func() {
		defer close(c.closed)
		if flush {
			t := time.NewTimer(closeTimeout)
			select {
			case <-c.flushed:
			case <-c.gone:
			case <-t.C:
			}
			t.Stop()
		} else if err == nil {
			_ = c.ws.WriteMessage(c.msgType, b)
		}
		c.closeHandshake(code, reason)
	}()
}

// closeHandshake writes a WebSocket Close frame with code and reason, waits
// up to closeTimeout for the client's (on which the engine closes the
// socket), and closes the socket.
func (c *conn) closeHandshake(code wire.CloseCode, reason string) {
	c.sentClose.Store(true)
	if c.ws.WriteClose(int(code), reason) == nil {
		t := time.NewTimer(closeTimeout)
		select {
		case <-c.gone:
		case <-t.C:
		}
		t.Stop()
	}
	_ = c.ws.Close()
}

// peerClosed answers the client's WebSocket Close frame with one of the
// same code, unless the server's was sent first; the engine closes the
// socket next.
func (c *conn) peerClosed(ws *websocket.Conn, code int) {
	if c.sentClose.Swap(true) {
		return
	}
	if code == 1005 { // no status
		_ = ws.WriteMessage(websocket.CloseMessage, nil)
		return
	}
	_ = ws.WriteClose(code, "")
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
