// Package cluster assembles the processes of cluster mode: a gateway node
// (server API, management API and WebSocket connection node) and a worker
// (durable jobs), on MongoDB, RabbitMQ and Redis. `magpie gateway` and
// `magpie worker` run them; the multi-process tests start them too.
//
// A gateway node joins the presence registry under its node id, consumes
// its relay queue (deliveries, receipts and kicks from the other nodes)
// and the control-event broadcast (users blocked or deleted, apps changed),
// and keeps the server API's nonces and rate limits in Redis, so that every
// limit holds across nodes.
package cluster

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/blob"
	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/presence"
	"github.com/magpie-im/magpie/internal/ratelimit"
	"github.com/magpie-im/magpie/internal/redisx"
	"github.com/magpie-im/magpie/internal/rungroup"
	"github.com/magpie-im/magpie/internal/store/mongo"
	"github.com/magpie-im/magpie/internal/store/observe"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/support"
)

// Deps names the distributed engines of cluster mode and how to reach them.
type Deps struct {
	// MongoURL and MongoDB locate the store.
	MongoURL, MongoDB string
	// AMQPURL locates the RabbitMQ broker; AMQPPrefix starts the name of
	// every exchange and queue (empty means "magpie").
	AMQPURL, AMQPPrefix string
	// RedisURL locates Redis; RedisPrefix starts every key (empty means
	// "magpie:").
	RedisURL, RedisPrefix string
	// MasterKey seals app secrets; every process of an installation needs
	// the same one.
	MasterKey []byte
	// Push points the push providers at other endpoints than Apple's and
	// Google's (tests, probes). The zero value is production.
	Push push.Endpoints
	// Webhooks are the webhook settings; the zero value refuses loopback
	// and private URLs and retries deliveries for 24 hours.
	Webhooks webhook.Options
}

// redisPrefix returns the prefix of the Redis keys.
func (d Deps) redisPrefix() string {
	if d.RedisPrefix == "" {
		return "magpie:"
	}
	return d.RedisPrefix
}

// deps are the opened engines.
type deps struct {
	store *mongo.Store
	bus   *bus.RabbitMQ
	redis *redisx.Client // nil for a worker
	keys  *keyring.Keyring
}

// open connects to the engines, the bus recording into m; withRedis says
// whether this role needs Redis. On error whatever was opened is closed.
func (d Deps) open(ctx context.Context, log *slog.Logger, m *telemetry.Metrics, withRedis bool) (_ *deps, err error) {
	if d.MongoURL == "" || d.AMQPURL == "" || (withRedis && d.RedisURL == "") {
		return nil, errors.New("cluster mode needs --mongo-url, --amqp-url and --redis-url")
	}
	if d.MongoDB == "" {
		d.MongoDB = "magpie"
	}
	out := &deps{}
	defer func() {
		if err != nil {
			_ = out.close() // the open error is the one to report
		}
	}()
	if out.keys, err = keyring.New(d.MasterKey); err != nil {
		return nil, err
	}
	if out.store, err = mongo.Open(ctx, d.MongoURL, d.MongoDB); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	// Idempotent and cheap once done: the store relies on its unique
	// indexes, so a process never runs without them.
	if err = out.store.EnsureIndexes(ctx); err != nil {
		return nil, fmt.Errorf("store indexes: %w", err)
	}
	if out.bus, err = bus.OpenRabbitMQ(ctx, bus.RabbitMQConfig{URL: d.AMQPURL, Prefix: d.AMQPPrefix, Logger: log, Metrics: m}); err != nil {
		return nil, fmt.Errorf("open bus: %w", err)
	}
	if withRedis {
		if out.redis, err = redisx.Open(ctx, d.RedisURL); err != nil {
			return nil, fmt.Errorf("open redis: %w", err)
		}
	}
	return out, nil
}

func (d *deps) close() error {
	var errs []error
	if d.bus != nil {
		errs = append(errs, d.bus.Close())
	}
	if d.redis != nil {
		errs = append(errs, d.redis.Close())
	}
	if d.store != nil {
		errs = append(errs, d.store.Close())
	}
	return errors.Join(errs...)
}

// adminChecks are the admin listener's /readyz checks: the store, then
// the other engines.
func (d *deps) adminChecks() []telemetry.Check {
	return append([]telemetry.Check{{Name: "store", Check: d.store.Ping}}, d.readyChecks()...)
}

// Admin configures a process's admin listener and metrics.
type Admin struct {
	// AdminAddr is the admin listener's address (/metrics, /healthz,
	// /readyz, and /debug/pprof/ with Pprof); port 0 picks a free port.
	// Empty means no admin listener.
	AdminAddr string
	// Pprof serves net/http/pprof on the admin listener. False means not.
	Pprof bool
	// Version labels magpie_build_info. Empty means "dev".
	Version string
}

