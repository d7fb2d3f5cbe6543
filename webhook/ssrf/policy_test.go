package ssrf_test

import (
	"errors"
	"net/netip"
	"testing"

	"github.com/magpie-im/magpie/webhook/ssrf"
)

func TestCheckAddrZeroPolicy(t *testing.T) {
	tests := []struct {
		addr   string
		reason string // "" means allowed
	}{
		// Public.
		{"8.8.8.8", ""},
		{"1.1.1.1", ""},
		{"2606:4700:4700::1111", ""},
		{"::ffff:8.8.8.8", ""},
		{"64:ff9b::8.8.8.8", ""},
		{"2002:808:808::1", ""},
		{"172.32.0.1", ""},
		{"100.128.0.1", ""},
		// Loopback.
		{"127.0.0.1", "loopback"},
		{"127.255.255.254", "loopback"},
		{"::1", "loopback"},
		{"::ffff:127.0.0.1", "loopback"},
		{"64:ff9b::127.0.0.1", "loopback"},
		{"2002:7f00:1::1", "loopback"},
		// Private.
		{"10.1.2.3", "private"},
		{"172.16.0.1", "private"},
		{"172.31.255.255", "private"},
		{"192.168.1.1", "private"},
		{"100.64.0.1", "private"},
		{"100.127.255.255", "private"},
		{"fc00::1", "private"},
		{"fd12:3456::1", "private"},
		{"fec0::1", "private"},
		{"64:ff9b:1::a00:1", "private"},
		{"::ffff:10.0.0.1", "private"},
		{"64:ff9b::10.0.0.1", "private"},
		{"64:ff9b::192.168.0.1", "private"},
		// Link-local.
		{"169.254.1.1", "link-local"},
		{"fe80::1", "link-local"},
		{"fe80::1%eth0", "link-local"},
		{"::ffff:169.254.1.1", "link-local"},
		// Metadata.
		{"169.254.169.254", "metadata"},
		{"::ffff:169.254.169.254", "metadata"},
		{"64:ff9b::169.254.169.254", "metadata"},
		{"2002:a9fe:a9fe::1", "metadata"},
		{"fd00:ec2::254", "metadata"},
		{"100.100.100.200", "metadata"},
		// Unspecified and "this network".
		{"0.0.0.0", "unspecified"},
		{"0.1.2.3", "unspecified"},
		{"::", "unspecified"},
		{"::ffff:0.0.0.0", "unspecified"},
		// Multicast and broadcast.
		{"224.0.0.1", "multicast"},
		{"239.255.255.250", "multicast"},
		{"ff02::1", "multicast"},
		{"255.255.255.255", "broadcast"},
		{"::ffff:255.255.255.255", "broadcast"},
		// Documentation and benchmarking.
		{"192.0.2.1", "documentation"},
		{"198.51.100.1", "documentation"},
		{"203.0.113.1", "documentation"},
		{"2001:db8::1", "documentation"},
		{"3fff::1", "documentation"},
		{"198.18.0.1", "benchmarking"},
		{"198.19.255.255", "benchmarking"},
		{"2001:2::1", "benchmarking"},
		// Reserved.
		{"240.0.0.1", "reserved"},
		{"192.0.0.1", "reserved"},
		{"100::1", "reserved"},
		{"::7f00:1", "reserved"},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			err := ssrf.Policy{}.CheckAddr(netip.MustParseAddr(tt.addr))
			if got := reasonOf(t, err); got != tt.reason {
				t.Errorf("CheckAddr(%s) = %v, want reason %q", tt.addr, err, tt.reason)
			}
		})
	}
}

