package push

import (
	"context"
	"fmt"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/bus"
	"github.com/magpie-im/magpie/internal/messaging"
	"github.com/magpie-im/magpie/internal/store"
	"github.com/magpie-im/magpie/internal/telemetry"
)

var _ messaging.OfflineNotifier = (*Notifier)(nil)

// Publisher adds a job to a durable queue: a bus.Bus.
type Publisher interface {
	// Publish returns once the job is durable; see bus.Bus.
	Publish(ctx context.Context, queue string, job bus.Job) error
}

// Notifier is the messaging core's OfflineNotifier: it publishes an offline
// job to QueueOffline for every message it is told about. It is safe for
// concurrent use if its Publisher is.
type Notifier struct {
	pub Publisher
}

// NewNotifier returns a Notifier that publishes through p.
func NewNotifier(p Publisher) *Notifier {
	return &Notifier{pub: p}
}

// Offline publishes the offline job of msg for user userID of app appID and
// returns once the bus holds it. The job's id is OfflineJobID of the app,
// the user, the conversation and the seq, so reporting a message twice
// publishes the same job twice, which the Worker records once. A recalled
// message publishes nothing.
func (n *Notifier) Offline(ctx context.Context, appID, userID string, msg store.Message) error {
	if !msg.RecalledAt.IsZero() {
		return nil
	}
	body, err := EncodeOffline(OfflineJob{
		UserID: userID, ConvID: msg.ConvID, Seq: msg.Seq, SenderID: msg.SenderID, Type: msg.Type,
		Preview: Preview(msg.Type, msg.Body), CreatedAt: msg.CreatedAt,
	})
	if err != nil {
		return fmt.Errorf("offline job for %s seq %d: %w", msg.ConvID, msg.Seq, err)
	}
	job := bus.Job{
		ID:    OfflineJobID(appID, userID, msg.ConvID, msg.Seq),
		AppID: appID,
		Type:  JobType,
		Body:  body,
	}
	if err := n.publish(ctx, job); err != nil {
		return fmt.Errorf("offline job for %s seq %d: %w", msg.ConvID, msg.Seq, err)
	}
	return nil
}

// publish publishes job to QueueOffline. With tracing on, it does so in a
// producer span whose context the job carries in its traceparent header:
// the parent of the consumer's span.
func (n *Notifier) publish(ctx context.Context, job bus.Job) error {
	if !telemetry.TracingOn() {
		return n.pub.Publish(ctx, QueueOffline, job)
	}
	ctx, span := telemetry.StartSpan(ctx, "publish "+QueueOffline, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.operation.type", "send"),
			attribute.String("messaging.destination.name", QueueOffline), attribute.String("messaging.message.id", job.ID)))
	defer span.End()
	job.Headers = telemetry.Inject(ctx, job.Headers)
	err := n.pub.Publish(ctx, QueueOffline, job)
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "publish failed")
	}
	return err
}

// Preview returns what a notification shows of a message: for a "text"
// message, the first PreviewRunes runes of its body; for any other type
// (custom messages hold the app's own JSON), or a body that is not valid
// UTF-8, nothing.
func Preview(msgType string, body []byte) string {
	if msgType != "text" || !utf8.Valid(body) {
		return ""
	}
	n, i := 0, 0
	for i < len(body) && n < PreviewRunes {
		_, size := utf8.DecodeRune(body[i:])
		i += size
		n++
	}
	return string(body[:i])
}