// startAdmin opens the admin listener of cfg (nil without an address)
// and serves it in run.
func (cfg Admin) startAdmin(m *telemetry.Metrics, d *deps, log *slog.Logger, run *rungroup.Group) (*telemetry.Admin, error) {
	if cfg.AdminAddr == "" {
		return nil, nil
	}
	a, err := telemetry.Listen(telemetry.AdminConfig{Addr: cfg.AdminAddr, Metrics: m, Ready: d.adminChecks(),
		Pprof: cfg.Pprof, Logger: log})
	if err != nil {
		return nil, err
	}
	run.Go("admin server", func(context.Context) error { return a.Serve() })
	return a, nil
}

// readyChecks are the /readyz checks of the engines besides the store.
func (d *deps) readyChecks() []telemetry.Check {
	checks := []telemetry.Check{{Name: "bus", Check: d.bus.Ping}}
	if d.redis != nil {
		checks = append(checks, telemetry.Check{Name: "redis", Check: d.redis.Ping})
	}
	return checks
}

// GatewayConfig configures a gateway node.
type GatewayConfig struct {
	Deps
	Admin
	// Addr is the listen address; port 0 picks a free port.
	Addr string
	// NodeID names this run of the process; empty means NewNodeID().
	NodeID string
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
	// PasswordCost is the bcrypt cost of console passwords (zero: bcrypt's
	// default; tests lower it).
	PasswordCost int
	// Gateway tunes the gateway (trusted proxies, heartbeat, limits); the
	// fields cluster mode owns (Logger, Nonces, Limiter, Events, Ready)
	// are set by StartGateway.
	Gateway gateway.Config
	// Messaging tunes the messaging core; Logger is set by StartGateway.
	Messaging messaging.Config
	// Presence tunes the node's presence heartbeat; zero means the
	// defaults of package presence.
	RefreshInterval, PresenceTTL time.Duration
	// FilesDir holds the contents of uploaded files: a volume every
	// gateway of the installation mounts (ReadWriteMany), since any of
	// them serves the download of a file another stored. Empty serves no
	// files (the file routes answer 503 files_unavailable).
	FilesDir string
	// MaxUploadBytes is the operator's cap on uploads
	// (tenant.Config.MaxUploadBytes); every gateway needs the same. Zero
	// means 100 MiB.
	MaxUploadBytes int64
}

// Gateway is a running gateway node.
type Gateway struct {
	// URL is the node's base URL, such as http://127.0.0.1:8080.
	URL string
	// NodeID is the node's id in the presence registry and on the bus.
	NodeID string
	// AdminURL is the admin listener's base URL; empty without
	// GatewayConfig.AdminAddr.
	AdminURL string

	log     *slog.Logger
	deps    *deps
	gw      *gateway.Gateway
	usage   *tenant.Usage
	srv     *http.Server
	ln      net.Listener
	run     *rungroup.Group
	metrics *telemetry.Metrics
	admin   *telemetry.Admin // nil without an admin listener
}

