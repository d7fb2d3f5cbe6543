package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
	"github.com/magpie-im/magpie/webhook/support"
)

// env is a gateway on a real SQLite store behind a real HTTP server, with
// two apps in two tenants and a controllable clock.
type env struct {
	t       *testing.T
	store   store.Store
	counts  *countingStore // e.store, counting the calls tests look at
	tenants *tenant.Service
	gw      *gateway.Gateway
	hub     *node.Hub
	msgs    *messaging.Service
	push    *push.Service // nil for an env made with noPush
	hooks   *webhook.Service
	usage   *tenant.Usage // nil unless envConfig.usage
	bus     bus.Bus       // where the webhook service publishes replays and tests
	srv     *httptest.Server
	boot    tenant.Bootstrap

	mu  sync.Mutex
	now time.Time

	a, b testApp
}

type testApp struct {
	ID, Key, Secret, TenantID string
}

// envConfig tunes what newEnvConfig builds besides the gateway.Config.
type envConfig struct {
	// pushEndpoints points the push service's providers at mocks.
	pushEndpoints push.Endpoints
	// noPush builds the gateway without a push service.
	noPush bool
	// moderator, if set, moderates messages (messaging.Config.Moderator).
	moderator messaging.Moderator
	// presence, if set, is told about users coming online and going
	// offline, after presenceDebounce.
	presence         node.PresenceEvents
	presenceDebounce time.Duration
	// appendGate, if set, holds every message commit until it opens;
	// maxQueue, if set, caps the messages waiting for a commit (batches of
	// one), so that tests can fill the queue.
	appendGate *gate
	maxQueue   int
	// busy, if set, is the store's Busy (messaging.Config.Busy).
	busy func() bool
	// banGate, if set, holds the first GetRoomBan, after its read, until
	// it opens: the read's answer is stale by then.
	banGate *gate
	// usage, if set, collects usage (gateway.Config.Usage) into env.usage.
	usage bool
	// userGate, if set, counts GetUser calls once armed and holds the
	// first of them, after its read, until it opens (login_race_test.go).
	userGate *userGate
	// plainHTTP serves the gateway with net/http alone, without the
	// front (Gateway.Front): net/http reads every request and hands the
	// upgrades over, as off Linux and with tracing on.
	plainHTTP bool
}

func newEnv(t *testing.T, opts ...func(*gateway.Config)) *env {
	t.Helper()
	return newEnvConfig(t, envConfig{}, opts...)
}

func newEnvConfig(t *testing.T, ec envConfig, opts ...func(*gateway.Config)) *env {
	t.Helper()
	ctx := context.Background()
	e := &env{t: t, now: time.Unix(1_767_225_600, 0)}
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "magpie.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	e.counts = &countingStore{Store: st, appendGate: ec.appendGate, banGate: ec.banGate, userGate: ec.userGate}
	keys, err := keyring.New(bytes.Repeat([]byte{1}, keyring.KeySize))
	if err != nil {
		t.Fatal(err)
	}
	e.store = e.counts
	e.tenants = tenant.New(e.store, keys, tenant.Config{Now: e.clock, CacheTTL: time.Nanosecond, PasswordCost: bcrypt.MinCost})
	e.boot, err = e.tenants.EnsureBootstrap(ctx, "op@example.com")
	if err != nil {
		t.Fatal(err)
	}
	e.a = testApp{ID: e.boot.AppID, Key: e.boot.AppKey, Secret: e.boot.AppSecret, TenantID: e.boot.TenantID}
	e.b = e.newApp("Other")
	e.hub = node.NewHub(e.store, nil)
	if ec.presence != nil {
		e.hub.WatchPresence(ec.presence, ec.presenceDebounce)
	}
	mcfg := messaging.Config{Now: e.clock, Moderator: ec.moderator, Busy: ec.busy}
	if ec.maxQueue > 0 {
		mcfg.MaxBatch, mcfg.MaxQueue = 1, ec.maxQueue
	}
	e.msgs = messaging.New(e.store, e.hub, mcfg)
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = e.msgs.Run(runCtx) }()
	t.Cleanup(func() { stop(); <-done })
	e.bus, err = bus.OpenLocal(ctx, filepath.Join(t.TempDir(), "bus.db"), bus.LocalConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.bus.Close() })
	e.hooks = webhook.NewService(e.store, e.tenants, e.bus, webhook.ServiceConfig{Now: e.clock, Policy: ssrf.Policy{AllowLoopback: true}})
	gcfg := gateway.Config{Now: e.clock, Webhooks: e.hooks,
		Support: support.New(e.store, support.Config{Sender: e.msgs, Presence: e.hub, Now: e.clock})}
	gcfg.Rooms.Moderator = ec.moderator
	if !ec.noPush {
		e.push = push.NewService(e.store, e.tenants, push.ServiceConfig{Now: e.clock, Endpoints: ec.pushEndpoints})
		gcfg.Push = e.push
	}
	if ec.usage {
		e.usage = tenant.NewUsage(e.store, tenant.UsageConfig{Now: e.clock})
		gcfg.Usage = e.usage
	}
	for _, o := range opts {
		o(&gcfg)
	}
	e.gw = gateway.New(e.store, e.tenants, e.msgs, e.hub, gcfg)
	// The servers' own way: the gateway's front reads the upgrades to
	// client WebSockets on the event loop and hands the rest to net/http.
	e.srv = httptest.NewUnstartedServer(e.gw)
	if !ec.plainHTTP {
		e.srv.Listener = e.gw.Front(e.srv.Listener)
	}
	e.srv.Start()
	// A request that gets no answer fails the test instead of hanging it.
	e.srv.Client().Timeout = 30 * time.Second
	t.Cleanup(e.srv.Close)
	// Registered last, so run first: held commits and reads go on before
	// the env stops (see gate.release).
	for _, g := range []*gate{ec.appendGate, ec.banGate} {
		if g != nil {
			t.Cleanup(g.release)
		}
	}
	return e
}

