package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

const (
	// readLimit bounds a received frame. The gateway never queues more
	// than 8 MiB for a connection, so no valid frame is larger.
	readLimit = 16 << 20
	// pageBytes is the budget for one page of messages: page sizes are
	// chosen so that a page of largest messages fits in it.
	pageBytes = 4 << 20
	// maxPage is the largest page the server returns.
	maxPage = 200
)

// replyFunc receives the reply to a request, on the session's reader
// goroutine. It must not block.
type replyFunc func(*magpiev1.Frame)

// session is one logged-in WebSocket connection. Its reader goroutine
// dispatches replies to their requests and pushes to the client; requests
// are written by any goroutine (the WebSocket serialises writes).
type session struct {
	ws             *websocket.Conn
	codec          wire.Codec
	msgType        websocket.MessageType
	info           Session
	requestTimeout time.Duration
	// abort ends the session with a cause, so that the client reconnects;
	// set by serve before the session's goroutines start.
	abort context.CancelCauseFunc

	lastID  atomic.Uint64 // request ids; 1 was the login
	heardAt atomic.Int64  // when the reader last got a frame, in Unix nanoseconds
	done    chan struct{} // closed when the reader has stopped
	mu      sync.Mutex    // guards waiters and closed
	waiters map[uint64]replyFunc
	closed  bool
}

// dial opens a WebSocket to the server and logs in with tok.
func (c *Client) dial(ctx context.Context, tok string) (*session, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.RequestTimeout)
	defer cancel()
	codec := c.cfg.Encoding.codec()
	ws, resp, err := websocket.Dial(ctx, c.url, &websocket.DialOptions{
		HTTPClient:   c.cfg.HTTPClient,
		HTTPHeader:   loginHeaders(tok, c.cfg),
		Subprotocols: []string{codec.Subprotocol()},
	})
	if resp != nil && resp.Body != nil {
		resp.Body.Close() // the handshake response has no body to read
	}
	if err != nil {
		return nil, fmt.Errorf("dial: %w", err)
	}
	// A server that logs in from the request's headers says so; an older
	// one waits for the Login frame.
	byHeaders := resp.Header.Get("Magpie-Login") == "headers"
	if ws.Subprotocol() != codec.Subprotocol() {
		ws.CloseNow()
		return nil, &CloseError{Code: wire.CloseUnsupportedSubprotocol, Reason: "server did not accept " + codec.Subprotocol()}
	}
	ws.SetReadLimit(readLimit)
	s := &session{
		ws: ws, codec: codec, msgType: websocket.MessageText, requestTimeout: c.cfg.RequestTimeout,
		done: make(chan struct{}), waiters: make(map[uint64]replyFunc),
	}
	if codec.Binary() {
		s.msgType = websocket.MessageBinary
	}
	if err := s.login(ctx, tok, c.cfg, byHeaders); err != nil {
		ws.CloseNow()
		return nil, err
	}
	return s, nil
}

// loginHeaders returns the upgrade request's headers that log in with tok
// (docs/protocol.md, "Connection lifecycle"), saving the Login frame's
// round trip; nil when a field could not travel in a header unchanged (a
// device id with control characters, or spaces at its ends, which HTTP
// trims): the Login frame carries it then.
func loginHeaders(tok string, cfg Config) http.Header {
	for _, v := range []string{tok, cfg.DeviceID, cfg.Platform} {
		if !headerSafe(v) {
			return nil
		}
	}
	h := http.Header{}
	h.Set("Authorization", "Bearer "+tok)
	h.Set("Magpie-Device-Id", cfg.DeviceID)
	h.Set("Magpie-Platform", cfg.Platform)
	h.Set("Magpie-Sdk-Version", "magpie-go/"+Version)
	return h
}

