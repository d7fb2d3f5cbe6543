package node

import (
	"runtime"
	"testing"
	"time"
)

// waitIdle waits until n readers wait for a read.
func waitIdle(t *testing.T, r *readers, n int32) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for r.idle.Load() != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d readers idle, want %d", r.idle.Load(), n)
		}
		runtime.Gosched()
	}
}

func TestReadersReuseAndBlock(t *testing.T) {
	r := newReaders()
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

func TestReadersBoundIdleAndStop(t *testing.T) {
	r := newReaders()
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
	waitIdle(t, r, maxIdleReaders) // the others exited
	r.stop()
	waitIdle(t, r, 0)
	// A read after the stop still runs, on a reader that then exits.
	ran := make(chan struct{})
	r.run(func(*[]byte) { close(ran) })
	<-ran
	waitIdle(t, r, 0)
}