// StartGateway connects to the engines, joins the cluster and starts
// serving.
func StartGateway(ctx context.Context, cfg GatewayConfig) (_ *Gateway, err error) {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.NodeID == "" {
		cfg.NodeID = NewNodeID()
	}
	log = log.With("node", cfg.NodeID)
	m, err := telemetry.New(telemetry.Config{Version: cfg.Version, Mode: telemetry.ModeGateway})
	if err != nil {
		return nil, err
	}
	d, err := cfg.open(ctx, log, m, true)
	if err != nil {
		return nil, err
	}
	g := &Gateway{NodeID: cfg.NodeID, log: log, deps: d, run: rungroup.New(ctx), metrics: m}
	defer func() {
		if err != nil {
			if g.admin != nil {
				_ = g.admin.Shutdown(ctx) // the start error is the one to report
			}
			_ = g.run.Stop() // the start error is the one to report
			_ = d.close()
		}
	}()
	prefix := cfg.redisPrefix()
	st := observe.Wrap(d.store, m) // the components' store; the engine's own calls stay on d.store
	pres := presence.NewRedis(d.redis, prefix)
	hub := node.NewClusterHub(st, log, node.Cluster{
		NodeID: cfg.NodeID, Presence: pres, Relay: d.bus,
		RefreshInterval: cfg.RefreshInterval, TTL: cfg.PresenceTTL,
	})
	if err := hub.JoinCluster(ctx); err != nil {
		return nil, err
	}
	m.CountConnections(hub.Connections)
	mcfg := cfg.Messaging
	mcfg.Logger = log
	mcfg.Metrics = m
	mcfg.Offline = push.NewNotifier(d.bus)
	tenants := tenant.New(st, d.keys, tenant.Config{Logger: log, PasswordCost: cfg.PasswordCost, MaxUploadBytes: cfg.MaxUploadBytes})
	emitter := webhook.NewEmitter(st, d.bus, webhook.EmitterConfig{Logger: log, Metrics: m})
	hub.WatchPresence(emitter, cfg.Webhooks.PresenceDebounce)
	moderator := webhook.NewModerator(st, tenants, webhook.ModeratorConfig{Policy: cfg.Webhooks.Policy, Logger: log})
	mcfg.Events, mcfg.Moderator = emitter, moderator
	// Each gateway flushes its own increments; its peak connections are
	// its own, summed over gateways when read.
	usage := tenant.NewUsage(st, tenant.UsageConfig{Node: cfg.NodeID, Logger: log})
	g.usage = usage
	mcfg.Usage = usage
	msgs := messaging.New(st, hub, mcfg)
	gcfg := cfg.Gateway
	if cfg.FilesDir != "" {
		blobs, err := blob.OpenLocal(cfg.FilesDir, log)
		if err != nil {
			return nil, fmt.Errorf("open file storage: %w", err)
		}
		gcfg.Blobs = blobs
	} else {
		log.Warn("no --files-dir: file uploads and downloads are answered 503 files_unavailable")
	}
	gcfg.Logger = log
	gcfg.Nonces = redisx.NewNonces(d.redis, prefix, 0)
	gcfg.Limiter = ratelimit.NewRedis(d.redis, prefix)
	gcfg.Events = gateway.BroadcastEvents{Bus: d.bus}
	gcfg.RoomState = pres
	gcfg.Ready = d.readyChecks()
	gcfg.Metrics = m
	gcfg.Push = push.NewService(st, tenants, push.ServiceConfig{Logger: log, Endpoints: cfg.Push})
	gcfg.Webhooks = webhook.NewService(st, tenants, d.bus, webhook.ServiceConfig{Policy: cfg.Webhooks.Policy, Logger: log})
	gcfg.Caches = append(gcfg.Caches, emitter, moderator)
	gcfg.Rooms.Moderator = moderator
	// Steps publish their own events; the workers drain what a crash left
	// behind.
	outbox := webhook.NewOutbox(st, d.bus, webhook.OutboxConfig{Wants: emitter.Wants, Logger: log})
	supports := support.New(st, support.Config{Sender: msgs, Presence: hub, Router: moderator, Events: outbox, Logger: log, Metrics: m})
	gcfg.Support = supports
	gcfg.Usage = usage
	g.gw = gateway.New(st, tenants, msgs, hub, gcfg)

	runCtx := g.run.Context()
	relays, err := d.bus.ConsumeRelay(runCtx, cfg.NodeID, hub.HandleRelay)
	if err != nil {
		return nil, fmt.Errorf("consume relays: %w", err)
	}
	events, err := d.bus.Subscribe(runCtx, g.gw.ApplyEvent)
	if err != nil {
		return nil, fmt.Errorf("subscribe to control events: %w", err)
	}
	g.ln, err = gateway.Listen(runCtx, cfg.Addr)
	if err != nil {
		return nil, err
	}
	g.URL = "http://" + g.ln.Addr().String()
	if g.admin, err = cfg.startAdmin(m, d, log, g.run); err != nil {
		_ = g.ln.Close() // the admin listener error is the one to report
		return nil, err
	}
	if g.admin != nil {
		g.AdminURL = g.admin.URL
	}
	// The listener served from here on is the front (gateway.Front): closing
	// g.ln closes the front's duplicate of the socket too, which closing
	// the bare listener would not.
	g.ln = g.gw.Front(g.ln)
	g.srv = &http.Server{Handler: g.gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	g.run.Go("messaging", msgs.Run)
	g.run.Go("webhook emitter", emitter.Run)
	g.run.Go("usage collector", usage.Run)
	g.run.Go("support routing sweep", supports.RunSweep)
	g.run.Go("presence", hub.RunCluster)
	g.run.Go("relay consumer", func(context.Context) error { return relays.Wait() })
	g.run.Go("event subscriber", func(context.Context) error { return events.Wait() })
	g.run.Go("http server", func(context.Context) error {
		if err := g.srv.Serve(g.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return g, nil
}

// Failed returns a channel closed when a component of the node has failed;
// the process should then shut down, and Shutdown returns the failure.
func (g *Gateway) Failed() <-chan struct{} { return g.run.Failed() }

// Shutdown stops the node gracefully within ctx's deadline: it stops
// accepting, drains every client connection (in-flight sends are
// committed and acknowledged) and closes it with 4000 so that the client
// reconnects to another node, lets the fan-out stage relay what it holds,
// leaves the presence registry and closes its connections to the engines.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.run.Stopping()
	httpErr := g.srv.Shutdown(ctx)
	connErr := g.gw.Shutdown(ctx)
	var adminErr error
	if g.admin != nil {
		adminErr = g.admin.Shutdown(ctx)
	}
	runErr := g.run.Stop()
	usageErr := g.usage.Flush(ctx) // what the last commits counted
	closeErr := g.deps.close()
	return errors.Join(httpErr, connErr, adminErr, runErr, usageErr, closeErr, g.metrics.Shutdown(ctx))
}

// NewNodeID returns a node id for one run of a process: the host name (as
// far as it is made of letters, digits, '.', '_' and '-') and a random
// suffix, so that a restarted process never reuses its predecessor's id.
func NewNodeID() string {
	host, _ := os.Hostname()
	host = strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-' {
			return r
		}
		return -1
	}, host)
	if len(host) > 60 {
		host = host[:60]
	}
	if host == "" {
		host = "node"
	}
	return host + "-" + strings.ToLower(rand.Text()[:8])
}