// headerSafe reports whether v is a header value that arrives as it was
// sent: no control characters and no white space at either end.
func headerSafe(v string) bool {
	if strings.TrimSpace(v) != v {
		return false
	}
	for i := range len(v) {
		if b := v[i]; b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}

// login logs in and reads until the LoginResult: it sends the Login frame
// unless the upgrade request's headers carried the login (byHeaders).
func (s *session) login(ctx context.Context, tok string, cfg Config, byHeaders bool) error {
	s.lastID.Store(1)
	if !byHeaders {
		err := s.write(&magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
			Token: tok, DeviceId: cfg.DeviceID, Platform: cfg.Platform, SdkVersion: "magpie-go/" + Version,
		}}})
		if err != nil {
			return err
		}
	}
	var closing *magpiev1.Close
	for {
		f, err := s.read(ctx)
		if err != nil {
			return closeErr(closing, fmt.Errorf("login: %w", err))
		}
		switch b := f.GetBody().(type) {
		case *magpiev1.Frame_LoginResult:
			r := b.LoginResult
			s.info = Session{
				UserID: r.GetUserId(), SessionID: r.GetSessionId(),
				ServerTime:        time.UnixMilli(r.GetServerTimeMs()),
				HeartbeatInterval: time.Duration(r.GetHeartbeatIntervalMs()) * time.Millisecond,
				MaxMessageBytes:   int(r.GetMaxMessageBytes()),
			}
			return nil
		case *magpiev1.Frame_Close:
			closing = b.Close
		case *magpiev1.Frame_Error:
			if f.GetId() == 1 {
				return errorOf(b.Error)
			}
		}
	}
}

// read reads and decodes one frame.
func (s *session) read(ctx context.Context) (*magpiev1.Frame, error) {
	_, data, err := s.ws.Read(ctx)
	if err != nil {
		return nil, err
	}
	f, err := wire.Decode(s.codec, data, readLimit)
	if errors.Is(err, wire.ErrUnknownField) {
		// A newer server's field (JSON only; the binary encoding skips
		// them): use the frame without it.
		return f, nil
	}
	if err != nil {
		return nil, fmt.Errorf("decode frame: %w", err)
	}
	return f, nil
}

// write encodes and writes one frame. Writes are bounded by the request
// timeout, not by a caller's context: the WebSocket closes the connection
// when a write's context ends.
func (s *session) write(f *magpiev1.Frame) error {
	b, err := s.codec.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode %s frame: %w", wire.BodyName(f), err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.requestTimeout)
	defer cancel()
	if err := s.ws.Write(ctx, s.msgType, b); err != nil {
		return fmt.Errorf("write %s frame: %w: %w", wire.BodyName(f), errConnLost, err)
	}
	return nil
}

// pusher receives the server's unsolicited frames, on the reader
// goroutine. Its methods must not block.
type pusher interface {
	onDeliver(s *session, msgs []*magpiev1.Message)
	onReceipt(s *session, r *magpiev1.Receipt)
	onTyping(s *session, t *magpiev1.TypingEvent)
	onServerError(s *session, e *magpiev1.Error)
}

// roomPusher receives the room pushes, on the reader goroutine.
type roomPusher interface {
	onRoomPush(s *session, f *magpiev1.Frame)
}

// readLoop reads frames until the connection fails or ctx ends, and
// returns why the connection ended.
func (s *session) readLoop(ctx context.Context, p pusher) error {
	defer s.stop()
	var closing *magpiev1.Close
	for {
		f, err := s.read(ctx)
		if err != nil {
			return closeErr(closing, err)
		}
		s.heardAt.Store(time.Now().UnixNano())
		if id := f.GetId(); id != 0 {
			s.mu.Lock()
			fn := s.waiters[id]
			delete(s.waiters, id)
			s.mu.Unlock()
			if fn != nil {
				fn(f)
			}
			continue
		}
		switch b := f.GetBody().(type) {
		case *magpiev1.Frame_Deliver:
			p.onDeliver(s, b.Deliver.GetMessages())
		case *magpiev1.Frame_Receipt:
			p.onReceipt(s, b.Receipt)
		case *magpiev1.Frame_TypingEvent:
			p.onTyping(s, b.TypingEvent)
		case *magpiev1.Frame_ReactionUpdate:
			if rp, ok := p.(interface {
				onReaction(*session, *magpiev1.ReactionUpdate)
			}); ok {
				rp.onReaction(s, b.ReactionUpdate)
			}
		case *magpiev1.Frame_UserPresence:
			if pp, ok := p.(interface {
				onPresence(*session, *magpiev1.UserPresence)
			}); ok {
				pp.onPresence(s, b.UserPresence)
			}
		case *magpiev1.Frame_RoomMessages, *magpiev1.Frame_RoomMemberCount, *magpiev1.Frame_RoomLeft:
			if rp, ok := p.(roomPusher); ok {
				rp.onRoomPush(s, f)
			}
		case *magpiev1.Frame_Error:
			p.onServerError(s, b.Error)
		case *magpiev1.Frame_Close:
			closing = b.Close
		}
	}
}

