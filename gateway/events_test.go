package gateway_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/ratelimit"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/sdk/go/wire"
	"github.com/magpie-im/magpie/tenant"
)

// broadcast is the Events of a cluster in one test process: every event is
// applied on every node, as a bus broadcast would.
type broadcast struct {
	mu    sync.Mutex
	nodes []*gateway.Gateway
}

func (b *broadcast) all() []*gateway.Gateway {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]*gateway.Gateway(nil), b.nodes...)
}

func (b *broadcast) UserChanged(ctx context.Context, appID, userID string, deleted bool) error {
	for _, g := range b.all() {
		g.ApplyUserChanged(ctx, appID, userID, deleted)
	}
	return nil
}

func (b *broadcast) AppChanged(ctx context.Context, appID string) error {
	for _, g := range b.all() {
		if err := g.ApplyAppChanged(ctx, appID); err != nil {
			return err
		}
	}
	return nil
}

func (b *broadcast) GroupChanged(ctx context.Context, appID, groupID string) error {
	for _, g := range b.all() {
		g.ApplyGroupChanged(ctx, appID, groupID)
	}
	return nil
}

func (b *broadcast) ContactsChanged(ctx context.Context, appID, userID string) error {
	for _, g := range b.all() {
		g.ApplyContactsChanged(ctx, appID, userID)
	}
	return nil
}

func (b *broadcast) PresenceChanged(ctx context.Context, appID, userID string, online bool, at time.Time) error {
	for _, g := range b.all() {
		g.ApplyPresenceChanged(ctx, appID, userID, online, at)
	}
	return nil
}

// secondNode starts another gateway on the env's store, with its own hub,
// messaging core and tenant cache, as another process would have.
func (e *env) secondNode(events gateway.Events, opts ...func(*gateway.Config)) (*gateway.Gateway, string) {
	e.t.Helper()
	keys, err := keyring.New(bytes.Repeat([]byte{1}, keyring.KeySize))
	if err != nil {
		e.t.Fatal(err)
	}
	tenants := tenant.New(e.store, keys, tenant.Config{Now: e.clock, CacheTTL: time.Hour, PasswordCost: bcrypt.MinCost})
	hub := node.NewHub(e.store, nil)
	msgs := messaging.New(e.store, hub, messaging.Config{Now: e.clock})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = msgs.Run(ctx) }()
	e.t.Cleanup(func() { stop(); <-done })
	cfg := gateway.Config{Now: e.clock, Events: events}
	for _, o := range opts {
		o(&cfg)
	}
	gw := gateway.New(e.store, tenants, msgs, hub, cfg)
	srv := httptest.NewServer(gw)
	e.t.Cleanup(srv.Close)
	return gw, srv.URL
}

