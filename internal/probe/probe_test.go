package probe

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/embedded/embeddedtest"
	"github.com/magpie-im/magpie/sdk/go/client"
)

func startServer(t *testing.T) *embedded.Server {
	t.Helper()
	return embeddedtest.Start(t, embedded.Config{})
}

func TestProbePasses(t *testing.T) {
	srv := startServer(t)
	res, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey,
		AppSecret: srv.Bootstrap.AppSecret, Messages: 10, Timeout: 30 * time.Second})
	if err != nil || !res.OK() {
		t.Fatalf("Run = %v, %v", res, err)
	}
	// 10 each way online, then 3 while the peer is offline.
	if res.Sent != 23 || res.Received != 23 || !res.Delivered || !res.Stored || res.P99 <= 0 {
		t.Fatalf("result = %v", res)
	}
	if !strings.HasPrefix(res.String(), "probe ok sent=23 received=23 duplicates=0 reordered=0 missing=0") {
		t.Fatalf("summary = %q", res)
	}
}

func TestProbeNoticesALostMessage(t *testing.T) {
	srv := startServer(t)
	var dropped atomic.Int32
	res, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey,
		AppSecret: srv.Bootstrap.AppSecret, Messages: 10, Timeout: 30 * time.Second,
		drop: func(user string, m client.Message) bool {
			// Lose the fifth message b receives from a.
			return strings.HasSuffix(m.Content, " online 4") && strings.HasSuffix(user, "-b") && dropped.Add(1) == 1
		}})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if res.OK() || res.Missing != 1 || !strings.HasPrefix(res.String(), "probe FAILED") {
		t.Fatalf("result with a lost message = %v, want FAILED with missing=1", res)
	}
}

func TestProbeBadCredentials(t *testing.T) {
	srv := startServer(t)
	_, err := Run(context.Background(), Config{URL: srv.URL, AppKey: srv.Bootstrap.AppKey, AppSecret: "msk_wrong", Timeout: 10 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "bad_signature") {
		t.Fatalf("Run with a wrong secret = %v, want a bad_signature error", err)
	}
}

// TestProbeSpreadsOverGateways: with more than one URL, the probe's
// clients connect to each in turn. A reverse proxy stands in for a second
// gateway of the same installation and counts the WebSockets through it.
func TestProbeSpreadsOverGateways(t *testing.T) {
	srv := startServer(t)
	target, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	var connects atomic.Int32
	proxy := httputil.NewSingleHostReverseProxy(target)
	second := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/connect" {
			connects.Add(1)
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(second.Close)
	res, err := Run(context.Background(), Config{URL: srv.URL, MoreURLs: []string{second.URL},
		AppKey: srv.Bootstrap.AppKey, AppSecret: srv.Bootstrap.AppSecret, Messages: 5, Timeout: 30 * time.Second})
	if err != nil || !res.OK() {
		t.Fatalf("Run over two gateways = %v, %v", res, err)
	}
	if connects.Load() == 0 {
		t.Fatal("no client connected through the second gateway")
	}
}
