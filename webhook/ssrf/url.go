package ssrf

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// MaxURLLength is the longest webhook URL CheckURL accepts, in bytes.
const MaxURLLength = 2048

// ErrInvalidURL is wrapped by every error that rejects a webhook URL as
// malformed or unsupported.
var ErrInvalidURL = errors.New("invalid webhook URL")

// Resolver resolves host names to addresses. [*net.Resolver] satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

var _ Resolver = (*net.Resolver)(nil)

// loopbackAddrs are what "localhost" and "*.localhost" mean (RFC 6761),
// whatever DNS says.
var loopbackAddrs = []netip.Addr{netip.IPv6Loopback(), netip.MustParseAddr("127.0.0.1")}

// CheckURL validates a webhook URL at configuration time. It requires an
// absolute https URL (plain http only when AllowLoopback is set and every
// address of the host is loopback, for local development) of at most
// [MaxURLLength] bytes, with a host, no user information, no fragment, and a
// port from 1 to 65535 if one is given. A literal IP host is checked with
// [Policy.CheckAddr]; a name is resolved with r (nil means
// [net.DefaultResolver]) within ctx, and every address must pass. "localhost"
// and names ending in ".localhost" are loopback and are not resolved.
//
// Errors wrap [ErrInvalidURL] or [ErrForbidden]; a resolution failure wraps
// neither and may be temporary. Passing CheckURL does not make later
// deliveries safe on its own (DNS can change): deliver with [Policy.Client].
func (p Policy) CheckURL(ctx context.Context, raw string, r Resolver) error {
	u, err := parseURL(raw)
	if err != nil {
		return err
	}
	addrs, err := lookupHost(ctx, u.Hostname(), r)
	if err != nil {
		return err
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return fmt.Errorf("webhook host %q: %w", u.Hostname(), err)
		}
	}
	if u.Scheme == "http" && !(p.AllowLoopback && allLoopback(addrs)) {
		return fmt.Errorf("%w: scheme http is allowed only for loopback hosts in development; use https", ErrInvalidURL)
	}
	return nil
}

// parseURL parses raw and checks everything about it that needs no DNS.
func parseURL(raw string) (*url.URL, error) {
	if len(raw) > MaxURLLength {
		return nil, fmt.Errorf("%w: %d bytes long, the limit is %d", ErrInvalidURL, len(raw), MaxURLLength)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidURL, err)
	}
	switch {
	case u.Scheme != "https" && u.Scheme != "http":
		return nil, fmt.Errorf("%w: scheme %q, want https", ErrInvalidURL, u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Errorf("%w: no host; want https://host/path", ErrInvalidURL)
	case u.User != nil:
		return nil, fmt.Errorf("%w: user information (user:password@) is not allowed; send credentials in headers", ErrInvalidURL)
	case strings.Contains(raw, "#"):
		return nil, fmt.Errorf("%w: fragment (#...) is not allowed", ErrInvalidURL)
	}
	if err := checkHost(u); err != nil {
		return nil, err
	}
	return u, nil
}

// checkHost checks the host and port of u.
func checkHost(u *url.URL) error {
	host := u.Hostname()
	if host == "" {
		return fmt.Errorf("%w: no host; want https://host/path", ErrInvalidURL)
	}
	if strings.HasSuffix(u.Host, ":") {
		return fmt.Errorf("%w: empty port after %q", ErrInvalidURL, host)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%w: port %q, want 1 to 65535", ErrInvalidURL, port)
		}
	}
	if _, err := netip.ParseAddr(host); err != nil && looksNumeric(host) {
		// Forms like 2130706433, 0x7f.1 or 127.1 are not IP addresses to Go
		// but some resolvers turn them into one.
		return fmt.Errorf("%w: host %q is neither an IP address nor a host name", ErrInvalidURL, host)
	}
	return nil
}

// looksNumeric reports whether the last label of host is a number (decimal or
// 0x hex), which no valid host name has.
func looksNumeric(host string) bool {
	host = strings.TrimSuffix(host, ".")
	label := host[strings.LastIndexByte(host, '.')+1:]
	_, err := strconv.ParseUint(label, 0, 64)
	return err == nil
}

// lookupHost returns the addresses of host: the address itself for an IP
// literal, loopback for localhost names, otherwise what r resolves.
func lookupHost(ctx context.Context, host string, r Resolver) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	if isLocalhost(host) {
		return loopbackAddrs, nil
	}
	if r == nil {
		r = net.DefaultResolver
	}
	addrs, err := r.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return nil, fmt.Errorf("resolve webhook host %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("resolve webhook host %q: no addresses", host)
	}
	return addrs, nil
}

// isLocalhost reports whether host is "localhost" or a name under it.
func isLocalhost(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}

// allLoopback reports whether every address is loopback.
func allLoopback(addrs []netip.Addr) bool {
	for _, a := range addrs {
		if !a.Unmap().IsLoopback() {
			return false
		}
	}
	return true
}
