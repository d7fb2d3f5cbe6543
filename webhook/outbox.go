package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

// Defaults of an OutboxConfig.
const (
	// OutboxInterval is how often Run drains the outbox.
	OutboxInterval = 30 * time.Second
	// OutboxGrace is how old a pending event must be before the drain
	// publishes it: far longer than a step takes from its write to its own
	// publication, so that the drain publishes only what a crash or a bus
	// failure left behind.
	OutboxGrace = 30 * time.Second
	// OutboxBatch is how many pending events a drain reads at once.
	OutboxBatch = 500
	// outboxRounds bounds the batches of one drain pass.
	outboxRounds = 20
	// outboxPublishTimeout bounds the publication of a step's events,
	// which runs on after the step's caller has gone.
	outboxPublishTimeout = 10 * time.Second
)

// OutboxStore is what an Outbox needs of the store.
type OutboxStore interface {
	App(appID string) store.AppStore
	PendingSupportEvents(ctx context.Context, kind string, before time.Time, limit int) ([]store.SupportEvent, error)
}

// OutboxConfig configures an Outbox. The zero value is usable.
type OutboxConfig struct {
	// Wants reports whether an app may have an endpoint for events of a
	// type (Emitter.Wants), so that steps store no event that nobody
	// takes. Nil means every type is wanted.
	Wants func(appID, typ string) bool
	// Logger receives publication failures and the drain's catches. Nil
	// discards them.
	Logger *slog.Logger
	// Metrics records the drain (magpie_support_outbox_*{kind="event"}).
	// Nil records nothing.
	Metrics *telemetry.Metrics
	// Interval is how often Run drains. Zero means OutboxInterval.
	Interval time.Duration
	// Grace is how old (by its At) a pending event must be before the
	// drain publishes it. Zero means OutboxGrace.
	Grace time.Duration
	// Batch is how many pending events a drain reads at once. Zero means
	// OutboxBatch.
	Batch int
	// Now returns the current time. Nil means time.Now.
	Now func() time.Time
}

// Outbox publishes the post events that the support service's steps store
// with their changes (store.SupportEvent of kind store.SupportKindEvent;
// the steps' notices, the other kind, the support service sends and
// drains itself, where it has a messaging core): Publish publishes a step's
// events as soon as the step is done and marks them published; Drain
// publishes, later, those that a process dying between the two (or a bus
// that failed) left pending. Each event keeps its id, the deliveries'
// webhook-id, so that receivers deduplicate an event published twice
// (marked by neither, or published by a drain while its step's own
// publication was late). An Outbox is safe for concurrent use; any number
// of processes may drain at once.
type Outbox struct {
	st  OutboxStore
	pub Publisher
	cfg OutboxConfig
}

// NewOutbox returns an Outbox that reads st and publishes on pub.
func NewOutbox(st OutboxStore, pub Publisher, cfg OutboxConfig) *Outbox {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = OutboxInterval
	}
	if cfg.Grace <= 0 {
		cfg.Grace = OutboxGrace
	}
	if cfg.Batch <= 0 {
		cfg.Batch = OutboxBatch
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Outbox{st: st, pub: pub, cfg: cfg}
}

// Wants reports whether events of type typ of app appID may have to be
// delivered.
func (o *Outbox) Wants(appID, typ string) bool {
	return o.cfg.Wants == nil || o.cfg.Wants(appID, typ)
}

// Publish publishes events of app appID that a step stored, then marks
// them published. It runs without ctx's cancellation (the step is done
// whether or not its caller waits), within a timeout. What it cannot
// publish or mark stays pending for the drain; the error says why.
func (o *Outbox) Publish(ctx context.Context, appID string, evs []store.SupportEvent) error {
	if len(evs) == 0 {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), outboxPublishTimeout)
	defer cancel()
	return o.publish(ctx, appID, evs)
}

