//go:build linux

package loadgen

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// bindNoPort makes the sockets nd binds to a source address take their
// port when they connect, not when they bind (IP_BIND_ADDRESS_NO_PORT).
// bind(2) must find a port that no socket of the address holds, those in
// TIME_WAIT included, and searches the range for one: after back-to-back
// runs had left 60,000-75,000 sockets in TIME_WAIT, that search took 91%
// of the tool's CPU in about a third of the runs, and their logins fell
// from 4,100-5,200/s to about 950. connect(2) needs only a port that is
// free towards the one destination. A kernel without the option (before
// 4.2) refuses it, and the socket binds as it did.
func bindNoPort(nd *net.Dialer) {
	nd.Control = func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { setBindNoPort(int(fd)) })
	}
}

// setBindNoPort sets IP_BIND_ADDRESS_NO_PORT on fd, where the kernel has it.
func setBindNoPort(fd int) {
	_ = unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT, 1)
}
