package cluster_test

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/bus/rabbittest"
	"github.com/magpie-im/magpie/internal/cluster"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/mongo"
	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/sdk/go/wire"
	magpiev1 "github.com/magpie-im/magpie/sdk/proto/magpie/v1"
	"github.com/magpie-im/magpie/tenant"
)

func TestMain(m *testing.M) { mongotest.Main(m) }

// testLogger logs to stderr with MAGPIE_TEST_LOG=1, and discards
// otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("MAGPIE_TEST_LOG") != "1" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// env is one test's cluster: its own MongoDB database, RabbitMQ vhost and
// Redis key prefix, and a bootstrapped app.
type env struct {
	deps    cluster.Deps
	tenants *tenant.Service
	boot    tenant.Bootstrap
	// filesDir, if set, is the file storage every gateway shares.
	filesDir string
}

func newEnv(t *testing.T, limits *store.Limits) *env {
	t.Helper()
	uri, db := mongotest.URI(t), mongotest.DBName()
	mongotest.DropOnCleanup(t, uri, db)
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	e := &env{deps: cluster.Deps{
		MongoURL: uri, MongoDB: db, AMQPURL: rabbittest.URL(t), AMQPPrefix: rabbittest.Prefix(),
		RedisURL: redistest.URL(), RedisPrefix: redistest.Prefix(t), MasterKey: key,
	}}
	ctx := t.Context()
	st, err := mongo.Open(ctx, uri, db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.EnsureIndexes(ctx); err != nil {
		t.Fatal(err)
	}
	keys, err := keyring.New(key)
	if err != nil {
		t.Fatal(err)
	}
	e.tenants = tenant.New(st, keys, tenant.Config{PasswordCost: 4})
	if e.boot, err = e.tenants.EnsureBootstrap(ctx, "operator@cluster.test"); err != nil {
		t.Fatal(err)
	}
	if limits != nil {
		if _, err := e.tenants.UpdateApp(ctx, e.boot.AppID, tenant.AppUpdate{Limits: limits}); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

// gateway starts a gateway node on a free loopback port, shut down when
// the test ends.
func (e *env) gateway(t *testing.T) *cluster.Gateway {
	t.Helper()
	g, err := cluster.StartGateway(t.Context(), cluster.GatewayConfig{
		Deps: e.deps, Admin: cluster.Admin{AdminAddr: "127.0.0.1:0"}, Addr: "127.0.0.1:0", PasswordCost: 4, Logger: testLogger(),
		FilesDir: e.filesDir,
		Gateway:  gateway.Config{Node: node.Config{UnlimitedAddresses: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}}},
	})
	if err != nil {
		t.Fatalf("start gateway: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("shutdown gateway %s: %v", g.NodeID, err)
		}
	})
	return g
}

// api returns a server API client of the bootstrapped app on g.
func (e *env) api(t *testing.T, g *cluster.Gateway) *serverapi.Client {
	t.Helper()
	c, err := serverapi.New(g.URL, e.boot.AppKey, e.boot.AppSecret)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// user creates a user through g.
func (e *env) user(t *testing.T, g *cluster.Gateway, id string) {
	t.Helper()
	if _, err := e.api(t, g).CreateUser(t.Context(), serverapi.UserInput{ID: id}); err != nil {
		t.Fatalf("create user %s: %v", id, err)
	}
}

// ws is a raw client connection: it sees exactly what the node sends,
// without the SDK's sync, so a delivery it gets was pushed live.
type ws struct {
	t       *testing.T
	name    string
	conn    *websocket.Conn
	session string
	frames  chan *magpiev1.Frame
	done    chan struct{} // closed when the reader stops
	status  websocket.StatusCode
	id      uint64
	mu      sync.Mutex
}

func (e *env) connect(t *testing.T, g *cluster.Gateway, user, device string) *ws {
	t.Helper()
	tok, err := e.api(t, g).MintToken(user, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(g.URL, "http")+"/v1/connect",
		&websocket.DialOptions{Subprotocols: []string{wire.SubprotocolProto}})
	if err != nil {
		t.Fatalf("dial %s: %v", g.URL, err)
	}
	conn.SetReadLimit(1 << 20)
	c := &ws{t: t, name: user + "/" + device, conn: conn, frames: make(chan *magpiev1.Frame, 1024), done: make(chan struct{})}
	t.Cleanup(func() { conn.CloseNow() })
	c.write(&magpiev1.Frame{Id: 1, Body: &magpiev1.Frame_Login{Login: &magpiev1.Login{Token: tok.Token, DeviceId: device}}})
	go c.read()
	f := c.next(func(f *magpiev1.Frame) bool { return f.GetLoginResult() != nil })
	c.session = f.GetLoginResult().GetSessionId()
	return c
}

func (c *ws) write(f *magpiev1.Frame) {
	c.t.Helper()
	b, err := wire.ProtoCodec{}.Marshal(f)
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageBinary, b); err != nil {
		c.t.Fatalf("%s: write: %v", c.name, err)
	}
}

func (c *ws) read() {
	defer close(c.done)
	for {
		_, b, err := c.conn.Read(context.Background())
		if err != nil {
			c.status = websocket.CloseStatus(err)
			return
		}
		var f magpiev1.Frame
		if err := (wire.ProtoCodec{}).Unmarshal(b, &f); err == nil {
			c.frames <- &f
		}
	}
}

// next returns the next frame that match accepts, failing the test after
// 10 s or when the connection closes.
func (c *ws) next(match func(*magpiev1.Frame) bool) *magpiev1.Frame {
	c.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case f := <-c.frames:
			if match(f) {
				return f
			}
		case <-c.done:
			c.t.Fatalf("%s: connection closed (%d) while waiting for a frame", c.name, c.status)
		case <-timeout:
			c.t.Fatalf("%s: no matching frame within 10 s", c.name)
		}
	}
}

