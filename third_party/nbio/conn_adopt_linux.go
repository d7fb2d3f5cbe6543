// Magpie's patch to nbio v1.6.8: see MAGPIE.md ("Third patch").

//go:build linux

package nbio

import (
	"errors"
	"net"
	"syscall"
)

// NewTCPConn returns a Conn for fd, a connected, non-blocking TCP socket
// that the caller hands over: one it accepted itself, without the Go
// runtime's poller. Unlike NBConn it does not duplicate the descriptor.
// Add it to an Engine to serve it.
//
//go:norace
func NewTCPConn(fd int, lAddr, rAddr net.Addr) *Conn {
	return &Conn{fd: fd, lAddr: lAddr, rAddr: rAddr, typ: ConnTypeTCP}
}

// ErrDetachPending is returned by Detach for a connection that has output
// waiting to be written.
var ErrDetachPending = errors.New("nbio: detach with output pending")

// Detach takes c out of its poller without closing its descriptor, and
// returns the descriptor, which the caller then owns: c behaves as closed
// from then on (a read in progress ends, later ones fail), and its close
// handler does not run. A connection that has written nothing yet can be
// handed to other code this way, such as net/http through net.FileConn.
//
//go:norace
func (c *Conn) Detach() (int, error) {
	c.mux.Lock()
	defer c.mux.Unlock()
	if c.closed {
		return -1, net.ErrClosed
	}
	if c.typ != ConnTypeTCP {
		return -1, errors.New("nbio: detach of a connection that is not TCP")
	}
	if len(c.writeList) > 0 || len(c.writePrefix) > 0 || c.isWAdded {
		return -1, ErrDetachPending
	}
	if c.p != nil {
		// The registration belongs to the socket, not to the number: it
		// would outlive a close of this number while a duplicate is open.
		err := syscall.EpollCtl(c.p.epfd, syscall.EPOLL_CTL_DEL, c.fd, &syscall.EpollEvent{Fd: int32(c.fd)})
		if err != nil {
			return -1, err
		}
		if c.p.g.connsUnix[c.fd] == c {
			c.p.g.connsUnix[c.fd] = nil
		}
		// The engine counts its connections from open to close (its
		// OnOpen and OnClose wrappers), and Stop waits for the count.
		c.p.g.wgConn.Done()
	}
	c.closed = true
	c.closeErr = net.ErrClosed
	if c.rTimer != nil {
		c.rTimer.Stop()
		c.rTimer = nil
	}
	if c.wTimer != nil {
		c.wTimer.Stop()
		c.wTimer = nil
	}
	return c.fd, nil
}