// countingStore counts ListMembersByEmail calls: every console password
// check (login, Basic auth without a remembered check) makes exactly one,
// so the count is the number of password checks that reached bcrypt.
type countingStore struct {
	store.Store
	byEmail    atomic.Int64
	appendGate *gate
	banGate    *gate
	userGate   *userGate
}

// gate holds calls until it opens; entered receives (without blocking the
// caller, capacity 1) when a call starts waiting.
type gate struct {
	entered chan struct{}
	open    chan struct{}
	opened  sync.Once
	calls   atomic.Int64 // calls that came to the gate
}

func newGate() *gate { return &gate{entered: make(chan struct{}, 1), open: make(chan struct{})} }

// release opens g; it may be called more than once. newEnvConfig calls it
// before the env stops: a commit held at the gate runs without a context
// that ends, and a test that failed before opening the gate would
// otherwise leave the messaging service's Run waiting for it forever.
func (g *gate) release() { g.opened.Do(func() { close(g.open) }) }

// waitEntered waits until a call waits at g, failing the test after 10 s.
func (g *gate) waitEntered(t *testing.T) {
	t.Helper()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("no call came to the gate")
	}
}

func (s *countingStore) App(appID string) store.AppStore {
	if s.appendGate == nil && s.banGate == nil && s.userGate == nil {
		return s.Store.App(appID)
	}
	return gatedApp{AppStore: s.Store.App(appID), gate: s.appendGate, banGate: s.banGate, userGate: s.userGate}
}

// gatedApp holds every AppendMessages until its gate opens (if set), and
// the first GetRoomBan's answer until banGate opens (if set).
type gatedApp struct {
	store.AppStore
	gate, banGate *gate
	userGate      *userGate
}

