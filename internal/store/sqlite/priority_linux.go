//go:build linux

package sqlite

import (
	"runtime"
	"syscall"
)

// raiseThread gives the calling goroutine an operating-system thread of its
// own at nice value nice, and returns the thread's id. The goroutine must
// not unlock the thread: when it returns, Go ends the thread with it (or,
// if it is the process's main thread, which cannot end, parks it for
// good), so the raised priority never passes to another goroutine. If the
// process may not set that priority (it needs root, CAP_SYS_NICE or an
// RLIMIT_NICE that allows it), the goroutine stays as it was and the error
// says why.
//
// The thread is locked before its priority changes: Go's first
// LockOSThread starts the thread that later clones the threads a locked
// one needs, and that must not inherit the priority.
func raiseThread(nice int) (int, error) {
	runtime.LockOSThread()
	tid := syscall.Gettid()
	if err := syscall.Setpriority(syscall.PRIO_PROCESS, tid, nice); err != nil {
		runtime.UnlockOSThread()
		return 0, err
	}
	return tid, nil
}
