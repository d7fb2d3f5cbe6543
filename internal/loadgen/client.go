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
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
)

// Timeouts that bound every network step of a load client.
const (
	dialTimeout  = 15 * time.Second
	writeTimeout = 10 * time.Second
	// ackDelay is how long a recipient gathers deliveries before it
	// acknowledges them, as the SDK does.
	ackDelay = 50 * time.Millisecond
	// ackIDBase starts the frame ids of DeliverAcks and Pings, apart from
	// the ids of sends (see sendID).
	ackIDBase = 1 << 62
)

// Dialer opens WebSockets from a set of loopback source addresses
// (127.0.0.2, 127.0.0.3, ...) in turn when the server is on loopback, so
// that many connections fit in the ephemeral ports of one address pair.
// Its connections share one acknowledgement timer (see acker).
type Dialer struct {
	dialers []*net.Dialer
	next    atomic.Uint64
	acks    *acker
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
	if ip == nil || ip.To4() == nil || !ip.IsLoopback() || sources <= 0 {
		d.dialers = []*net.Dialer{newNetDialer(nil)}
		return d
	}
	for i := range min(sources, 250) {
		d.dialers = append(d.dialers, newNetDialer(&net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}))
	}
	return d
}

func newNetDialer(local *net.TCPAddr) *net.Dialer {
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: -1}
	if local != nil {
		nd.LocalAddr = local
	}
	return nd
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

// Conn is one logged-in raw protocol client. Its reader (Run) acknowledges
// every delivery within about ackDelay, batched per connection as the SDK
// does. Write, Request, PingIfIdle and Close may be called from any
// goroutine; Run from one at a time.
type Conn struct {
	nc        net.Conn
	User      string
	Heartbeat time.Duration
	lastWrite atomic.Int64 // unix nanos
	acks      *acker

	// The reader's state, owned by the goroutine in Run (or Login).
	rbuf []byte // bytes read: rbuf[:rn] are not parsed yet
	rn   int
	frag []byte // a fragmented message being assembled
	// fragOp is the opcode of the message in frag; zero when there is none.
	fragOp byte

	wmu  sync.Mutex // guards the fields below; held over a write
	wbuf []byte     // reused frame buffer
	wdl  time.Time  // the socket's write deadline

	mu       sync.Mutex       // guards the fields below
	cursors  map[string]int64 // highest seq delivered, per conversation
	acked    map[string]int64
	ackArmed bool // in acks' queue
	closed   bool

	ackID   atomic.Uint64
	waiters sync.Map // frame id -> chan *magpiev1.Frame
}

// Read buffer sizes: each connection reads into a buffer of
// readBufferSize, grown to fit a larger frame (up to readLimit) and shrunk
// back once it is parsed.
const (
	readBufferSize = 4 << 10
	readLimit      = 8 << 20
)

// Login dials url (http or ws scheme), logs in with tok as device and
// returns the connection.
func Login(ctx context.Context, d *Dialer, base, user, tok, device string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	nd := d.dialers[d.next.Add(1)%uint64(len(d.dialers))]
	nc, rest, err := dialUpgrade(ctx, nd, ConnectURL(base), wire.SubprotocolProto)
	if err != nil {
		le := &LoginError{Err: err}
		if ue := (*upgradeError)(nil); errors.As(err, &ue) {
			le.HTTPStatus = ue.status
		}
		return nil, le
	}
	c := &Conn{nc: nc, User: user, acks: d.acks, cursors: map[string]int64{}, acked: map[string]int64{},
		rbuf: make([]byte, max(readBufferSize, len(rest)))}
	c.rn = copy(c.rbuf, rest)
	// The login is bounded by ctx: its deadline, or its end.
	dl, _ := ctx.Deadline()
	_ = nc.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { _ = nc.SetDeadline(time.Unix(1, 0)) })
	f, err := c.login(tok, device)
	if !stop() || err != nil {
		nc.Close()
		return nil, loginError(cmp.Or(err, ctx.Err()))
	}
	_ = nc.SetDeadline(time.Time{})
	c.Heartbeat = time.Duration(f.GetLoginResult().GetHeartbeatIntervalMs()) * time.Millisecond
	return c, nil
}

