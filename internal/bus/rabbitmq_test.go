package bus_test

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/bus/bustest"
)

// The RabbitMQ tests run against the broker at MAGPIE_TEST_AMQP_URL
// (default amqp://guest:guest@127.0.0.1:5672/). Each test declares its
// exchanges and queues under a name prefix of its own and deletes them when
// it ends. With CI=true an unreachable broker fails the tests; otherwise
// they are skipped.

var broker struct {
	once sync.Once
	url  string
	err  error
}

// brokerURL returns the test broker's URL, or skips (fails under CI) the
// test if it cannot be reached.
func brokerURL(t *testing.T) string {
	t.Helper()
	broker.once.Do(func() {
		broker.url = cmp.Or(os.Getenv("MAGPIE_TEST_AMQP_URL"), "amqp://guest:guest@127.0.0.1:5672/")
		conn, err := amqp.DialConfig(broker.url, amqp.Config{Dial: amqp.DefaultDial(3 * time.Second)})
		if err != nil {
			broker.err = err
			return
		}
		conn.Close()
	})
	if broker.err != nil {
		where := redact(broker.url)
		if os.Getenv("CI") == "true" {
			t.Fatalf("RabbitMQ at %s is unreachable and CI=true: %v", where, broker.err)
		}
		t.Skipf("RabbitMQ at %s is unreachable (start one, or set MAGPIE_TEST_AMQP_URL): %v", where, broker.err)
	}
	return broker.url
}

func redact(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "<bad url>"
	}
	return u.Redacted()
}

// rabbitEnv is one test's share of the broker: a unique name prefix, the
// handles opened on it, and a cleanup that deletes what they declared.
type rabbitEnv struct {
	url, prefix string
	mu          sync.Mutex
	handles     []*bus.RabbitMQ
}

func newRabbitEnv(t *testing.T) *rabbitEnv {
	env := &rabbitEnv{url: brokerURL(t), prefix: "magpie-test." + strings.ToLower(rand.Text()[:12])}
	// Registered first, so it runs last: after the handles closed.
	t.Cleanup(func() { env.deleteTopology(t) })
	return env
}

func (e *rabbitEnv) open(t *testing.T, cfg bus.RabbitMQConfig) *bus.RabbitMQ {
	t.Helper()
	cfg.URL, cfg.Prefix = e.url, e.prefix
	b, err := bus.OpenRabbitMQ(t.Context(), cfg)
	if err != nil {
		t.Fatalf("OpenRabbitMQ(%s) = %v", cfg, err)
	}
	e.mu.Lock()
	e.handles = append(e.handles, b)
	e.mu.Unlock()
	t.Cleanup(func() { b.Close() })
	return b
}

func (e *rabbitEnv) env() bustest.Env {
	return bustest.Env{Concurrent: true, Open: func(t *testing.T) bus.Bus { return e.open(t, bus.RabbitMQConfig{}) }}
}

// deleteTopology deletes every queue and exchange the env's handles
// declared.
func (e *rabbitEnv) deleteTopology(t *testing.T) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var queues, exchanges []string
	for _, b := range e.handles {
		q, x := b.Declared()
		queues, exchanges = append(queues, q...), append(exchanges, x...)
	}
	if len(queues)+len(exchanges) == 0 {
		return
	}
	conn, err := amqp.Dial(e.url)
	if err != nil {
		t.Errorf("cleanup: dial: %v", err)
		return
	}
	defer conn.Close()
	var ch *amqp.Channel
	do := func(what string, f func(*amqp.Channel) error) {
		if ch == nil || ch.IsClosed() {
			if ch, err = conn.Channel(); err != nil {
				t.Errorf("cleanup: channel: %v", err)
				return
			}
		}
		if err := f(ch); err != nil && !isNotFound(err) {
			t.Errorf("cleanup: delete %s: %v", what, err)
		}
	}
	for _, q := range queues {
		do(q, func(ch *amqp.Channel) error { _, err := ch.QueueDelete(q, false, false, false); return err })
	}
	for _, x := range exchanges {
		do(x, func(ch *amqp.Channel) error { return ch.ExchangeDelete(x, false, false) })
	}
}

func isNotFound(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.NotFound
}

func TestRabbitMQ(t *testing.T) {
	brokerURL(t)
	bustest.Run(t, func(t *testing.T) bustest.Env { return newRabbitEnv(t).env() })
}

