package node

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/lesismal/nbio"

	"github.com/magpie-im/magpie/gateway/internal/httpx"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// The front: a gateway's port accepted without net/http, on Linux.
//
// A login through net/http cost the server, besides the login itself,
// net/http's work on the socket (the Go poller's registration, a goroutine,
// buffers of 7 KB dropped at the hijack) and the hand-over to the event
// loop (a dup of the descriptor, a second registration, a close): 11
// system calls on a login's socket where about 6 do (docs/benchmarks.md,
// "The front"). The
// front accepts each socket itself (accept4 on the listener, whose
// readiness the Go poller still reports), puts it straight on the event
// loop, and reads the request head there. An upgrade to a client
// WebSocket (GET /v1/connect) is answered and served on the event loop,
// as if net/http had handed it over; any other request, with the bytes
// read so far, goes to net/http through the listener Front returns, so
// the server API and the console are served as before.

// maxHeadBytes bounds an upgrade request's head (request line and
// headers); a longer one is answered with 431.
const maxHeadBytes = 64 << 10

// connectLine is how the request line of an upgrade to a client WebSocket
// starts; the byte after it is a space or the query's '?'.
const connectLine = "GET /v1/connect"

// Front returns a listener for the http.Server that serves ln: the
// connections whose first request is an upgrade to a client WebSocket
// (GET /v1/connect) are served by s, through wrap(s's upgrade handler),
// without reaching the listener; the others are. Closing the listener
// closes ln. Without a TCP listener, or with tracing on (whose spans start
// in net/http's middleware), it returns ln: net/http hands the upgrades
// over as before.
func (s *Server) Front(ln net.Listener, wrap func(http.Handler) http.Handler) net.Listener {
	tl, ok := ln.(*net.TCPListener)
	if !ok || telemetry.TracingOn() {
		return ln
	}
	// A duplicate of the listening socket, on the Go poller as a file: a
	// listener's own RawConn has no Read, which waits for readiness.
	lf, err := tl.File()
	if err != nil {
		return ln
	}
	rc, err := lf.SyscallConn()
	if err != nil {
		_ = lf.Close()
		return ln
	}
	f := &front{s: s, ln: tl, lf: lf, rc: rc, h: wrap(http.HandlerFunc(s.serveConn)),
		conns: make(chan net.Conn), done: make(chan struct{}), exited: make(chan struct{})}
	go f.acceptLoop()
	return f
}

type front struct {
	s     *Server
	ln    *net.TCPListener
	lf    *os.File        // ln's socket, duplicated
	rc    syscall.RawConn // lf's
	h     http.Handler    // upgrades to client WebSockets
	conns chan net.Conn   // connections for net/http (Accept)

	done      chan struct{} // closed by Close
	closeOnce sync.Once
	closeErr  error
	exited    chan struct{} // closed when acceptLoop returns; err is set then
	err       error
}

// Accept returns the next connection for net/http.
func (f *front) Accept() (net.Conn, error) {
	select {
	case c := <-f.conns:
		return c, nil
	case <-f.done:
		return nil, net.ErrClosed
	case <-f.exited:
		return nil, f.err
	}
}

// Close stops accepting and closes the listening socket; connections
// being handed to net/http are closed.
func (f *front) Close() error {
	f.closeOnce.Do(func() {
		close(f.done)
		f.closeErr = errors.Join(f.lf.Close(), f.ln.Close())
		<-f.exited
	})
	return f.closeErr
}

func (f *front) Addr() net.Addr { return f.ln.Addr() }

