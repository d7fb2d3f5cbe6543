package client_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/ssrf"
)

// env is a real embedded Magpie server for one test, with a server API
// client for its demo app.
type env struct {
	t           testing.TB
	dir, addr   string
	key, secret string
	srv         *embedded.Server
	api         *serverapi.Client
}

// testLogger returns a logger that writes to stderr if MAGPIE_TEST_LOG is
// set, and discards otherwise.
func testLogger() *slog.Logger {
	if os.Getenv("MAGPIE_TEST_LOG") == "" {
		return nil
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startEnv starts an embedded server on a free port of 127.0.0.1 and
// creates the given users.
func startEnv(t testing.TB, users ...string) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), addr: "127.0.0.1:0"}
	e.start()
	e.key, e.secret = e.srv.Bootstrap.AppKey, e.srv.Bootstrap.AppSecret
	api, err := serverapi.New(e.srv.URL, e.key, e.secret)
	if err != nil {
		t.Fatal(err)
	}
	e.api = api
	t.Cleanup(e.stop)
	for _, u := range users {
		if _, err := api.CreateUser(context.Background(), serverapi.UserInput{ID: u}); err != nil {
			t.Fatalf("create user %s: %v", u, err)
		}
	}
	return e
}

func (e *env) start() {
	e.t.Helper()
	srv, err := embedded.Start(context.Background(), embedded.Config{
		Addr: e.addr, DataDir: e.dir, Logger: testLogger(), PasswordCost: 4, // bcrypt.MinCost
		Gateway:  gateway.Config{Node: node.Config{HeartbeatInterval: 5 * time.Second, LoginTimeout: 5 * time.Second}},
		Webhooks: webhook.Options{Policy: ssrf.Policy{AllowLoopback: true}},
	})
	if err != nil {
		e.t.Fatalf("start server: %v", err)
	}
	e.srv = srv
	e.addr = srv.URL[len("http://"):] // the same port on restart
}

func (e *env) stop() {
	if e.srv == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := e.srv.Shutdown(ctx); err != nil {
		e.t.Errorf("shutdown: %v", err)
	}
	e.srv = nil
}

// restart shuts the server down; between, run in the middle; then starts
// it again on the same data directory and address.
func (e *env) restart(between func()) {
	e.t.Helper()
	e.stop()
	between()
	e.start()
}

// setSendLimit sets the demo app's per-connection send rate (messages per
// second) and burst; connections opened afterwards get them.
func (e *env) setSendLimit(rate float64, burst int) {
	e.t.Helper()
	lim := tenant.DefaultLimits()
	lim.SendRate, lim.SendBurst = rate, burst
	if _, err := e.srv.Tenants.UpdateApp(context.Background(), e.srv.Bootstrap.AppID, tenant.AppUpdate{Limits: &lim}); err != nil {
		e.t.Fatalf("set send limit: %v", err)
	}
}

// tokens returns a TokenProvider that asks the server API for a fresh
// token for user at every call.
func (e *env) tokens(user string) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		tok, err := e.api.IssueToken(ctx, user, 0)
		return tok.Token, err
	}
}

// newClient returns a client of user on device, for the server at url
// (the server itself if empty), not yet running.
func (e *env) newClient(user, device, url string, tweak func(*client.Config)) *client.Client {
	e.t.Helper()
	if url == "" {
		url = e.srv.URL
	}
	cfg := client.Config{
		URL: url, DeviceID: device, TokenProvider: e.tokens(user), Logger: testLogger(),
		BackoffMin: 5 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	}
	if tweak != nil {
		tweak(&cfg)
	}
	c, err := client.New(cfg)
	if err != nil {
		e.t.Fatalf("new client: %v", err)
	}
	return c
}

