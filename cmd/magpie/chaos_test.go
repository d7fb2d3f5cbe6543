package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/magpie-im/magpie/internal/bus/rabbittest"
	"github.com/magpie-im/magpie/internal/redisx/redistest"
	"github.com/magpie-im/magpie/internal/store/mongo/mongotest"
	"github.com/magpie-im/magpie/sdk/go/client"
	"github.com/magpie-im/magpie/sdk/go/serverapi"
)

// clusterProc is a magpie gateway or worker process started by a test.
type clusterProc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines map[string]string // key=value lines printed so far
	done  chan struct{}     // closed when the process has exited
}

func (p *clusterProc) get(k string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lines[k]
}

// startCluster starts `magpie <args>` with env and waits until it printed
// the line named by ready.
func startCluster(t testing.TB, bin string, env []string, ready string, args ...string) *clusterProc {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = &prefixWriter{t: t, prefix: args[0]}
	dieWithTest(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &clusterProc{cmd: cmd, lines: map[string]string{}, done: make(chan struct{})}
	got := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), "="); ok {
				p.mu.Lock()
				p.lines[k] = v
				p.mu.Unlock()
				if k == ready && !signalled {
					signalled = true
					close(got)
				}
			}
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() { p.kill(); <-p.done })
	select {
	case <-got:
	case <-p.done:
		t.Fatalf("magpie %s exited before printing %s", strings.Join(args, " "), ready)
	case <-time.After(2 * time.Minute):
		t.Fatalf("magpie %s printed no %s within 2 minutes", args[0], ready)
	}
	return p
}

// snapshot returns the lines printed so far.
func (p *clusterProc) snapshot() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.lines)
}

func (p *clusterProc) kill() { _ = p.cmd.Process.Signal(syscall.SIGKILL) }

// prefixWriter logs a process's stderr through the test (only shown on
// failure or with -v).
type prefixWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *prefixWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			return len(b), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		if !strings.Contains(line, "level=DEBUG") {
			w.t.Log(w.prefix + ": " + line)
		}
	}
}

// balancer is a TCP load balancer on loopback: each connection goes to
// the first of its backends that accepts it, so a client whose gateway
// died reconnects to the next one, as behind a production balancer.
type balancer struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string
	wg       sync.WaitGroup
}

// set replaces the backends (a restarted server's new address).
func (b *balancer) set(backends ...string) {
	b.mu.Lock()
	b.backends = backends
	b.mu.Unlock()
}

func newBalancer(t *testing.T, backends ...string) *balancer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &balancer{ln: ln, backends: backends}
	b.wg.Go(b.serve)
	t.Cleanup(func() { ln.Close(); b.wg.Wait() })
	return b
}

func (b *balancer) url() string { return "http://" + b.ln.Addr().String() }

func (b *balancer) serve() {
	for {
		c, err := b.ln.Accept()
		if err != nil {
			return
		}
		b.wg.Go(func() { b.proxy(c) })
	}
}

func (b *balancer) proxy(c net.Conn) {
	defer c.Close()
	var up net.Conn
	b.mu.Lock()
	backends := b.backends
	b.mu.Unlock()
	for _, addr := range backends {
		var err error
		if up, err = net.DialTimeout("tcp", addr, time.Second); err == nil {
			break
		}
	}
	if up == nil {
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, up); done <- struct{}{} }()
	<-done // either side gone: close both
}

