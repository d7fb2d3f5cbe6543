package node

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/magpie-im/magpie/internal/deque"
	"github.com/magpie-im/magpie/internal/nbiolog"
)

// Client WebSockets are event-driven (github.com/lesismal/nbio): net/http
// answers the upgrade request, then the socket is taken over by a poller,
// so that an idle connection holds no goroutine and no read or write
// buffer. When bytes arrive, one goroutine (per connection at a time)
// reads them into a pooled buffer, parses the frames and runs the
// connection's handler on each in order; a handler that blocks stops the
// reading of that socket only, as a blocked reader goroutine did. Writes
// never block: what the kernel does not take at once is kept by the
// engine, up to Config.MaxOutboundBytes per connection, and flushed by the
// poller. See docs/benchmarks.md ("Idle WebSocket connections") for why.

// readBufferSize is the size of the pooled buffers that sockets are read
// into; a frame larger than one read is assembled by the engine.
const readBufferSize = 16 << 10

var readBuffers = sync.Pool{New: func() any {
	b := make([]byte, readBufferSize)
	return &b
}}

// readers runs the reads of sockets (the engine's IOExecute), each with a
// pooled buffer, on a few goroutines kept for the next read: the reads
// wait in a line (FIFO) for one of at most max readers. A goroutine per
// read, or per read that found no reader waiting, put hundreds of new
// goroutines in the scheduler's run queues under load (at 16,000 msgs/s,
// 340 on average), ahead of the store's writer, the serial stage, which
// then waited for a core more than half the time (docs/benchmarks.md,
// "Seventh step"); a goroutine started per read also began on a small
// stack and grew it again in every frame's handler.
//
// A reader yields (runtime.Gosched) after each read: a goroutine a read
// woke (the store's writer, given a batch) runs next on that core, not
// after the reader's time slice.
//
// A handler may block. One that knows it will (a send waiting for its
// rate budget) says so (blocking): its reader does not count against max
// while it waits, and the reads behind it get a reader at once. For the
// others, when reads wait and no reader finished one for stallAfter, the
// watchdog starts one more reader, and again each stallAfter while that
// lasts, so a blocked handler holds up its own socket only, and the
// others for some milliseconds at most. A reader that finds the line
// empty exits if max others run unblocked, or if maxIdleReaders wait.
type readers struct {
	mu      sync.Mutex
	line    deque.Deque[func(*[]byte)] // reads waiting
	running int                        // reader goroutines, busy or idle
	idle    int                        // of which waiting for a read
	blocked int                        // of which in a handler's wait (blocking)
	max     int
	stall   time.Duration // stallAfter, but for tests
	watched bool          // the watchdog timer is set
	seen    uint64        // done, when the watchdog last looked
	watch   *time.Timer

	wake chan struct{} // wakes idle readers; buffered, never blocks run
	quit chan struct{} // closed when the engine stops: idle readers exit
	done atomic.Uint64 // reads finished
	// started counts the reader goroutines started (tests).
	started atomic.Int64
}

const (
	// maxIdleReaders bounds the reader goroutines kept waiting for a read.
	maxIdleReaders = 32
	// stallAfter is how long reads wait while every reader is busy and
	// none finishes before the watchdog starts another reader: longer
	// than the scheduler's time slice (10 ms), for which two CPU-bound
	// goroutines (the store's writer and absorber) may hold both cores of
	// a small machine while the readers make progress on none.
	stallAfter = 25 * time.Millisecond
)

// newReaders returns readers of which at most max run at once while none
// is blocked; zero means 4 * GOMAXPROCS.
func newReaders(max int) *readers {
	if max <= 0 {
		max = 4 * runtime.GOMAXPROCS(0)
	}
	r := &readers{
		max:   max,
		stall: stallAfter,
		wake:  make(chan struct{}, maxIdleReaders),
		quit:  make(chan struct{}),
	}
	r.watch = time.AfterFunc(time.Hour, r.check)
	r.watch.Stop()
	return r
}

// run queues read for a reader: an idle one, a new one if fewer than max
// run, else the first to finish its read (or the watchdog's).
func (r *readers) run(read func(*[]byte)) {
	r.mu.Lock()
	r.line.PushBack(read)
	switch {
	case r.idle > 0:
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default: // as many wake-ups wait as there are idle readers
		}
		return
	case r.running-r.blocked < r.max:
		r.running++
		r.mu.Unlock()
		r.start()
		return
	case !r.watched:
		r.watched, r.seen = true, r.done.Load()
		r.watch.Reset(r.stall)
	}
	r.mu.Unlock()
}

func (r *readers) start() {
	r.started.Add(1)
	go r.loop()
}

// check is the watchdog: reads wait, and none finished since the last
// look, so every reader is blocked in a handler: start one more.
func (r *readers) check() {
	r.mu.Lock()
	if r.line.Len() == 0 {
		r.watched = false
		r.mu.Unlock()
		return
	}
	stalled := r.done.Load() == r.seen
	r.seen = r.done.Load()
	if stalled {
		r.running++
	}
	r.watch.Reset(r.stall)
	r.mu.Unlock()
	if stalled {
		r.start()
	}
}

// next takes the first waiting read, or returns nil if none waits; call it
// with r.mu held.
func (r *readers) next() func(*[]byte) {
	if r.line.Len() == 0 {
		return nil
	}
	return r.line.PopFront()
}

