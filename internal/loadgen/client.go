package loadgen

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"

	"github.com/magpie-im/magpie/internal/nbiolog"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Timeouts that bound every network step of a load client.
const (
	dialTimeout  = 15 * time.Second
	writeTimeout = 10 * time.Second
	// ackDelay is how long a recipient gathers deliveries before it
	// acknowledges them, and ackInterval the least time between two of
	// its acknowledgements, as the SDK's defaults (Config.AckDelay and
	// Config.AckInterval).
	ackDelay    = 50 * time.Millisecond
	ackInterval = 250 * time.Millisecond
	// ackIDBase starts the frame ids of DeliverAcks and Pings, apart from
	// the ids of sends (see sendID).
	ackIDBase = 1 << 62
)

// Dialer opens WebSockets from a set of loopback source addresses
// (127.0.0.2, 127.0.0.3, ...) in turn when the server is on loopback, so
// that many connections fit in the ephemeral ports of one address pair.
// Its connections share one acknowledgement timer (see acker).
//
// Its connections' sockets are read by one event loop, stopped by Close:
// the tool's own (Linux, a plain ws target on IPv4), started by the first
// login, or an nbio engine, started by the first Run.
type Dialer struct {
	// FrameLogin logs in with a Login frame after the upgrade, as a client
	// that cannot set request headers (a browser) does, instead of in the
	// upgrade request's headers, as the Go SDK does.
	FrameLogin bool

	dialers []*net.Dialer
	next    atomic.Uint64
	acks    *acker

	// onLoop: the target is a plain ws URL on an IPv4 address and the
	// tool has its own event loop here (Linux), which dials and logs in
	// from srcs (none: the system's choice) to dst (loop_linux.go).
	onLoop bool
	url    string   // the target's WebSocket URL
	wsURL  *url.URL // parsed
	dst    netip.AddrPort
	srcs   []net.IP

	mu      sync.Mutex // guards the fields below
	eng     *nbio.Engine
	lp      *loop
	stopped bool
}

// NewDialer returns a dialer for target (a server URL). sources is how many
// loopback source addresses to spread over; it is ignored unless the target
// is an IPv4 loopback address.
func NewDialer(target string, sources int) *Dialer {
	d := &Dialer{acks: &acker{}}
	u, err := url.Parse(target)
	host := ""
	if err == nil {
		host = u.Hostname()
	}
	ip := net.ParseIP(host)
	if host == "localhost" {
		ip = net.IPv4(127, 0, 0, 1)
	}
	d.url = ConnectURL(target)
	wsURL, werr := url.Parse(d.url)
	if ip4 := ip.To4(); ip4 != nil && err == nil && werr == nil && (u.Scheme == "http" || u.Scheme == "ws") && ownLoop {
		d.wsURL = wsURL
		port, perr := strconv.ParseUint(cmp.Or(u.Port(), "80"), 10, 16)
		d.onLoop = perr == nil
		d.dst = netip.AddrPortFrom(netip.AddrFrom4([4]byte(ip4)), uint16(port))
	}
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() || sources <= 0 {
		d.dialers = []*net.Dialer{newNetDialer(nil)}
		return d
	}
	for i := range min(sources, 250) {
		src := net.IPv4(127, 0, 0, byte(2+i))
		d.dialers = append(d.dialers, newNetDialer(&net.TCPAddr{IP: src}))
		d.srcs = append(d.srcs, src)
	}
	return d
}

func newNetDialer(local *net.TCPAddr) *net.Dialer {
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: -1}
	if local != nil {
		nd.LocalAddr = local
		bindNoPort(nd)
	}
	return nd
}

