package node

import (
	"net/netip"
	"sync"
)

// pendingConns counts the WebSockets of each client address that have not
// logged in yet, so that one address cannot hold thousands of
// unauthenticated sockets. It is safe for concurrent use.
type pendingConns struct {
	max int

	mu sync.Mutex // guards n
	n  map[string]int
}

func newPendingConns(max int) *pendingConns {
	return &pendingConns{max: max, n: make(map[string]int)}
}

// add counts one more pending socket of addr, unless addr already has max.
func (p *pendingConns) add(addr string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[addr] >= p.max {
		return false
	}
	p.n[addr]++
	return true
}

// done uncounts a socket counted by add.
func (p *pendingConns) done(addr string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.n[addr] <= 1 {
		delete(p.n, addr)
		return
	}
	p.n[addr]--
}

// limitedAddr reports whether per-address limits apply to addr: all but
// Config.UnlimitedAddresses.
func (s *Server) limitedAddr(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return true
	}
	for _, p := range s.cfg.UnlimitedAddresses {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
