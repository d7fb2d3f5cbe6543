// Package embedded wires Magpie's embedded mode: one process holding the
// SQLite store, the tenant service, the messaging core, the connection hub
// and the HTTP gateway. `magpie dev` runs it; end-to-end tests start it on
// 127.0.0.1:0 with a temporary data directory.
package embedded

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/api"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/blob"
	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/maintenance"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/rungroup"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/store/observe"
	"github.com/magpie-im/magpie/internal/store/sqlite"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/sdk/go/signing"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/webhook"
	"github.com/magpie-im/magpie/webhook/support"
)

// Config configures an embedded server.
type Config struct {
	// Addr is the listen address. Empty means 127.0.0.1:8080; port 0
	// picks a free port.
	Addr string
	// DataDir holds the database, the master key and (unless FilesDir
	// says otherwise) the uploaded files. Required.
	DataDir string
	// MasterKey is the base64 master key; empty reads or creates
	// <DataDir>/master.key with mode 0600.
	MasterKey string
	// OperatorEmail is the operator account created on first start.
	// Empty means operator@magpie.local.
	OperatorEmail string
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
	// PasswordCost is the bcrypt cost of console passwords. Zero means the
	// bcrypt default; tests lower it to start faster.
	PasswordCost int
	// Gateway tunes the gateway (login timeout, heartbeat, ...); its Logger
	// and Metrics are set by Start.
	Gateway gateway.Config
	// AdminAddr is the admin listener's address (/metrics, /healthz,
	// /readyz, and /debug/pprof/ with Pprof); port 0 picks a free port.
	// Empty means no admin listener.
	AdminAddr string
	// Pprof serves net/http/pprof on the admin listener. False means not.
	Pprof bool
	// Version labels magpie_build_info. Empty means "dev".
	Version string
	// Push points the push providers at other endpoints than Apple's and
	// Google's (tests, probes). The zero value is production.
	Push push.Endpoints
	// Webhooks are the webhook settings; the zero value refuses loopback
	// URLs (magpie dev allows them by default) and retries deliveries for
	// 24 hours.
	Webhooks webhook.Options
	// UsageFlushInterval is how often the usage counts are written to the
	// store. Zero means 10 * time.Second.
	UsageFlushInterval time.Duration
	// UsageRetentionDays is how many days of daily usage are kept before
	// today (maintenance.Config.UsageRetentionDays). Zero means 400.
	UsageRetentionDays int
	// FilesDir holds the contents of uploaded files. Empty means
	// <DataDir>/files.
	FilesDir string
	// MaxUploadBytes is the operator's cap on uploads
	// (tenant.Config.MaxUploadBytes). Zero means 100 MiB.
	MaxUploadBytes int64
}

// Server is a running embedded installation.
type Server struct {
	// URL is the base URL, such as http://127.0.0.1:8080.
	URL string
	// Bootstrap holds the first-start credentials; the operator password
	// and the app secret only on the start that created them.
	Bootstrap tenant.Bootstrap
	// Tenants manages tenants and apps of this installation.
	Tenants *tenant.Service
	// Push manages devices, push credentials and the push log.
	Push *push.Service
	// Webhooks manages webhook endpoints, their log and keyword rules.
	Webhooks *webhook.Service
	// Usage collects the apps' usage counts.
	Usage *tenant.Usage
	// AdminURL is the admin listener's base URL, such as
	// http://127.0.0.1:9090; empty without Config.AdminAddr.
	AdminURL string

	log *slog.Logger
	// engine is the SQLite store, for what only the engine does (Close);
	// store is the same store observed, which every component uses.
	engine *sqlite.Store
	store  *observe.Store
	bus    *bus.Local
	// offline consumes the offline notification jobs of the bus, hooks
	// the webhook jobs.
	offline, hooks bus.Consumer
	gw             *gateway.Gateway
	srv            *http.Server
	ln             net.Listener
	run            *rungroup.Group
	metrics        *telemetry.Metrics
	admin          *telemetry.Admin // nil without Config.AdminAddr
}

// queueDepthTimeout bounds the reading of the queue depths at each scrape
// of the metrics.
const queueDepthTimeout = 2 * time.Second

