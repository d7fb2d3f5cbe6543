package ssrf

import (
	"net/netip"
	"slices"
)

// class is the kind of special-purpose range an address belongs to.
type class int

const (
	classPublic class = iota
	classLoopback
	classPrivate
	classLinkLocal
	classUnspecified
	classMulticast
	classBroadcast
	classDocumentation
	classBenchmarking
	classReserved
)

// String returns the reason reported in [AddrError].
func (c class) String() string {
	switch c {
	case classLoopback:
		return "loopback"
	case classPrivate:
		return "private"
	case classLinkLocal:
		return "link-local"
	case classUnspecified:
		return "unspecified"
	case classMulticast:
		return "multicast"
	case classBroadcast:
		return "broadcast"
	case classDocumentation:
		return "documentation"
	case classBenchmarking:
		return "benchmarking"
	case classReserved:
		return "reserved"
	default:
		return "public"
	}
}

// metadataAddrs are cloud instance metadata services: AWS, GCP, Azure and
// others (169.254.169.254), AWS over IPv6 (fd00:ec2::254) and Alibaba Cloud
// (100.100.100.200).
var metadataAddrs = []netip.Addr{
	netip.MustParseAddr("169.254.169.254"),
	netip.MustParseAddr("fd00:ec2::254"),
	netip.MustParseAddr("100.100.100.200"),
}

// specialRanges maps special-purpose ranges (IANA IPv4 and IPv6
// Special-Purpose Address Registries) to their class. The first match wins,
// so narrower ranges come before the ranges containing them.
var specialRanges = []struct {
	prefix netip.Prefix
	class  class
}{
	// IPv4.
	{netip.MustParsePrefix("0.0.0.0/8"), classUnspecified}, // "this network"; 0.0.0.0 reaches the local host
	{netip.MustParsePrefix("10.0.0.0/8"), classPrivate},
	{netip.MustParsePrefix("100.64.0.0/10"), classPrivate}, // CGNAT shared address space
	{netip.MustParsePrefix("127.0.0.0/8"), classLoopback},
	{netip.MustParsePrefix("169.254.0.0/16"), classLinkLocal},
	{netip.MustParsePrefix("172.16.0.0/12"), classPrivate},
	{netip.MustParsePrefix("192.0.0.0/24"), classReserved}, // IETF protocol assignments
	{netip.MustParsePrefix("192.0.2.0/24"), classDocumentation},
	{netip.MustParsePrefix("192.88.99.0/24"), classReserved}, // deprecated 6to4 relay anycast
	{netip.MustParsePrefix("192.168.0.0/16"), classPrivate},
	{netip.MustParsePrefix("198.18.0.0/15"), classBenchmarking},
	{netip.MustParsePrefix("198.51.100.0/24"), classDocumentation},
	{netip.MustParsePrefix("203.0.113.0/24"), classDocumentation},
	{netip.MustParsePrefix("224.0.0.0/4"), classMulticast},
	{netip.MustParsePrefix("255.255.255.255/32"), classBroadcast},
	{netip.MustParsePrefix("240.0.0.0/4"), classReserved},

	// IPv6. IPv4-mapped (::ffff:0:0/96) never reaches here: it is unmapped.
	{netip.MustParsePrefix("::/128"), classUnspecified},
	{netip.MustParsePrefix("::1/128"), classLoopback},
	{netip.MustParsePrefix("::/96"), classReserved}, // deprecated IPv4-compatible
	{netip.MustParsePrefix("64:ff9b:1::/48"), classPrivate},
	{netip.MustParsePrefix("100::/64"), classReserved}, // discard-only
	{netip.MustParsePrefix("2001:2::/48"), classBenchmarking},
	{netip.MustParsePrefix("2001:db8::/32"), classDocumentation},
	{netip.MustParsePrefix("3fff::/20"), classDocumentation},
	{netip.MustParsePrefix("fc00::/7"), classPrivate}, // unique local
	{netip.MustParsePrefix("fe80::/10"), classLinkLocal},
	{netip.MustParsePrefix("fec0::/10"), classPrivate}, // deprecated site-local
	{netip.MustParsePrefix("ff00::/8"), classMulticast},
}

var (
	nat64Prefix = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour   = netip.MustParsePrefix("2002::/16")
)

// classify returns the class of the unmapped, zone-less address a.
func classify(a netip.Addr) class {
	for _, r := range specialRanges {
		if r.prefix.Contains(a) {
			return r.class
		}
	}
	return classPublic
}

// isMetadata reports whether a is a cloud metadata address.
func isMetadata(a netip.Addr) bool {
	return slices.Contains(metadataAddrs, a)
}

// embeddedIPv4 returns the IPv4 address carried by a NAT64 (64:ff9b::/96,
// RFC 6052) or 6to4 (2002::/16, RFC 3056) address.
func embeddedIPv4(a netip.Addr) (netip.Addr, bool) {
	b := a.As16()
	switch {
	case nat64Prefix.Contains(a):
		return netip.AddrFrom4([4]byte(b[12:16])), true
	case sixToFour.Contains(a):
		return netip.AddrFrom4([4]byte(b[2:6])), true
	default:
		return netip.Addr{}, false
	}
}
