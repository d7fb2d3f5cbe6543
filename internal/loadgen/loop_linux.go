//go:build linux

package loadgen

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/lesismal/nbio"
	"golang.org/x/sys/unix"
)

// loop is the load tool's own event loop on Linux: one epoll instance and
// one goroutine that reads every socket the tool dialed with dialRaw.
//
// A login through net.Dialer and then nbio cost the tool about twice the
// system calls the login needs: Go's dial registers the socket with its
// own poller and asks the kernel for the socket's error and both
// addresses, and handing the socket to nbio duplicates it and closes the
// original (docs/benchmarks.md, "The load tool's own event loop"). A
// socket of this loop is made non-blocking, bound and connected with raw
// system calls and registered once; the upgrade and the login are parsed
// on the loop as every later frame is.
//
// Reads happen only on the loop's goroutine, and a socket's descriptor is
// closed only there, so a read never meets a descriptor that was closed
// and reused; writes come from any goroutine, under the socket's mutex,
// which the loop's close also takes.
type loop struct {
	epfd int
	evfd int // an eventfd that wakes the loop for closes and for stop

	mu      sync.Mutex // guards the fields below
	socks   map[int]*loopSock
	closing []*loopSock // closed by another goroutine, for the loop to finish
	stopped bool

	done chan struct{} // closed when the loop has returned
}

// loopSock is one socket of a loop. It implements socket.
type loopSock struct {
	l  *loop
	fd int
	c  *Conn

	dead atomic.Bool // closed: the loop reads it no more

	mu       sync.Mutex // guards the fields below and every use of fd but the loop's reads
	out      []byte     // what the kernel did not take yet
	outArmed bool       // EPOLLOUT is registered
	closed   bool
	err      error // why it closed
}

// loopOutLimit bounds what a socket holds of this side's frames while the
// server does not read them; past it the socket is closed (as nbio's
// MaxWriteBufferSize does for the other path).
const loopOutLimit = 4 << 20

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd)}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	l := &loop{epfd: epfd, evfd: evfd, socks: map[int]*loopSock{}, done: make(chan struct{})}
	go l.run()
	return l, nil
}

// dialRaw opens a non-blocking TCP socket from src (nil: the system's
// choice) to dst and starts connecting it; the connection completes, or
// fails, on the loop (the first write waits for it).
func dialRaw(src net.IP, dst *unix.SockaddrInet4) (int, error) {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, unix.IPPROTO_TCP)
	if err != nil {
		return -1, fmt.Errorf("socket: %w", err)
	}
	// As Go's dialer does: frames leave when written.
	if err := unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("setsockopt TCP_NODELAY: %w", err)
	}
	if src != nil {
		setBindNoPort(fd) // the port is chosen by connect(2): see bindNoPort
		sa := &unix.SockaddrInet4{}
		copy(sa.Addr[:], src.To4())
		if err := unix.Bind(fd, sa); err != nil {
			_ = unix.Close(fd)
			return -1, fmt.Errorf("bind %v: %w", src, err)
		}
	}
	if err := unix.Connect(fd, dst); err != nil && !errors.Is(err, unix.EINPROGRESS) {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("connect: %w", err)
	}
	return fd, nil
}

// add registers fd, whose bytes go to c, and returns its socket, which c
// writes to from then on (before the loop can read it); out is what is
// still to be written to it (the loop writes it when the socket can take
// it). On failure fd is closed.
func (l *loop) add(fd int, c *Conn, out []byte) (*loopSock, error) {
	s := &loopSock{l: l, fd: fd, c: c, out: out, outArmed: len(out) > 0}
	c.sk.Store(&sockRef{s})
	events := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	if s.outArmed {
		events |= unix.EPOLLOUT
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		_ = unix.Close(fd)
		return nil, net.ErrClosed
	}
	if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: events, Fd: int32(fd)}); err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	l.socks[fd] = s
	return s, nil
}

// stop closes every socket (each Conn's onClose runs) and ends the loop.
func (l *loop) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.wake()
	<-l.done
}

func (l *loop) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.evfd, one[:])
}

func (l *loop) run() {
	defer close(l.done)
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	for {
		n, err := nbio.EpollWait(l.epfd, events, -1) // gives up its P while it blocks
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			l.end(fmt.Errorf("epoll_wait: %w", err))
			return
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == l.evfd {
				if l.woken() {
					l.end(net.ErrClosed)
					return
				}
				continue
			}
			l.mu.Lock()
			s := l.socks[fd]
			l.mu.Unlock()
			if s == nil {
				continue
			}
			if ev.Events&unix.EPOLLOUT != 0 {
				s.flush()
			}
			if ev.Events&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
				s.read(buf)
			}
		}
	}
}

// woken finishes the sockets other goroutines closed; it reports whether
// the loop is to stop.
func (l *loop) woken() bool {
	var b [8]byte
	_, _ = unix.Read(l.evfd, b[:])
	l.mu.Lock()
	closing, stopped := l.closing, l.stopped
	l.closing = nil
	l.mu.Unlock()
	for _, s := range closing {
		l.finish(s)
	}
	return stopped
}

// end closes every socket with err and releases the loop's descriptors.
func (l *loop) end(err error) {
	l.mu.Lock()
	l.stopped = true
	all := make([]*loopSock, 0, len(l.socks))
	for _, s := range l.socks {
		all = append(all, s)
	}
	l.mu.Unlock()
	for _, s := range all {
		s.markClosed(err)
		l.finish(s)
	}
	_ = unix.Close(l.epfd)
	_ = unix.Close(l.evfd)
}

