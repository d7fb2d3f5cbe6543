package webhook_test

import (
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// TestHookReusesConnections: concurrent pre-send calls each take a
// connection (HTTP/1.1), and a second wave as wide as the first finds them
// all kept for reuse: it dials (almost) none. The transport's default
// kept 100 idle connections in all, so a wave of 200 dialed about 100.
func TestHookReusesConnections(t *testing.T) {
	const wave = 200
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	var mu sync.Mutex
	arrived, release := 0, make(chan struct{})
	srv := &http.Server{ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Hold every call until the whole wave is in: each then has a
			// connection of its own.
			mu.Lock()
			arrived++
			ch := release
			if arrived == wave {
				arrived, release = 0, make(chan struct{})
				close(ch)
			}
			mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
			}
			_, _ = w.Write([]byte(`{"action":"allow"}`))
		})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	url := "http://" + ln.Addr().String() + "/pre"
	timeout := webhook.MaxHookTimeout
	if _, _, err := e.svc.Create(t.Context(), "A", webhook.Input{Kind: store.WebhookPreSend, URL: &url, Timeout: &timeout}); err != nil {
		t.Fatal(err)
	}
	mod := webhook.NewModerator(e.store, e.keys, webhook.ModeratorConfig{Policy: ssrf.Policy{AllowLoopback: true}})
	pol, err := mod.Policy(t.Context(), "A", false)
	if err != nil || pol == nil {
		t.Fatalf("Policy = %v, %v", pol, err)
	}
	run := func() {
		var wg sync.WaitGroup
		for range wave {
			wg.Go(func() {
				if v := pol.Hook(t.Context(), candidate("hi")); v.Action != messaging.Allow {
					t.Errorf("Hook = %+v, want allow", v)
				}
			})
		}
		wg.Wait()
	}
	run()
	first := conns.Load()
	if first != wave {
		t.Fatalf("first wave of %d calls opened %d connections, want %d", wave, first, wave)
	}
	run()
	// A connection goes back to the pool just after its call returns: a
	// few calls of the second wave may come before theirs.
	if again := conns.Load() - first; again > wave/10 {
		t.Errorf("second wave of %d calls opened %d more connections, want (almost) none", wave, again)
	}
}