func (r *readers) loop() {
	b := readBuffers.Get().(*[]byte)
	defer readBuffers.Put(b)
	r.mu.Lock()
	for {
		read := r.next()
		if read == nil {
			// One too many since a wait ended or the watchdog's: exit.
			if r.running-r.blocked > r.max || r.idle >= maxIdleReaders || r.stopped() {
				r.running--
				r.mu.Unlock()
				return
			}
			r.idle++
			r.mu.Unlock()
			select {
			case <-r.wake:
			case <-r.quit:
			}
			r.mu.Lock()
			r.idle--
			continue
		}
		r.mu.Unlock()
		*b = (*b)[:cap(*b)]
		read(b)
		r.done.Add(1)
		runtime.Gosched()
		r.mu.Lock()
	}
}

// blocking runs wait, a wait in a read's handler, as a blocked reader's:
// the reads behind it get another reader at once, as if it had finished.
// Call it on a reader (in a frame's handler).
func (r *readers) blocking(wait func()) {
	r.mu.Lock()
	r.blocked++
	start := r.line.Len() > 0 && r.idle == 0 && r.running-r.blocked < r.max
	if start {
		r.running++
	}
	r.mu.Unlock()
	if start {
		r.start()
	}
	defer func() {
		r.mu.Lock()
		r.blocked--
		r.mu.Unlock()
	}()
	wait()
}

// idleCount returns the readers waiting for a read (tests).
func (r *readers) idleCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.idle
}

func (r *readers) stopped() bool { return isClosed(r.quit) }

// isClosed reports whether c, a channel that is only ever closed, is.
func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// stop lets the idle readers exit; a read still running or waiting
// finishes first, and a read queued later runs on a reader that then
// exits.
func (r *readers) stop() { close(r.quit) }

// wsEngine is the event loop under a Server's client WebSockets. It starts
// with the first connection and stops with Close.
type wsEngine struct {
	eng     *nbhttp.Engine
	readers *readers
	flush   *flushers

	mu      sync.Mutex // guards the fields below
	started bool
	stopped bool
}

func newWSEngine(maxOutbound, maxReaders int, log *slog.Logger) *wsEngine {
	nbiolog.Use(log)
	rd := newReaders(maxReaders)
	eng := nbhttp.NewEngine(nbhttp.Config{
		Name:    "magpie-ws",
		NPoller: 1,
		// Edge-triggered, with reads on goroutines of their own: one
		// reader per socket at a time (the engine counts read events),
		// and the handlers run on it in order (ServerExecutor runs the
		// connection's jobs in the caller).
		EpollMod:                nbio.EPOLLET,
		AsyncReadInPoller:       true,
		IOExecute:               rd.run,
		ServerExecutor:          func(f func()) { f() },
		SupportServerOnly:       true,
		ReadBufferSize:          4 << 10, // the poller's own, unused with AsyncReadInPoller
		MaxWriteBufferSize:      maxOutbound,
		ReleaseWebsocketPayload: true,
	})
	// Text frames reach the JSON decoder as they are, which refuses
	// invalid UTF-8 with the protocol's own close code.
	eng.CheckUtf8 = func([]byte) bool { return true }
	// Counts the writes that reach each connection's socket, so that a
	// connection whose output waits can tell a slow reader from a stalled
	// one (conn.stallCheck).
	eng.OnWrittenSize(func(nc *nbio.Conn, _ []byte, _ int) {
		if ws, ok := nc.Session().(*websocket.Conn); ok {
			if c, ok := ws.Session().(*conn); ok {
				c.written.Add(1)
			}
		}
	})
	// A socket whose request head the front was reading (front_linux.go)
	// stops its timer.
	eng.OnClose(func(c net.Conn, _ error) {
		if nc, ok := c.(*nbio.Conn); ok {
			if h, ok := nc.Session().(interface{ headClosed() }); ok {
				h.headClosed()
			}
		}
	})
	return &wsEngine{eng: eng, readers: rd, flush: newFlushers()}
}

var errEngineStopped = errors.New("websocket engine stopped")

// start starts the engine unless it has started; it fails once the engine
// has been stopped.
func (e *wsEngine) start() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.stopped {
		return errEngineStopped
	}
	if e.started {
		return nil
	}
	if err := e.eng.Start(); err != nil {
		return fmt.Errorf("start websocket engine: %w", err)
	}
	e.started = true
	return nil
}

// stop stops the engine, closing the sockets it still holds.
func (e *wsEngine) stop() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.started && !e.stopped {
		e.eng.Stop()
	}
	if !e.stopped {
		e.readers.stop()
		e.flush.stop()
	}
	e.stopped = true
}

// upgrader returns an upgrader for one connection: its handlers are bound
// to c, and its read limit is c's (see conn.setReadLimit).
func (e *wsEngine) upgrader(c *conn, subprotocol string) *websocket.Upgrader {
	u := websocket.NewUpgrader()
	u.Engine = e.eng
	// Origins are checked against the app's allow-list at login, when
	// the app is known.
	u.CheckOrigin = func(*http.Request) bool { return true }
	if subprotocol != "" {
		u.Subprotocols = []string{subprotocol}
	}
	u.KeepaliveTime = 0 // the connection keeps its own deadlines
	u.MessageLengthLimit = loginFrameLimit
	u.OnMessage(func(_ *websocket.Conn, _ websocket.MessageType, data []byte) { c.onFrame(data) })
	u.SetCloseHandler(func(ws *websocket.Conn, code int, _ string) { c.peerClosed(ws, code) })
	u.OnClose(func(*websocket.Conn, error) { go c.end() })
	return u
}

// chooseSubprotocol returns the first subprotocol the client offers that
// is one of ours, or "".
func chooseSubprotocol(r *http.Request, ours []string) string {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			p = strings.TrimSpace(p)
			for _, o := range ours {
				if p == o {
					return p
				}
			}
		}
	}
	return ""
}
