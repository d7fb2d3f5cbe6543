package telemetry

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Stages of magpie_moderation_verdicts_total: the built-in keyword rules,
// then the pre-send webhook.
const (
	ModerationKeyword = "keyword"
	ModerationHook    = "hook"
)

// Actions of a moderation verdict: the action label of
// magpie_moderation_verdicts_total and the outcome label of
// magpie_presend_hook_seconds.
const (
	VerdictAllow  = "allow"
	VerdictReject = "reject"
	VerdictModify = "modify"
	VerdictDrop   = "drop"
)

// moderation holds the instruments of message moderation.
type moderation struct {
	hook     metric.Float64Histogram // magpie_presend_hook_seconds{outcome}
	verdicts metric.Int64Counter     // magpie_moderation_verdicts_total{stage,action}
}

// hookBuckets suit the pre-send webhook, which may take up to its timeout
// (5 s by default): 5 ms to 10 s.
var hookBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

func (x *moderation) instruments(meter metric.Meter) error {
	var errs [2]error
	x.hook, errs[0] = meter.Float64Histogram("magpie_presend_hook", metric.WithUnit("s"),
		metric.WithDescription("Duration of pre-send webhook calls, as the messaging core waited for them, by outcome: allow, reject, modify, drop."),
		metric.WithExplicitBucketBoundaries(hookBuckets...))
	x.verdicts, errs[1] = meter.Int64Counter("magpie_moderation_verdicts",
		metric.WithDescription("Moderation verdicts on messages, by stage (keyword, hook) and action (allow, reject, modify, drop)."))
	if err := errors.Join(errs[:]...); err != nil {
		return fmt.Errorf("create instrument: %w", err)
	}
	return nil
}

// ModerationVerdict counts a verdict of stage (ModerationKeyword,
// ModerationHook) with action (VerdictAllow, ...).
func (m *Metrics) ModerationVerdict(stage, action string) {
	if m != nil {
		m.moderation.verdicts.Add(context.Background(), 1, metric.WithAttributes(
			attribute.String("stage", stage), attribute.String("action", action)))
	}
}

// PresendHook records a pre-send webhook call that took d and answered
// outcome (VerdictAllow, ...).
func (m *Metrics) PresendHook(outcome string, d time.Duration) {
	if m != nil {
		m.moderation.hook.Record(context.Background(), max(d, 0).Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
	}
}
