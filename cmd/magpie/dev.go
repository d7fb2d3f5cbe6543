package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"time"

	"github.com/magpie-im/magpie/gateway"
	"github.com/magpie-im/magpie/gateway/node"
	"github.com/magpie-im/magpie/internal/embedded"
	"github.com/magpie-im/magpie/internal/maintenance"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/tenant"
)

type devConfig struct {
	addr            string
	dataDir         string
	masterKey       string
	operatorEmail   string
	logLevel        string
	shutdownTimeout time.Duration
	trustedProxies  prefixList
	unlimited       prefixList
	admin           adminFlags
	push            pushFlags
	webhooks        webhookFlags
	usageFlush      time.Duration
	usageRetention  int
	files           filesFlags
}

// adminFlags are the flags of the admin listener and of tracing, common
// to dev, gateway and worker.
type adminFlags struct {
	addr         string
	pprof        bool
	otlpEndpoint string
}

func (a *adminFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&a.addr, "admin-addr", "127.0.0.1:9090", "address of the admin listener: /metrics (Prometheus), /healthz, /readyz, and /debug/pprof/ with --pprof; unauthenticated, keep it private. Empty disables it")
	fs.BoolVar(&a.pprof, "pprof", false, "serve net/http/pprof under /debug/pprof/ on the admin listener")
	fs.StringVar(&a.otlpEndpoint, "otlp-endpoint", "", "OTLP/HTTP collector URL to export traces to, such as http://otel-collector:4318 (/v1/traces is appended when no path is given); empty disables tracing")
}

// newLogger returns the process's logger at level, whose records carry the
// trace_id and span_id of the span they are logged in.
func newLogger(stderr io.Writer, level slog.Level) *slog.Logger {
	return slog.New(telemetry.LogHandler(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})))
}

// startTracing sets up the process's tracing (off without --otlp-endpoint)
// and returns the function that flushes and stops it.
func (a adminFlags) startTracing(ctx context.Context, mode string, log *slog.Logger) (func(), error) {
	t, err := telemetry.StartTracing(ctx, telemetry.TracingConfig{Endpoint: a.otlpEndpoint, Mode: mode, Version: version})
	if err != nil {
		return nil, fmt.Errorf("--otlp-endpoint: %w", err)
	}
	return func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := t.Shutdown(sctx); err != nil {
			log.Warn("traces not flushed", "err", err)
		}
	}, nil
}

// prefixList is a flag of comma-separated IP prefixes (CIDR) or addresses.
type prefixList []netip.Prefix

func (p *prefixList) String() string {
	parts := make([]string, len(*p))
	for i, x := range *p {
		parts[i] = x.String()
	}
	return strings.Join(parts, ",")
}

func (p *prefixList) Set(v string) error {
	ps, err := parsePrefixes(v)
	*p = ps
	return err
}

func runDev(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var cfg devConfig
	fs := newFlagSet("dev", "Run Magpie in embedded mode: the API, the connection node and the workers in one\n"+
		"process, with an SQLite database in the data directory and no external services.", stderr)
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	fs.StringVar(&cfg.dataDir, "data", "./data", "data directory (database, master key, uploaded files)")
	fs.StringVar(&cfg.masterKey, "master-key", "", "base64 32-byte master key sealing secrets at rest; empty reads or creates <data>/master.key (0600)")
	fs.StringVar(&cfg.operatorEmail, "operator-email", "operator@magpie.local", "email of the operator account created on first start")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.DurationVar(&cfg.shutdownTimeout, "shutdown-timeout", 10*time.Second, "how long a graceful shutdown may take")
	fs.Var(&cfg.trustedProxies, "trusted-proxies", "comma-separated addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client")
	fs.Var(&cfg.unlimited, "unlimited-addresses", "comma-separated addresses or CIDR prefixes exempt from per-address login limits (e.g. a load generator's)")
	fs.DurationVar(&cfg.usageFlush, "usage-flush-interval", 10*time.Second, "how often the usage counts are written to the database")
	usageRetentionFlag(fs, &cfg.usageRetention)
	cfg.admin.register(fs)
	cfg.push.register(fs)
	cfg.webhooks.register(fs, true)
	cfg.files.register(fs, true)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := cfg.files.check(); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := newLogger(stderr, level)
	stopTracing, err := cfg.admin.startTracing(ctx, telemetry.ModeEmbedded, log)
	if err != nil {
		return err
	}
	defer stopTracing()
	return serveDev(ctx, cfg, stdout, log)
}

