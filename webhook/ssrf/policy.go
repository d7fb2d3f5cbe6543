package ssrf

import (
	"errors"
	"fmt"
	"net/netip"
)

// ErrForbidden is wrapped by every error that refuses a destination address.
var ErrForbidden = errors.New("webhook destination forbidden")

// Policy says which destination addresses webhook deliveries may reach.
//
// The zero Policy is the strict production policy: it refuses loopback,
// private (RFC 1918, RFC 4193 fc00::/7, CGNAT 100.64.0.0/10), link-local
// (169.254.0.0/16, fe80::/10), unspecified and 0.0.0.0/8, multicast,
// broadcast, documentation, benchmarking and other reserved ranges, the same
// addresses written as IPv4-mapped IPv6 or embedded in NAT64 (64:ff9b::/96)
// and 6to4 (2002::/16) addresses, and the cloud metadata addresses
// 169.254.169.254, fd00:ec2::254 and 100.100.100.200.
type Policy struct {
	// AllowLoopback permits 127.0.0.0/8 and ::1, and plain-http URLs whose
	// host is loopback, for local development. Embedded mode sets it by
	// default. Zero (false) refuses loopback.
	AllowLoopback bool

	// AllowPrivate permits private networks: 10.0.0.0/8, 172.16.0.0/12,
	// 192.168.0.0/16, 100.64.0.0/10 (CGNAT), fc00::/7 (unique local),
	// fec0::/10 (deprecated site-local) and 64:ff9b:1::/48 (local NAT64).
	// It does not permit link-local or metadata addresses. Zero (false)
	// refuses private addresses.
	AllowPrivate bool

	// Allowed lists operator exceptions: an address inside one of these
	// prefixes is permitted whatever its class, except a cloud metadata
	// address, which is permitted only when listed exactly as a single
	// address (for example 169.254.169.254/32), so that allowing a whole
	// network never exposes the metadata service by accident. IPv4-mapped
	// IPv6 prefixes are treated as their IPv4 form; invalid prefixes are
	// ignored. Nil or empty means no exceptions.
	Allowed []netip.Prefix
}

// AddrError is the error [Policy.CheckAddr] returns for a refused address. It
// wraps [ErrForbidden].
type AddrError struct {
	// Addr is the refused address, IPv4-mapped IPv6 unmapped and zone removed.
	Addr netip.Addr
	// Embedded is the IPv4 address inside a NAT64 or 6to4 Addr whose class
	// caused the refusal; the zero Addr otherwise.
	Embedded netip.Addr
	// Reason is the class of the address: "loopback", "private",
	// "link-local", "metadata", "unspecified", "multicast", "broadcast",
	// "documentation", "benchmarking", "reserved" or "invalid".
	Reason string
}

// Error says which address was refused and why.
func (e *AddrError) Error() string {
	if e.Embedded.IsValid() {
		return fmt.Sprintf("address %s (embedding %s) is %s: %v", e.Addr, e.Embedded, e.Reason, ErrForbidden)
	}
	return fmt.Sprintf("address %s is %s: %v", e.Addr, e.Reason, ErrForbidden)
}

// Unwrap returns [ErrForbidden].
func (e *AddrError) Unwrap() error { return ErrForbidden }

// CheckAddr returns nil if a webhook may connect to a, or an [*AddrError]
// wrapping [ErrForbidden] naming the class of address that was refused.
func (p Policy) CheckAddr(a netip.Addr) error {
	if !a.IsValid() {
		return &AddrError{Addr: a, Reason: "invalid"}
	}
	a = a.Unmap().WithZone("")
	if isMetadata(a) {
		if p.allowedExactly(a) {
			return nil
		}
		return &AddrError{Addr: a, Reason: "metadata"}
	}
	if p.allowedByOperator(a) {
		return nil
	}
	if v4, ok := embeddedIPv4(a); ok {
		return p.checkEmbedded(a, v4)
	}
	switch c := classify(a); {
	case c == classPublic,
		c == classLoopback && p.AllowLoopback,
		c == classPrivate && p.AllowPrivate:
		return nil
	default:
		return &AddrError{Addr: a, Reason: c.String()}
	}
}

// checkEmbedded checks the IPv4 address v4 carried inside the NAT64 or 6to4
// address a, reporting a refusal against a.
func (p Policy) checkEmbedded(a, v4 netip.Addr) error {
	err := p.CheckAddr(v4)
	var ae *AddrError
	if errors.As(err, &ae) {
		return &AddrError{Addr: a, Embedded: v4, Reason: ae.Reason}
	}
	return err
}

// allowedByOperator reports whether an Allowed prefix contains a.
func (p Policy) allowedByOperator(a netip.Addr) bool {
	for _, pfx := range p.Allowed {
		if normalizePrefix(pfx).Contains(a) {
			return true
		}
	}
	return false
}

// allowedExactly reports whether Allowed lists a as a single address.
func (p Policy) allowedExactly(a netip.Addr) bool {
	for _, pfx := range p.Allowed {
		pfx = normalizePrefix(pfx)
		if pfx.IsSingleIP() && pfx.Addr() == a {
			return true
		}
	}
	return false
}

// normalizePrefix turns an IPv4-mapped IPv6 prefix into its IPv4 form and
// masks it; an invalid prefix stays invalid and contains nothing.
func normalizePrefix(pfx netip.Prefix) netip.Prefix {
	if !pfx.IsValid() {
		return netip.Prefix{}
	}
	if a := pfx.Addr(); a.Is4In6() && pfx.Bits() >= 96 {
		pfx = netip.PrefixFrom(a.Unmap(), pfx.Bits()-96)
	}
	return pfx.Masked()
}