// Start opens the store, bootstraps it on first start and starts serving.
func Start(ctx context.Context, cfg Config) (*Server, error) {
	if err := (maintenance.Config{UsageRetentionDays: cfg.UsageRetentionDays}).Validate(); err != nil {
		return nil, err
	}
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:8080"
	}
	if cfg.OperatorEmail == "" {
		cfg.OperatorEmail = "operator@magpie.local"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("create data directory: %w", err)
	}
	if fi, err := os.Stat(cfg.DataDir); err == nil && fi.Mode().Perm()&0o077 != 0 {
		log.WarnContext(ctx, "data directory is accessible to other users; it holds the master key and all messages",
			"path", cfg.DataDir, "mode", fi.Mode().Perm().String())
	}
	keys, err := loadKeyring(cfg)
	if err != nil {
		return nil, err
	}
	m, err := telemetry.New(telemetry.Config{Version: cfg.Version, Mode: telemetry.ModeEmbedded})
	if err != nil {
		return nil, err
	}
	dbPath := filepath.Join(cfg.DataDir, "magpie.db")
	if err := privateFiles(dbPath, dbPath+"-wal", dbPath+"-shm"); err != nil {
		return nil, err
	}
	msgPath := sqlite.MessagesPath(dbPath) // the messages file beside it
	if err := privateFiles(msgPath, msgPath+"-wal", msgPath+"-shm"); err != nil {
		return nil, err
	}
	st, err := sqlite.Open(ctx, dbPath, sqlite.WithLogger(log))
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	busPath := filepath.Join(cfg.DataDir, "bus.db")
	if err := privateFiles(busPath, busPath+"-wal", busPath+"-shm"); err != nil {
		st.Close()
		return nil, err
	}
	b, err := bus.OpenLocal(ctx, busPath, bus.LocalConfig{Logger: log, Metrics: m})
	if err != nil {
		st.Close()
		return nil, fmt.Errorf("open bus: %w", err)
	}
	s := &Server{log: log, engine: st, store: observe.Wrap(st, m), bus: b, run: rungroup.New(ctx), metrics: m}
	if err := s.start(ctx, cfg, keys); err != nil {
		if s.admin != nil {
			_ = s.admin.Shutdown(ctx) // the start error is the one to report
		}
		_ = s.run.Stop() // the start error is the one to report
		_ = b.Close()    // the start error is the one to report
		st.Close()
		return nil, err
	}
	return s, nil
}

