package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Outcomes of a webhook delivery attempt (magpie_webhook_deliveries_total).
const (
	WebhookSucceeded = "succeeded"
	WebhookRetry     = "retry"
	WebhookDead      = "dead"
)

// webhooks holds the instruments of webhook delivery.
type webhooks struct {
	deliveries metric.Int64Counter     // magpie_webhook_deliveries_total{outcome}
	duration   metric.Float64Histogram // magpie_webhook_delivery_duration_seconds
	disabled   metric.Int64Counter     // magpie_webhook_endpoints_disabled_total
	dropped    metric.Int64Counter     // magpie_webhook_events_dropped_total
}

func (x *webhooks) instruments(meter metric.Meter) error {
	var errs [4]error
	x.deliveries, errs[0] = meter.Int64Counter("magpie_webhook_deliveries", metric.WithDescription("Webhook delivery attempts, by outcome: succeeded, retry (failed, will be retried), dead (failed at the last attempt)."))
	x.duration, errs[1] = meter.Float64Histogram("magpie_webhook_delivery_duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of one webhook delivery attempt, answer included."), metric.WithExplicitBucketBoundaries(requestBuckets...))
	x.disabled, errs[2] = meter.Int64Counter("magpie_webhook_endpoints_disabled", metric.WithDescription("Webhook endpoints disabled automatically after sustained failure."))
	x.dropped, errs[3] = meter.Int64Counter("magpie_webhook_events_dropped", metric.WithDescription("Post events dropped before reaching the bus: the emitter's queue was full, or the bus refused them."))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("create webhook instrument: %w", err)
	}
	ctx := context.Background()
	for _, o := range []string{WebhookSucceeded, WebhookRetry, WebhookDead} {
		x.deliveries.Add(ctx, 0, metric.WithAttributes(attribute.String("outcome", o)))
	}
	x.disabled.Add(ctx, 0)
	x.dropped.Add(ctx, 0)
	return nil
}

// WebhookDelivery counts one delivery attempt and its duration.
func (m *Metrics) WebhookDelivery(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	ctx := context.Background()
	m.webhook.deliveries.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	m.webhook.duration.Record(ctx, d.Seconds())
}

// WebhookDisabled counts an endpoint disabled after sustained failure.
func (m *Metrics) WebhookDisabled() {
	if m != nil {
		m.webhook.disabled.Add(context.Background(), 1)
	}
}

// WebhookEventsDropped counts post events dropped before the bus.
func (m *Metrics) WebhookEventsDropped(n int) {
	if m != nil {
		m.webhook.dropped.Add(context.Background(), int64(n))
	}
}
