package ssrf_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/webhook/ssrf"
)

// fakeResolver answers from a fixed table and records the names asked.
type fakeResolver struct {
	hosts map[string][]string
	asked []string
}

func (r *fakeResolver) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	r.asked = append(r.asked, host)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if network != "ip" {
		return nil, fmt.Errorf("network %q, want ip", network)
	}
	raw, ok := r.hosts[host]
	if !ok {
		return nil, fmt.Errorf("lookup %s: no such host", host)
	}
	addrs := make([]netip.Addr, len(raw))
	for i, s := range raw {
		addrs[i] = netip.MustParseAddr(s)
	}
	return addrs, nil
}

func newFakeResolver() *fakeResolver {
	return &fakeResolver{hosts: map[string][]string{
		"hooks.example.com":  {"93.184.215.14", "2606:2800:21f:cb07:6820:80da:af6b:8b2c"},
		"internal.example":   {"10.0.0.7"},
		"mixed.example":      {"93.184.215.14", "192.168.1.1"},
		"rebind.example":     {"::ffff:127.0.0.1"},
		"metadata.example":   {"169.254.169.254"},
		"dev.example":        {"127.0.0.1", "::1"},
		"empty.example":      {},
		"nat64-priv.example": {"64:ff9b::a00:1"},
	}}
}

func TestCheckURL(t *testing.T) {
	zero := ssrf.Policy{}
	dev := ssrf.Policy{AllowLoopback: true}
	private := ssrf.Policy{AllowPrivate: true}
	tests := []struct {
		name   string
		policy ssrf.Policy
		url    string
		want   error // nil, ErrInvalidURL, ErrForbidden or errResolve
	}{
		{"https public name", zero, "https://hooks.example.com/magpie?x=1", nil},
		{"https public name with port", zero, "https://hooks.example.com:8443/", nil},
		{"https public IPv4", zero, "https://93.184.215.14/hook", nil},
		{"https public IPv6", zero, "https://[2606:4700:4700::1111]:443/hook", nil},
		{"upper-case scheme", zero, "HTTPS://hooks.example.com/", nil},

		{"ftp scheme", zero, "ftp://hooks.example.com/", ssrf.ErrInvalidURL},
		{"no scheme", zero, "hooks.example.com/hook", ssrf.ErrInvalidURL},
		{"javascript", zero, "javascript:alert(1)", ssrf.ErrInvalidURL},
		{"opaque https", zero, "https:hooks.example.com", ssrf.ErrInvalidURL},
		{"no host", zero, "https:///hook", ssrf.ErrInvalidURL},
		{"port only", zero, "https://:443/hook", ssrf.ErrInvalidURL},
		{"userinfo", zero, "https://user:pass@hooks.example.com/", ssrf.ErrInvalidURL},
		{"user only", zero, "https://user@hooks.example.com/", ssrf.ErrInvalidURL},
		{"fragment", zero, "https://hooks.example.com/#frag", ssrf.ErrInvalidURL},
		{"empty fragment", zero, "https://hooks.example.com/#", ssrf.ErrInvalidURL},
		{"port zero", zero, "https://hooks.example.com:0/", ssrf.ErrInvalidURL},
		{"port too big", zero, "https://hooks.example.com:65536/", ssrf.ErrInvalidURL},
		{"port not a number", zero, "https://hooks.example.com:https/", ssrf.ErrInvalidURL},
		{"empty port", zero, "https://hooks.example.com:/", ssrf.ErrInvalidURL},
		{"unparsable", zero, "https://[::1/", ssrf.ErrInvalidURL},
		{"control character", zero, "https://hooks.example.com/\n", ssrf.ErrInvalidURL},
		{"too long", zero, "https://hooks.example.com/" + strings.Repeat("a", ssrf.MaxURLLength), ssrf.ErrInvalidURL},
		{"decimal IP", dev, "https://2130706433/", ssrf.ErrInvalidURL},
		{"hex IP", dev, "https://0x7f000001/", ssrf.ErrInvalidURL},
		{"short IP", dev, "https://127.1/", ssrf.ErrInvalidURL},
		{"http public IP", zero, "http://93.184.215.14/hook", ssrf.ErrInvalidURL},
		{"http public IP in dev", dev, "http://93.184.215.14/hook", ssrf.ErrInvalidURL},
		{"http public name in dev", dev, "http://hooks.example.com/", ssrf.ErrInvalidURL},
		{"http private in private", private, "http://10.0.0.1/", ssrf.ErrInvalidURL},

		{"literal loopback", zero, "https://127.0.0.1:8080/hook", ssrf.ErrForbidden},
		{"literal loopback http", zero, "http://127.0.0.1:8080/hook", ssrf.ErrForbidden},
		{"literal IPv6 loopback", zero, "https://[::1]/hook", ssrf.ErrForbidden},
		{"literal mapped loopback", zero, "https://[::ffff:127.0.0.1]/hook", ssrf.ErrForbidden},
		{"literal metadata", dev, "http://169.254.169.254/latest/meta-data/", ssrf.ErrForbidden},
		{"literal zoned link-local", zero, "https://[fe80::1%25eth0]/", ssrf.ErrForbidden},
		{"literal unspecified", dev, "http://0.0.0.0:8080/", ssrf.ErrForbidden},
		{"localhost", zero, "https://localhost/hook", ssrf.ErrForbidden},
		{"LOCALHOST.", zero, "https://LOCALHOST./hook", ssrf.ErrForbidden},
		{"sub.localhost", zero, "https://app.localhost:3000/hook", ssrf.ErrForbidden},
		{"resolves private", zero, "https://internal.example/", ssrf.ErrForbidden},
		{"one address private", zero, "https://mixed.example/", ssrf.ErrForbidden},
		{"resolves mapped loopback", zero, "https://rebind.example/", ssrf.ErrForbidden},
		{"resolves metadata", private, "https://metadata.example/", ssrf.ErrForbidden},
		{"resolves NAT64 private", zero, "https://nat64-priv.example/", ssrf.ErrForbidden},

		{"dev literal loopback", dev, "https://127.0.0.1:8080/hook", nil},
		{"dev literal loopback http", dev, "http://127.0.0.1:8080/hook", nil},
		{"dev IPv6 loopback http", dev, "http://[::1]:8080/hook", nil},
		{"dev localhost http", dev, "http://localhost:8080/hook", nil},
		{"dev sub.localhost http", dev, "http://app.localhost/hook", nil},
		{"dev name resolving to loopback http", dev, "http://dev.example/", nil},
		{"private resolves private", private, "https://internal.example/", nil},

		{"unknown name", zero, "https://nxdomain.example/", errResolve},
		{"no addresses", zero, "https://empty.example/", errResolve},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newFakeResolver()
			err := tt.policy.CheckURL(context.Background(), tt.url, r)
			if !matches(err, tt.want) {
				t.Errorf("CheckURL(%q) = %v, want %v", tt.url, err, tt.want)
			}
		})
	}
}