func serveDev(ctx context.Context, cfg devConfig, stdout io.Writer, log *slog.Logger) error {
	endpoints, err := cfg.push.endpoints()
	if err != nil {
		return err
	}
	hooks, err := cfg.webhooks.options()
	if err != nil {
		return err
	}
	srv, err := embedded.Start(ctx, embedded.Config{
		Push: endpoints, Webhooks: hooks,
		Addr: cfg.addr, DataDir: cfg.dataDir, MasterKey: cfg.masterKey, OperatorEmail: cfg.operatorEmail, Logger: log,
		Gateway: gateway.Config{TrustedProxies: cfg.trustedProxies, Node: node.Config{UnlimitedAddresses: cfg.unlimited},
			PublicURL: cfg.files.base()},
		FilesDir: cfg.files.dir, MaxUploadBytes: cfg.files.maxUpload,
		AdminAddr: cfg.admin.addr, Pprof: cfg.admin.pprof, Version: version, UsageFlushInterval: cfg.usageFlush,
		UsageRetentionDays: cfg.usageRetention,
	})
	if err != nil {
		return err
	}
	if srv.AdminURL != "" {
		fmt.Fprintf(stdout, "admin_url=%s\n", srv.AdminURL)
	}
	printBootstrap(stdout, srv.URL, srv.Bootstrap)
	log.InfoContext(ctx, "magpie dev listening", "url", srv.URL, "data", cfg.dataDir)
	select {
	case <-ctx.Done():
		log.Info("shutting down", "deadline", cfg.shutdownTimeout)
	case <-srv.Failed():
		log.Error("a component failed; shutting down", "deadline", cfg.shutdownTimeout)
	}
	sctx, cancel := context.WithTimeoutCause(context.Background(), cfg.shutdownTimeout,
		errors.New("graceful shutdown deadline passed"))
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// parsePrefixes parses a comma-separated list of CIDR prefixes or single
// addresses (taken as /32 or /128).
func parsePrefixes(v string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for f := range strings.SplitSeq(v, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		if p, err := netip.ParsePrefix(f); err == nil {
			out = append(out, p.Masked())
			continue
		}
		ip, err := netip.ParseAddr(f)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a CIDR prefix nor an IP address", f)
		}
		out = append(out, netip.PrefixFrom(ip.Unmap(), ip.Unmap().BitLen()))
	}
	return out, nil
}

// printBootstrap prints the installation's entry points, one key=value per
// line. Secrets appear only on the start that created them.
func printBootstrap(w io.Writer, base string, b tenant.Bootstrap) {
	fmt.Fprintf(w, "console_url=%s/console/\n", base)
	fmt.Fprintf(w, "api_url=%s\n", base)
	fmt.Fprintf(w, "operator_email=%s\n", b.OperatorEmail)
	if b.Created {
		fmt.Fprintf(w, "operator_password=%s\n", b.OperatorPassword)
	}
	fmt.Fprintf(w, "app_id=%s\n", b.AppID)
	fmt.Fprintf(w, "app_key=%s\n", b.AppKey)
	if b.Created {
		fmt.Fprintf(w, "app_secret=%s\n", b.AppSecret)
		fmt.Fprintln(w, "# the password and secret above are shown once; keep them")
	}
}

// usageRetentionFlag registers --usage-retention-days, the days of daily
// usage kept before today (dev and worker run the sweep).
func usageRetentionFlag(fs *flag.FlagSet, days *int) {
	fs.IntVar(days, "usage-retention-days", maintenance.DefaultUsageRetentionDays,
		fmt.Sprintf("days of daily usage kept before today; older days are deleted once a day (at least %d)", maintenance.MinUsageRetentionDays))
}