// finish removes a closed socket, closes its descriptor and tells its
// Conn. It runs on the loop, once per socket.
func (l *loop) finish(s *loopSock) {
	l.mu.Lock()
	mine := l.socks[s.fd] == s
	if mine {
		delete(l.socks, s.fd)
	}
	l.mu.Unlock()
	if !mine {
		return
	}
	s.mu.Lock()
	_ = unix.Close(s.fd) // also leaves the epoll set
	err := s.err
	s.mu.Unlock()
	s.c.onClose(err)
}

// read reads once (the loop is level-triggered: bytes left wake it again).
func (s *loopSock) read(buf []byte) {
	if s.dead.Load() {
		return
	}
	n, err := unix.Read(s.fd, buf)
	switch {
	case n > 0:
		s.c.onData(s, buf[:n])
	case err == nil: // n == 0: the server closed its side
		s.closeOnLoop(io.EOF)
	case errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EINTR):
	default:
		s.closeOnLoop(err)
	}
}

// Write writes b at once when nothing waits before it, and keeps what the
// kernel does not take for the loop to write when the socket can take it.
// It never blocks.
func (s *loopSock) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, s.err // why it closed: a refused connect, or net.ErrClosed
	}
	if len(s.out) > 0 {
		if len(s.out)+len(b) > loopOutLimit {
			s.closeLocked(errors.New("the server reads none of what this side writes"))
			return 0, s.err
		}
		s.out = append(s.out, b...)
		return len(b), nil
	}
	n, err := writeSome(s.fd, b)
	if err != nil {
		s.closeLocked(err)
		return 0, err
	}
	if n < len(b) {
		s.out = append(s.out, b[n:]...)
		s.armOut(true)
	}
	return len(b), nil
}

// flush writes what waits, on the loop, when the socket can take more.
func (s *loopSock) flush() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || len(s.out) == 0 {
		return
	}
	n, err := writeSome(s.fd, s.out)
	if err != nil {
		s.closeLocked(err)
		return
	}
	s.out = s.out[:copy(s.out, s.out[n:])]
	if len(s.out) == 0 {
		if cap(s.out) > 64<<10 {
			s.out = nil
		}
		s.armOut(false)
	}
}

// writeSome writes as much of b as the socket takes now: a full socket
// (or one still connecting) is not an error.
func writeSome(fd int, b []byte) (int, error) {
	off := 0
	for off < len(b) {
		n, err := unix.Write(fd, b[off:])
		switch {
		case err == nil:
			off += n
		case errors.Is(err, unix.EINTR):
		case errors.Is(err, unix.EAGAIN):
			return off, nil
		case errors.Is(err, unix.EPIPE):
			// A connect that failed: say why.
			if soerr, gerr := unix.GetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_ERROR); gerr == nil && soerr != 0 {
				err = unix.Errno(soerr)
			}
			return off, err
		default:
			return off, err
		}
	}
	return off, nil
}

// armOut asks the loop for EPOLLOUT, or stops asking. s.mu is held.
func (s *loopSock) armOut(on bool) {
	if s.outArmed == on {
		return
	}
	events := uint32(unix.EPOLLIN | unix.EPOLLRDHUP)
	if on {
		events |= unix.EPOLLOUT
	}
	if err := unix.EpollCtl(s.l.epfd, unix.EPOLL_CTL_MOD, s.fd, &unix.EpollEvent{Events: events, Fd: int32(s.fd)}); err != nil {
		s.closeLocked(fmt.Errorf("epoll_ctl: %w", err))
		return
	}
	s.outArmed = on
}

// Close closes the socket; the Conn's onClose follows on the loop.
func (s *loopSock) Close() error { return s.CloseWithError(net.ErrClosed) }

// CloseWithError closes the socket with err as the reason.
func (s *loopSock) CloseWithError(err error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closeLocked(err)
	return nil
}

// closeLocked marks the socket closed and hands it to the loop to finish.
// s.mu is held.
func (s *loopSock) closeLocked(err error) {
	if s.closed {
		return
	}
	s.closed, s.err = true, err
	s.out = nil
	s.dead.Store(true)
	s.l.mu.Lock()
	s.l.closing = append(s.l.closing, s)
	s.l.mu.Unlock()
	s.l.wake()
}

// markClosed marks the socket closed without queueing it.
func (s *loopSock) markClosed(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed, s.err = true, err
		s.out = nil
		s.dead.Store(true)
	}
}

// closeOnLoop closes the socket from the loop itself.
func (s *loopSock) closeOnLoop(err error) {
	s.markClosed(err)
	s.l.finish(s)
}

// haveLoop is whether the tool has its own event loop here (Linux only).
const haveLoop = true

// dialOnLoop dials the dialer's target from its next source address,
// writes first (the upgrade request) and registers the socket, for c,
// with the dialer's loop. The first write comes before the loop can see
// the socket, so that a refused connect is this write's error.
func (d *Dialer) dialOnLoop(c *Conn, first []byte) (socket, error) {
	l, err := d.loop()
	if err != nil {
		return nil, err
	}
	var src net.IP
	if len(d.srcs) > 0 {
		src = d.srcs[d.next.Add(1)%uint64(len(d.srcs))]
	}
	dst := &unix.SockaddrInet4{Port: int(d.dst.Port()), Addr: d.dst.Addr().As4()}
	fd, err := dialRaw(src, dst)
	if err != nil {
		return nil, err
	}
	n, err := writeSome(fd, first)
	if err != nil {
		_ = unix.Close(fd)
		return nil, fmt.Errorf("write upgrade request: %w", err)
	}
	var out []byte
	if n < len(first) {
		out = append(out, first[n:]...)
	}
	return l.add(fd, c, out)
}
