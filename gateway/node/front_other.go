//go:build !linux

package node

import (
	"net"
	"net/http"
)

// Front returns ln: off Linux, net/http reads every request, and hands
// the upgrades to client WebSockets over to the event loop.
func (s *Server) Front(ln net.Listener, _ func(http.Handler) http.Handler) net.Listener { return ln }

func unwrapFrontConn(c net.Conn) net.Conn { return c }
