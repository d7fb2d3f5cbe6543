package node

import (
	"bytes"
	"context"
	"encoding/binary"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	nbws "github.com/lesismal/nbio/nbhttp/websocket"

	"github.com/magpie-im/magpie/sdk/go/wire"
)

// writerTestConn returns the server side of a WebSocket as a binary conn
// that no frame handler serves (its reads are ignored), for tests that
// drive its writer directly, and the client side.
func writerTestConn(ctx context.Context, t *testing.T) (*conn, *websocket.Conn) {
	t.Helper()
	return writerTestConnMax(ctx, t, 1<<20)
}

// writerTestConnMax is writerTestConn with maxOutbound as Config.MaxOutboundBytes.
func writerTestConnMax(ctx context.Context, t *testing.T, maxOutbound int) (*conn, *websocket.Conn) {
	t.Helper()
	s := &Server{cfg: Config{MaxOutboundBytes: maxOutbound}, hub: NewHub(nil, nil), pending: newPendingConns(1),
		ws: newWSEngine(maxOutbound, 0, slog.New(slog.DiscardHandler))}
	t.Cleanup(s.ws.stop)
	if err := s.ws.start(); err != nil {
		t.Fatal(err)
	}
	c := &conn{srv: s, codec: wire.ProtoCodec{}, msgType: nbws.BinaryMessage, stopped: true,
		quit: make(chan struct{}), closed: make(chan struct{}), flushed: make(chan struct{}), gone: make(chan struct{})}
	c.ctx, c.cancel = context.WithCancel(ctx)
	accepted := make(chan *nbws.Conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := s.ws.upgrader(c, "").UpgradeAndTransferConnToPoller(w, r, nil)
		if err != nil {
			t.Error(err)
			close(accepted)
			return
		}
		accepted <- ws
	}))
	t.Cleanup(srv.Close)
	client, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.CloseNow() })
	select {
	case c.ws = <-accepted:
	case <-time.After(5 * time.Second):
		t.Fatal("no connection accepted")
	}
	if c.ws == nil {
		t.FailNow()
	}
	c.ws.SetSession(c)
	return c, client
}

// TestStalledReaderIsClosed queues more than the sockets' buffers hold for
// a client that does not read: the connection is closed once output has
// waited writeTimeout. A client that reads it all is not closed, however
// long it then stays quiet.
func TestStalledReaderIsClosed(t *testing.T) {
	defer func(d time.Duration) { writeTimeout = d }(writeTimeout)
	writeTimeout = 200 * time.Millisecond
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	const total = 48 << 20 // past the kernel's buffers on loopback
	chunk := make([]byte, 256<<10)
	fill := func(c *conn) {
		for range total / len(chunk) {
			if !c.queue(chunk) {
				t.Fatal("queue refused")
			}
		}
	}

	t.Run("stalled", func(t *testing.T) {
		c, _ := writerTestConnMax(ctx, t, 2*total)
		fill(c)
		select {
		case <-c.gone:
		case <-ctx.Done():
			t.Fatal("a client that reads nothing was never closed")
		}
	})
	t.Run("drained", func(t *testing.T) {
		// A reader starved of CPU for a moment is still a reader: a
		// longer timeout keeps a loaded machine from failing this.
		writeTimeout = time.Second
		c, client := writerTestConnMax(ctx, t, 2*total)
		client.SetReadLimit(-1)
		fill(c)
		for n := 0; n < total; {
			_, data, err := client.Read(ctx)
			if err != nil {
				t.Fatalf("read after %d bytes: %v", n, err)
			}
			n += len(data)
		}
		select {
		case <-c.gone:
			t.Fatal("a client that read everything was closed")
		case <-time.After(5 * writeTimeout):
		}
	})
}

