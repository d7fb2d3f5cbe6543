package gateway

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
	"golang.org/x/time/rate"

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
	writeTimeout    = 10 * time.Second
	closeTimeout    = 2 * time.Second
)

// conn is one client WebSocket. Its reader runs on the HTTP handler's
// goroutine; a writer goroutine drains the outbound queue; in-flight sends
// wait for their commit on their own goroutines (at most maxInflight).
type conn struct {
	gw      *Gateway
	ws      *websocket.Conn
	codec   wire.Codec
	msgType websocket.MessageType
	session string
	origin  string

	// Set by login on the reader goroutine before loggedIn is stored;
	// read-only afterwards.
	appID, userID, deviceID string
	creds                   *tenant.Credentials
	issuedAt                time.Time
	sendLim                 *rate.Limiter
	loggedIn                atomic.Bool

	timer    *time.Timer   // login deadline, then heartbeat deadline
	inflight chan struct{} // semaphore of in-flight requests
	wake     chan struct{} // capacity 1: the outbound queue is not empty
	done     chan struct{} // closed when the reader has stopped
	closed   chan struct{} // closed when closeAsync has finished the close handshake

	mu       sync.Mutex // guards the fields below
	out      [][]byte
	outBytes int
	closing  bool
}

// serveConn upgrades an HTTP request to a client connection and serves it
// until it closes.
func (g *Gateway) serveConn(w http.ResponseWriter, r *http.Request) {
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: wire.Subprotocols(),
		// Origins are checked against the app's allow-list at login, when
		// the app is known.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		return // Accept has answered the request
	}
	codec, ok := wire.CodecFor(ws.Subprotocol())
	if !ok {
		ws.Close(websocket.StatusCode(wire.CloseUnsupportedSubprotocol), "use subprotocol magpie.v1.proto or magpie.v1.json")
		return
	}
	c := &conn{
		gw: g, ws: ws, codec: codec, session: newID("ses_"), origin: r.Header.Get("Origin"),
		msgType:  websocket.MessageText,
		inflight: make(chan struct{}, maxInflight),
		wake:     make(chan struct{}, 1),
		done:     make(chan struct{}),
		closed:   make(chan struct{}),
	}
	if codec.Binary() {
		c.msgType = websocket.MessageBinary
	}
	g.hub.wg.Add(1)
	defer g.hub.wg.Done()
	c.run(r.Context())
}

func (c *conn) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	c.ws.SetReadLimit(loginFrameLimit)
	c.timer = time.AfterFunc(c.gw.cfg.LoginTimeout, c.deadlinePassed)
	defer c.timer.Stop()
	var writer sync.WaitGroup
	writer.Go(func() { c.writeLoop(ctx) })
	c.readLoop(ctx)
	c.mu.Lock()
	closing := c.closing
	c.mu.Unlock()
	if closing {
		<-c.closed // let the Close frame and close handshake finish
	}
	if c.loggedIn.Load() {
		c.gw.hub.unregister(c)
	}
	close(c.done)
	cancel()
	writer.Wait()
	c.ws.CloseNow()
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
		if c.loggedIn.Load() {
			c.timer.Reset(c.gw.heartbeatTimeout())
		}
		f, err := wire.Decode(c.codec, data, len(data))
		if err != nil {
			// A frame we cannot parse means the client is broken; the
			// connection state can no longer be trusted.
			c.closeAsync(wire.CloseProtocolError, "malformed frame: "+err.Error())
			return
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
	code, reason := c.login(ctx, l)
	if code != 0 {
		return code, reason
	}
	c.ws.SetReadLimit(c.frameLimit())
	c.timer.Reset(c.gw.heartbeatTimeout())
	c.reply(&magpiev1.Frame{Id: f.GetId(), Body: &magpiev1.Frame_LoginResult{LoginResult: &magpiev1.LoginResult{
		UserId: c.userID, SessionId: c.session, ServerTimeMs: c.gw.now().UnixMilli(),
		HeartbeatIntervalMs: c.gw.cfg.HeartbeatInterval.Milliseconds(),
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
		c.gw.log.Error("encode frame", "err", err, "conn_id", c.session)
		return
	}
	c.queue(b)
}

// queue adds an encoded frame to the outbound queue. A connection whose
// queue is full is closed (slow consumer) and queue reports false.
func (c *conn) queue(b []byte) bool {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return false
	}
	if len(c.out) >= maxOutFrames || c.outBytes+len(b) > c.gw.cfg.MaxOutboundBytes {
		c.mu.Unlock()
		c.closeAsync(wire.CloseSlowConsumer, "outbound queue full")
		return false
	}
	c.out = append(c.out, b)
	c.outBytes += len(b)
	c.mu.Unlock()
	select {
	case c.wake <- struct{}{}:
	default:
	}
	return true
}

func (c *conn) writeLoop(ctx context.Context) {
	for {
		select {
		case <-c.wake:
		case <-ctx.Done():
			return
		}
		c.mu.Lock()
		batch := c.out
		c.out, c.outBytes = nil, 0
		c.mu.Unlock()
		for _, b := range batch {
			wctx, cancel := context.WithTimeout(ctx, writeTimeout)
			err := c.ws.Write(wctx, c.msgType, b)
			cancel()
			if err != nil {
				if !errors.Is(err, context.Canceled) {
					c.closeAsync(wire.CloseSlowConsumer, "write failed")
				}
				return
			}
		}
	}
}

// closeAsync sends a Close frame and closes the WebSocket with code, once,
// without blocking the caller.
func (c *conn) closeAsync(code wire.CloseCode, reason string) {
	c.mu.Lock()
	if c.closing {
		c.mu.Unlock()
		return
	}
	c.closing = true
	c.out = nil
	c.mu.Unlock()
	if code == wire.CloseSlowConsumer {
		// The socket is not draining, so neither would a Close frame:
		// drop the connection at once.
		c.ws.CloseNow()
		close(c.closed)
		return
	}
	c.gw.hub.wg.Go(func() {
		defer close(c.closed)
		if b, err := c.codec.Marshal(&magpiev1.Frame{Body: &magpiev1.Frame_Close{Close: &magpiev1.Close{
			Code: int32(code), Reason: reason,
		}}}); err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
			_ = c.ws.Write(ctx, c.msgType, b)
			cancel()
		}
		_ = c.ws.Close(websocket.StatusCode(code), reason)
	})
}