// engine returns the dialer's event loop, started.
func (d *Dialer) engine() (*nbio.Engine, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil, net.ErrClosed
	}
	if d.eng != nil {
		return d.eng, nil
	}
	nbiolog.Use(nil)
	eng := nbio.NewEngine(nbio.Config{
		Name: "magpie-bench",
		// One loop reads every socket and runs the parsers and the
		// scenario's accounting: at 4,000 msgs/s it is busy a few percent
		// of the time.
		NPoller:        1,
		ReadBufferSize: 64 << 10,
		// A socket the server does not read holds at most this much of
		// this side's frames before the engine closes it.
		MaxWriteBufferSize: 4 << 20,
	})
	eng.OnData(func(nb *nbio.Conn, data []byte) {
		if c, ok := nb.Session().(*Conn); ok {
			c.onData(nb, data)
		}
	})
	eng.OnClose(func(nb *nbio.Conn, err error) {
		if c, ok := nb.Session().(*Conn); ok {
			c.onClose(err)
		}
	})
	if err := eng.Start(); err != nil {
		return nil, fmt.Errorf("start the event loop: %w", err)
	}
	d.eng = eng
	return eng, nil
}

// loop returns the dialer's own event loop, started.
func (d *Dialer) loop() (*loop, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopped {
		return nil, net.ErrClosed
	}
	if d.lp == nil {
		lp, err := newLoop()
		if err != nil {
			return nil, err
		}
		d.lp = lp
	}
	return d.lp, nil
}

// Close stops the event loops, closing the connections they still read;
// the dialer dials no more.
func (d *Dialer) Close() {
	d.mu.Lock()
	if d.eng != nil && !d.stopped {
		d.eng.Stop()
	}
	lp := d.lp
	if d.stopped {
		lp = nil
	}
	d.stopped = true
	d.mu.Unlock()
	if lp != nil {
		lp.stop()
	}
}

// Sources is the number of source addresses the dialer spreads over (1
// when it leaves the choice to the system).
func (d *Dialer) Sources() int { return len(d.dialers) }

// LoginError is a failed connect or login, with what refused it.
type LoginError struct {
	// HTTPStatus is the upgrade's status when the server refused it
	// (429: too many sockets not logged in yet from this address).
	HTTPStatus int
	// CloseCode is the WebSocket close code the server ended the login
	// with (4001: overload, the login rate limits); zero for none.
	CloseCode int
	Err       error
}

func (e *LoginError) Error() string {
	switch {
	case e.HTTPStatus != 0:
		return fmt.Sprintf("upgrade refused with HTTP %d: %v", e.HTTPStatus, e.Err)
	case e.CloseCode > 0:
		return fmt.Sprintf("login closed with code %d: %v", e.CloseCode, e.Err)
	}
	return e.Err.Error()
}

func (e *LoginError) Unwrap() error { return e.Err }