// stop marks the session closed, so that requests fail with errConnLost.
func (s *session) stop() {
	s.mu.Lock()
	s.closed = true
	clear(s.waiters)
	s.mu.Unlock()
	close(s.done)
}

// closeErr returns the error for a connection that ended with err, after
// the server's Close frame c (nil if none came).
func closeErr(c *magpiev1.Close, err error) error {
	if c != nil {
		return &CloseError{Code: wire.CloseCode(c.GetCode()), Reason: c.GetReason()}
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) && ce.Code >= 4000 && ce.Code < 5000 {
		return &CloseError{Code: wire.CloseCode(ce.Code), Reason: ce.Reason}
	}
	return fmt.Errorf("%w: %w", errConnLost, err)
}

// newID returns a new request id.
func (s *session) newID() uint64 { return s.lastID.Add(1) }

// send sends a request with the given id, from newID, and has fn called
// with its reply.
func (s *session) send(id uint64, f *magpiev1.Frame, fn replyFunc) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errConnLost
	}
	s.waiters[id] = fn
	s.mu.Unlock()
	if err := s.write(&magpiev1.Frame{Id: id, Body: f.GetBody()}); err != nil {
		s.cancel(id)
		return err
	}
	return nil
}

// cancel forgets the request with the given id; a late reply is ignored.
func (s *session) cancel(id uint64) {
	s.mu.Lock()
	delete(s.waiters, id)
	s.mu.Unlock()
}

// call sends a request and waits for its reply, for at most the request
// timeout. An Error reply is returned as a *Error.
func (s *session) call(ctx context.Context, f *magpiev1.Frame) (*magpiev1.Frame, error) {
	ch := make(chan *magpiev1.Frame, 1)
	id := s.newID()
	if err := s.send(id, f, func(r *magpiev1.Frame) { ch <- r }); err != nil {
		return nil, err
	}
	defer s.cancel(id)
	t := time.NewTimer(s.requestTimeout)
	defer t.Stop()
	select {
	case r := <-ch:
		if e := r.GetError(); e != nil {
			return nil, errorOf(e)
		}
		return r, nil
	case <-s.done:
		return nil, errConnLost
	case <-t.C:
		return nil, fmt.Errorf("%s: %w", wire.BodyName(f), errRequestTimeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// heartbeat pings the server every heartbeat interval until ctx ends. It
// returns an error when a ping goes unanswered and nothing else came from
// the server meanwhile: the connection is dead. A ping answered late while
// other frames arrive is not a dead connection: the server reads a burst
// of sends at its send rate (it stops reading meanwhile), and the ping
// waits behind them. It returns nil when the connection is lost, which the
// reader reports.
func (s *session) heartbeat(ctx context.Context) error {
	interval := s.info.HeartbeatInterval
	if interval <= 0 {
		interval = 25 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	ping := &magpiev1.Frame{Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		_, err := s.call(ctx, ping)
		switch {
		case err == nil:
		case ctx.Err() != nil || errors.Is(err, errConnLost):
			return nil
		case errors.Is(err, errRequestTimeout) && s.heardWithin(s.requestTimeout):
		default:
			return fmt.Errorf("heartbeat: %w", err)
		}
	}
}

// heardWithin reports whether the reader got a frame within the last d.
func (s *session) heardWithin(d time.Duration) bool {
	return time.Since(time.Unix(0, s.heardAt.Load())) < d
}

// pageLimit returns how many messages to ask for per page, so that a page
// of the largest messages stays within pageBytes.
func (s *session) pageLimit() int32 {
	per := max(s.info.MaxMessageBytes, 1)
	if !s.codec.Binary() {
		per *= 6 // JSON escapes
	}
	return int32(min(max(pageBytes/per, 1), maxPage))
}

func errorOf(e *magpiev1.Error) *Error {
	return &Error{Code: e.GetCode(), Message: e.GetMessage(), Retryable: e.GetRetryable(), Reason: e.GetReason()}
}
