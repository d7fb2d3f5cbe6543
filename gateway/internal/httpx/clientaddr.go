package httpx

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// ClientAddr returns the address a request came from, for per-address
// limits (console logins, WebSocket handshakes). It is the TCP peer's IP,
// unless that peer is one of the trusted proxies: then the right-most
// X-Forwarded-For entry that is not itself a trusted proxy. A header sent
// by anyone else is ignored, so a client cannot choose its own address.
func ClientAddr(r *http.Request, trusted []netip.Prefix) string {
	peer := remoteIP(r.RemoteAddr)
	if !peer.IsValid() {
		return r.RemoteAddr
	}
	if !contains(trusted, peer) {
		return peer.String()
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		ip, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			break
		}
		ip = ip.Unmap()
		if !contains(trusted, ip) {
			return ip.String()
		}
	}
	return peer.String()
}

// contains reports whether ip is in one of prefixes.
func contains(prefixes []netip.Prefix, ip netip.Addr) bool {
	for _, p := range prefixes {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

func remoteIP(addr string) netip.Addr {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}
	}
	return ip.Unmap()
}