func TestRetryHint(t *testing.T) {
	base := 100 * time.Millisecond
	for _, tc := range []struct {
		n        int
		r        float64
		min, max time.Duration
	}{
		{0, 0, base, base},
		{0, 0.999, base, base * 3 / 2},
		{1, 0, 2 * base, 2 * base},
		{3, 0.5, 8 * base * 5 / 4, 8 * base * 5 / 4},
		{6, 0, maxRetryHint, maxRetryHint},                // 6.4 s, capped
		{1000, 0.999, maxRetryHint, maxRetryHint * 3 / 2}, // no overflow
	} {
		if got := retryHint(base, tc.n, tc.r); got < tc.min || got > tc.max {
			t.Errorf("retryHint(%v, %d, %v) = %v, want within [%v, %v]", base, tc.n, tc.r, got, tc.min, tc.max)
		}
	}
	if got := retryHint(0, 0, 0); got != time.Millisecond {
		t.Errorf("retryHint(0, 0, 0) = %v, want the 1 ms floor", got)
	}
}

// TestAppendWSFrame decodes the frames appendWSFrame writes, joined as the
// writer joins them, by RFC 6455's rules: each length form round-trips.
func TestAppendWSFrame(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 127, 65535, 65536, 70000}
	var buf []byte
	for i, n := range sizes {
		typ := nbws.BinaryMessage
		if i%2 == 1 {
			typ = nbws.TextMessage
		}
		buf = appendWSFrame(buf, typ, bytes.Repeat([]byte{byte(i + 1)}, n))
	}
	for i, n := range sizes {
		if len(buf) < 2 {
			t.Fatalf("frame %d: %d bytes left", i, len(buf))
		}
		b0, b1 := buf[0], buf[1]
		wantOp := byte(nbws.BinaryMessage)
		if i%2 == 1 {
			wantOp = byte(nbws.TextMessage)
		}
		if b0 != 0x80|wantOp || b1&0x80 != 0 {
			t.Fatalf("frame %d: header %#x %#x, want FIN, opcode %d, no mask", i, b0, b1, wantOp)
		}
		l, h := int(b1&0x7f), 2
		switch l {
		case 126:
			l, h = int(binary.BigEndian.Uint16(buf[2:4])), 4
		case 127:
			l, h = int(binary.BigEndian.Uint64(buf[2:10])), 10
		}
		wantH := 2
		if n >= 126 {
			wantH = 4
		}
		if n > 65535 {
			wantH = 10
		}
		if h != wantH {
			t.Fatalf("frame %d (%d bytes): header of %d bytes, want %d", i, n, h, wantH)
		}
		if l != n || !bytes.Equal(buf[h:h+l], bytes.Repeat([]byte{byte(i + 1)}, n)) {
			t.Fatalf("frame %d: payload of %d bytes, want %d bytes of %d", i, l, n, i+1)
		}
		buf = buf[h+l:]
	}
	if len(buf) != 0 {
		t.Fatalf("%d bytes after the last frame", len(buf))
	}
}

// TestShutdownWaitsForAConnectionBeingUpgraded: a connection whose
// upgrade was answered just before a Shutdown began, but which is not yet
// set up, is not drained (it closes itself once set up) yet Shutdown waits
// for it: the client must get its Close frame before the engine stops.
func TestShutdownWaitsForAConnectionBeingUpgraded(t *testing.T) {
	h := NewHub(nil, nil)
	c := &conn{}
	h.track(c)
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- h.Shutdown(ctx) }()
	waitingFor := func() bool { // Shutdown waits for the hub's connections
		h.mu.RLock()
		defer h.mu.RUnlock()
		return h.gone != nil
	}
	for !waitingFor() {
		select {
		case err := <-done:
			t.Fatalf("Shutdown returned (%v) with a connection being upgraded", err)
		case <-ctx.Done():
			t.Fatal("Shutdown never waited")
		default:
			runtime.Gosched()
		}
	}
	if h.ready(c) {
		t.Fatal("ready during a Shutdown: the connection would not close itself")
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned (%v) before the connection ended", err)
	default:
	}
	h.untrack(c) // its close has run
	if err := <-done; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
}
