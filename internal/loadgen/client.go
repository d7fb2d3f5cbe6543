package loadgen

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

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
type Dialer struct {
	clients []*http.Client
	next    atomic.Uint64
}

// NewDialer returns a dialer for target (a server URL). sources is how many
// loopback source addresses to spread over; it is ignored unless the target
// is an IPv4 loopback address.
func NewDialer(target string, sources int) *Dialer {
	d := &Dialer{}
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
		d.clients = []*http.Client{newHTTPClient(nil)}
		return d
	}
	for i := range min(sources, 250) {
		d.clients = append(d.clients, newHTTPClient(&net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(2+i))}))
	}
	return d
}

func newHTTPClient(local *net.TCPAddr) *http.Client {
	nd := &net.Dialer{Timeout: dialTimeout, KeepAlive: -1}
	if local != nil {
		nd.LocalAddr = local
	}
	return &http.Client{Timeout: dialTimeout, Transport: &upgradeTransport{dialer: nd}}
}

// Sources is the number of source addresses the dialer spreads over (1
// when it leaves the choice to the system).
func (d *Dialer) Sources() int { return len(d.clients) }

// LoginError is a failed connect or login, with what refused it.
type LoginError struct {
	// HTTPStatus is the upgrade's status when the server refused it
	// (429: too many sockets not logged in yet from this address).
	HTTPStatus int
	// CloseCode is the close code the server ended the login with (4001:
	// overload, the login rate limits).
	CloseCode websocket.StatusCode
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
	if errors.Is(e.Err, context.DeadlineExceeded) {
		return "timeout"
	}
	return "error"
}

// Conn is one logged-in raw protocol client. Its reader acknowledges every
// delivery within ackDelay, batched per connection as the SDK does.
type Conn struct {
	ws        *websocket.Conn
	User      string
	Heartbeat time.Duration
	lastWrite atomic.Int64 // unix nanos

	mu       sync.Mutex
	cursors  map[string]int64 // highest seq delivered, per conversation
	acked    map[string]int64
	ackTimer *time.Timer
	closed   bool
	ackID    atomic.Uint64
	waiters  sync.Map // frame id -> chan *magpiev1.Frame
}

// Login dials url (http or ws scheme), logs in with tok as device and
// returns the connection.
func Login(ctx context.Context, d *Dialer, base, user, tok, device string) (*Conn, error) {
	ctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	hc := d.clients[d.next.Add(1)%uint64(len(d.clients))]
	ws, res, err := websocket.Dial(ctx, ConnectURL(base), &websocket.DialOptions{
		HTTPClient: hc, Subprotocols: []string{wire.SubprotocolProto}})
	if res != nil && res.Body != nil {
		res.Body.Close() // coder/websocket hands back a drained body
	}
	if err != nil {
		le := &LoginError{Err: err}
		if res != nil && res.StatusCode != http.StatusSwitchingProtocols {
			le.HTTPStatus = res.StatusCode
		}
		return nil, le
	}
	ws.SetReadLimit(8 << 20)
	data, _ := wire.ProtoCodec{}.Marshal(&magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{
		Token: tok, DeviceId: device, Platform: "server", SdkVersion: "magpie-bench/1"}}})
	if err := ws.Write(ctx, websocket.MessageBinary, data); err != nil {
		ws.CloseNow()
		return nil, &LoginError{Err: err, CloseCode: websocket.CloseStatus(err)}
	}
	_, reply, err := ws.Read(ctx)
	if err != nil {
		ws.CloseNow()
		return nil, &LoginError{Err: err, CloseCode: websocket.CloseStatus(err)}
	}
	f, err := wire.Decode(wire.ProtoCodec{}, reply, len(reply))
	if err == nil && f.GetLoginResult() == nil {
		err = errors.New("not a LoginResult")
	}
	if err != nil {
		ws.CloseNow()
		return nil, &LoginError{Err: fmt.Errorf("login reply %v: %w", f, err)}
	}
	c := &Conn{ws: ws, User: user, cursors: map[string]int64{}, acked: map[string]int64{},
		Heartbeat: time.Duration(f.GetLoginResult().GetHeartbeatIntervalMs()) * time.Millisecond}
	c.lastWrite.Store(time.Now().UnixNano())
	return c, nil
}

// ConnectURL is the WebSocket endpoint of a server's base URL.
func ConnectURL(base string) string {
	base = strings.TrimSuffix(base, "/")
	if !strings.HasPrefix(base, "ws") {
		base = "ws" + strings.TrimPrefix(base, "http")
	}
	return base + "/v1/connect"
}

// Write sends one frame, within writeTimeout.
func (c *Conn) Write(ctx context.Context, f *magpiev1.Frame) error {
	data, err := wire.ProtoCodec{}.Marshal(f)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, writeTimeout)
	defer cancel()
	c.lastWrite.Store(time.Now().UnixNano())
	return c.ws.Write(ctx, websocket.MessageBinary, data)
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
	codec := wire.ProtoCodec{}
	for {
		_, data, err := c.ws.Read(ctx)
		if err != nil {
			return err
		}
		at := time.Now()
		f, err := wire.Decode(codec, data, len(data))
		if err != nil {
			return err
		}
		if f.GetId() != 0 {
			if ch, ok := c.waiters.Load(f.GetId()); ok {
				ch.(chan *magpiev1.Frame) <- f
				continue
			}
		}
		if d := f.GetDeliver(); d != nil {
			c.noteDelivered(d.GetMessages())
		}
		handle(f, at)
	}
}

// noteDelivered moves the conversations' cursors and arms the ack timer.
func (c *Conn) noteDelivered(msgs []*magpiev1.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		if m.GetSeq() > c.cursors[m.GetConvId()] {
			c.cursors[m.GetConvId()] = m.GetSeq()
		}
	}
	if c.ackTimer == nil && !c.closed {
		c.ackTimer = time.AfterFunc(ackDelay, c.flushAcks)
	}
}

// flushAcks sends one DeliverAck with every cursor that moved.
func (c *Conn) flushAcks() {
	c.mu.Lock()
	c.ackTimer = nil
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
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
	c.mu.Unlock()
	c.ws.CloseNow()
}