// wait waits until g opens, telling g.entered first.
func (g *gate) wait(ctx context.Context) error {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.open:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (a gatedApp) AppendMessages(ctx context.Context, ds []store.Draft) ([]store.Appended, error) {
	if a.gate != nil {
		if err := a.gate.wait(ctx); err != nil {
			return nil, err
		}
	}
	return a.AppStore.AppendMessages(ctx, ds)
}

func (a gatedApp) GetRoomBan(ctx context.Context, roomID, userID string) (store.RoomBan, error) {
	b, err := a.AppStore.GetRoomBan(ctx, roomID, userID)
	if a.banGate != nil && a.banGate.calls.Add(1) == 1 {
		if werr := a.banGate.wait(ctx); werr != nil {
			return store.RoomBan{}, werr
		}
	}
	return b, err
}

func (s *countingStore) ListMembersByEmail(ctx context.Context, email string, limit int) ([]store.Member, error) {
	s.byEmail.Add(1)
	return s.Store.ListMembersByEmail(ctx, email, limit)
}

// passwordChecks returns how many console password checks ran so far.
func (e *env) passwordChecks() int64 { return e.counts.byEmail.Load() }

func (e *env) newApp(tenantName string) testApp {
	e.t.Helper()
	ctx := context.Background()
	tn, err := e.tenants.CreateTenant(ctx, tenantName)
	if err != nil {
		e.t.Fatal(err)
	}
	app, sec, err := e.tenants.CreateApp(ctx, tn.ID, tenantName+" app")
	if err != nil {
		e.t.Fatal(err)
	}
	return testApp{ID: app.ID, Key: app.Key, Secret: sec.Plain, TenantID: tn.ID}
}

func (e *env) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *env) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// req describes a request; zero fields take sane defaults.
type req struct {
	method, target string
	body           string
	header         map[string]string
	// sign overrides signing: key, secret, timestamp and nonce.
	key, secret, nonce string
	ts                 time.Time
	unsigned           bool
	// signBody, when set, is signed instead of body.
	signBody string
	// base, when set, is another node's URL to send to.
	base string
}

type resp struct {
	status int
	header http.Header
	body   []byte
}

func (r resp) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d %q is not JSON: %v", r.status, r.body, err)
	}
	return m
}

// code returns the error code of an error response.
func (r resp) code(t *testing.T) string {
	t.Helper()
	m := r.json(t)
	errObj, ok := m["error"].(map[string]any)
	if !ok {
		t.Fatalf("response %d %s has no error object", r.status, r.body)
	}
	if errObj["request_id"] == "" || errObj["request_id"] != r.header.Get("X-Request-Id") {
		t.Fatalf("error request_id %v does not match X-Request-Id %q", errObj["request_id"], r.header.Get("X-Request-Id"))
	}
	return errObj["code"].(string)
}

var nonceSeq struct {
	sync.Mutex
	n int
}

func nextNonce() string {
	nonceSeq.Lock()
	defer nonceSeq.Unlock()
	nonceSeq.n++
	return fmt.Sprintf("test-nonce-%08d", nonceSeq.n)
}

// do sends a request signed for app (unless r says otherwise).
func (e *env) do(app testApp, r req) resp {
	e.t.Helper()
	base := e.srv.URL
	if r.base != "" {
		base = r.base
	}
	httpReq, err := http.NewRequest(r.method, base+r.target, bytes.NewReader([]byte(r.body)))
	if err != nil {
		e.t.Fatal(err)
	}
	if r.body != "" {
		httpReq.Header.Set("Content-Type", "application/json")
	}
	if !r.unsigned {
		key, secret, nonce, ts := app.Key, app.Secret, r.nonce, r.ts
		if r.key != "" {
			key = r.key
		}
		if r.secret != "" {
			secret = r.secret
		}
		if nonce == "" {
			nonce = nextNonce()
		}
		if ts.IsZero() {
			ts = e.clock()
		}
		signed := r.body
		if r.signBody != "" {
			signed = r.signBody
		}
		if err := signing.SignRequest(httpReq, key, secret, []byte(signed), ts, nonce); err != nil {
			e.t.Fatal(err)
		}
	}
	for k, v := range r.header {
		httpReq.Header.Set(k, v)
	}
	res, err := e.srv.Client().Do(httpReq)
	if err != nil {
		e.t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if res.Header.Get("X-Request-Id") == "" {
		e.t.Fatalf("%s %s: no X-Request-Id header", r.method, r.target)
	}
	return resp{status: res.StatusCode, header: res.Header, body: body}
}

func (e *env) mustCreateUser(app testApp, id string) {
	e.t.Helper()
	r := e.do(app, req{method: "POST", target: "/v1/users", body: fmt.Sprintf(`{"id":%q,"name":"User %s"}`, id, id)})
	if r.status != http.StatusCreated {
		e.t.Fatalf("create user %s: %d %s", id, r.status, r.body)
	}
}

func (e *env) userCount(app testApp) int {
	e.t.Helper()
	us, err := e.store.App(app.ID).ListUsers(context.Background(), "", 1000)
	if err != nil {
		e.t.Fatal(err)
	}
	return len(us)
}

func appLimits(perSec float64, burst int) tenant.AppUpdate {
	return tenant.AppUpdate{Limits: &store.Limits{APIRate: perSec, APIBurst: burst}}
}