// nextID returns a request id; 1 was the login's.
func (c *ws) nextID() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.id++
	return c.id + 1
}

// send sends text to a user and returns the SendAck.
func (c *ws) send(to, text string) *magpiev1.SendAck {
	c.t.Helper()
	id := c.nextID()
	c.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_Send{Send: &magpiev1.Send{
		ClientMsgId: rand.Text(), ToUserId: to, Type: "text", Content: text}}})
	return c.next(func(f *magpiev1.Frame) bool { return f.GetId() == id && f.GetSendAck() != nil }).GetSendAck()
}

// delivered waits for a delivery of the message with this text.
func (c *ws) delivered(text string) *magpiev1.Message {
	c.t.Helper()
	var got *magpiev1.Message
	c.next(func(f *magpiev1.Frame) bool {
		for _, m := range f.GetDeliver().GetMessages() {
			if m.GetContent() == text {
				got = m
				return true
			}
		}
		return false
	})
	return got
}

// ack acknowledges a conversation up to seq.
func (c *ws) ack(conv string, seq int64) {
	c.t.Helper()
	id := c.nextID()
	c.write(&magpiev1.Frame{Id: id, Body: &magpiev1.Frame_DeliverAck{DeliverAck: &magpiev1.DeliverAck{
		Cursors: []*magpiev1.Cursor{{ConvId: conv, Seq: seq}}}}})
	c.next(func(f *magpiev1.Frame) bool { return f.GetId() == id && f.GetOk() != nil })
}

// closed waits for the node to close the connection and returns its code.
func (c *ws) closed() websocket.StatusCode {
	c.t.Helper()
	select {
	case <-c.done:
		return c.status
	case <-time.After(10 * time.Second):
		c.t.Fatalf("%s: still open after 10 s", c.name)
		return 0
	}
}