func TestCheckAddrPolicies(t *testing.T) {
	loopback := ssrf.Policy{AllowLoopback: true}
	private := ssrf.Policy{AllowPrivate: true}
	allowed := ssrf.Policy{Allowed: []netip.Prefix{
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("169.254.0.0/16"),
		netip.MustParsePrefix("100.64.0.0/10"),
		netip.MustParsePrefix("::ffff:192.168.7.0/120"),
		{}, // invalid: ignored
	}}
	exactMetadata := ssrf.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("169.254.169.254/32")}}
	tests := []struct {
		name   string
		policy ssrf.Policy
		addr   string
		reason string
	}{
		{"loopback allows 127.0.0.1", loopback, "127.0.0.1", ""},
		{"loopback allows ::1", loopback, "::1", ""},
		{"loopback allows mapped", loopback, "::ffff:127.0.0.2", ""},
		{"loopback refuses private", loopback, "10.0.0.1", "private"},
		{"loopback refuses unspecified", loopback, "0.0.0.0", "unspecified"},
		{"loopback refuses metadata", loopback, "169.254.169.254", "metadata"},
		{"private allows 10/8", private, "10.0.0.1", ""},
		{"private allows CGNAT", private, "100.64.0.1", ""},
		{"private allows ULA", private, "fd12::1", ""},
		{"private allows NAT64 of private", private, "64:ff9b::192.168.0.1", ""},
		{"private refuses loopback", private, "127.0.0.1", "loopback"},
		{"private refuses link-local", private, "169.254.1.1", "link-local"},
		{"private refuses AWS metadata v6", private, "fd00:ec2::254", "metadata"},
		{"private refuses Alibaba metadata", private, "100.100.100.200", "metadata"},
		{"allowed prefix", allowed, "10.1.2.3", ""},
		{"outside allowed prefix", allowed, "10.2.0.1", "private"},
		{"allowed mapped prefix", allowed, "192.168.7.9", ""},
		{"allowed link-local", allowed, "169.254.1.1", ""},
		{"broad prefix does not allow metadata", allowed, "169.254.169.254", "metadata"},
		{"broad prefix does not allow Alibaba metadata", allowed, "100.100.100.200", "metadata"},
		{"exact metadata allowed", exactMetadata, "169.254.169.254", ""},
		{"exact metadata allowed mapped", exactMetadata, "::ffff:169.254.169.254", ""},
		{"exact metadata not other", exactMetadata, "fd00:ec2::254", "metadata"},
		{"invalid address", ssrf.Policy{AllowLoopback: true, AllowPrivate: true}, "", "invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a netip.Addr
			if tt.addr != "" {
				a = netip.MustParseAddr(tt.addr)
			}
			err := tt.policy.CheckAddr(a)
			if got := reasonOf(t, err); got != tt.reason {
				t.Errorf("CheckAddr(%s) = %v, want reason %q", tt.addr, err, tt.reason)
			}
		})
	}
}

func TestAddrErrorEmbedded(t *testing.T) {
	a := netip.MustParseAddr("64:ff9b::7f00:1")
	err := ssrf.Policy{}.CheckAddr(a)
	var ae *ssrf.AddrError
	if !errors.As(err, &ae) {
		t.Fatalf("CheckAddr(%s) = %v, want *AddrError", a, err)
	}
	if ae.Addr != a || ae.Embedded != netip.MustParseAddr("127.0.0.1") {
		t.Errorf("AddrError = {Addr: %s, Embedded: %s}, want {%s, 127.0.0.1}", ae.Addr, ae.Embedded, a)
	}
	want := "address 64:ff9b::7f00:1 (embedding 127.0.0.1) is loopback: webhook destination forbidden"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q", err.Error(), want)
	}
}

// reasonOf returns "" for nil, else the Reason of err, which must be an
// *AddrError wrapping ErrForbidden.
func reasonOf(t *testing.T, err error) string {
	t.Helper()
	if err == nil {
		return ""
	}
	if !errors.Is(err, ssrf.ErrForbidden) {
		t.Errorf("error %v does not wrap ErrForbidden", err)
	}
	var ae *ssrf.AddrError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v is not an *AddrError", err)
	}
	return ae.Reason
}
