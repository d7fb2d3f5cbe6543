package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/cluster"
	"github.com/magpie-im/magpie/internal/keyring"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// depsFlags are the flags that locate cluster mode's engines.
type depsFlags struct {
	mongoURL, mongoDB, amqpURL, amqpPrefix, redisURL, redisPrefix, keyFile string
	logLevel                                                               string
	shutdownTimeout                                                        time.Duration
}

func (d *depsFlags) register(fs *flag.FlagSet, redis bool) {
	fs.StringVar(&d.mongoURL, "mongo-url", "", "MongoDB connection string (a replica set: writes use majority write concern)")
	fs.StringVar(&d.mongoDB, "mongo-db", "magpie", "MongoDB database name")
	fs.StringVar(&d.amqpURL, "amqp-url", "", "RabbitMQ URL, amqp://user:password@host:5672/vhost")
	fs.StringVar(&d.amqpPrefix, "amqp-prefix", "magpie", "prefix of the exchanges and queues on RabbitMQ")
	if redis {
		fs.StringVar(&d.redisURL, "redis-url", "", "Redis URL, redis://[user:password@]host:6379/0 (one primary; not Redis Cluster)")
		fs.StringVar(&d.redisPrefix, "redis-prefix", "magpie:", "prefix of the keys on Redis")
	}
	fs.StringVar(&d.keyFile, "master-key-file", "", "file holding the base64 master key (the one magpie bootstrap created); every gateway and worker needs the same")
	fs.StringVar(&d.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&d.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
}

// deps checks the flags and reads the master key.
func (d *depsFlags) deps(redis bool) (cluster.Deps, error) {
	var missing []string
	for _, f := range []struct{ name, v string }{
		{"--mongo-url (MAGPIE_MONGO_URL)", d.mongoURL}, {"--amqp-url (MAGPIE_AMQP_URL)", d.amqpURL},
		{"--master-key-file (MAGPIE_MASTER_KEY_FILE)", d.keyFile},
	} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if redis && d.redisURL == "" {
		missing = append(missing, "--redis-url (MAGPIE_REDIS_URL)")
	}
	if len(missing) > 0 {
		return cluster.Deps{}, fmt.Errorf("missing %v", missing)
	}
	key, err := keyring.Load(d.keyFile)
	if err != nil {
		return cluster.Deps{}, err
	}
	return cluster.Deps{MongoURL: d.mongoURL, MongoDB: d.mongoDB, AMQPURL: d.amqpURL, AMQPPrefix: d.amqpPrefix,
		RedisURL: d.redisURL, RedisPrefix: d.redisPrefix, MasterKey: key}, nil
}

func (d *depsFlags) logger(stderr io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(d.logLevel)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return newLogger(stderr, level), nil
}

// cluster returns the admin listener's part of a cluster process's
// config.
func (a adminFlags) cluster() cluster.Admin {
	return cluster.Admin{AdminAddr: a.addr, Pprof: a.pprof, Version: version}
}

// process is a running gateway or worker.
type process interface {
	Failed() <-chan struct{}
	Shutdown(ctx context.Context) error
}

// serve waits for a signal or a component failure, then shuts p down
// within the timeout.
func serve(ctx context.Context, p process, timeout time.Duration, log *slog.Logger) error {
	select {
	case <-ctx.Done():
		log.Info("shutting down", "deadline", timeout)
	case <-p.Failed():
		log.Error("a component failed; shutting down", "deadline", timeout)
	}
	sctx, cancel := context.WithTimeoutCause(context.Background(), timeout, errors.New("graceful shutdown deadline passed"))
	defer cancel()
	if err := p.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// clusterReaders bounds a cluster gateway's socket readers while none is
// blocked: its frames' handlers wait on MongoDB, Redis and RabbitMQ, so
// more of them run at once than embedded mode's 4 per core.
const clusterReaders = 256

func runGateway(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var d depsFlags
	var addr, nodeID string
	var trusted, unlimited prefixList
	var admin adminFlags
	var pf pushFlags
	var wf webhookFlags
	var ff filesFlags
	fs := newFlagSet("gateway", "Run a cluster-mode gateway node: the server API, the management API, the console\n"+
		"and the WebSocket connection node, on MongoDB, RabbitMQ and Redis. Run several behind\n"+
		"a load balancer; run magpie migrate (and once, magpie bootstrap) first.", stderr)
	d.register(fs, true)
	fs.StringVar(&addr, "addr", ":8080", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&nodeID, "node-id", "", "this node's id on the bus and in the presence registry; empty means the host name plus a random suffix. Must be unique, and new for each run")
	fs.Var(&trusted, "trusted-proxies", "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client")
	fs.Var(&unlimited, "unlimited-addresses", "comma-separated addresses or CIDR prefixes exempt from per-address login limits (e.g. a load generator's)")
	admin.register(fs)
	pf.register(fs)
	wf.register(fs, false)
	ff.register(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := ff.check(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	deps, err := d.deps(true)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if deps.Push, err = pf.endpoints(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if deps.Webhooks, err = wf.options(); err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	log, err := d.logger(stderr)
	if err != nil {
		return err
	}
	stopTracing, err := admin.startTracing(ctx, telemetry.ModeGateway, log)
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	defer stopTracing()
	g, err := cluster.StartGateway(ctx, cluster.GatewayConfig{Deps: deps, Admin: admin.cluster(), Addr: addr, NodeID: nodeID, Logger: log,
		Gateway:  gateway.Config{TrustedProxies: trusted, Node: node.Config{UnlimitedAddresses: unlimited, Readers: clusterReaders}, PublicURL: ff.base()},
		FilesDir: ff.dir, MaxUploadBytes: ff.maxUpload})
	if err != nil {
		return fmt.Errorf("gateway: %w", err)
	}
	if g.AdminURL != "" {
		fmt.Fprintf(stdout, "admin_url=%s\n", g.AdminURL)
	}
	fmt.Fprintf(stdout, "gateway_url=%s\nnode_id=%s\n", g.URL, g.NodeID)
	log.InfoContext(ctx, "magpie gateway listening", "url", g.URL, "node", g.NodeID)
	return serve(ctx, g, d.shutdownTimeout, log)
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var d depsFlags
	var addr string
	var admin adminFlags
	var pf pushFlags
	var wf webhookFlags
	fs := newFlagSet("worker", "Run a cluster-mode worker: it consumes the durable jobs on RabbitMQ (offline\n"+
		"notifications, and push and webhook jobs) and sweeps expired records from MongoDB.\n"+
		"Run any number; /healthz and /readyz are served on --addr.", stderr)
	d.register(fs, false)
	fs.StringVar(&addr, "addr", ":8081", "address of the health endpoints (host:port; port 0 picks a free one)")
	var usageRetention int
	usageRetentionFlag(fs, &usageRetention)
	admin.register(fs)
	pf.register(fs)
	wf.register(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	deps, err := d.deps(false)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if deps.Push, err = pf.endpoints(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if deps.Webhooks, err = wf.options(); err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	log, err := d.logger(stderr)
	if err != nil {
		return err
	}
	stopTracing, err := admin.startTracing(ctx, telemetry.ModeWorker, log)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	defer stopTracing()
	w, err := cluster.StartWorker(ctx, cluster.WorkerConfig{Deps: deps, Admin: admin.cluster(), Addr: addr, Logger: log,
		UsageRetentionDays: usageRetention})
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	if w.AdminURL != "" {
		fmt.Fprintf(stdout, "admin_url=%s\n", w.AdminURL)
	}
	fmt.Fprintf(stdout, "worker_url=%s\n", w.URL)
	log.InfoContext(ctx, "magpie worker running", "health", w.URL)
	return serve(ctx, w, d.shutdownTimeout, log)
}