// run runs c until the test ends or the returned stop is called, and
// checks that Run then returned nil.
func run(t testing.TB, c *client.Client) (stop func()) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Run(context.Background()) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			c.Close()
			if err := <-done; err != nil {
				t.Errorf("Run = %v, want nil after Close", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// next returns the next event of type T, skipping others, within 10 s.
func next[T client.Event](t testing.TB, c *client.Client) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for {
		ev, err := c.Next(ctx)
		if err != nil {
			var zero T
			t.Fatalf("waiting for %T: %v", zero, err)
		}
		if v, ok := ev.(T); ok {
			return v
		}
	}
}

// nextMessages returns the next n messages.
func nextMessages(t testing.TB, c *client.Client, n int) []client.Message {
	t.Helper()
	out := make([]client.Message, n)
	for i := range out {
		out[i] = next[client.Message](t, c)
	}
	return out
}

// receiptFrom waits for a receipt of kind by user covering seq.
func receiptFrom(t *testing.T, c *client.Client, kind client.ReceiptKind, user string, seq int64) client.Receipt {
	t.Helper()
	for {
		r := next[client.Receipt](t, c)
		if r.Kind == kind && r.UserID == user && r.Seq >= seq {
			return r
		}
	}
}

// proxy is a loopback TCP proxy that can delay what it forwards, drop what
// the server sends and sever its connections, to break a client's
// connection at a chosen point or to give it a round-trip time.
type proxy struct {
	ln     net.Listener
	target string
	delay  time.Duration // added to every byte, each way; set before the first connection
	wg     sync.WaitGroup

	mu        sync.Mutex // guards the fields below
	conns     []net.Conn
	blackhole bool // discard server-to-client bytes
	down      bool // refuse new connections
}

func newProxy(t testing.TB, target string) *proxy {
	return newDelayProxy(t, target, 0)
}

// newDelayProxy returns a proxy that holds every byte for oneWay in each
// direction, so that a round trip through it takes 2*oneWay longer.
func newDelayProxy(t testing.TB, target string, oneWay time.Duration) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{ln: ln, target: target, delay: oneWay}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

// URL returns the proxy's base URL.
func (p *proxy) URL() string { return "http://" + p.ln.Addr().String() }

func (p *proxy) accept() {
	for {
		down, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		refuse := p.down
		p.mu.Unlock()
		if refuse {
			down.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			down.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, down, up)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(up, down, false); up.Close(); down.Close() })
		p.wg.Go(func() { p.pipe(down, up, true); up.Close(); down.Close() })
	}
}

// pipe copies src to dst until either fails, after p.delay. Server bytes
// (toClient) are discarded while the blackhole is on.
func (p *proxy) pipe(dst, src net.Conn, toClient bool) {
	type chunk struct {
		due  time.Time
		data []byte
	}
	out := make(chan chunk, 1024)
	var writer sync.WaitGroup
	defer writer.Wait()
	defer close(out)
	writer.Go(func() {
		failed := false
		for c := range out {
			if failed {
				continue // drain, so that the reader never blocks
			}
			if d := time.Until(c.due); d > 0 {
				time.Sleep(d) // the simulated latency, not a synchronisation
			}
			if _, err := dst.Write(c.data); err != nil {
				failed = true
				dst.Close()
				src.Close()
			}
		}
	})
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		p.mu.Lock()
		drop := toClient && p.blackhole
		p.mu.Unlock()
		if n > 0 && !drop {
			out <- chunk{due: time.Now().Add(p.delay), data: bytes.Clone(buf[:n])}
		}
		if err != nil {
			return
		}
	}
}

// setBlackhole turns the discarding of server-to-client bytes on or off.
func (p *proxy) setBlackhole(on bool) {
	p.mu.Lock()
	p.blackhole = on
	p.mu.Unlock()
}

// setDown severs the connections and refuses new ones while on.
func (p *proxy) setDown(on bool) {
	p.mu.Lock()
	p.down = on
	p.mu.Unlock()
	if on {
		p.sever()
	}
}

// sever closes every proxied connection.
func (p *proxy) sever() {
	p.mu.Lock()
	conns := p.conns
	p.conns = nil
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

func (p *proxy) close() {
	p.ln.Close()
	p.sever()
	p.wg.Wait()
}

// isClose reports whether err is a *client.CloseError with code.
func isClose(err error, code int) bool {
	var ce *client.CloseError
	return errors.As(err, &ce) && int(ce.Code) == code
}