// acceptLoop accepts sockets until the listener closes. Out of descriptors
// (or kernel memory), it waits and tries again, as net/http does.
func (f *front) acceptLoop() {
	defer close(f.exited)
	var delay time.Duration
	for {
		var aerr error
		err := f.rc.Read(func(lfd uintptr) bool {
			for {
				fd, sa, err := syscall.Accept4(int(lfd), syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
				switch {
				case err == nil:
					delay = 0
					f.adopt(fd, sa)
				case errors.Is(err, syscall.EAGAIN):
					return false // wait for the next connection
				case errors.Is(err, syscall.EINTR), errors.Is(err, syscall.ECONNABORTED):
				default:
					aerr = os.NewSyscallError("accept4", err)
					return true
				}
			}
		})
		if err != nil { // the listener is closed
			f.err = err
			return
		}
		delay = min(max(2*delay, 5*time.Millisecond), time.Second)
		f.s.log.Warn("accept failed, retrying", "err", aerr, "retry_in", delay)
		select {
		case <-time.After(delay):
		case <-f.done:
			f.err = net.ErrClosed
			return
		}
	}
}

// adopt puts an accepted socket on the event loop to read its request
// head; where the event loop cannot take it (not started because shut
// down, or with tracing on), net/http gets the socket.
func (f *front) adopt(fd int, sa syscall.Sockaddr) {
	// Output is written in batches already: Nagle's algorithm would hold
	// a batch back until the previous one is acknowledged.
	_ = syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
	if telemetry.TracingOn() || f.s.ws.start() != nil {
		go f.handOff(fd, nil)
		return
	}
	nc := nbio.NewTCPConn(fd, f.ln.Addr(), tcpAddr(sa))
	// The socket's reader locks h.mu before it uses anything of h: what
	// is set under the lock here is set for it. (The event loop's
	// hand-over is no synchronisation the race detector sees, so h is
	// not even initialised before the lock.)
	h := new(head)
	h.mu.Lock()
	h.f, h.nc = f, nc
	// A socket has Config.LoginTimeout to log in, its request head
	// included (net/http gives ReadHeaderTimeout to the heads it reads).
	h.timer = time.AfterFunc(f.s.cfg.LoginTimeout, h.expire)
	h.mu.Unlock()
	nc.SetSession(h)
	nc.OnData(h.onData)
	if err := f.s.ws.eng.AddTransferredConn(nc); err != nil {
		// Closed by the engine (a descriptor number past its table).
		h.headClosed()
	}
}

func tcpAddr(sa syscall.Sockaddr) *net.TCPAddr {
	switch sa := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: net.IP(slices.Clone(sa.Addr[:])), Port: sa.Port}
	case *syscall.SockaddrInet6:
		a := &net.TCPAddr{IP: net.IP(slices.Clone(sa.Addr[:])), Port: sa.Port}
		if sa.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(sa.ZoneId)); err == nil {
				a.Zone = ifi.Name
			}
		}
		return a
	}
	return &net.TCPAddr{}
}

// handOff gives net/http the socket fd, which it reads after pre, the
// bytes the event loop read from it.
func (f *front) handOff(fd int, pre []byte) {
	file := os.NewFile(uintptr(fd), "")
	c, err := net.FileConn(file) // a duplicate, on the Go poller
	_ = file.Close()
	if err != nil {
		f.s.log.Warn("hand a connection to net/http", "err", err)
		return
	}
	tc, ok := c.(*net.TCPConn)
	if !ok {
		_ = c.Close()
		return
	}
	var nc net.Conn = tc
	if len(pre) > 0 {
		nc = &frontConn{TCPConn: tc, pre: pre}
	}
	select {
	case f.conns <- nc:
	case <-f.done:
		_ = nc.Close()
	}
}

// frontConn is a connection handed to net/http with the bytes the event
// loop read from it first.
type frontConn struct {
	*net.TCPConn
	pre []byte
}

func (c *frontConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.TCPConn.Read(b)
}

// unwrapFrontConn returns the TCP connection under c, if net/http got c
// from the front: the upgrader takes a *net.TCPConn over to the event loop,
// and would serve anything else on a goroutine of its own. Bytes still
// held by c are dropped, as net/http's buffered ones are at a hijack.
func unwrapFrontConn(c net.Conn) net.Conn {
	if fc, ok := c.(*frontConn); ok {
		return fc.TCPConn
	}
	return c
}

// head is a socket on the event loop whose request head is being read.
type head struct {
	f  *front
	nc *nbio.Conn

	mu     sync.Mutex // guards the fields below
	buf    []byte
	timer  *time.Timer
	done   bool // the head was read, or the socket closed or handed off
	native bool // the request line is an upgrade's so far
}

// onData reads bytes of the request head: on the socket's reader, one
// read at a time.
func (h *head) onData(nc *nbio.Conn, data []byte) {
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return
	}
	from := max(len(h.buf)-2, 0) // where an end split by the last read starts
	h.buf = append(h.buf, data...)
	if !h.native {
		n := min(len(h.buf), len(connectLine)+1)
		if !isConnectLine(h.buf[:n]) {
			h.handOffLocked()
			return
		}
		h.native = n == len(connectLine)+1
	}
	end := headEnd(h.buf, from)
	if end < 0 {
		tooLong := len(h.buf) > maxHeadBytes
		if tooLong {
			h.done = true
			h.timer.Stop()
		}
		h.mu.Unlock()
		if tooLong {
			respond(nc, http.StatusRequestHeaderFieldsTooLarge, "request header too large")
		}
		return
	}
	h.done = true
	h.timer.Stop()
	buf := h.buf
	h.buf = nil
	h.mu.Unlock()
	h.serve(nc, buf[:end], buf[end:])
}