// Reason is a short label for tallies: "http_429", "close_4001", "error".
func (e *LoginError) Reason() string {
	switch {
	case e.HTTPStatus != 0:
		return fmt.Sprintf("http_%d", e.HTTPStatus)
	case e.CloseCode > 0:
		return fmt.Sprintf("close_%d", e.CloseCode)
	}
	if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, os.ErrDeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

// loginError wraps err, with the close code it carries.
func loginError(err error) *LoginError {
	return &LoginError{Err: err, CloseCode: max(closeCode(err), 0)}
}

// Conn is one logged-in raw protocol client. An event loop reads its
// socket when bytes arrive and passes them to the connection's parser on
// the loop's goroutine, so that a connection holds no goroutine and no
// read buffer between frames and a read costs one syscall: on Linux, for
// a plain ws target, the tool's own loop from the dial on (the upgrade
// and the login are parsed there too); otherwise the socket is a plain
// one, which the login reads and writes with deadlines, until Run hands
// it to nbio. Its reader acknowledges every delivery within about
// ackDelay, batched per connection as the SDK does. Write, Request,
// PingIfIdle and Close may be called from any goroutine; Run once.
type Conn struct {
	nc        net.Conn // the plain socket until Run hands it over
	User      string
	Heartbeat time.Duration
	lastWrite atomic.Int64 // unix nanos
	d         *Dialer
	sk        atomic.Pointer[sockRef] // the socket once an event loop reads it
	done      chan struct{}           // closed when the event loop closed the socket
	endErr    error                   // why; written before done is closed

	rmu     sync.Mutex // guards the reader's fields below
	pending []byte     // bytes read and not parsed yet: a partial frame
	frag    []byte     // a fragmented message being assembled
	fragOp  byte       // the opcode of the message in frag; zero when none
	onMsg   func(data []byte, at time.Time) bool
	hs      *handshake // the upgrade and login in progress on the tool's loop

	wmu  sync.Mutex // guards the fields below and nbio's taking over from nc; held over a write
	wbuf []byte     // reused frame buffer
	wdl  time.Time  // nc's write deadline

	mu       sync.Mutex       // guards the fields below
	cursors  map[string]int64 // highest seq delivered, per conversation
	acked    map[string]int64
	ackArmed bool // in the acker's queue
	// lastAck is when the last DeliverAck was written (Unix ns), for
	// ackInterval.
	lastAck atomic.Int64
	closed  bool

	ackID   atomic.Uint64
	waiters sync.Map // frame id -> chan *magpiev1.Frame
}

// socket is a connection's socket while an event loop reads it: nbio's
// or the tool's own.
type socket interface {
	Write(b []byte) (int, error)
	Close() error
	CloseWithError(err error) error
}

type sockRef struct{ socket }

// ownLoop is whether dialers use the tool's own event loop where they can
// (haveLoop); tests turn it off to run the other path.
var ownLoop = haveLoop

// readLimit bounds a message, as the server bounds its own.
const readLimit = 8 << 20

// Login dials url (http or ws scheme), logs in with tok as device and
// returns the connection.
func Login(ctx context.Context, d *Dialer, base, user, tok, device string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	header := ""
	if !d.FrameLogin {
		header = "Authorization: Bearer " + tok + "\r\nMagpie-Device-Id: " + device +
			"\r\nMagpie-Platform: server\r\nMagpie-Sdk-Version: magpie-bench/1\r\n"
	}
	target := ConnectURL(base)
	if d.onLoop && target == d.url {
		return loginOnLoop(ctx, d, user, tok, device, header)
	}
	nd := d.dialers[d.next.Add(1)%uint64(len(d.dialers))]
	nc, rest, byHeaders, err := dialUpgrade(ctx, nd, target, wire.SubprotocolProto, header)
	if err != nil {
		return nil, upgradeLoginError(err)
	}
	c := newConn(d, user)
	c.nc, c.pending = nc, rest
	// The login is bounded by ctx: its deadline, or its end.
	dl, _ := ctx.Deadline()
	_ = nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	f, err := c.login(tok, device, byHeaders)
	if !stop() || err != nil {
		_ = nc.Close()
		return nil, loginError(cmp.Or(err, ctx.Err()))
	}
	_ = nc.SetDeadline(time.Time{})
	c.Heartbeat = time.Duration(f.GetLoginResult().GetHeartbeatIntervalMs()) * time.Millisecond
	return c, nil
}

func newConn(d *Dialer, user string) *Conn {
	return &Conn{User: user, d: d, done: make(chan struct{}), cursors: map[string]int64{}, acked: map[string]int64{}}
}

// upgradeLoginError wraps a failed dial or upgrade, with the HTTP status
// that refused it.
func upgradeLoginError(err error) *LoginError {
	le := &LoginError{Err: err}
	if ue := (*upgradeError)(nil); errors.As(err, &ue) {
		le.HTTPStatus = ue.status
	}
	return le
}

// loginFrame is the Login frame of a client that could not log in with
// the upgrade request's headers.
func loginFrame(tok, device string) *magpiev1.Frame {
	return &magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
		Token: tok, DeviceId: device, Platform: "server", SdkVersion: "magpie-bench/1"}}}
}

// loginReply decodes the first message after the upgrade: the
// LoginResult, or the server's refusal.
func loginReply(data []byte) (*magpiev1.Frame, error) {
	f, err := wire.Decode(wire.ProtoCodec{}, data, len(data))
	if cl := f.GetClose(); err == nil && cl != nil {
		// The server refused the login: its code, as the WebSocket
		// close that follows will say.
		err = &CloseError{Code: int(cl.GetCode()), Reason: cl.GetReason()}
	} else if err == nil && f.GetLoginResult() == nil {
		err = errors.New("not a LoginResult")
	}
	if err != nil {
		err = fmt.Errorf("login reply %v: %w", f, err)
	}
	return f, err
}

