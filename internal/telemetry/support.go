package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Kinds of support outbox entries, the kind label of the
// magpie_support_outbox_* series: post events (drained by the workers and
// magpie dev) and notices (system messages, drained by the gateways and
// magpie dev).
const (
	SupportEvent  = "event"
	SupportNotice = "notice"
)

// support holds the instruments of customer-service routing's background
// work: the drains of the support outbox and the routing sweep.
type support struct {
	drained     metric.Int64Counter // magpie_support_outbox_drained_total{kind}
	drainErrors metric.Int64Counter // magpie_support_outbox_drain_errors_total{kind}
	oldest      metric.Float64Gauge // magpie_support_outbox_oldest_pending_seconds{kind}
	routed      metric.Int64Counter // magpie_support_sweep_routed_total
	sweepErrors metric.Int64Counter // magpie_support_sweep_errors_total
}

func (x *support) instruments(meter metric.Meter) error {
	var errs [5]error
	x.drained, errs[0] = meter.Int64Counter("magpie_support_outbox_drained",
		metric.WithDescription("Support outbox entries a drain published (events) or sent (notices) because their step did not: its process died after the step's commit, or the bus or the messaging core failed; by kind."))
	x.drainErrors, errs[1] = meter.Int64Counter("magpie_support_outbox_drain_errors",
		metric.WithDescription("Support outbox drain passes that failed (the read failed, or an entry could not be published or sent), by kind."))
	x.oldest, errs[2] = meter.Float64Gauge("magpie_support_outbox_oldest_pending", metric.WithUnit("s"),
		metric.WithDescription("Age of the oldest support outbox entry this process's last drain pass found past its grace and could not publish or send, by kind; 0 when the pass left none."))
	x.routed, errs[3] = meter.Int64Counter("magpie_support_sweep_routed",
		metric.WithDescription("Waiting support sessions the routing sweep gave to an agent: visitors a crash (or an agent count the repair sweep lowered) left waiting beside a free agent."))
	x.sweepErrors, errs[4] = meter.Int64Counter("magpie_support_sweep_errors",
		metric.WithDescription("Support routing sweep passes that failed."))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("create support instrument: %w", err)
	}
	ctx := context.Background()
	for _, kind := range []string{SupportEvent, SupportNotice} {
		k := metric.WithAttributes(attribute.String("kind", kind))
		x.drained.Add(ctx, 0, k)
		x.drainErrors.Add(ctx, 0, k)
		x.oldest.Record(ctx, 0, k)
	}
	x.routed.Add(ctx, 0)
	x.sweepErrors.Add(ctx, 0)
	return nil
}

// SupportOutboxDrained counts n support outbox entries of kind
// (SupportEvent, SupportNotice) that a drain published or sent.
func (m *Metrics) SupportOutboxDrained(kind string, n int) {
	if m != nil && n > 0 {
		m.support.drained.Add(context.Background(), int64(n), metric.WithAttributes(attribute.String("kind", kind)))
	}
}

// SupportOutboxDrainFailed counts a failed drain pass of kind.
func (m *Metrics) SupportOutboxDrainFailed(kind string) {
	if m != nil {
		m.support.drainErrors.Add(context.Background(), 1, metric.WithAttributes(attribute.String("kind", kind)))
	}
}

// SupportOutboxOldest records the age of the oldest entry of kind that a
// drain pass left pending past its grace (0 for none).
func (m *Metrics) SupportOutboxOldest(kind string, age time.Duration) {
	if m != nil {
		m.support.oldest.Record(context.Background(), max(age, 0).Seconds(), metric.WithAttributes(attribute.String("kind", kind)))
	}
}

// SupportSweep records a routing sweep pass that assigned routed sessions
// and, if failed, failed.
func (m *Metrics) SupportSweep(routed int, failed bool) {
	if m == nil {
		return
	}
	ctx := context.Background()
	if routed > 0 {
		m.support.routed.Add(ctx, int64(routed))
	}
	if failed {
		m.support.sweepErrors.Add(ctx, 1)
	}
}