// TestChatAcrossGateways: users on different gateways chat, one of them
// with a device on each; deliveries, roaming copies and receipts cross
// nodes live, through the relay.
func TestChatAcrossGateways(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.gateway(t), e.gateway(t)
	e.user(t, a, "alice")
	e.user(t, b, "bob")
	alice := e.connect(t, a, "alice", "phone")
	bobB := e.connect(t, b, "bob", "phone")
	bobA := e.connect(t, a, "bob", "laptop")

	ack := alice.send("bob", "hello from A")
	for _, c := range []*ws{bobB, bobA} {
		m := c.delivered("hello from A")
		if m.GetSeq() != ack.GetSeq() || m.GetConvId() != ack.GetConvId() || m.GetSenderId() != "alice" {
			t.Fatalf("%s got %v, want seq %d of %s", c.name, m, ack.GetSeq(), ack.GetConvId())
		}
	}
	// bob's device on B acknowledges: alice, on A, hears it was delivered.
	bobB.ack(ack.GetConvId(), ack.GetSeq())
	r := alice.next(func(f *magpiev1.Frame) bool { return f.GetReceipt() != nil }).GetReceipt()
	if r.GetKind() != magpiev1.Receipt_KIND_DELIVERED || r.GetUserId() != "bob" || r.GetSeq() != ack.GetSeq() {
		t.Fatalf("alice got receipt %v, want DELIVERED by bob up to %d", r, ack.GetSeq())
	}

	// bob answers from B: alice gets it on A, and so does bob's laptop
	// (multi-device roaming), but not the sending session.
	reply := bobB.send("alice", "hello from B")
	if m := alice.delivered("hello from B"); m.GetSeq() != reply.GetSeq() {
		t.Fatalf("alice got seq %d, want %d", m.GetSeq(), reply.GetSeq())
	}
	if m := bobA.delivered("hello from B"); m.GetSeq() != reply.GetSeq() {
		t.Fatalf("bob's laptop got seq %d, want %d", m.GetSeq(), reply.GetSeq())
	}
}

// TestControlEventsAcrossGateways: blocking, revoking and deleting a user,
// and disabling the app, through one gateway close the sessions held by
// the other.
func TestControlEventsAcrossGateways(t *testing.T) {
	e := newEnv(t, nil)
	a, b := e.gateway(t), e.gateway(t)
	api := e.api(t, a)
	for _, u := range []string{"blocked", "revoked", "deleted", "other"} {
		e.user(t, a, u)
	}
	cases := []struct {
		user   string
		act    func() error
		status wire.CloseCode
	}{
		{"blocked", func() error { _, err := api.BlockUser(t.Context(), "blocked"); return err }, wire.CloseUserBlocked},
		{"revoked", func() error { _, err := api.RevokeTokens(t.Context(), "revoked"); return err }, wire.CloseTokenRevoked},
		{"deleted", func() error { return api.DeleteUser(t.Context(), "deleted") }, wire.CloseUserBlocked},
	}
	for _, tc := range cases {
		c := e.connect(t, b, tc.user, "d1")
		start := time.Now()
		if err := tc.act(); err != nil {
			t.Fatalf("%s: %v", tc.user, err)
		}
		if got := c.closed(); got != websocket.StatusCode(tc.status) {
			t.Fatalf("%s: session on the other gateway closed with %d, want %d", tc.user, got, tc.status)
		}
		t.Logf("%s: session on the other gateway closed %v after the call returned", tc.user, time.Since(start).Round(time.Millisecond))
	}

	other := e.connect(t, b, "other", "d1")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPatch, a.URL+"/manage/v1/apps/"+e.boot.AppID,
		strings.NewReader(`{"disabled":true}`))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(e.boot.OperatorEmail, e.boot.OperatorPassword)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("disable app: HTTP %d", resp.StatusCode)
	}
	if got := other.closed(); got != websocket.StatusCode(wire.CloseAppDisabled) {
		t.Fatalf("session of a disabled app closed with %d, want %d", got, wire.CloseAppDisabled)
	}
}