// login writes the Login frame, unless the upgrade request's headers
// carried the login (byHeaders), and reads the server's LoginResult.
func (c *Conn) login(tok, device string, byHeaders bool) (*magpiev1.Frame, error) {
	if !byHeaders {
		if err := c.Write(context.Background(), loginFrame(tok, device)); err != nil {
			return nil, err
		}
	}
	var f *magpiev1.Frame
	var ferr error // the reply's
	err := c.readLogin(func(data []byte, _ time.Time) bool {
		f, ferr = loginReply(data)
		return false
	})
	return f, cmp.Or(err, ferr)
}

// readLogin reads the plain socket until msg has had a message and
// returned false; the bytes after it stay pending for Run.
func (c *Conn) readLogin(msg func(data []byte, at time.Time) bool) error {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	var buf [1024]byte
	data := []byte(nil) // the handshake's leftovers are pending already
	for {
		stopped, err := c.parse(data, time.Now(), msg)
		if err != nil || stopped {
			return err
		}
		n, err := c.nc.Read(buf[:])
		if n == 0 && err != nil {
			return err
		}
		data = buf[:n]
	}
}

// ConnectURL is the WebSocket endpoint of a server's base URL.
func ConnectURL(base string) string {
	base = strings.TrimSuffix(base, "/")
	if !strings.HasPrefix(base, "ws") {
		base = "ws" + strings.TrimPrefix(base, "http")
	}
	return base + "/v1/connect"
}

// Write sends one frame in one write, within writeTimeout.
func (c *Conn) Write(ctx context.Context, f *magpiev1.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b, err := wire.ProtoCodec{}.MarshalAppend(frameStart(c.wbuf), f)
	if err != nil {
		return err
	}
	err = c.writeLocked(finishFrame(b, opBinary, rand.Uint32()))
	c.keepBuffer(b)
	return err
}

// writeControl sends a control frame (pong, close) with payload.
func (c *Conn) writeControl(op byte, payload []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	b := append(frameStart(c.wbuf), payload...)
	err := c.writeLocked(finishFrame(b, op, rand.Uint32()))
	c.keepBuffer(b)
	return err
}

// keepBuffer keeps b for the next frame unless it grew large. c.wmu is held.
func (c *Conn) keepBuffer(b []byte) {
	if cap(b) <= 64<<10 {
		c.wbuf = b[:0]
	} else {
		c.wbuf = nil
	}
}

// writeLocked writes frame: to the event loop once Run handed the socket
// over (it never blocks: what the kernel does not take at once is kept and
// written when the socket can take it), before that to the plain socket,
// whose write deadline is moved only when less than half of writeTimeout
// is left, so that a write gets between writeTimeout/2 and writeTimeout
// without a timer update each time. c.wmu is held.
func (c *Conn) writeLocked(frame []byte) error {
	now := time.Now()
	c.lastWrite.Store(now.UnixNano())
	if sk := c.sk.Load(); sk != nil {
		_, err := sk.Write(frame)
		return err
	}
	if now.Add(writeTimeout / 2).After(c.wdl) {
		c.wdl = now.Add(writeTimeout)
		if err := c.nc.SetWriteDeadline(c.wdl); err != nil {
			return err
		}
	}
	_, err := c.nc.Write(frame)
	return err
}

// parse parses the pending bytes and then data (which it does not keep),
// passing each data message to msg with at, the time its bytes were read,
// until msg returns false (stopped) or a frame is refused (the error). It
// answers pings and, for a close frame, returns its CloseError. What is
// left (a partial frame, or what follows a stop) becomes pending. c.rmu is
// held.
func (c *Conn) parse(data []byte, at time.Time, msg func([]byte, time.Time) bool) (stopped bool, err error) {
	buf := data
	if len(c.pending) > 0 {
		c.pending = append(c.pending, data...)
		buf = c.pending
	}
	off := 0
	for !stopped && err == nil {
		h, ok, herr := parseHeader(buf[off:], readLimit)
		if herr != nil {
			return false, herr
		}
		if !ok || h.hlen+h.plen > len(buf)-off {
			break
		}
		payload := buf[off+h.hlen : off+h.hlen+h.plen]
		off += h.hlen + h.plen
		var more bool
		more, err = c.frame(h, payload, at, msg)
		stopped = !more && err == nil
	}
	rest := buf[off:]
	switch {
	case len(rest) == 0:
		c.pending = c.pending[:0]
		if cap(c.pending) > 64<<10 {
			c.pending = nil
		}
	case len(c.pending) > 0: // buf is c.pending
		c.pending = c.pending[:copy(c.pending, rest)]
	default:
		c.pending = append(c.pending, rest...)
	}
	return stopped, err
}

