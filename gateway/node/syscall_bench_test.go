//go:build unix

package node

import (
	"io"
	"net"
	"syscall"
	"testing"
)

// BenchmarkLoopbackWrite measures what one socket write of a small frame
// costs on this machine's loopback, with a reader draining the other end:
// the unit that coalescing output saves (docs/benchmarks.md, "Lazy
// frames"). Most of it is the TCP work the write does for the receiving
// side, not the system call's entry and exit (BenchmarkNullWrite).
func BenchmarkLoopbackWrite(b *testing.B) {
	fd, stop := loopbackSocket(b)
	defer stop()
	frame := make([]byte, 64)
	b.ResetTimer()
	for b.Loop() {
		if _, err := syscall.Write(fd, frame); err != nil && err != syscall.EAGAIN {
			b.Fatal(err)
		}
	}
	b.StopTimer()
}

// loopbackSocket returns the descriptor of a loopback TCP socket whose
// other end a goroutine drains, and a function that closes both and waits
// for the goroutine.
func loopbackSocket(b *testing.B) (int, func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		_ = ln.Close()
		b.Fatal(err)
	}
	return rawFD(b, c.(*net.TCPConn)), func() {
		_ = c.Close()
		_ = ln.Close()
		<-done
	}
}

// BenchmarkNullWrite is the same write to /dev/null: the system call alone.
func BenchmarkNullWrite(b *testing.B) {
	f, err := syscall.Open("/dev/null", syscall.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	defer syscall.Close(f)
	frame := make([]byte, 64)
	for b.Loop() {
		if _, err := syscall.Write(f, frame); err != nil {
			b.Fatal(err)
		}
	}
}

func rawFD(b *testing.B, c *net.TCPConn) int {
	b.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	var fd int
	if err := rc.Control(func(f uintptr) { fd = int(f) }); err != nil {
		b.Fatal(err)
	}
	return fd
}