// TestDeviceLimitAcrossGateways: the app's device limit counts the user's
// sessions on every gateway, and a device that reconnects to another
// gateway replaces its session on the first.
func TestDeviceLimitAcrossGateways(t *testing.T) {
	e := newEnv(t, &store.Limits{MaxDevicesPerUser: 2})
	a, b := e.gateway(t), e.gateway(t)
	e.user(t, a, "carol")
	first := e.connect(t, a, "carol", "d1")
	second := e.connect(t, b, "carol", "d2")
	third := e.connect(t, a, "carol", "d3") // kick_oldest: d1 goes
	if got := first.closed(); got != websocket.StatusCode(wire.CloseKicked) {
		t.Fatalf("oldest session closed with %d, want %d (kicked)", got, wire.CloseKicked)
	}
	// d2 moves from B to A: its session on B is replaced.
	again := e.connect(t, a, "carol", "d2")
	if got := second.closed(); got != websocket.StatusCode(wire.CloseKicked) {
		t.Fatalf("d2's session on B closed with %d, want %d (replaced)", got, wire.CloseKicked)
	}
	// Two sessions remain, d3 and the new d2, both on A and both live:
	// a message from B reaches both.
	e.user(t, b, "dave")
	e.connect(t, b, "dave", "x").send("carol", "still there?")
	third.delivered("still there?")
	again.delivered("still there?")
}

