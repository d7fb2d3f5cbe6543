package gateway_test

import (
	"context"
	"net"
	"syscall"
	"testing"

	"github.com/magpie-im/magpie/gateway"
)

// TestListenAcceptsWithoutKeepAlive: the sockets a gateway accepts have no
// TCP keep-alive (and so none of its setsockopt calls), and still no delay.
func TestListenAcceptsWithoutKeepAlive(t *testing.T) {
	ln, err := gateway.Listen(context.Background(), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	a, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	rc, err := a.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var keepAlive, noDelay int
	var serr, nerr error
	if err := rc.Control(func(fd uintptr) {
		keepAlive, serr = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_KEEPALIVE)
		noDelay, nerr = syscall.GetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_NODELAY)
	}); err != nil || serr != nil || nerr != nil {
		t.Fatal(err, serr, nerr)
	}
	if keepAlive != 0 || noDelay == 0 {
		t.Fatalf("accepted socket: SO_KEEPALIVE %d, TCP_NODELAY %d; want 0 and on", keepAlive, noDelay)
	}
}
