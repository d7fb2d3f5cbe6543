package node

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/nbhttp"
	"github.com/lesismal/nbio/nbhttp/websocket"

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
// pooled buffer, on goroutines that are kept for the next read once
// theirs is done, up to maxIdleReaders of them waiting: a goroutine
// started per read began on a small stack and grew it again in every
// frame's handler (runtime.copystack was 4% of the server's CPU at 2,000
// msgs/s). A read that finds no idle reader gets a goroutine of its own,
// so a handler that blocks holds up only its socket, as before.
type readers struct {
	jobs chan func(*[]byte) // unbuffered: a send succeeds only if a reader waits
	quit chan struct{}      // closed when the engine stops: idle readers exit
	idle atomic.Int32
	// started counts the reader goroutines started (tests).
	started atomic.Int64
}

// maxIdleReaders bounds the reader goroutines kept waiting for a read.
const maxIdleReaders = 32

func newReaders() *readers {
	return &readers{jobs: make(chan func(*[]byte)), quit: make(chan struct{})}
}

// run runs read on an idle reader, or on a new one if none waits.
func (r *readers) run(read func(*[]byte)) {
	select {
	case r.jobs <- read:
	default:
		r.started.Add(1)
		go r.loop(read)
	}
}

func (r *readers) loop(read func(*[]byte)) {
	for {
		b := readBuffers.Get().(*[]byte)
		*b = (*b)[:cap(*b)]
		read(b)
		readBuffers.Put(b)
		if r.idle.Add(1) > maxIdleReaders {
			r.idle.Add(-1)
			return
		}
		select {
		case read = <-r.jobs:
			r.idle.Add(-1)
		case <-r.quit:
			r.idle.Add(-1)
			return
		}
	}
}

// stop lets the idle readers exit; a read still running finishes first.
func (r *readers) stop() { close(r.quit) }

// wsEngine is the event loop under a Server's client WebSockets. It starts
// with the first connection and stops with Close.
type wsEngine struct {
	eng     *nbhttp.Engine
	readers *readers

	mu      sync.Mutex // guards the fields below
	started bool
	stopped bool
}

func newWSEngine(maxOutbound int) *wsEngine {
	nbiolog.Use()
	rd := newReaders()
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
	return &wsEngine{eng: eng, readers: rd}
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