// TestRabbitMQReconnect kills the connection three times while two
// goroutines publish and a consumer handles jobs: every publish returns
// nil (waiting out the reconnection), every published job is consumed
// (nothing acknowledged is lost), and relays and broadcasts flow again
// after each reconnection.
func TestRabbitMQReconnect(t *testing.T) {
	env := newRabbitEnv(t)
	b := env.open(t, bus.RabbitMQConfig{})
	ctx := t.Context()

	var mu sync.Mutex
	seen := map[string]int{}
	changed := make(chan struct{}, 1)
	handler := func(_ context.Context, j bus.Job) error {
		mu.Lock()
		seen[j.ID]++
		mu.Unlock()
		select {
		case changed <- struct{}{}:
		default:
		}
		return nil
	}
	c, err := b.Consume(ctx, "work", handler, bus.ConsumeOptions{Concurrency: 4})
	if err != nil {
		t.Fatalf("Consume() = %v", err)
	}
	defer c.Close()
	// The handlers never block: a handler stuck on a full channel would
	// stall its consumer, and the deferred Close would wait for it forever
	// (probes sent while a consumer resubscribes can outnumber the buffer
	// and arrive after the probe that ended the wait). probe resends.
	events, relays := make(chan string, 64), make(chan string, 64)
	offer := func(ch chan<- string, m []byte) {
		select {
		case ch <- string(m):
		default:
		}
	}
	var resubscribed atomic.Int64
	sub, err := b.Subscribe(ctx, func(_ context.Context, m []byte) {
		if m == nil { // the events of the outage are lost: resynchronise
			resubscribed.Add(1)
			return
		}
		offer(events, m)
	})
	if err != nil {
		t.Fatalf("Subscribe() = %v", err)
	}
	defer sub.Close()
	rc, err := b.ConsumeRelay(ctx, "node-1", func(_ context.Context, m []byte) { offer(relays, m) })
	if err != nil {
		t.Fatalf("ConsumeRelay() = %v", err)
	}
	defer rc.Close()

	const publishers, perPublisher, kills = 2, 150, 3
	progress := make(chan int, publishers*perPublisher)
	var wg sync.WaitGroup
	for p := range publishers {
		wg.Go(func() {
			for i := range perPublisher {
				id := fmt.Sprintf("p%d-%d", p, i)
				pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := b.Publish(pctx, "work", bus.Job{ID: id, AppID: "app-a"})
				cancel()
				progress <- 1
				if err != nil {
					// A bus that does not come back fails the test in
					// seconds, not in 150 timeouts.
					t.Errorf("Publish(%s) = %v", id, err)
					for range perPublisher - 1 - i {
						progress <- 1
					}
					return
				}
			}
		})
	}
	// Kill the connection each time another quarter of the jobs is out, so
	// that the kills land among publishes and handlers in flight.
	published, killed := 0, int64(0)
	for k := 1; k <= kills; k++ {
		for published < k*publishers*perPublisher/(kills+1) {
			published += <-progress
		}
		if b.KillConnection() {
			killed++
		} else {
			t.Logf("kill %d: the connection was already down", k)
		}
		probe(t, fmt.Sprintf("broadcast after kill %d", k), events, func(ctx context.Context, m string) error {
			return b.Broadcast(ctx, []byte(m))
		})
		probe(t, fmt.Sprintf("relay after kill %d", k), relays, func(ctx context.Context, m string) error {
			return b.Relay(ctx, "node-1", []byte(m))
		})
		if got := resubscribed.Load(); got != killed {
			t.Fatalf("after %d connection kills the subscriber was told of %d resubscriptions", killed, got)
		}
	}
	wg.Wait()
	deadline := time.After(20 * time.Second)
	for {
		mu.Lock()
		missing, dups := 0, 0
		for p := range publishers {
			for i := range perPublisher {
				if seen[fmt.Sprintf("p%d-%d", p, i)] == 0 {
					missing++
				}
			}
		}
		for _, n := range seen {
			dups += n - 1
		}
		mu.Unlock()
		if missing == 0 {
			t.Logf("%d jobs published across %d connection kills, all consumed (%d duplicate deliveries)",
				publishers*perPublisher, kills, dups)
			return
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("%d of %d published jobs never consumed", missing, publishers*perPublisher)
		}
	}
}

// probe sends numbered probes with send until one arrives on got, so that
// a consumer that is resubscribing is waited for without sleeping blind.
func probe(t *testing.T, what string, got <-chan string, send func(context.Context, string) error) {
	t.Helper()
	// The sends share the deadline: a send waits for the broker as long as
	// its context allows, and one that never came back must fail the test.
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	deadline := ctx.Done()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	sent := map[string]bool{}
	for i := 0; ; i++ {
		m := fmt.Sprintf("probe-%d-%s", i, what)
		if err := send(ctx, m); err != nil {
			t.Logf("%s: send: %v", what, err)
		}
		sent[m] = true
		for {
			select {
			case m := <-got:
				if sent[m] {
					return
				}
				continue // a probe of an earlier round
			case <-tick.C:
			case <-deadline:
				t.Fatalf("%s: no probe arrived", what)
			}
			break
		}
	}
}

