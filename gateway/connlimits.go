package gateway

import (
	"net/netip"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// keyedLimiters holds a token bucket per key (a user, a client address),
// bounded in number: when full, it forgets the buckets that have refilled
// (forgetting them changes nothing), and if that is not enough, starts
// over. It is safe for concurrent use.
type keyedLimiters struct {
	limit rate.Limit
	burst int
	max   int

	mu sync.Mutex // guards m
	m  map[string]*rate.Limiter
}

func newKeyedLimiters(perSec float64, burst, max int) *keyedLimiters {
	return &keyedLimiters{limit: rate.Limit(perSec), burst: burst, max: max, m: make(map[string]*rate.Limiter)}
}

// allow spends one token of key's bucket and reports whether it had one.
func (k *keyedLimiters) allow(key string, now time.Time) bool {
	return k.allowBurst(key, k.burst, now)
}

// allowBurst is allow with a burst of the key's own (at least the
// limiters' burst), such as one that grows with an app's device limit.
func (k *keyedLimiters) allowBurst(key string, burst int, now time.Time) bool {
	burst = max(burst, k.burst)
	k.mu.Lock()
	defer k.mu.Unlock()
	lim, ok := k.m[key]
	if !ok {
		if len(k.m) >= k.max {
			k.sweepLocked(now)
		}
		lim = rate.NewLimiter(k.limit, burst)
		k.m[key] = lim
	} else if lim.Burst() != burst {
		lim.SetBurstAt(now, burst)
	}
	return lim.AllowN(now, 1)
}

// sweepLocked drops full buckets, or all of them if none is full.
func (k *keyedLimiters) sweepLocked(now time.Time) {
	for key, lim := range k.m {
		if lim.TokensAt(now) >= float64(lim.Burst()) {
			delete(k.m, key)
		}
	}
	if len(k.m) >= k.max {
		clear(k.m)
	}
}

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
func (g *Gateway) limitedAddr(addr string) bool {
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return true
	}
	for _, p := range g.cfg.UnlimitedAddresses {
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
