package node

import (
	"runtime"
	"sync"

	"github.com/magpie-im/magpie/internal/deque"
)

// flushers write the connections' queued frames (conn.flushBatch) on a
// few goroutines shared by every connection, taking the connections in
// the order their output became due. A writer goroutine per connection
// with output, started when its first frame was queued, put hundreds of
// new goroutines in the scheduler's run queues at 14,000 msgs/s (one per
// acknowledgement, delivery and receipt written), ahead of the store's
// writer, which then waited for a core more than half the time
// (docs/benchmarks.md, "Seventh step"). The writes never block (the
// engine keeps what the socket does not take), so a few goroutines keep up
// with any number of connections; they exit when no connection has output.
type flushers struct {
	mu      sync.Mutex
	q       deque.Deque[flushable] // connections with output
	running int
	max     int
	// started counts the flusher goroutines started (tests).
	started int
}

// flushable is a connection as the flushers see it (conn.flushBatch).
type flushable interface {
	flushBatch(out, merged []byte) ([]byte, []byte, bool)
}

func newFlushers() *flushers { return &flushers{max: max(2, runtime.GOMAXPROCS(0))} }

// add schedules c, whose writing flag was just set, and starts a flusher
// unless max of them run.
func (f *flushers) add(c flushable) {
	f.mu.Lock()
	f.q.PushBack(c)
	start := f.running < f.max
	if start {
		f.running++
		f.started++
	}
	f.mu.Unlock()
	if start {
		go f.loop()
	}
}

// loop writes one batch of the first scheduled connection at a time, and
// puts a connection that has more back at the end of the line, so that
// one busy connection does not hold a flusher while others wait.
func (f *flushers) loop() {
	out, merged := getWriteBuf(), getWriteBuf()
	defer func() { putWriteBuf(out); putWriteBuf(merged) }()
	for {
		f.mu.Lock()
		if f.q.Len() == 0 {
			f.running--
			f.mu.Unlock()
			return
		}
		c := f.q.PopFront()
		f.mu.Unlock()
		var more bool
		if out, merged, more = c.flushBatch(out, merged); more {
			f.mu.Lock()
			f.q.PushBack(c)
			f.mu.Unlock()
		}
	}
}
