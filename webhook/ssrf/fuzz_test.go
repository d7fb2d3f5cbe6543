package ssrf_test

import (
	"context"
	"errors"
	"net/netip"
	"net/url"
	"strings"
	"testing"

	"github.com/magpie-im/magpie/webhook/ssrf"
)

// publicResolver resolves every name to one public address.
type publicResolver struct{}

func (publicResolver) LookupNetIP(context.Context, string, string) ([]netip.Addr, error) {
	return []netip.Addr{netip.MustParseAddr("93.184.215.14")}, nil
}

// FuzzCheckURL checks that CheckURL never panics, fails only with its two
// error kinds when resolution succeeds, and accepts only URLs that are https
// or http to a loopback host.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://hooks.example.com/magpie",
		"http://localhost:8080/hook",
		"http://[::1]:8080/",
		"https://user@host/",
		"https://[fe80::1%25eth0]/",
		"https://2130706433/",
		"https://host:0/#x",
		"HTTP://LOCALHOST./",
		"https:opaque",
		"//host/path",
	} {
		f.Add(s)
	}
	p := ssrf.Policy{AllowLoopback: true}
	f.Fuzz(func(t *testing.T, raw string) {
		err := p.CheckURL(context.Background(), raw, publicResolver{})
		if err != nil {
			if !errors.Is(err, ssrf.ErrInvalidURL) && !errors.Is(err, ssrf.ErrForbidden) {
				t.Fatalf("CheckURL(%q) = %v, want ErrInvalidURL or ErrForbidden", raw, err)
			}
			return
		}
		u, perr := url.Parse(raw)
		if perr != nil {
			t.Fatalf("CheckURL(%q) = nil, but url.Parse fails: %v", raw, perr)
		}
		if u.Scheme == "https" || u.Scheme == "http" && loopbackHost(u.Hostname()) {
			return
		}
		t.Fatalf("CheckURL(%q) = nil for scheme %q host %q", raw, u.Scheme, u.Hostname())
	})
}

// loopbackHost reports whether host is a loopback literal or a localhost
// name (the fake resolver maps every other name to a public address).
func loopbackHost(host string) bool {
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().IsLoopback()
	}
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	return host == "localhost" || strings.HasSuffix(host, ".localhost")
}
