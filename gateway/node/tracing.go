package node

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/magpie-im/magpie/internal/telemetry"
	"github.com/magpie-im/magpie/sdk/go/wire"
)

// The spans of a connection, started only with tracing on: WebSockets have
// no request to hang a span on, so a login and each send start a trace of
// their own (a send's trace goes on through the group commit, the fan-out,
// the offline notification and the push).

// loginSpan starts the span of a login.
func (c *conn) loginSpan(ctx context.Context) (context.Context, trace.Span) {
	if !telemetry.TracingOn() {
		return ctx, nil
	}
	return telemetry.StartSpan(ctx, "ws login", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("network.peer.address", c.addr)))
}

// endLogin ends a login's span with its outcome.
func (c *conn) endLogin(span trace.Span, code wire.CloseCode) {
	if span == nil {
		return
	}
	if code != 0 {
		span.SetStatus(codes.Error, code.String())
		span.SetAttributes(attribute.String("magpie.login.result", code.String()))
	} else {
		span.SetAttributes(attribute.String("magpie.login.result", "ok"),
			attribute.String("magpie.app_id", c.appID), attribute.String("magpie.device_id", c.deviceID))
	}
	span.End()
}

// sendSpan starts the span of a send (msg:R), ended when the message is
// durable (endSend) or the send fails.
func (c *conn) sendSpan(ctx context.Context, clientMsgID string) (context.Context, trace.Span) {
	if !telemetry.TracingOn() {
		return ctx, nil
	}
	return telemetry.StartSpan(ctx, "ws send", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("magpie.app_id", c.appID), attribute.String("magpie.client_msg_id", clientMsgID)))
}

// endSend ends a send's span: with the message's conversation and seq, or
// with err.
func endSend(span trace.Span, conv string, seq int64, dup bool, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, "send failed")
	} else {
		span.SetAttributes(attribute.String("magpie.conv_id", conv), attribute.Int64("magpie.seq", seq), attribute.Bool("magpie.duplicate", dup))
	}
	span.End()
}