// TestControlEventsReachOtherNodes: a block, a revocation, a delete, a
// revoked secret and a disabled app, done through one node, close the
// sessions held by another node: through an in-test broadcast, and through
// the bus (the embedded bus's broadcast, the same code path as RabbitMQ's).
func TestControlEventsReachOtherNodes(t *testing.T) {
	t.Run("direct", func(t *testing.T) {
		bc := &broadcast{}
		e := newEnv(t, func(c *gateway.Config) { c.Events = bc })
		node2, url2 := e.secondNode(bc)
		bc.nodes = []*gateway.Gateway{e.gw, node2}
		controlEventsReachOtherNodes(t, e, url2)
	})
	t.Run("bus", func(t *testing.T) {
		b, err := bus.OpenLocal(t.Context(), filepath.Join(t.TempDir(), "bus.db"), bus.LocalConfig{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		events := gateway.BroadcastEvents{Bus: b}
		e := newEnv(t, func(c *gateway.Config) { c.Events = events })
		node2, url2 := e.secondNode(events)
		for _, g := range []*gateway.Gateway{e.gw, node2} {
			sub, err := b.Subscribe(t.Context(), g.ApplyEvent)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { sub.Close() })
		}
		controlEventsReachOtherNodes(t, e, url2)
	})
}

func controlEventsReachOtherNodes(t *testing.T, e *env, url2 string) {
	for _, u := range []string{"alice", "bob", "carol", "dave", "erin"} {
		e.mustCreateUser(e.a, u)
	}
	// node2 caches the app's credentials for an hour: only the event can
	// tell it about a revoked secret.
	loginOn2 := func(tok, device string) *wsClient {
		t.Helper()
		c := e.dialURL(url2, wire.SubprotocolProto)
		if f := c.reply(c.request(loginFrame(tok, device))); f.GetLoginResult() == nil {
			t.Fatalf("login on node 2: %v", f)
		}
		return c
	}
	alice := loginOn2(e.tokenFor(e.a, "alice"), "a")
	bob := loginOn2(e.tokenFor(e.a, "bob"), "b")
	carol := loginOn2(e.tokenFor(e.a, "carol"), "c")
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice:block"}); r.status != http.StatusOK {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	alice.expectClose(wire.CloseUserBlocked)
	e.advance(time.Second)
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/bob/tokens:revoke"}); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	bob.expectClose(wire.CloseTokenRevoked)
	if r := e.do(e.a, req{method: "DELETE", target: "/v1/users/carol"}); r.status != http.StatusNoContent {
		t.Fatalf("delete: %d %s", r.status, r.body)
	}
	carol.expectClose(wire.CloseUserBlocked)

	// A secret rotated and the old one revoked through node 1.
	op := e.consoleLogin("op@example.com", e.boot.OperatorPassword)
	dave := loginOn2(e.tokenFor(e.a, "dave"), "d")
	r := e.console(op, "POST", "/manage/v1/apps/"+e.a.ID+"/secrets", "")
	if r.status != http.StatusCreated {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	secrets, err := e.tenants.ListSecrets(context.Background(), e.a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if r := e.console(op, "DELETE", "/manage/v1/apps/"+e.a.ID+"/secrets/"+secrets[0].ID, ""); r.status != http.StatusNoContent {
		t.Fatalf("revoke secret: %d %s", r.status, r.body)
	}
	dave.expectClose(wire.CloseReauthenticate)

	// The app disabled through node 1.
	newSecret := r.json(t)["secret"].(map[string]any)["secret"].(string)
	erin := loginOn2(e.mint(e.a, newSecret, "erin", time.Hour, e.clock()), "e")
	if r := e.console(op, "PATCH", "/manage/v1/apps/"+e.a.ID, `{"disabled":true}`); r.status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	erin.expectClose(wire.CloseAppDisabled)
}

// TestApplyEventIgnoresWhatItCannotUse: a malformed event, an unknown kind
// or an unknown app is dropped without harm to the sessions of the node.
func TestApplyEventIgnoresWhatItCannotUse(t *testing.T) {
	e := newEnv(t)
	e.mustCreateUser(e.a, "alice")
	c := e.login(e.a, "alice", "d")
	for _, msg := range []string{`garbage`, `{"kind":"from_the_future","app_id":"x"}`, `{"kind":"app_changed","app_id":"app_nope"}`,
		`{"kind":"user_changed","app_id":"` + e.a.ID + `","user_id":"nobody"}`} {
		e.gw.ApplyEvent(context.Background(), []byte(msg))
	}
	if f := c.reply(c.request(ping())); f.GetPong() == nil {
		t.Fatalf("session after stray events: %v", f)
	}
}

// TestRateLimitsHoldAcrossNodes: with a shared Limiter (Redis in cluster
// mode; the in-process one stands in, as both pass one conformance test),
// an app's API limit and a user's login limit count requests on every node.
func TestRateLimitsHoldAcrossNodes(t *testing.T) {
	shared := ratelimit.NewMemory(nil)
	withShared := func(c *gateway.Config) { c.Limiter = shared }
	e := newEnv(t, withShared)
	_, url2 := e.secondNode(nil, withShared)
	l := store.Limits{APIRate: 1.0 / 3600, APIBurst: 4}
	if _, err := e.tenants.UpdateApp(context.Background(), e.a.ID, tenant.AppUpdate{Limits: &l}); err != nil {
		t.Fatal(err)
	}
	for i, base := range []string{"", url2, "", url2} {
		if r := e.do(e.a, req{method: "GET", target: "/v1/users", base: base}); r.status != http.StatusOK {
			t.Fatalf("request %d within the burst: %d %s", i, r.status, r.body)
		}
	}
	for _, base := range []string{"", url2} {
		if r := e.do(e.a, req{method: "GET", target: "/v1/users", base: base}); r.status != http.StatusTooManyRequests {
			t.Fatalf("request past the app's burst of 4, across two nodes: %d %s", r.status, r.body)
		}
	}
}

// TestMissedEventsAreMadeUp: a node cut off from the broadcast (its events
// lost) keeps sessions it should have closed; when the bus tells it that
// it resubscribed (a nil event), it re-checks them all and drops its
// cached credentials.
func TestMissedEventsAreMadeUp(t *testing.T) {
	bc := &broadcast{} // reaches node 1 only: node 2 misses everything
	e := newEnv(t, func(c *gateway.Config) { c.Events = bc })
	node2, url2 := e.secondNode(nil)
	bc.nodes = []*gateway.Gateway{e.gw}
	for _, u := range []string{"alice", "bob", "carol"} {
		e.mustCreateUser(e.a, u)
	}
	loginOn2 := func(user, device string) *wsClient {
		t.Helper()
		c := e.dialURL(url2, wire.SubprotocolProto)
		if f := c.reply(c.request(loginFrame(e.tokenFor(e.a, user), device))); f.GetLoginResult() == nil {
			t.Fatalf("login on node 2: %v", f)
		}
		return c
	}
	alice, bob, carol := loginOn2("alice", "a"), loginOn2("bob", "b"), loginOn2("carol", "c")
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/alice:block"}); r.status != http.StatusOK {
		t.Fatalf("block: %d %s", r.status, r.body)
	}
	e.advance(time.Second)
	if r := e.do(e.a, req{method: "POST", target: "/v1/users/bob/tokens:revoke"}); r.status != http.StatusOK {
		t.Fatalf("revoke: %d %s", r.status, r.body)
	}
	if f := alice.reply(alice.request(ping())); f.GetPong() == nil {
		t.Fatalf("before the resync, node 2 should not know yet: %v", f)
	}
	node2.ApplyEvent(context.Background(), nil)
	alice.expectClose(wire.CloseUserBlocked)
	bob.expectClose(wire.CloseTokenRevoked)
	if f := carol.reply(carol.request(ping())); f.GetPong() == nil {
		t.Fatalf("carol, unchanged, lost her session: %v", f)
	}
}