// login writes the Login frame and reads the server's reply.
func (c *Conn) login(tok, device string) (*magpiev1.Frame, error) {
	err := c.Write(context.Background(), &magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
		Token: tok, DeviceId: device, Platform: "server", SdkVersion: "magpie-bench/1"}}})
	if err != nil {
		return nil, err
	}
	var f *magpiev1.Frame
	err = c.read(func(data []byte, _ time.Time) bool {
		f, err = wire.Decode(wire.ProtoCodec{}, data, len(data))
		if err == nil && f.GetLoginResult() == nil {
			err = errors.New("not a LoginResult")
		}
		if err != nil {
			err = fmt.Errorf("login reply %v: %w", f, err)
		}
		return false
	})
	return f, err
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

// writeLocked writes frame. The socket's write deadline is moved only when
// less than half of writeTimeout is left, so that a write gets between
// writeTimeout/2 and writeTimeout without a timer update each time.
// c.wmu is held.
func (c *Conn) writeLocked(frame []byte) error {
	now := time.Now()
	c.lastWrite.Store(now.UnixNano())
	if now.Add(writeTimeout / 2).After(c.wdl) {
		c.wdl = now.Add(writeTimeout)
		if err := c.nc.SetWriteDeadline(c.wdl); err != nil {
			return err
		}
	}
	_, err := c.nc.Write(frame)
	return err
}

// read reads and parses frames, passing each data message to msg with the
// time its bytes were read, until msg returns false (nil) or reading fails
// (the error). It answers pings and, for a close frame, returns its
// CloseError. Only the connection's reader calls it.
func (c *Conn) read(msg func(data []byte, at time.Time) bool) error {
	at := time.Now()
	for {
		for {
			h, ok, err := parseHeader(c.rbuf[:c.rn], readLimit)
			if err != nil {
				return err
			}
			if !ok || h.hlen+h.plen > c.rn {
				if need := h.hlen + h.plen; ok && need > len(c.rbuf) {
					c.rbuf = append(c.rbuf[:c.rn], make([]byte, need-c.rn)...)
				}
				break
			}
			payload := c.rbuf[h.hlen : h.hlen+h.plen]
			more, err := c.frame(h, payload, at, msg)
			n := copy(c.rbuf, c.rbuf[h.hlen+h.plen:c.rn])
			c.rn = n
			if err != nil || !more {
				return err
			}
		}
		if c.rn == 0 && len(c.rbuf) > readBufferSize {
			c.rbuf = make([]byte, readBufferSize)
		}
		n, err := c.nc.Read(c.rbuf[c.rn:])
		at = time.Now()
		c.rn += n
		if err != nil && (n == 0 || !errors.Is(err, io.EOF)) {
			return err
		}
	}
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

// Run reads frames until the connection ends or ctx is done, passing each
// to handle (replies to Request go there instead) and acknowledging
// deliveries. It returns the error that ended it.
func (c *Conn) Run(ctx context.Context, handle func(f *magpiev1.Frame, at time.Time)) error {
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	codec := wire.ProtoCodec{}
	var derr error
	err := c.read(func(data []byte, at time.Time) bool {
		var f *magpiev1.Frame
		f, derr = wire.Decode(codec, data, len(data))
		if derr != nil {
			return false
		}
		if f.GetId() != 0 {
			if ch, ok := c.waiters.Load(f.GetId()); ok {
				ch.(chan *magpiev1.Frame) <- f
				return true
			}
		}
		if d := f.GetDeliver(); d != nil {
			c.noteDelivered(d.GetMessages())
		}
		handle(f, at)
		return true
	})
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return cmp.Or(derr, err)
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
		c.acks.arm(c)
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
	_ = c.nc.Close()
}
