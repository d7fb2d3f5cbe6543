// Magpie patch (MAGPIE.md, fifth patch): an epoll_wait that gives up its P
// while it blocks.

package nbio

import (
	"syscall"
	"unsafe"
)

// EpollWait waits for events on epfd, as syscall.EpollWait does, with one
// difference: it blocks only after a poll without a timeout found nothing
// ready, and then tells the runtime first, which hands the calling
// thread's P (its right to run Go code) to other goroutines at once.
//
// syscall.EpollWait keeps its P until the runtime's monitor thread takes
// it back, and the monitor takes it only from a call that lasted one of
// its ticks (20 µs to 10 ms): an event loop whose waits end every
// millisecond or so keeps it for good. On two cores that left the
// goroutines this loop made ready, and everything else, one P between
// them (docs/benchmarks.md, "The event loop's P").
//
// The call is epoll_pwait without a signal mask, which is epoll_wait and
// exists on every Linux architecture (arm64 has no epoll_wait).
func EpollWait(epfd int, events []syscall.EpollEvent, msec int) (int, error) {
	if len(events) == 0 {
		return 0, syscall.EINVAL
	}
	p := unsafe.Pointer(&events[0])
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(p), uintptr(len(events)), 0, 0, 0)
	if e == 0 && n == 0 && msec != 0 {
		n, e = epollWaitBlocking(epfd, p, len(events), msec)
	}
	if e != 0 {
		return 0, e
	}
	return int(n), nil
}

// epollWaitBlocking is epoll_wait between entersyscallblock and
// exitsyscall, as gVisor's blocking poll does. Nothing between the two
// may grow the stack or be preempted, hence nosplit and norace, and the
// call is a raw one.
//
//go:nosplit
//go:norace
func epollWaitBlocking(epfd int, events unsafe.Pointer, n, msec int) (uintptr, syscall.Errno) {
	entersyscallblock()
	r, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(epfd), uintptr(events), uintptr(n), uintptr(msec), 0, 0)
	exitsyscall()
	return r, e
}

// The runtime keeps both reachable by linkname, for this use
// (go.dev/issue/67401).
//
//go:linkname entersyscallblock runtime.entersyscallblock
func entersyscallblock()

//go:linkname exitsyscall runtime.exitsyscall
func exitsyscall()