// TestRabbitMQOutage keeps the broker unreachable: Publish waits for it as
// long as its context allows and then fails with ErrUnavailable; once the
// broker is back, a waiting Publish completes and its job is consumed.
func TestRabbitMQOutage(t *testing.T) {
	env := newRabbitEnv(t)
	b := env.open(t, bus.RabbitMQConfig{})
	ctx := t.Context()
	if err := b.Publish(ctx, "work", bus.Job{ID: "before"}); err != nil {
		t.Fatalf("Publish(before) = %v", err)
	}
	down := errors.New("broker down (test)")
	b.SetDialHook(func() error { return down })
	b.KillConnection()

	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	err := b.Publish(short, "work", bus.Job{ID: "lost"})
	cancel()
	if !errors.Is(err, bus.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, down) {
		t.Errorf("Publish during an outage = %v, want ErrUnavailable with the deadline and the last dial error", err)
	}
	if b.Connected() {
		t.Errorf("Connected() during the outage = true")
	}

	waiting := make(chan error, 1)
	go func() { waiting <- b.Publish(ctx, "work", bus.Job{ID: "waited"}) }()
	select {
	case err := <-waiting:
		t.Fatalf("Publish returned %v while the broker was down, want it to wait", err)
	default:
	}
	b.SetDialHook(nil)
	select {
	case err := <-waiting:
		if err != nil {
			t.Fatalf("Publish after the outage = %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Publish still waiting 20s after the broker came back")
	}
	got := make(chan string, 4)
	c, err := b.Consume(ctx, "work", func(_ context.Context, j bus.Job) error { got <- j.ID; return nil }, bus.ConsumeOptions{Concurrency: 1})
	if err != nil {
		t.Fatalf("Consume() = %v", err)
	}
	defer c.Close()
	for _, want := range []string{"before", "waited"} {
		select {
		case id := <-got:
			if id != want {
				t.Errorf("consumed %s, want %s", id, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s never consumed", want)
		}
	}
}

// TestRabbitMQRelayQueueExpiry stops a node abruptly, as a crash would: its
// queue keeps relays for a node that comes back within RelayQueueExpiry,
// and is gone after it.
func TestRabbitMQRelayQueueExpiry(t *testing.T) {
	env := newRabbitEnv(t)
	cfg := bus.RabbitMQConfig{RelayQueueExpiry: 500 * time.Millisecond}
	b, sender := env.open(t, cfg), env.open(t, cfg)
	nop := func(context.Context, []byte) {}
	crash := func() {
		cctx, cancel := context.WithCancel(t.Context())
		c, err := b.ConsumeRelay(cctx, "node-1", nop)
		if err != nil {
			t.Fatalf("ConsumeRelay() = %v", err)
		}
		cancel()
		c.Wait()
	}
	crash()
	if err := sender.Relay(t.Context(), "node-1", []byte("kept")); err != nil {
		t.Fatalf("Relay() = %v", err)
	}
	got := make(chan string, 4)
	c, err := b.ConsumeRelay(t.Context(), "node-1", func(_ context.Context, m []byte) { got <- string(m) })
	if err != nil {
		t.Fatalf("ConsumeRelay() = %v", err)
	}
	select {
	case m := <-got:
		if m != "kept" {
			t.Errorf("returning node got %q, want kept", m)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the relay sent while the node was away never arrived")
	}
	c.Close() // graceful: deletes the queue
	crash()
	// Watch the queue by publishing to it: a declaration, even passive,
	// would renew its lease.
	gone := routable(t, env.url, env.prefix+".relay", "node-1")
	waitFor(t, "the crashed node's queue to expire", func() bool { return !gone() })
}

// routable returns a function that reports whether a message published to
// exchange with key reaches a queue (it is not returned as unroutable).
func routable(t *testing.T, url, exchange, key string) func() bool {
	t.Helper()
	conn, err := amqp.Dial(url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	if err := ch.Confirm(false); err != nil {
		t.Fatalf("confirm: %v", err)
	}
	returns := ch.NotifyReturn(make(chan amqp.Return, 1))
	return func() bool {
		dc, err := ch.PublishWithDeferredConfirm(exchange, key, true, false, amqp.Publishing{Body: []byte("probe")})
		if err != nil {
			t.Fatalf("publish probe: %v", err)
		}
		dc.Wait() // a return comes before its confirmation
		select {
		case <-returns:
			return false
		default:
			return true
		}
	}
}

// waitFor polls cond until it holds, failing the test after 20 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// TestRabbitMQTopology checks the documented names and arguments: declaring
// them again with the same arguments succeeds (the broker refuses a
// declaration whose arguments differ).
func TestRabbitMQTopology(t *testing.T) {
	env := newRabbitEnv(t)
	b := env.open(t, bus.RabbitMQConfig{RelayQueueExpiry: time.Minute})
	ctx := t.Context()
	if err := b.Publish(ctx, "push", bus.Job{ID: "j"}); err != nil {
		t.Fatalf("Publish() = %v", err)
	}
	opts := bus.ConsumeOptions{MaxAttempts: 2, MinBackoff: 250 * time.Millisecond}
	failed := make(chan struct{}, 2)
	c, err := b.Consume(ctx, "push", func(context.Context, bus.Job) error {
		select { // never blocks: a redelivery must not hold up Close
		case failed <- struct{}{}:
		default:
		}
		return errors.New("no")
	}, opts)
	if err != nil {
		t.Fatalf("Consume() = %v", err)
	}
	for range opts.MaxAttempts {
		select {
		case <-failed:
		case <-time.After(20 * time.Second):
			t.Fatal("the job was not attempted twice")
		}
	}
	c.Close()
	if err := b.Broadcast(ctx, []byte("declares the fanout exchange")); err != nil {
		t.Fatalf("Broadcast() = %v", err)
	}
	rc, err := b.ConsumeRelay(ctx, "node-7", func(context.Context, []byte) {})
	if err != nil {
		t.Fatalf("ConsumeRelay() = %v", err)
	}
	defer rc.Close()
	p := env.prefix
	quorumTo := func(target string) amqp.Table {
		return amqp.Table{"x-queue-type": "quorum", "x-dead-letter-exchange": "", "x-dead-letter-routing-key": target,
			"x-dead-letter-strategy": "at-least-once", "x-overflow": "reject-publish"}
	}
	retry := quorumTo(p + ".job.push")
	retry["x-message-ttl"] = int64(250)
	want := map[string]amqp.Table{
		p + ".job.push":         quorumTo(p + ".dead.push"),
		p + ".dead.push":        {"x-queue-type": "quorum"},
		p + ".retry.250ms.push": retry,
		p + ".node.node-7":      {"x-queue-type": "classic", "x-expires": int64(60000)},
	}
	queues, exchanges := b.Declared()
	for q := range want {
		if !contains(queues, q) {
			t.Errorf("Declared() queues = %v, want %s among them", queues, q)
		}
	}
	for _, x := range []string{p + ".relay", p + ".broadcast"} {
		if !contains(exchanges, x) {
			t.Errorf("Declared() exchanges = %v, want %s among them", exchanges, x)
		}
	}
	conn, err := amqp.Dial(env.url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	for q, args := range want {
		ch, err := conn.Channel()
		if err != nil {
			t.Fatalf("channel: %v", err)
		}
		if _, err := ch.QueueDeclare(q, true, false, false, false, args); err != nil {
			t.Errorf("QueueDeclare(%s, %v) = %v, want the bus's own arguments", q, args, err)
		}
		ch.Close()
	}
	for x, kind := range map[string]string{p + ".relay": "direct", p + ".broadcast": "fanout"} {
		ch, _ := conn.Channel()
		if err := ch.ExchangeDeclare(x, kind, true, false, false, false, nil); err != nil {
			t.Errorf("ExchangeDeclare(%s, %s) = %v", x, kind, err)
		}
		ch.Close()
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRabbitMQForeignQueue has a work queue already declared with other
// arguments: Publish and Consume fail at once with the broker's reason.
func TestRabbitMQForeignQueue(t *testing.T) {
	env := newRabbitEnv(t)
	b := env.open(t, bus.RabbitMQConfig{})
	conn, err := amqp.Dial(env.url)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatalf("channel: %v", err)
	}
	name := env.prefix + ".job.work"
	if _, err := ch.QueueDeclare(name, true, false, false, false, nil); err != nil { // classic
		t.Fatalf("QueueDeclare(%s) = %v", name, err)
	}
	defer ch.QueueDelete(name, false, false, false)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := b.Publish(ctx, "work", bus.Job{}); err == nil || !strings.Contains(err.Error(), "PRECONDITION_FAILED") {
		t.Errorf("Publish() to a foreign queue = %v, want PRECONDITION_FAILED", err)
	}
	_, err = b.Consume(ctx, "work", func(context.Context, bus.Job) error { return nil }, bus.ConsumeOptions{})
	if err == nil || !strings.Contains(err.Error(), "PRECONDITION_FAILED") {
		t.Errorf("Consume() of a foreign queue = %v, want PRECONDITION_FAILED", err)
	}
}

func TestRabbitMQConfigRedactsPassword(t *testing.T) {
	s := bus.RabbitMQConfig{URL: "amqp://magpie:s3cret@rabbit:5672/prod"}.String()
	if strings.Contains(s, "s3cret") || !strings.Contains(s, "rabbit:5672") {
		t.Errorf("RabbitMQConfig.String() = %q, want the host without the password", s)
	}
}
