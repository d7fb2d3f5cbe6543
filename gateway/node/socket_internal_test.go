package node

import (
	"runtime"
	"sync"
	"testing"
	"time"
)

// waitIdle waits until n readers wait for a read.
func waitIdle(t *testing.T, r *readers, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.idleCount() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers idle, want %d", r.idleCount(), n)
		}
		runtime.Gosched()
	}
}

func TestReadersReuseAndBlock(t *testing.T) {
	r := newReaders(0)
	defer r.stop()

	// A read that blocks does not hold up another socket's read.
	release := make(chan struct{})
	blocked := make(chan struct{})
	r.run(func(*[]byte) { close(blocked); <-release })
	<-blocked
	done := make(chan struct{})
	r.run(func(b *[]byte) {
		if len(*b) != readBufferSize {
			t.Errorf("read buffer of %d bytes, want %d", len(*b), readBufferSize)
		}
		close(done)
	})
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a read waited for another socket's blocked handler")
	}
	close(release)
	waitIdle(t, r, 2)
	if got := r.started.Load(); got != 2 {
		t.Fatalf("%d readers started, want 2", got)
	}

	// Later reads run on the waiting readers: no new goroutine.
	for range 10 {
		ran := make(chan struct{})
		r.run(func(*[]byte) { close(ran) })
		<-ran
		waitIdle(t, r, 2)
	}
	if got := r.started.Load(); got != 2 {
		t.Fatalf("%d readers started after reuse, want 2", got)
	}
}

// TestReadersBoundRunning: however many reads come at once, no more than
// max readers run them while they make progress: the others wait in line,
// not in the scheduler's run queues.
func TestReadersBoundRunning(t *testing.T) {
	r := newReaders(0)
	r.stall = time.Hour // no watchdog: the reads do not block
	defer r.stop()
	const n = 2000
	gate := make(chan struct{})
	var wg sync.WaitGroup
	var order []int
	var mu sync.Mutex
	wg.Add(n)
	for i := range n {
		r.run(func(*[]byte) {
			<-gate // every read queued before the first ends
			mu.Lock()
			order = append(order, i)
			mu.Unlock()
			wg.Done()
		})
	}
	if got := r.started.Load(); got != int64(r.max) {
		t.Fatalf("%d readers started for %d reads, want %d", got, n, r.max)
	}
	close(gate)
	wg.Wait()
	if got := r.started.Load(); got != int64(r.max) {
		t.Fatalf("%d readers started, want %d", got, r.max)
	}
	if len(order) != n {
		t.Fatalf("%d reads ran, want %d", len(order), n)
	}
}

// TestReadersLineIsFIFO: reads leave the line in the order they came,
// also when it never empties (compaction).
func TestReadersLineIsFIFO(t *testing.T) {
	r := &readers{}
	var got []int
	in := 0
	push := func() {
		i := in
		in++
		r.line.PushBack(func(*[]byte) { got = append(got, i) })
	}
	for range 10 {
		push()
	}
	for range 5000 { // one in, one out: the line never empties
		push()
		r.next()(nil)
	}
	for f := r.next(); f != nil; f = r.next() {
		f(nil)
	}
	if len(got) != in {
		t.Fatalf("%d reads left the line, want %d", len(got), in)
	}
	for i, v := range got {
		if v != i {
			t.Fatalf("read %d left the line %dth", v, i)
		}
	}

}

// blockAll fills every reader of r with a read that blocks until the
// returned channel is closed; if say, each handler declares its wait
// (readers.blocking).
func blockAll(r *readers, say bool) chan struct{} {
	release := make(chan struct{})
	blocked := make(chan struct{}, r.max)
	for range r.max {
		r.run(func(*[]byte) {
			wait := func() { blocked <- struct{}{}; <-release }
			if say {
				r.blocking(wait)
			} else {
				wait()
			}
		})
	}
	for range r.max {
		<-blocked
	}
	return release
}

// runThree runs three reads behind the blocked ones and waits for them.
func runThree(t *testing.T, r *readers, why string) {
	t.Helper()
	done := make(chan struct{})
	for range 3 {
		r.run(func(*[]byte) { done <- struct{}{} })
	}
	for range 3 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal(why)
		}
	}
}

// TestReadersWatchdog: when every reader is blocked in a handler, the
// reads waiting in line get readers of their own.
func TestReadersWatchdog(t *testing.T) {
	r := newReaders(0)
	defer r.stop()
	release := blockAll(r, false)
	runThree(t, r, "a read waited for other sockets' blocked handlers")
	if got := r.started.Load(); got <= int64(r.max) {
		t.Fatalf("%d readers started, want more than %d", got, r.max)
	}
	close(release)
}

// TestReadersBlockingFreesTheSlot: a handler that says it waits
// (blocking) does not hold up the reads behind it, even with no watchdog.
func TestReadersBlockingFreesTheSlot(t *testing.T) {
	r := newReaders(0)
	r.stall = time.Hour // no watchdog
	defer r.stop()
	release := blockAll(r, true)
	runThree(t, r, "a read waited for handlers that said they wait")
	close(release)
}

// TestReadersWatchdogReaderDrainsTheLine: the reader the watchdog starts
// while every other is blocked runs every read in line, not one per
// stallAfter: a few clients whose handlers block cannot slow every other
// socket to one read per interval.
func TestReadersWatchdogReaderDrainsTheLine(t *testing.T) {
	r := newReaders(0)
	defer r.stop()
	release := blockAll(r, false)
	const n = 200
	var wg sync.WaitGroup
	wg.Add(n)
	for range n {
		r.run(func(*[]byte) { wg.Done() })
	}
	wg.Wait()
	if got := r.started.Load(); got > int64(r.max)+10 {
		t.Fatalf("%d readers started for %d reads behind %d blocked ones", got, n, r.max)
	}
	close(release)
}

func TestReadersBoundIdleAndStop(t *testing.T) {
	r := newReaders(0)
	n := maxIdleReaders + 8
	release := make(chan struct{})
	running := make(chan struct{}, n)
	for range n {
		r.run(func(*[]byte) { running <- struct{}{}; <-release })
	}
	for range n {
		<-running
	}
	close(release)
	waitIdle(t, r, r.max) // the watchdog's readers exited after their read
	r.stop()
	waitIdle(t, r, 0)
	// A read after the stop still runs, on a reader that then exits.
	ran := make(chan struct{})
	r.run(func(*[]byte) { close(ran) })
	<-ran
	waitIdle(t, r, 0)
}
