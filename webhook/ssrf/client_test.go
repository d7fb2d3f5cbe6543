package ssrf_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/webhook/ssrf"
)

// receiver is a webhook receiver on 127.0.0.1 that counts the requests it
// serves at /hook and redirects /redirect to /hook.
type receiver struct {
	srv  *httptest.Server
	hits atomic.Int64
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	r := &receiver{}
	mux := http.NewServeMux()
	mux.HandleFunc("/hook", func(w http.ResponseWriter, _ *http.Request) {
		r.hits.Add(1)
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, req *http.Request) {
		http.Redirect(w, req, "/hook", http.StatusFound)
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// port returns the port the receiver listens on.
func (r *receiver) port(t *testing.T) string {
	t.Helper()
	u, err := url.Parse(r.srv.URL)
	if err != nil {
		t.Fatalf("parse receiver URL: %v", err)
	}
	return u.Port()
}

// post sends an empty POST with a client for p and closes it afterwards.
func post(t *testing.T, p ssrf.Policy, target string) (*http.Response, error) {
	t.Helper()
	c := p.Client(5 * time.Second)
	t.Cleanup(c.CloseIdleConnections)
	resp, err := c.Post(target, "application/json", http.NoBody)
	if err == nil {
		t.Cleanup(func() { resp.Body.Close() })
	}
	return resp, err
}

func TestClient(t *testing.T) {
	tests := []struct {
		name      string
		policy    ssrf.Policy
		localhost bool // address the receiver as localhost:port
		forbidden bool
	}{
		{"zero policy refuses loopback", ssrf.Policy{}, false, true},
		{"zero policy refuses localhost after DNS", ssrf.Policy{}, true, true},
		{"private does not allow loopback", ssrf.Policy{AllowPrivate: true}, false, true},
		{"AllowLoopback", ssrf.Policy{AllowLoopback: true}, false, false},
		{"AllowLoopback via localhost", ssrf.Policy{AllowLoopback: true}, true, false},
		{"Allowed exception", ssrf.Policy{Allowed: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t)
			target := rcv.srv.URL + "/hook"
			if tt.localhost {
				target = "http://localhost:" + rcv.port(t) + "/hook"
			}
			resp, err := post(t, tt.policy, target)
			if tt.forbidden {
				if !errors.Is(err, ssrf.ErrForbidden) {
					t.Errorf("POST %s = %v, want error wrapping ErrForbidden", target, err)
				}
				if n := rcv.hits.Load(); n != 0 {
					t.Errorf("receiver served %d requests, want 0", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("POST %s: %v", target, err)
			}
			if resp.StatusCode != http.StatusNoContent || rcv.hits.Load() != 1 {
				t.Errorf("POST %s = %d with %d hits, want 204 with 1 hit", target, resp.StatusCode, rcv.hits.Load())
			}
		})
	}
}

func TestClientDoesNotFollowRedirects(t *testing.T) {
	rcv := newReceiver(t)
	resp, err := post(t, ssrf.Policy{AllowLoopback: true}, rcv.srv.URL+"/redirect")
	if err != nil {
		t.Fatalf("POST /redirect: %v", err)
	}
	if resp.StatusCode != http.StatusFound {
		t.Errorf("POST /redirect status = %d, want %d", resp.StatusCode, http.StatusFound)
	}
	if n := rcv.hits.Load(); n != 0 {
		t.Errorf("redirect target served %d requests, want 0", n)
	}
}

func TestTransport(t *testing.T) {
	t.Setenv("HTTP_PROXY", "http://proxy.invalid:3128")
	tr := ssrf.Policy{}.Transport()
	if tr.Proxy != nil {
		t.Error("Transport().Proxy is set, want nil: a proxy bypasses the address check")
	}
	if tr.DialContext == nil || tr.TLSHandshakeTimeout != 5*time.Second || tr.ResponseHeaderTimeout != 5*time.Second {
		t.Errorf("Transport() = {DialContext set: %t, TLSHandshakeTimeout: %v, ResponseHeaderTimeout: %v}, want dialer and 5s timeouts",
			tr.DialContext != nil, tr.TLSHandshakeTimeout, tr.ResponseHeaderTimeout)
	}
	if c := (ssrf.Policy{}).Client(0); c.Timeout != ssrf.DefaultClientTimeout {
		t.Errorf("Client(0).Timeout = %v, want %v", c.Timeout, ssrf.DefaultClientTimeout)
	}
}

func TestControl(t *testing.T) {
	tests := []struct {
		address   string
		forbidden bool
	}{
		{"93.184.215.14:443", false},
		{"[2606:4700:4700::1111]:443", false},
		{"127.0.0.1:80", true},
		{"[::ffff:127.0.0.1]:80", true},
		{"[fe80::1%eth0]:80", true},
		{"169.254.169.254:80", true},
		{"[64:ff9b::a9fe:a9fe]:80", true},
		{"not-an-address", true},
	}
	for _, tt := range tests {
		err := ssrf.Policy{}.Control("tcp4", tt.address, nil)
		if got := errors.Is(err, ssrf.ErrForbidden); got != tt.forbidden || (err != nil) != tt.forbidden {
			t.Errorf("Control(tcp4, %q) = %v, want forbidden %t", tt.address, err, tt.forbidden)
		}
	}
}

func TestDialerRefusesBeforeConnecting(t *testing.T) {
	rcv := newReceiver(t)
	addr := rcv.srv.Listener.Addr().String()
	conn, err := ssrf.Policy{}.Dialer().DialContext(context.Background(), "tcp", addr)
	if err == nil {
		conn.Close()
		t.Fatalf("DialContext(%s) succeeded, want ErrForbidden", addr)
	}
	if !errors.Is(err, ssrf.ErrForbidden) {
		t.Errorf("DialContext(%s) = %v, want ErrForbidden", addr, err)
	}
}