// headEnd returns the length of the request head at the start of b (up
// to the empty line that ends it, which net/http also accepts with bare
// line feeds), or -1 if b does not hold all of it; the end is not before
// from.
func headEnd(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] != '\n' {
			continue
		}
		switch {
		case i+1 < len(b) && b[i+1] == '\n':
			return i + 2
		case i+2 < len(b) && b[i+1] == '\r' && b[i+2] == '\n':
			return i + 3
		}
	}
	return -1
}

// isConnectLine reports whether b is, so far, the start of an upgrade's
// request line: connectLine then a space or '?'.
func isConnectLine(b []byte) bool {
	n := min(len(b), len(connectLine))
	if string(b[:n]) != connectLine[:n] {
		return false
	}
	return len(b) <= len(connectLine) || b[len(connectLine)] == ' ' || b[len(connectLine)] == '?'
}

var headReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}

// serve answers the upgrade request in raw (its head) on the socket; rest
// is what the client sent after it.
func (h *head) serve(nc *nbio.Conn, raw, rest []byte) {
	br := headReaders.Get().(*bufio.Reader)
	br.Reset(bytes.NewReader(raw))
	r, err := http.ReadRequest(br)
	br.Reset(nil)
	headReaders.Put(br)
	if err != nil || r.ContentLength != 0 || len(r.TransferEncoding) > 0 {
		respond(nc, http.StatusBadRequest, "malformed upgrade request")
		return
	}
	r.RemoteAddr = nc.RemoteAddr().String()
	w := &headWriter{nc: nc}
	h.f.h.ServeHTTP(w, r)
	if !w.hijacked {
		w.finish()
		return
	}
	if len(rest) > 0 {
		// Frames the client sent before the 101 came: the connection's
		// own handler takes them now.
		if fn := nc.DataHandler(); fn != nil {
			fn(nc, rest)
		}
	}
}

// expire closes a socket whose head did not come within the login timeout.
func (h *head) expire() {
	h.mu.Lock()
	if h.done {
		h.mu.Unlock()
		return
	}
	h.done = true
	h.mu.Unlock()
	_ = h.nc.Close()
}

// headClosed is called when the socket closes (see newWSEngine).
func (h *head) headClosed() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.done = true
	if h.timer != nil {
		h.timer.Stop()
	}
}

// handOffLocked gives the socket to net/http with the bytes read so far.
// h.mu is held; it is released.
func (h *head) handOffLocked() {
	h.done = true
	h.timer.Stop()
	buf := h.buf
	h.buf = nil
	h.mu.Unlock()
	fd, err := h.f.s.ws.eng.DetachConn(h.nc)
	if err != nil {
		_ = h.nc.Close()
		return
	}
	go h.f.handOff(fd, buf)
}

// headWriter is the http.ResponseWriter of an upgrade request read by the
// front: the upgrader hijacks the socket, or the response is written by
// finish and the socket closed.
type headWriter struct {
	nc       *nbio.Conn
	header   http.Header
	status   int
	body     []byte
	hijacked bool
}

func (w *headWriter) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header)
	}
	return w.header
}

func (w *headWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *headWriter) Write(b []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.body = append(w.body, b...)
	return len(b), nil
}

func (w *headWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	w.hijacked = true
	return w.nc, nil, nil
}

// finish writes the response and closes the socket.
func (w *headWriter) finish() {
	status := w.status
	if status == 0 {
		status = http.StatusOK
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "HTTP/1.1 %03d %s\r\n", status, http.StatusText(status))
	h := w.Header()
	h.Del("Transfer-Encoding")
	h.Set("Content-Length", strconv.Itoa(len(w.body)))
	h.Set("Connection", "close")
	if h.Get("Date") == "" {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	_ = h.Write(&b)
	b.WriteString("\r\n")
	b.Write(w.body)
	writeAndClose(w.nc, b.Bytes())
}

// respond answers with status and a plain-text message, and closes the
// socket.
func respond(nc *nbio.Conn, status int, msg string) {
	w := &headWriter{nc: nc}
	w.Header().Set("X-Request-Id", httpx.NewRequestID()) // as on every response
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, msg+"\n")
	w.finish()
}

// writeAndClose writes b and closes the socket. What the kernel does not
// take at once is dropped: these responses are a few hundred bytes, on a
// socket that has written nothing before.
func writeAndClose(nc *nbio.Conn, b []byte) {
	if _, err := nc.Write(b); err != nil {
		return // closed
	}
	_ = nc.CloseWithError(nil)
}
