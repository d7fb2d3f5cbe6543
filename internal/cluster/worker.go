package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/maintenance"
	"github.com/magpie-im/magpie/internal/rungroup"
	"github.com/magpie-im/magpie/internal/store/observe"
	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/push"
	"github.com/magpie-im/magpie/tenant"
	"github.com/magpie-im/magpie/webhook"
)

// queueDepthTimeout bounds the reading of the queue depths from the broker
// at each scrape of the metrics.
const queueDepthTimeout = 2 * time.Second

// WorkerConfig configures a worker.
type WorkerConfig struct {
	Deps
	Admin
	// Addr is the listen address of the health endpoints (/healthz,
	// /readyz); port 0 picks a free port.
	Addr string
	// Logger receives logs. Nil discards them.
	Logger *slog.Logger
	// Jobs tunes the job consumers (concurrency, attempts, backoff); zero
	// fields take each queue's defaults (push.ConsumeOptions).
	Jobs bus.ConsumeOptions
	// UsageRetentionDays is how many days of daily usage are kept before
	// today (maintenance.Config.UsageRetentionDays). Zero means 400.
	UsageRetentionDays int
}

// Worker is a running worker: it consumes the durable jobs of the bus and
// runs the store's maintenance sweep and the repair of support agents'
// counts. Any number of workers may run.
type Worker struct {
	// URL is the base URL of the health endpoints.
	URL string
	// AdminURL is the admin listener's base URL; empty without
	// WorkerConfig.AdminAddr.
	AdminURL string

	log       *slog.Logger
	deps      *deps
	srv       *http.Server
	ln        net.Listener
	run       *rungroup.Group
	consumers []bus.Consumer
	metrics   *telemetry.Metrics
	admin     *telemetry.Admin // nil without an admin listener
}

// StartWorker connects to the engines and starts consuming jobs.
func StartWorker(ctx context.Context, cfg WorkerConfig) (_ *Worker, err error) {
	if err := (maintenance.Config{UsageRetentionDays: cfg.UsageRetentionDays}).Validate(); err != nil {
		return nil, err
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m, err := telemetry.New(telemetry.Config{Version: cfg.Version, Mode: telemetry.ModeWorker})
	if err != nil {
		return nil, err
	}
	d, err := cfg.open(ctx, log, m, false)
	if err != nil {
		return nil, err
	}
	w := &Worker{log: log, deps: d, run: rungroup.New(ctx), metrics: m}
	defer func() {
		if err != nil {
			if w.admin != nil {
				_ = w.admin.Shutdown(ctx) // the start error is the one to report
			}
			_ = w.run.Stop() // the start error is the one to report
			_ = d.close()
		}
	}()
	st := observe.Wrap(d.store, m) // the components' store; the engine's own calls stay on d.store
	tenants := tenant.New(st, d.keys, tenant.Config{Logger: log})
	pushes := push.NewService(st, tenants, push.ServiceConfig{Logger: log, Endpoints: cfg.Push})
	// The worker flushes its own pushes and webhook deliveries; it holds
	// no connections.
	usage := tenant.NewUsage(st, tenant.UsageConfig{Node: NewNodeID(), Logger: log})
	offline, err := push.NewWorker(st, push.WorkerConfig{Logger: log, Metrics: m, Service: pushes,
		Failures: webhook.PushFailures{Pub: d.bus}, Usage: usage}).Start(w.run.Context(), d.bus, cfg.Jobs)
	if err != nil {
		return nil, err
	}
	w.consumers = append(w.consumers, offline)
	hcfg := cfg.Webhooks.WorkerConfig(log, m)
	hcfg.Usage = usage
	hooks, err := webhook.NewWorker(st, tenants, hcfg).Start(w.run.Context(), d.bus)
	if err != nil {
		return nil, err
	}
	w.consumers = append(w.consumers, hooks)
	m.CountQueueDepth(bus.QueueDepths(d.bus, queueDepthTimeout, log, push.QueueOffline, push.QueueSend,
		webhook.QueueEvents, webhook.QueueDelivery))
	w.run.Go("push job consumers", func(context.Context) error { return offline.Wait() })
	w.run.Go("webhook job consumers", func(context.Context) error { return hooks.Wait() })
	w.run.Go("usage collector", usage.Run)
	sweep := maintenance.Config{UsageRetentionDays: cfg.UsageRetentionDays, Logger: log}
	w.run.Go("maintenance", func(ctx context.Context) error { return maintenance.Run(ctx, st, sweep) })
	w.run.Go("agent repair", func(ctx context.Context) error { return maintenance.RunAgentRepair(ctx, st, log) })
	w.run.Go("support outbox", webhook.NewOutbox(st, d.bus, webhook.OutboxConfig{Logger: log, Metrics: m}).Run)

	w.ln, err = net.Listen("tcp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	w.URL = "http://" + w.ln.Addr().String()
	if w.admin, err = cfg.startAdmin(m, d, log, w.run); err != nil {
		_ = w.ln.Close() // the admin listener error is the one to report
		return nil, err
	}
	if w.admin != nil {
		w.AdminURL = w.admin.URL
	}
	w.srv = &http.Server{Handler: telemetry.HealthHandler(d.adminChecks(), w.metrics, log), ReadHeaderTimeout: 10 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	w.run.Go("health server", func(context.Context) error {
		if err := w.srv.Serve(w.ln); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	return w, nil
}

// Failed returns a channel closed when a component of the worker has
// failed; the process should then shut down, and Shutdown returns the
// failure.
func (w *Worker) Failed() <-chan struct{} { return w.run.Failed() }

// Shutdown stops the worker within ctx's deadline: consumers stop taking
// jobs and running handlers finish (or, past the deadline, are abandoned:
// their jobs return to the queue), then the engines are closed.
func (w *Worker) Shutdown(ctx context.Context) error {
	w.run.Stopping()
	httpErr := w.srv.Shutdown(ctx)
	if w.admin != nil {
		httpErr = errors.Join(httpErr, w.admin.Shutdown(ctx))
	}
	done := make(chan error, 1)
	go func() {
		var errs []error
		for _, c := range w.consumers {
			errs = append(errs, c.Close()) // graceful: running handlers finish
		}
		done <- errors.Join(append(errs, w.run.Stop())...)
	}()
	var runErr error
	select {
	case runErr = <-done:
	case <-ctx.Done():
		// Closing the bus abandons the handlers still running; their
		// jobs go back to the queue.
		_ = w.deps.bus.Close()
		runErr = <-done
	}
	return errors.Join(httpErr, runErr, w.deps.close(), w.metrics.Shutdown(ctx))
}
