package webhook_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
	"github.com/magpie-im/magpie/webhook/webhooktest"
)

var t0 = time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)

// env is a store with apps A and B, a local bus, the webhook service and
// a receiver on a loopback port.
type env struct {
	store store.Store
	bus   bus.Bus
	svc   *webhook.Service
	keys  webhook.Sealer
	recv  *webhooktest.Receiver
}

func newEnv(t *testing.T) *env {
	t.Helper()
	st, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "magpie.db"))
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { st.Close() })
	return newEnvOn(t, st)
}

// newEnvOn is newEnv on st, a new store.
func newEnvOn(t *testing.T, st store.Store) *env {
	t.Helper()
	ctx, dir := t.Context(), t.TempDir()
	b, err := bus.OpenLocal(ctx, filepath.Join(dir, "bus.db"), bus.LocalConfig{})
	if err != nil {
		t.Fatalf("open bus: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	for _, app := range []string{"A", "B"} {
		if err := st.CreateApp(ctx, store.App{ID: app, TenantID: "t1", Key: "pk_" + app, CreatedAt: t0, UpdatedAt: t0}); err != nil {
			t.Fatalf("CreateApp(%s): %v", app, err)
		}
	}
	kr, err := keyring.New(make([]byte, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	keys := tenant.New(st, kr, tenant.Config{})
	recv, err := webhooktest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { recv.Close() })
	svc := webhook.NewService(st, keys, b, webhook.ServiceConfig{Policy: ssrf.Policy{AllowLoopback: true}})
	return &env{store: st, bus: b, svc: svc, keys: keys, recv: recv}
}

// endpoint creates a post-event endpoint of app on the receiver (path
// names it) and sets the receiver's secret.
func (e *env) endpoint(t *testing.T, app, path string, events ...string) (store.Webhook, string) {
	t.Helper()
	url := e.recv.URL() + path
	in := webhook.Input{URL: &url}
	if events != nil {
		in.Events = &events
	}
	w, secret, err := e.svc.Create(t.Context(), app, in)
	if err != nil {
		t.Fatalf("Create(%s): %v", url, err)
	}
	if err := e.recv.SetSecrets(secret); err != nil {
		t.Fatal(err)
	}
	return w, secret
}

// worker starts a worker with cfg (loopback allowed) consuming e's bus.
func (e *env) worker(t *testing.T, cfg webhook.WorkerConfig) *webhook.Worker {
	t.Helper()
	cfg.Policy.AllowLoopback = true
	w := webhook.NewWorker(e.store, e.keys, cfg)
	c, err := w.Start(t.Context(), e.bus)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return w
}

// emitter starts an emitter publishing on e's bus.
func (e *env) emitter(t *testing.T) *webhook.Emitter {
	t.Helper()
	em := webhook.NewEmitter(e.store, e.bus, webhook.EmitterConfig{})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = em.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	return em
}

// waitN waits for n requests at the receiver.
func (e *env) waitN(t *testing.T, n int) []webhooktest.Request {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	reqs, err := e.recv.Wait(ctx, func(r []webhooktest.Request) bool { return len(r) >= n })
	if err != nil {
		t.Fatalf("waiting for %d requests: got %d: %v", n, len(reqs), err)
	}
	return reqs
}

// waitFor polls cond until it holds or 20 s pass.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
