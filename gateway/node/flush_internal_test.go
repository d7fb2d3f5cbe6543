package node

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeOutput is a connection with batches of output to write.
type fakeOutput struct {
	f       *flushers
	id      int
	batches int // left to write
	log     *flushLog
}

type flushLog struct {
	mu      sync.Mutex
	order   []int // connection ids, one per batch written
	busy    atomic.Int32
	maxBusy atomic.Int32
	done    sync.WaitGroup
}

func (o *fakeOutput) flushBatch(out, merged []byte) ([]byte, []byte, bool) {
	n := o.log.busy.Add(1)
	for {
		m := o.log.maxBusy.Load()
		if n <= m || o.log.maxBusy.CompareAndSwap(m, n) {
			break
		}
	}
	o.log.mu.Lock()
	o.log.order = append(o.log.order, o.id)
	o.log.mu.Unlock()
	o.batches--
	o.log.busy.Add(-1)
	if o.batches > 0 {
		return out, merged, true
	}
	o.log.done.Done()
	return out, merged, false
}

// waitFlushersDone waits until no flusher is busy: each has exited, or
// waits for output.
func waitFlushersDone(t *testing.T, f *flushers) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := f.running - f.idle
		f.mu.Unlock()
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d flushers still busy", n)
		}
		runtime.Gosched()
	}
}

// TestFlushersWaitForMore: flushers with nothing to write wait for the
// next output instead of exiting (a new one would grow its stack again),
// and exit once stopped.
func TestFlushersWaitForMore(t *testing.T) {
	f := newFlushers()
	for round := range 5 {
		var log flushLog
		log.done.Add(10)
		for i := range 10 {
			f.add(&fakeOutput{f: f, id: i, batches: 2, log: &log})
		}
		log.done.Wait()
		waitFlushersDone(t, f)
		f.mu.Lock()
		started, running, idle := f.started, f.running, f.idle
		f.mu.Unlock()
		if started > f.max || running != idle || running == 0 {
			t.Fatalf("round %d: %d flushers started, %d running, %d idle; want at most %d started, all idle", round, started, running, idle, f.max)
		}
	}
	f.stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		f.mu.Lock()
		n := f.running
		f.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d flushers still running after stop", n)
		}
		runtime.Gosched()
	}
	// Output after the stop is still written, by a flusher that exits.
	var log flushLog
	log.done.Add(1)
	f.add(&fakeOutput{f: f, id: 0, batches: 1, log: &log})
	log.done.Wait()
}

// TestFlushersBoundAndTakeTurns: any number of connections with output
// are written by at most max flushers, and one with much output does not
// keep the others waiting: it goes back in line after each batch.
func TestFlushersBoundAndTakeTurns(t *testing.T) {
	f := newFlushers()
	var log flushLog
	const conns = 500
	log.done.Add(conns)
	f.mu.Lock() // every connection is in line before the first batch
	f.q.PushBack(&fakeOutput{f: f, id: 0, batches: 50, log: &log})
	for i := 1; i < conns; i++ {
		f.q.PushBack(&fakeOutput{f: f, id: i, batches: 1, log: &log})
	}
	f.running, f.started = 1, 1
	f.mu.Unlock()
	go f.loop()
	for range f.max - 1 { // the others' adds start the rest
		f.mu.Lock()
		f.running++
		f.started++
		f.mu.Unlock()
		go f.loop()
	}
	log.done.Wait()
	if got := log.maxBusy.Load(); got > int32(f.max) {
		t.Fatalf("%d batches written at once, want at most %d", got, f.max)
	}
	// The busy connection's second batch comes after every other
	// connection's first, in a line of one flusher; with max flushers,
	// after all but max of them.
	second := -1
	seenBusy := 0
	for i, id := range log.order {
		if id == 0 {
			if seenBusy++; seenBusy == 2 {
				second = i
				break
			}
		}
	}
	if second < conns-1-f.max {
		t.Fatalf("the busy connection's second batch was the %dth written, want after the %d others' first", second, conns-1-f.max)
	}
	if len(log.order) != conns-1+50 {
		t.Fatalf("%d batches written, want %d", len(log.order), conns-1+50)
	}
	waitFlushersDone(t, f)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started != f.max {
		t.Fatalf("after the output: %d flushers running, %d started; want 0, %d", f.running, f.started, f.max)
	}
}

// TestFlushersStartOnAdd: adds start flushers up to max, and none while
// max run.
func TestFlushersStartOnAdd(t *testing.T) {
	f := newFlushers()
	var log flushLog
	const conns = 100
	log.done.Add(conns)
	for i := range conns {
		f.add(&fakeOutput{f: f, id: i, batches: 3, log: &log})
	}
	log.done.Wait()
	if got := log.maxBusy.Load(); got > int32(f.max) {
		t.Fatalf("%d batches written at once, want at most %d", got, f.max)
	}
	waitFlushersDone(t, f)
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.started > conns || f.q.Len() != 0 {
		t.Fatalf("%d flushers started, %d running, %d in line", f.started, f.running, f.q.Len())
	}
}
