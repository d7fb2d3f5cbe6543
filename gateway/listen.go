package gateway

import (
	"context"
	"fmt"
	"net"
)

// Listen opens the TCP port a gateway serves (the server API, the console
// and the client WebSockets) on addr. Accepted sockets get no TCP
// keep-alive: a WebSocket that falls silent is closed after 2.5 heartbeat
// intervals and an idle HTTP connection after the server's idle timeout,
// both sooner than keep-alive probes would find a dead peer, and Go's
// keep-alive settings cost four setsockopt calls per accepted socket, about
// one in seven of the system calls a login made (docs/benchmarks.md,
// "Logins by headers").
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	return ln, nil
}