// publish publishes evs of one app as one job and marks them published,
// session by session.
func (o *Outbox) publish(ctx context.Context, appID string, evs []store.SupportEvent) error {
	j := eventsJob{Events: make([]jobEvent, 0, len(evs))}
	seen := make(map[string]bool, len(evs))
	var sessions []string
	bySession := make(map[string][]string)
	for _, ev := range evs {
		if seen[ev.ID] {
			continue // a duplicate kept by a store without transactions: one id, one publication
		}
		seen[ev.ID] = true
		j.Events = append(j.Events, jobEvent{ID: ev.ID, Type: ev.Type, At: ev.At, Payload: ev.Payload})
		if _, ok := bySession[ev.SessionID]; !ok {
			sessions = append(sessions, ev.SessionID)
		}
		bySession[ev.SessionID] = append(bySession[ev.SessionID], ev.ID)
	}
	if err := publishJob(ctx, o.pub, appID, j); err != nil {
		return err
	}
	a := o.st.App(appID)
	for _, id := range sessions {
		if err := a.SupportEventsPublished(ctx, id, bySession[id]...); err != nil {
			return fmt.Errorf("published events of app %s: %w", appID, err)
		}
	}
	return nil
}

// Drain makes one pass: it publishes the events pending since before
// Grace ago, app by app, and marks them published. It returns how many it
// published; a round in which some app's events could not be published
// ends the pass, after the other apps' events of the round were
// published.
func (o *Outbox) Drain(ctx context.Context) (int, error) {
	n := 0
	now := o.cfg.Now()
	var oldest time.Time // of the events left pending
	err := func() error {
		for range outboxRounds {
			evs, err := o.st.PendingSupportEvents(ctx, store.SupportKindEvent, now.Add(-o.cfg.Grace), o.cfg.Batch)
			if err != nil {
				return err
			}
			var errs []error
			for start := 0; start < len(evs); {
				end := start + 1
				for end < len(evs) && evs[end].AppID == evs[start].AppID {
					end++
				}
				if err := o.publish(ctx, evs[start].AppID, evs[start:end]); err != nil {
					errs = append(errs, err)
					for _, ev := range evs[start:end] {
						if oldest.IsZero() || ev.At.Before(oldest) {
							oldest = ev.At
						}
					}
				} else {
					n += end - start
				}
				start = end
			}
			if len(errs) > 0 {
				return errors.Join(errs...)
			}
			if len(evs) < o.cfg.Batch {
				return nil
			}
		}
		return nil
	}()
	m := o.cfg.Metrics
	m.SupportOutboxDrained(telemetry.SupportEvent, n)
	if err != nil {
		if ctx.Err() == nil {
			m.SupportOutboxDrainFailed(telemetry.SupportEvent)
		}
		err = fmt.Errorf("drain the support outbox: %w", err)
	}
	if !oldest.IsZero() || err == nil {
		age := time.Duration(0)
		if !oldest.IsZero() {
			age = max(now.Sub(oldest), 0)
		}
		m.SupportOutboxOldest(telemetry.SupportEvent, age)
	}
	return n, err
}

// Run drains at once and then every Interval until ctx ends. A failed pass
// is logged and the next one goes on. It returns nil when ctx ends.
func (o *Outbox) Run(ctx context.Context) error {
	t := time.NewTicker(o.cfg.Interval)
	defer t.Stop()
	for {
		n, err := o.Drain(ctx)
		if n > 0 {
			o.cfg.Logger.WarnContext(ctx, "support events published by the outbox drain (a process died or the bus failed after their steps)", "events", n)
		}
		if err != nil && ctx.Err() == nil {
			o.cfg.Logger.WarnContext(ctx, "support outbox drain failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// publishJob publishes one JobEvents job of app appID.
func publishJob(ctx context.Context, pub Publisher, appID string, j eventsJob) error {
	body, err := json.Marshal(j)
	if err != nil {
		return fmt.Errorf("encode events: %w", err)
	}
	if err := pub.Publish(ctx, QueueEvents, bus.Job{AppID: appID, Type: JobEvents, Body: body, Headers: telemetry.Inject(ctx, nil)}); err != nil {
		return fmt.Errorf("publish events: %w", err)
	}
	return nil
}
