//go:build linux

package node

import (
	"errors"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/lesismal/nbio"
	"golang.org/x/sys/unix"
)

// TestEpollWait: nbio.EpollWait (our copy's fifth patch, MAGPIE.md in
// third_party/nbio), which the gateway's event loop and the load tool's
// use, answers as epoll_wait does: nothing ready without a timeout or
// once a timeout ends, an event as soon as one is ready, and from a wait
// that blocked, with the only P left to the goroutine that makes the
// event. That it gives the P up at once is measured, not tested: see
// docs/benchmarks.md, "The event loop's P".
func TestEpollWait(t *testing.T) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(epfd)
	efd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(efd)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, efd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(efd)}); err != nil {
		t.Fatal(err)
	}
	events := make([]syscall.EpollEvent, 4)
	signal := func() {
		one := [8]byte{1}
		if _, err := unix.Write(efd, one[:]); err != nil {
			t.Error(err)
		}
	}
	drain := func() {
		var b [8]byte
		if _, err := unix.Read(efd, b[:]); err != nil {
			t.Error(err)
		}
	}
	ready := func(n int, err error) {
		t.Helper()
		if err != nil || n != 1 || int(events[0].Fd) != efd || events[0].Events&unix.EPOLLIN == 0 {
			t.Fatalf("EpollWait = %d, %v, first event %+v; want the eventfd (%d) readable", n, err, events[0], efd)
		}
	}

	for _, msec := range []int{0, 1} {
		if n, err := nbio.EpollWait(epfd, events, msec); n != 0 || err != nil {
			t.Fatalf("nothing ready, timeout %d ms: EpollWait = %d, %v; want 0, nil", msec, n, err)
		}
	}
	signal()
	n, err := nbio.EpollWait(epfd, events, -1) // ready before the call: no block
	ready(n, err)
	drain()

	// A wait that blocks on the one P there is: the goroutine that ends it
	// must get to run.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := nbio.EpollWait(epfd, events, -1)
		done <- result{n, err}
	}()
	runtime.Gosched() // most often the wait blocks before the signal; either way it must end
	signal()
	select {
	case r := <-done:
		ready(r.n, r.err)
	case <-time.After(10 * time.Second):
		t.Fatal("EpollWait did not return an event that is ready")
	}
	drain()

	if _, err := nbio.EpollWait(epfd, nil, 0); !errors.Is(err, syscall.EINVAL) {
		t.Fatalf("no room for events: err = %v; want EINVAL", err)
	}
	if _, err := nbio.EpollWait(-1, events, 0); !errors.Is(err, syscall.EBADF) {
		t.Fatalf("no epoll descriptor: err = %v; want EBADF", err)
	}
}