func (s *Server) start(ctx context.Context, cfg Config, keys *keyring.Keyring) error {
	s.Tenants = tenant.New(s.store, keys, tenant.Config{Logger: s.log, PasswordCost: cfg.PasswordCost, MaxUploadBytes: cfg.MaxUploadBytes})
	boot, err := s.Tenants.EnsureBootstrap(ctx, cfg.OperatorEmail)
	if err != nil {
		return err
	}
	s.Bootstrap = boot
	hub := node.NewHub(s.store, s.log)
	s.Usage = tenant.NewUsage(s.store, tenant.UsageConfig{FlushInterval: cfg.UsageFlushInterval, Logger: s.log})
	s.metrics.CountConnections(hub.Connections)
	s.metrics.CountQueueDepth(bus.QueueDepths(s.bus, queueDepthTimeout, s.log, push.QueueOffline, push.QueueSend,
		webhook.QueueEvents, webhook.QueueDelivery))
	s.metrics.CountSearchQueue(func(ctx context.Context) (int64, error) {
		ctx, cancel := context.WithTimeout(ctx, queueDepthTimeout)
		defer cancel()
		return s.engine.SearchQueue(ctx)
	})
	emitter := webhook.NewEmitter(s.store, s.bus, webhook.EmitterConfig{Logger: s.log, Metrics: s.metrics})
	hub.WatchPresence(emitter, cfg.Webhooks.PresenceDebounce)
	moderator := webhook.NewModerator(s.store, s.Tenants, webhook.ModeratorConfig{Policy: cfg.Webhooks.Policy, Logger: s.log})
	msgs := messaging.New(s.store, hub, messaging.Config{Logger: s.log, Offline: push.NewNotifier(s.bus), Metrics: s.metrics,
		Moderator: moderator, Events: emitter, Usage: s.Usage, Busy: s.engine.Busy})
	pushes := push.NewService(s.store, s.Tenants, push.ServiceConfig{Logger: s.log, Endpoints: cfg.Push})
	s.Push = pushes
	offline, err := push.NewWorker(s.store, push.WorkerConfig{Logger: s.log, Metrics: s.metrics, Service: pushes,
		Failures: webhook.PushFailures{Pub: s.bus}, Usage: s.Usage}).Start(s.run.Context(), s.bus, bus.ConsumeOptions{})
	if err != nil {
		return err
	}
	s.offline = offline
	s.run.Go("offline job consumer", func(context.Context) error { return offline.Wait() })
	hcfg := cfg.Webhooks.WorkerConfig(s.log, s.metrics)
	hcfg.Usage = s.Usage
	hooks, err := webhook.NewWorker(s.store, s.Tenants, hcfg).Start(s.run.Context(), s.bus)
	if err != nil {
		return err
	}
	s.hooks = hooks
	s.run.Go("webhook job consumer", func(context.Context) error { return hooks.Wait() })
	s.Webhooks = webhook.NewService(s.store, s.Tenants, s.bus, webhook.ServiceConfig{Policy: cfg.Webhooks.Policy, Logger: s.log})
	filesDir := cfg.FilesDir
	if filesDir == "" {
		filesDir = filepath.Join(cfg.DataDir, "files")
	}
	blobs, err := blob.OpenLocal(filesDir, s.log)
	if err != nil {
		return fmt.Errorf("open file storage: %w", err)
	}
	gcfg := cfg.Gateway
	gcfg.Blobs = blobs
	gcfg.Logger = s.log
	gcfg.Metrics = s.metrics
	gcfg.Push = pushes
	gcfg.Webhooks = s.Webhooks
	gcfg.Usage = s.Usage
	gcfg.Caches = append(gcfg.Caches, emitter, moderator)
	gcfg.Rooms.Moderator = moderator
	// The support outbox: steps publish their own events; the drain
	// publishes what a crash left behind.
	outbox := webhook.NewOutbox(s.store, s.bus, webhook.OutboxConfig{Wants: emitter.Wants, Logger: s.log, Metrics: s.metrics})
	supports := support.New(s.store, support.Config{Sender: msgs, Presence: hub, Router: moderator, Events: outbox, Logger: s.log, Metrics: s.metrics})
	gcfg.Support = supports
	nonces := api.NewStoreNonces(s.store, 2*signing.Window)
	if gcfg.Nonces == nil {
		gcfg.Nonces = nonces
	}
	s.gw = gateway.New(s.store, s.Tenants, msgs, hub, gcfg)

	s.ln, err = gateway.Listen(ctx, cfg.Addr)
	if err != nil {
		return err
	}
	s.URL = "http://" + s.ln.Addr().String()
	if cfg.AdminAddr != "" {
		s.admin, err = telemetry.Listen(telemetry.AdminConfig{Addr: cfg.AdminAddr, Metrics: s.metrics, Pprof: cfg.Pprof, Logger: s.log,
			Ready: []telemetry.Check{{Name: "store", Check: s.store.Ping}}})
		if err != nil {
			_ = s.ln.Close() // the admin listener error is the one to report
			return err
		}
		s.AdminURL = s.admin.URL
		s.run.Go("admin server", func(context.Context) error { return s.admin.Serve() })
	}
	// The listener served from here on is the front (gateway.Front): closing
	// s.ln closes the front's duplicate of the socket too, which closing
	// the bare listener would not.
	s.ln = s.gw.Front(s.ln)
	s.srv = &http.Server{Handler: s.gw, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}
	s.run.Go("messaging", msgs.Run)
	s.run.Go("webhook emitter", emitter.Run)
	s.run.Go("usage collector", s.Usage.Run)
	s.run.Go("nonce committer", nonces.Run)
	sweep := maintenance.Config{UsageRetentionDays: cfg.UsageRetentionDays, Logger: s.log}
	s.run.Go("maintenance", func(ctx context.Context) error { return maintenance.Run(ctx, s.store, sweep) })
	s.run.Go("support outbox", outbox.Run)
	s.run.Go("support routing sweep", supports.RunSweep)
	s.run.Go("http server", func(context.Context) error {
		if err := s.srv.Serve(s.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return nil
}

// Store returns the installation's store (for tools and tests), observed
// as the server's own calls are.
func (s *Server) Store() store.Store { return s.store }

// Failed returns a channel that is closed when a component of the server
// (the HTTP server, the messaging core, the nonce committer) has failed;
// the process should then shut down, and Shutdown returns the failure. One
// component's failure must not leave the others running as if all was well.
func (s *Server) Failed() <-chan struct{} { return s.run.Failed() }

// Shutdown stops gracefully within ctx's deadline: it stops accepting,
// tells clients to reconnect (close code 4000), lets in-flight commits
// finish, stops the messaging core and closes the store.
func (s *Server) Shutdown(ctx context.Context) error {
	s.run.Stopping()
	httpErr := s.srv.Shutdown(ctx)
	connErr := s.gw.Shutdown(ctx)
	var adminErr error
	if s.admin != nil {
		adminErr = s.admin.Shutdown(ctx)
	}
	runErr := s.run.Stop() // the messaging core hands its last notifications to the bus
	offErr := s.offline.Close()
	hooksErr := s.hooks.Close()
	usageErr := s.Usage.Flush(ctx) // what the workers counted while they finished
	busErr := s.bus.Close()
	closeErr := s.engine.Close()
	metricsErr := s.metrics.Shutdown(ctx)
	return errors.Join(httpErr, connErr, adminErr, runErr, offErr, hooksErr, usageErr, busErr, closeErr, metricsErr)
}

func loadKeyring(cfg Config) (*keyring.Keyring, error) {
	var key []byte
	var err error
	if cfg.MasterKey != "" {
		key, err = keyring.ParseKey(cfg.MasterKey)
	} else {
		key, _, err = keyring.LoadOrCreate(filepath.Join(cfg.DataDir, "master.key"))
	}
	if err != nil {
		return nil, err
	}
	return keyring.New(key)
}

// privateFiles makes the database files readable by the owner only: it
// creates the main file with mode 0600 before SQLite does (SQLite gives the
// write-ahead log and shared-memory files the main file's mode), and
// tightens files an earlier version created with a wider mode.
func privateFiles(main string, others ...string) error {
	f, err := os.OpenFile(main, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("create database file: %w", err)
	}
	f.Close()
	for _, p := range append([]string{main}, others...) {
		fi, err := os.Stat(p)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			if err := os.Chmod(p, 0o600); err != nil {
				return fmt.Errorf("restrict %s: %w", p, err)
			}
		}
	}
	return nil
}
