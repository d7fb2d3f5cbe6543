package node

import (
	"runtime"
	"sync"
	"time"

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
// with any number of connections. A flusher with nothing to write waits
// for more (until stop): one that exited when the line emptied was started
// again for the next frame, on a small stack that the write path grew and
// copied every time; in a run of logins, where each LoginResult found the
// line empty, that was 4% of the server's CPU (docs/benchmarks.md, "The
// front").
type flushers struct {
	mu      sync.Mutex
	q       deque.Deque[flushable] // connections with output
	running int                    // flusher goroutines, busy or idle
	idle    int                    // of which waiting for output
	max     int
	// started counts the flusher goroutines started (tests).
	started int

	wake chan struct{} // wakes idle flushers; buffered, never blocks add
	quit chan struct{} // closed by stop: idle flushers exit

	lazyMu    sync.Mutex      // guards the fields below; taken after a conn's mu, never before
	lazy      []lazyFlushable // connections with only lazy frames queued
	lazyTimer *time.Timer     // flushes lazy lazyDelay after it stopped being empty
}

// flushable is a connection as the flushers see it (conn.flushBatch).
type flushable interface {
	flushBatch(out, merged []byte) ([]byte, []byte, bool)
}

// lazyFlushable is a connection waiting in the lazy line (conn.flushLazy).
type lazyFlushable interface {
	flushLazy()
}

// lazyDelay is how long a lazy frame (outFrame.lazy: a receipt, the Ok to
// a DeliverAck) queued alone waits for other output to its connection
// before it is written by itself. In a one-to-one conversation every
// message brings each side two frames that nobody waits on (the
// recipient's Ok, the sender's receipt) and two that someone does (the
// SendAck, the Deliver), each written apart when they come apart. On
// loopback a socket write costs 4 to 5 µs of CPU (BenchmarkLoopbackWrite):
// at 8,000 msgs/s the server's writes were about a third of what it spent
// on a message outside the store. In the load tool's shape most of these
// frames already share writes (a batch's replies go out together), and
// this took the writes per message from 3.10 to 3.00 at 8,000 msgs/s and
// from 1.30 to 1.12 at 14,000 (docs/benchmarks.md, "Lazy frames"). 25 ms
// is far below what a person notices on a delivery tick, and below the
// SDKs' 50 ms acknowledgement delay.
//
// A message to a large group is lazy too: every member's connection gets
// a write per fan-out batch otherwise, and in a 1,000-member group at
// 250,000 deliveries/s those writes were 44% of the server's CPU
// (docs/benchmarks.md, "A large group's deliveries wait for each other").
// A var for tests.
var lazyDelay = 25 * time.Millisecond

// later puts c in the lazy line: flushLazy is called lazyDelay from the
// first connection queued after the line was last emptied, for every
// connection queued by then. One timer serves all connections; an idle
// connection holds none.
func (f *flushers) later(c lazyFlushable) {
	f.lazyMu.Lock()
	defer f.lazyMu.Unlock()
	f.lazy = append(f.lazy, c)
	if len(f.lazy) > 1 {
		return // the timer runs
	}
	if f.lazyTimer == nil {
		f.lazyTimer = time.AfterFunc(lazyDelay, f.flushLazy)
		return
	}
	f.lazyTimer.Reset(lazyDelay)
}

// flushLazy empties the lazy line, scheduling the output of each
// connection in it whose lazy frames are still queued.
func (f *flushers) flushLazy() {
	f.lazyMu.Lock()
	due := f.lazy
	f.lazy = nil
	f.lazyMu.Unlock()
	for _, c := range due {
		c.flushLazy()
	}
}

func newFlushers() *flushers {
	n := max(2, runtime.GOMAXPROCS(0))
	return &flushers{max: n, wake: make(chan struct{}, n), quit: make(chan struct{})}
}

// add schedules c, whose writing flag was just set: an idle flusher takes
// it, or a new one unless max of them run.
func (f *flushers) add(c flushable) {
	f.mu.Lock()
	f.q.PushBack(c)
	if f.idle > 0 {
		f.mu.Unlock()
		select {
		case f.wake <- struct{}{}:
		default: // as many wake-ups wait as there are idle flushers
		}
		return
	}
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

// stop lets the idle flushers exit, and those busy once the line is empty.
func (f *flushers) stop() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !isClosed(f.quit) {
		close(f.quit)
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
			if isClosed(f.quit) {
				f.running--
				f.mu.Unlock()
				return
			}
			f.idle++
			f.mu.Unlock()
			select {
			case <-f.wake:
			case <-f.quit:
			}
			f.mu.Lock()
			f.idle--
			f.mu.Unlock()
			continue
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
