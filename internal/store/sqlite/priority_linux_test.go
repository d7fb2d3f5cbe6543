//go:build linux

package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/store"
)

// threadNice reads the nice value of the process's thread tid; false once
// the thread has ended. (The raw getpriority system call answers 20 - nice.)
func threadNice(t *testing.T, tid int) (int, bool) {
	t.Helper()
	prio, err := syscall.Getpriority(syscall.PRIO_PROCESS, tid)
	if errors.Is(err, syscall.ESRCH) {
		return 0, false
	}
	if err != nil {
		t.Fatalf("getpriority of thread %d: %v", tid, err)
	}
	return 20 - prio, true
}

// threadsAt lists the process's threads whose nice value is nice.
func threadsAt(t *testing.T, nice int) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/task")
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, e := range ents {
		tid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if n, ok := threadNice(t, tid); ok && n == nice {
			out = append(out, tid)
		}
	}
	return out
}

// mayRaise reports whether this process may lower a thread's nice value
// (root, CAP_SYS_NICE or RLIMIT_NICE), trying it on a thread of its own
// that ends with the goroutine. The test's Stores use other values.
func mayRaise() bool {
	ok := make(chan bool)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
		ok <- syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), -3) == nil
	}()
	return <-ok
}

// The writer commits on a thread of its own at the nice value asked for,
// when the process may set it; no other thread gets that priority (not
// the threads Go starts while the writer holds its own), and the thread
// ends when the Store closes. A process that may not set it still writes.
func TestWriterThreadPriority(t *testing.T) {
	const nice = -7
	permitted := mayRaise()
	s := openTemp(t, WithWriterNice(nice))
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	// Concurrent appends: commits, fsyncs and the threads Go starts while
	// the writer is in them.
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				_, err := a.AppendMessages(context.Background(), []store.Draft{{
					ConvID: "p:ann:bob", Members: []string{"bob"}, SenderID: "ann", ClientMsgID: fmt.Sprintf("m%d-%d", g, i),
					Type: "text", Body: []byte(`{"text":"x"}`), CreatedAt: time.UnixMilli(1_700_000_000_000),
				}})
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("append: %v", err)
	}
	tid := int(s.shared.tid.Load())
	if !permitted {
		if tid != 0 {
			t.Fatalf("writer thread %d raised, but this process may not raise a thread", tid)
		}
		if got := threadsAt(t, nice); len(got) != 0 {
			t.Fatalf("threads %v at nice %d", got, nice)
		}
		return
	}
	if tid == 0 {
		t.Fatal("the writer kept the shared threads, though this process may raise one")
	}
	if n, ok := threadNice(t, tid); !ok || n != nice {
		t.Fatalf("writer thread %d: nice %d (alive %v), want %d", tid, n, ok, nice)
	}
	if got := threadsAt(t, nice); len(got) != 1 || got[0] != tid {
		t.Fatalf("threads at nice %d: %v, want only the writer's %d", nice, got, tid)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The loop has returned; Go ends its locked thread as the goroutine
	// exits, just after. The process's main thread cannot end: a writer
	// that started on it leaves it parked for good, running nothing.
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := threadsAt(t, nice)
		if len(left) == 0 || len(left) == 1 && left[0] == tid && tid == os.Getpid() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads at nice %d after Close: %v (writer %d, main thread %d)", nice, left, tid, os.Getpid())
		}
		time.Sleep(time.Millisecond)
	}
}

// WithWriterNice(0) leaves the writer on Go's shared threads.
func TestWriterNiceZeroKeepsSharedThreads(t *testing.T) {
	s := openTemp(t, WithWriterNice(0))
	a := s.App("A")
	cacheUsers(t, a, "ann", "bob")
	appendOne(t, a, "p:ann:bob", "ann", "bob", "m")
	if tid := s.shared.tid.Load(); tid != 0 {
		t.Fatalf("writer on thread %d of its own, want none", tid)
	}
}
