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
	s := &Server{cfg: Config{MaxOutboundBytes: 1 << 20}, hub: NewHub(nil, nil), pending: newPendingConns(1),
		ws: newWSEngine(1 << 20)}
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
	return c, client
}