// frame handles one frame; more is false when msg asked to stop.
func (c *Conn) frame(h frameHeader, payload []byte, at time.Time, msg func([]byte, time.Time) bool) (more bool, err error) {
	switch h.opcode {
	case opPing:
		return true, c.writeControl(opPong, payload)
	case opPong:
		return true, nil
	case opClose:
		ce := &CloseError{Code: 1005}
		if len(payload) >= 2 {
			ce.Code, ce.Reason = int(binary.BigEndian.Uint16(payload)), string(payload[2:])
			_ = c.writeControl(opClose, payload[:2])
		}
		return false, ce
	case opText, opBinary:
		if c.fragOp != 0 {
			return false, fmt.Errorf("%w: a new message inside a fragmented one", errProtocol)
		}
		if h.fin {
			return msg(payload, at), nil
		}
		c.fragOp, c.frag = h.opcode, append(c.frag[:0], payload...)
		return true, nil
	case opContinuation:
		if c.fragOp == 0 {
			return false, fmt.Errorf("%w: a continuation without a message", errProtocol)
		}
		if len(c.frag)+len(payload) > readLimit {
			return false, fmt.Errorf("%w: message over %d bytes", errProtocol, readLimit)
		}
		c.frag = append(c.frag, payload...)
		if !h.fin {
			return true, nil
		}
		data := c.frag
		c.fragOp, c.frag = 0, nil
		return msg(data, at), nil
	}
	return false, fmt.Errorf("%w: opcode %d", errProtocol, h.opcode)
}

