//go:build linux

package loadgen

import (
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// TestSourceSocketsTakeTheirPortAtConnect checks that a dialer bound to a
// source address leaves the port to connect(2) (IP_BIND_ADDRESS_NO_PORT)
// and still dials from that address, and that a dialer without one sets
// nothing.
func TestSourceSocketsTakeTheirPortAtConnect(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() }) // the dials complete in its backlog
	for _, tc := range []struct {
		local  *net.TCPAddr
		noPort int
	}{
		{&net.TCPAddr{IP: net.IPv4(127, 0, 0, 2)}, 1},
		{nil, 0},
	} {
		nc, err := newNetDialer(tc.local).Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { nc.Close() })
		rc, err := nc.(*net.TCPConn).SyscallConn()
		if err != nil {
			t.Fatal(err)
		}
		var got int
		var gerr error
		if err := rc.Control(func(fd uintptr) {
			got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_IP, unix.IP_BIND_ADDRESS_NO_PORT)
		}); err != nil || gerr != nil {
			t.Fatal(err, gerr)
		}
		if got != tc.noPort {
			t.Errorf("local %v: IP_BIND_ADDRESS_NO_PORT = %d, want %d", tc.local, got, tc.noPort)
		}
		if from := nc.LocalAddr().(*net.TCPAddr); tc.local != nil && !from.IP.Equal(tc.local.IP) {
			t.Errorf("dialed from %v, want %v", from, tc.local.IP)
		}
	}
}
