package ssrf

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"
)

// Timeouts of the connections made by [Policy.Dialer] and [Policy.Transport].
const (
	DialTimeout           = 5 * time.Second
	TLSHandshakeTimeout   = 5 * time.Second
	ResponseHeaderTimeout = 5 * time.Second
	// DefaultClientTimeout bounds a whole request, body included, when
	// [Policy.Client] is given zero.
	DefaultClientTimeout = 10 * time.Second
	// maxResponseHeaderBytes bounds the headers a webhook receiver can send.
	maxResponseHeaderBytes = 64 << 10
)

// Control is a [net.Dialer] Control function: it refuses, with an error
// wrapping [ErrForbidden], to connect a socket to an address the policy
// forbids. The dialer calls it after DNS resolution with the address being
// connected to ("ip:port"), once per address tried, so a forbidden address of
// a host is skipped and a host whose addresses are all forbidden is not
// reached.
func (p Policy) Control(network, address string, _ syscall.RawConn) error {
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("check %s address %q: %w", network, address, ErrForbidden)
	}
	// The dialer wraps this error in a *net.OpError naming the address.
	return p.CheckAddr(ap.Addr())
}

// Dialer returns a dialer that connects only to addresses the policy permits
// (see [Policy.Control]), with a [DialTimeout] connect timeout.
func (p Policy) Dialer() *net.Dialer {
	return &net.Dialer{
		Timeout: DialTimeout,
		Control: p.Control,
	}
}

// Transport returns a clone of [http.DefaultTransport] that dials with
// [Policy.Dialer], never uses a proxy (a proxy would connect on our behalf,
// out of reach of the check), and times out dialing, the TLS handshake and
// waiting for response headers after 5 s each. Idle connections are kept
// and reused as in the default transport; a reused connection was checked
// when it was made.
func (p Policy) Transport() *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.Proxy = nil
	t.DialContext = p.Dialer().DialContext
	t.DialTLSContext = nil
	t.TLSHandshakeTimeout = TLSHandshakeTimeout
	t.ResponseHeaderTimeout = ResponseHeaderTimeout
	t.MaxResponseHeaderBytes = maxResponseHeaderBytes
	return t
}

// Client returns an HTTP client for webhook deliveries that uses
// [Policy.Transport] and bounds each request, body included, by timeout;
// zero means [DefaultClientTimeout].
//
// The client does not follow redirects: a 3xx response is returned to the
// caller like any other response (whose body the caller closes) and should
// count as a failed delivery. Webhook receivers have no reason to redirect, and not
// following means a redirect cannot point a delivery somewhere the
// configured URL was not allowed to go.
func (p Policy) Client(timeout time.Duration) *http.Client {
	if timeout == 0 {
		timeout = DefaultClientTimeout
	}
	return &http.Client{
		Transport: p.Transport(),
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}