// TestRateLimitAcrossGateways: an app's server API budget is shared by
// every gateway.
func TestRateLimitAcrossGateways(t *testing.T) {
	e := newEnv(t, &store.Limits{APIRate: 0.01, APIBurst: 4})
	a, b := e.gateway(t), e.gateway(t)
	apis := []*serverapi.Client{e.api(t, a), e.api(t, b)}
	var ok, limited int
	for i := range 8 {
		_, _, err := apis[i%2].ListUsers(t.Context(), "", 10)
		var ae *serverapi.Error
		switch {
		case err == nil:
			ok++
		case errors.As(err, &ae) && ae.Status == http.StatusTooManyRequests:
			limited++
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	if ok != 4 || limited != 4 {
		t.Fatalf("8 requests over two gateways with a burst of 4: %d passed, %d limited; want 4 and 4", ok, limited)
	}
}

// worker starts a worker with fast retries, shut down when the test ends.
func (e *env) worker(t *testing.T) *cluster.Worker {
	t.Helper()
	w, err := cluster.StartWorker(t.Context(), cluster.WorkerConfig{Deps: e.deps, Admin: cluster.Admin{AdminAddr: "127.0.0.1:0"}, Addr: "127.0.0.1:0", Logger: testLogger(),
		Jobs: bus.ConsumeOptions{MaxAttempts: 3, MinBackoff: 10 * time.Millisecond, MaxBackoff: 20 * time.Millisecond}})
	if err != nil {
		t.Fatalf("start worker: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := w.Shutdown(ctx); err != nil {
			t.Errorf("shutdown worker: %v", err)
		}
	})
	return w
}

// TestOfflineJobsThroughTheWorker: a message for a user with no online
// device becomes a durable job on RabbitMQ that a worker records in the
// app's push outbox; a poison job goes to the dead letters after the
// bounded retries without holding up the job behind it; the worker's
// /readyz reports its engines.
func TestOfflineJobsThroughTheWorker(t *testing.T) {
	e := newEnv(t, nil)
	a := e.gateway(t)
	w := e.worker(t)
	e.user(t, a, "alice")
	e.user(t, a, "zoe") // never online

	b, err := bus.OpenRabbitMQ(t.Context(), bus.RabbitMQConfig{URL: e.deps.AMQPURL, Prefix: e.deps.AMQPPrefix})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.Publish(t.Context(), push.QueueOffline, bus.Job{AppID: e.boot.AppID, Type: push.JobType, Body: []byte("poison")}); err != nil {
		t.Fatal(err)
	}
	alice := e.connect(t, a, "alice", "phone")
	ack := alice.send("zoe", "are you there?")
	r := alice.next(func(f *magpiev1.Frame) bool { return f.GetReceipt() != nil }).GetReceipt()
	if r.GetKind() != magpiev1.Receipt_KIND_STORED || r.GetUserId() != "zoe" {
		t.Fatalf("alice got %v, want STORED for zoe", r)
	}

	st, err := mongo.Open(t.Context(), e.deps.MongoURL, e.deps.MongoDB)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var got []store.OutboxEntry
	var dead []bus.Job
	for deadline := time.Now().Add(20 * time.Second); (len(got) == 0 || len(dead) == 0) && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err = st.App(e.boot.AppID).ListOutbox(t.Context(), "zoe", "", 10); err != nil {
			t.Fatal(err)
		}
		if dead, err = b.DeadLetters(t.Context(), push.QueueOffline, 10); err != nil {
			t.Fatal(err)
		}
	}
	if len(got) != 1 || got[0].Seq != ack.GetSeq() || got[0].Preview != "are you there?" {
		t.Fatalf("zoe's outbox = %+v, want the message", got)
	}
	if len(dead) != 1 || string(dead[0].Body) != "poison" || dead[0].Attempt != 3 {
		t.Fatalf("dead letters = %+v, want the poison job after 3 attempts", dead)
	}

	resp, err := http.Get(w.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("worker /readyz = %d", resp.StatusCode)
	}

	// The metrics of both processes.
	gm := scrape(t, a.AdminURL)
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"magpie_build_info", map[string]string{"mode": "gateway"}, 1},
		{"magpie_connections", nil, 1},
		{"magpie_messages_accepted_total", nil, 1},
		{"magpie_messages_stored_offline_total", nil, 1},
	} {
		if got := value(gm, c.name, c.labels); got != c.want {
			t.Errorf("gateway %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	resp, err = http.Get(w.AdminURL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("worker admin /readyz = %d", resp.StatusCode)
	}
	// The ok outcome is counted just after the outbox entry is written.
	wm := scrape(t, w.AdminURL)
	for deadline := time.Now().Add(5 * time.Second); value(wm, "magpie_bus_jobs_total", map[string]string{"outcome": "ok"}) < 1 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		wm = scrape(t, w.AdminURL)
	}
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"magpie_build_info", map[string]string{"mode": "worker"}, 1},
		{"magpie_bus_jobs_total", map[string]string{"queue": push.QueueOffline, "outcome": "ok"}, 1},
		{"magpie_bus_jobs_total", map[string]string{"queue": push.QueueOffline, "outcome": "retry"}, 2},
		{"magpie_bus_jobs_total", map[string]string{"queue": push.QueueOffline, "outcome": "dead_letter"}, 1},
		{"magpie_bus_dead_letters_total", map[string]string{"queue": push.QueueOffline}, 1},
		{"magpie_ready", map[string]string{"dependency": "store"}, 1},
		{"magpie_ready", map[string]string{"dependency": "bus"}, 1},
	} {
		if got := value(wm, c.name, c.labels); got != c.want {
			t.Errorf("worker %s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
}

// scrape reads an admin listener's /metrics.
func scrape(t *testing.T, adminURL string) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(adminURL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.LegacyValidation)
	mf, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// value returns the value of the first series of family name whose labels
// include labels, or -1 if there is none.
func value(mf map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
next:
	for _, m := range mf[name].GetMetric() {
		for k, v := range labels {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == k && l.GetValue() == v }) {
				continue next
			}
		}
		if m.Counter != nil {
			return m.GetCounter().GetValue()
		}
		return m.GetGauge().GetValue()
	}
	return -1
}
