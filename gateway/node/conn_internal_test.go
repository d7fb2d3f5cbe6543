package node

import (
	"context"
	"net/http"
	"net/http/httptest"
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
		ws: newWSEngine(maxOutbound)}
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