// Request writes f with id and waits for the server's reply to it (a frame
// with the same id), within timeout. The connection's reader must run.
func (c *Conn) Request(ctx context.Context, id uint64, f *magpiev1.Frame, timeout time.Duration) (*magpiev1.Frame, error) {
	ch := make(chan *magpiev1.Frame, 1)
	c.waiters.Store(id, ch)
	defer c.waiters.Delete(id)
	f.Id = id
	if err := c.Write(ctx, f); err != nil {
		return nil, err
	}
	select {
	case r := <-ch:
		if e := r.GetError(); e != nil {
			return r, fmt.Errorf("%s: %s", e.GetCode(), e.GetMessage())
		}
		return r, nil
	case <-time.After(timeout):
		return nil, fmt.Errorf("no reply to frame %d in %v", id, timeout)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Run passes every frame of the connection to handle (replies to Request
// go there instead) on its event loop (the tool's own, which reads it
// since the dial, or nbio's, which takes the socket over now),
// acknowledges deliveries, and waits until the connection ends or ctx is
// done (then it closes the connection). It returns the error that ended
// it. handle runs on the event loop's goroutine: it must not block.
func (c *Conn) Run(ctx context.Context, handle func(f *magpiev1.Frame, at time.Time)) error {
	codec := wire.ProtoCodec{}
	var derr error // the decoding error that stopped the parser
	msg := func(data []byte, at time.Time) bool {
		var f *magpiev1.Frame
		f, derr = wire.Decode(codec, data, len(data))
		if derr != nil {
			return false
		}
		if f.GetId() != 0 {
			if ch, ok := c.waiters.Load(f.GetId()); ok {
				select {
				case ch.(chan *magpiev1.Frame) <- f:
				default: // a second reply to one request
				}
				return true
			}
		}
		if d := f.GetDeliver(); d != nil {
			c.noteDelivered(d.GetMessages())
		}
		handle(f, at)
		return true
	}
	if err := c.handOver(msg); err != nil {
		return err
	}
	select {
	case <-c.done:
		return cmp.Or(derr, c.endErr)
	case <-ctx.Done():
		c.Close()
		<-c.done
		return ctx.Err()
	}
}

// handOver parses what the login left pending and hands the socket to the
// event loop, with msg as the parser's handler.
func (c *Conn) handOver(msg func([]byte, time.Time) bool) error {
	c.rmu.Lock()
	defer c.rmu.Unlock() // the event loop's first data waits for this
	c.onMsg = msg
	if stopped, err := c.parse(nil, time.Now(), msg); err != nil || stopped {
		err = cmp.Or(err, errors.New("undecodable frame after the login"))
		if sk := c.sk.Load(); sk != nil {
			_ = sk.CloseWithError(err)
		} else {
			_ = c.nc.Close()
		}
		return err
	}
	if c.sk.Load() != nil { // the tool's own loop reads it already
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	eng, err := c.d.engine()
	if err != nil {
		_ = c.nc.Close()
		return err
	}
	nb, err := nbio.NBConn(c.nc) // a duplicate of the socket; nc is closed
	if err != nil {
		_ = c.nc.Close()
		return err
	}
	nb.SetSession(c)
	if _, err := eng.AddConn(nb); err != nil {
		return err
	}
	c.sk.Store(&sockRef{nb})
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed { // Close ran before nb was stored
		_ = nb.Close()
	}
	return nil
}

// onData parses bytes the event loop read from sk: the upgrade's
// response and the login's reply while the handshake runs, then frames
// once Run gave it a handler (they wait until then). It runs on the
// loop's goroutine.
func (c *Conn) onData(sk socket, data []byte) {
	c.rmu.Lock()
	defer c.rmu.Unlock()
	if c.hs != nil || c.onMsg == nil {
		c.pending = append(c.pending, data...)
		if c.hs != nil {
			if err := c.handshakeStep(); err != nil {
				_ = sk.CloseWithError(err)
			}
		}
		return
	}
	stopped, err := c.parse(data, time.Now(), c.onMsg)
	if err != nil || stopped {
		_ = sk.CloseWithError(cmp.Or(err, errors.New("undecodable frame")))
	}
}

// onClose notes the end of the socket. It runs once, on the event loop.
func (c *Conn) onClose(err error) {
	c.endErr = cmp.Or(err, io.EOF)
	close(c.done)
}

// noteDelivered moves the conversations' cursors and queues the
// connection for an acknowledgement.
func (c *Conn) noteDelivered(msgs []*magpiev1.Message) {
	c.mu.Lock()
	for _, m := range msgs {
		if m.GetSeq() > c.cursors[m.GetConvId()] {
			c.cursors[m.GetConvId()] = m.GetSeq()
		}
	}
	arm := !c.ackArmed && !c.closed
	c.ackArmed = c.ackArmed || arm
	c.mu.Unlock()
	if arm {
		c.d.acks.arm(c)
	}
}

// flushAcks sends one DeliverAck with every cursor that moved.
func (c *Conn) flushAcks() {
	c.mu.Lock()
	c.ackArmed = false
	var cur []*magpiev1.Cursor
	for conv, seq := range c.cursors {
		if seq > c.acked[conv] {
			cur = append(cur, &magpiev1.Cursor{ConvId: conv, Seq: seq})
			c.acked[conv] = seq
		}
		if len(cur) == 256 {
			break
		}
	}
	closed := c.closed
	c.mu.Unlock()
	if len(cur) == 0 || closed {
		return
	}
	c.lastAck.Store(time.Now().UnixNano())
	_ = c.Write(context.Background(), &magpiev1.Frame{Id: ackIDBase + c.ackID.Add(1),
		Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{Cursors: cur}}})
}

// PingIfIdle sends a Ping when the connection wrote nothing for half a
// heartbeat interval, so that the server keeps it.
func (c *Conn) PingIfIdle(ctx context.Context) error {
	hb := c.Heartbeat
	if hb <= 0 {
		hb = 30 * time.Second
	}
	if time.Since(time.Unix(0, c.lastWrite.Load())) < hb/2 {
		return nil
	}
	return c.Write(ctx, &magpiev1.Frame{Id: ackIDBase + c.ackID.Add(1), Body: &magpiev1.Frame_Ping{Ping: &magpiev1.Ping{}}})
}

// Close closes the connection without waiting for the server.
func (c *Conn) Close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	if sk := c.sk.Load(); sk != nil {
		_ = sk.Close()
		return
	}
	_ = c.nc.Close() // handOver closes nb if it stores it after this
}