// errResolve stands for a resolution failure: an error wrapping neither
// ErrInvalidURL nor ErrForbidden.
var errResolve = errors.New("resolution failure")

func matches(err, want error) bool {
	switch want {
	case nil:
		return err == nil
	case errResolve:
		return err != nil && !errors.Is(err, ssrf.ErrInvalidURL) && !errors.Is(err, ssrf.ErrForbidden)
	default:
		return errors.Is(err, want)
	}
}

func TestCheckURLLocalhostIsNotResolved(t *testing.T) {
	r := newFakeResolver()
	r.hosts["localhost"] = []string{"93.184.215.14"} // a lying resolver
	err := ssrf.Policy{}.CheckURL(context.Background(), "https://localhost/", r)
	if !errors.Is(err, ssrf.ErrForbidden) {
		t.Errorf("CheckURL(localhost) = %v, want ErrForbidden", err)
	}
	if len(r.asked) != 0 {
		t.Errorf("resolver asked for %q, want no lookups", r.asked)
	}
}

func TestCheckURLUsesContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := ssrf.Policy{}.CheckURL(ctx, "https://hooks.example.com/", newFakeResolver())
	if !errors.Is(err, context.Canceled) {
		t.Errorf("CheckURL with canceled context = %v, want context.Canceled", err)
	}
}

func TestCheckURLDefaultResolver(t *testing.T) {
	// Literal and localhost hosts never reach the resolver, so the default
	// one is safe to use without network access.
	p := ssrf.Policy{AllowLoopback: true}
	for _, u := range []string{"http://localhost:8080/", "https://[::1]/", "https://93.184.215.14/"} {
		if err := p.CheckURL(context.Background(), u, nil); err != nil {
			t.Errorf("CheckURL(%q, nil resolver) = %v, want nil", u, err)
		}
	}
}

func TestCheckURLMessages(t *testing.T) {
	tests := []struct {
		url  string
		want string
	}{
		{"ftp://x.example/", `invalid webhook URL: scheme "ftp", want https`},
		{"https://internal.example/", `webhook host "internal.example": address 10.0.0.7 is private: webhook destination forbidden`},
		{"http://93.184.215.14/", "invalid webhook URL: scheme http is allowed only for loopback hosts in development; use https"},
	}
	for _, tt := range tests {
		err := ssrf.Policy{}.CheckURL(context.Background(), tt.url, newFakeResolver())
		if err == nil || err.Error() != tt.want {
			t.Errorf("CheckURL(%q) = %v, want %q", tt.url, err, tt.want)
		}
	}
}