// TestClusterSurvivesKills is the cluster's reliability check: two
// `magpie gateway` processes and one `magpie worker` on RabbitMQ, a
// MongoDB-compatible server and Redis. Users on both gateways (some with a
// device on each) exchange 6,000 messages while one gateway is killed
// with SIGKILL (its clients reconnect to the other through the balancer),
// the worker is killed and restarted, and the broker drops every
// connection (with MAGPIE_TEST_BROKER_RESTART=1, as in CI's last stage, it
// is restarted instead). Afterwards every device holds every message of
// its conversation exactly once and in order.
func TestClusterSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a cluster")
	}
	// 6,000 messages, not the 10,000 of TestEmbeddedSurvivesKills: FerretDB
	// answers a conversation's ranged reads by scanning the whole
	// collection, so a message costs it more the more there are; past
	// about 8,000, on a slow machine, its answers took longer than the
	// gateways' timeouts, and the retries fed on themselves.
	const pairs, perSender = 10, 300 // 10 pairs × 2 senders × 300
	bin := magpieBinary(t)
	env := clusterEnv(t)
	amqpURL := envValue(env, "MAGPIE_AMQP_URL")
	boot := startCluster(t, bin, env, "app_key", "bootstrap")
	<-boot.done
	if boot.get("app_secret") == "" {
		t.Fatalf("bootstrap printed %v", boot.lines)
	}
	gwArgs := []string{"gateway", "--addr", "127.0.0.1:0", "--unlimited-addresses", "127.0.0.0/8"}
	g1 := startCluster(t, bin, env, "node_id", gwArgs...)
	g2 := startCluster(t, bin, env, "node_id", gwArgs...)
	worker := startCluster(t, bin, env, "worker_url", "worker", "--addr", "127.0.0.1:0")
	addr := func(p *clusterProc) string { return strings.TrimPrefix(p.get("gateway_url"), "http://") }
	lb1, lb2 := newBalancer(t, addr(g1), addr(g2)), newBalancer(t, addr(g2), addr(g1))

	api, err := serverapi.New(g1.get("gateway_url"), boot.get("app_key"), boot.get("app_secret"))
	if err != nil {
		t.Fatal(err)
	}
	// Generous: FerretDB (the default store of the tests) scans whole
	// collections for ranged queries, and falls far behind when other
	// work takes the machine's cores; about 90 s is typical on 2 idle cores.
	ctx, cancel := context.WithTimeout(t.Context(), 9*time.Minute)
	defer cancel()
	// Pair i: a<i> with one device behind lb1 (gateway 1 first), b<i> with
	// one device behind each balancer.
	load := &chatLoad{t: t, ctx: ctx, perSender: perSender}
	newDevice := func(user, id, url string) *chatDevice {
		return load.device(user, client.Config{URL: url, DeviceID: id, BackoffMin: 20 * time.Millisecond, BackoffMax: time.Second,
			SendDeadline: 8 * time.Minute,
			// FerretDB's commits slow to seconds under this load (it scans
			// collections MongoDB would answer from an index). With the
			// default 10 s, a stalled send makes the SDK reconnect, resync
			// and resend everything, which adds load to the same store: a
			// spiral the test would then measure instead of the cluster.
			RequestTimeout: time.Minute,
			TokenProvider: func(context.Context) (string, error) {
				tok, err := api.MintToken(user, time.Hour)
				return tok.Token, err
			}})
	}
	type pair struct{ a, b1, b2 *chatDevice }
	var ps []pair
	for i := range pairs {
		for _, u := range []string{fmt.Sprint("a", i), fmt.Sprint("b", i)} {
			if _, err := api.CreateUser(ctx, serverapi.UserInput{ID: u}); err != nil {
				t.Fatal(err)
			}
		}
		ps = append(ps, pair{
			a:  newDevice(fmt.Sprint("a", i), "phone", lb1.url()),
			b1: newDevice(fmt.Sprint("b", i), "phone", lb1.url()),
			b2: newDevice(fmt.Sprint("b", i), "laptop", lb2.url()),
		})
	}
	load.start()
	defer load.stop()
	for i, p := range ps {
		load.send(p.a, fmt.Sprint("b", i))
		load.send(p.b2, fmt.Sprint("a", i))
	}

	// The chaos, each step once a share of the messages is acknowledged.
	waitSent, sent := load.waitSent, &load.sent
	total := int64(pairs * 2 * perSender)
	waitSent(total / 5)
	t.Logf("%d acknowledged: SIGKILL gateway 1", sent.Load())
	g1.kill()
	waitSent(total * 2 / 5)
	t.Logf("%d acknowledged: SIGKILL the worker, start another", sent.Load())
	worker.kill()
	<-worker.done
	startCluster(t, bin, env, "worker_url", "worker", "--addr", "127.0.0.1:0")
	waitSent(total * 3 / 5)
	if os.Getenv("MAGPIE_TEST_BROKER_RESTART") == "1" {
		t.Logf("%d acknowledged: restart RabbitMQ", sent.Load())
		rabbittest.Ctl(t, "stop_app")
		rabbittest.Ctl(t, "start_app")
	} else {
		t.Logf("%d acknowledged: RabbitMQ closes every connection of the test's vhost", sent.Load())
		rabbittest.Ctl(t, "close_all_connections", "--vhost", vhostOf(amqpURL), "test: broker outage")
	}
	load.check()
}

// clusterEnv returns the environment of a test cluster's processes: its
// own database, RabbitMQ vhost, Redis prefix and master key file.
func clusterEnv(t testing.TB) []string {
	uri, db := mongotest.URI(t), mongotest.DBName()
	mongotest.DropOnCleanup(t, uri, db)
	return []string{
		"MAGPIE_MONGO_URL=" + uri, "MAGPIE_MONGO_DB=" + db, "MAGPIE_AMQP_URL=" + rabbittest.URL(t),
		"MAGPIE_AMQP_PREFIX=" + rabbittest.Prefix(), "MAGPIE_REDIS_URL=" + redistest.URL(),
		"MAGPIE_REDIS_PREFIX=" + redistest.Prefix(t), "MAGPIE_MASTER_KEY_FILE=" + filepath.Join(t.TempDir(), "master.key"),
		"MAGPIE_LOG_LEVEL=warn", "MAGPIE_ADMIN_ADDR=127.0.0.1:0",
	}
}

// envValue returns the value of name in env.
func envValue(env []string, name string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, name+"="); ok {
			return v
		}
	}
	return ""
}

// vhostOf returns the vhost of an AMQP URL.
func vhostOf(u string) string {
	_, rest, _ := strings.Cut(strings.TrimPrefix(u, "amqp://"), "/")
	if rest == "" {
		return "/"
	}
	return rest
}
